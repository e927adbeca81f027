"""The offline corpus: its sentences, its LJ Speech layout, and that a seed fixes every byte."""

from __future__ import annotations

import re
import shutil
from collections import Counter

import pytest
import soundfile

from compute.engine.testing import fake_context
from compute.q3 import check, corpus, data
from compute.q3.text import INDEX

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"
)
PARAMS = {"n_clips": 6, "sample_rate": 22050}


def test_numbers_are_spelled_out_with_hyphens_and_and():
    assert corpus.number_words(0) == "zero"
    assert corpus.number_words(42) == "forty-two"
    assert corpus.number_words(105) == "one hundred and five"
    assert corpus.number_words(7810) == "seven thousand eight hundred and ten"
    assert corpus.number_words(2003) == "two thousand and three"
    assert corpus.year_words(1884) == "eighteen eighty-four"
    assert corpus.year_words(1905) == "nineteen oh five"
    assert corpus.year_words(1900) == "nineteen hundred"
    assert corpus.year_words(2004) == "two thousand and four"


def test_transcript_shows_digits_where_the_normalized_text_has_words():
    written, spoken = corpus.render("Add <n12> and <n9>, born in <y1963>.")
    assert written == "Add 12 and 9, born in 1963."
    assert spoken == "Add twelve and nine, born in nineteen sixty-three."


def test_sentences_use_only_the_vocabulary_and_fit_the_text_length():
    sentences = corpus.make_sentences(3000, seed=5)
    spoken = [s for _, s in sentences]
    assert {ch for s in spoken for ch in s.lower()} <= set(INDEX) - {"<", ">", "@", "#"}
    assert all(corpus.MIN_CHARS <= len(s) <= 97 for s in spoken)
    assert len({s.lower() for s in spoken}) == 3000


def test_sentences_vary_in_kind_words_and_length():
    spoken = [s for _, s in corpus.make_sentences(3000, seed=5)]
    words = Counter(w for s in spoken for w in re.findall(r"[a-z-]+", s.lower()))
    assert len(words) > 400
    assert 0.1 < sum(s.endswith("?") for s in spoken) / 3000 < 0.4
    assert sum(s.count(",") >= 2 for s in spoken) > 200  # lists
    assert sum("-" in s for s in spoken) > 300  # hyphenated words and numbers
    lengths = sorted(len(s) for s in spoken)
    assert lengths[300] < 40 and lengths[2700] > 70


def test_different_seeds_give_different_sentences():
    assert corpus.make_sentences(20, seed=1) != corpus.make_sentences(20, seed=2)


@needs_espeak
def test_corpus_is_an_ljspeech_folder_of_16_bit_mono_clips(tmp_path):
    result = corpus.run(fake_context(tmp_path, params=PARAMS, seed=3))
    root = tmp_path / "out" / result["dir"]
    rows = data.read_metadata(root)
    assert len(rows) == result["clips"] == 6
    assert rows[0].id == "OFF001-0001" and rows[5].id == "OFF001-0006"
    seconds = 0.0
    for row in rows:
        info = soundfile.info(str(root / "wavs" / f"{row.id}.wav"))
        assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
        assert 0.8 < info.duration < 8.0
        seconds += info.duration
    assert result["hours"] == pytest.approx(seconds / 3600)
    assert result["mean_chars"] == pytest.approx(sum(len(r.normalized) for r in rows) / 6)
    assert result["sentences_unique"] == 6
    assert set(result["voices"]) <= set(corpus.VOICES)
    summary = check.summarize(root, [4, 5, 6], 22050)
    assert summary["readable"] == 6 and summary["unknown_chars"] == {}


@needs_espeak
def test_same_seed_gives_byte_identical_metadata_and_audio(tmp_path):
    first = corpus.run(fake_context(tmp_path / "a", params=PARAMS, seed=11))
    second = corpus.run(fake_context(tmp_path / "b", params=PARAMS, seed=11))
    other = corpus.run(fake_context(tmp_path / "c", params=PARAMS, seed=12))
    a, b, c = (tmp_path / x / "out" / first["dir"] for x in "abc")
    assert (a / "metadata.csv").read_bytes() == (b / "metadata.csv").read_bytes()
    for wav in sorted((a / "wavs").iterdir()):
        assert wav.read_bytes() == (b / "wavs" / wav.name).read_bytes(), wav.name
    assert (a / "metadata.csv").read_bytes() != (c / "metadata.csv").read_bytes()
    assert first["hours"] == second["hours"] and first["voices"] == second["voices"]
    assert other["clips"] == 6


@needs_espeak
def test_every_listed_voice_is_installed():
    languages, variants = corpus.espeak_voices()
    for voice in corpus.VOICES:
        language, _, variant = voice.partition("+")
        assert language in languages and (not variant or variant in variants), voice


@needs_espeak
def test_a_voice_espeak_ng_lacks_is_refused_rather_than_silently_replaced():
    with pytest.raises(corpus.DataError, match=r"voice en-us\+nosuchvariant is not installed"):
        corpus.check_espeak(("en-us", "en-us+nosuchvariant"))
