"""Log-mel features against a plain numpy version, and the files the features step writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from compute.engine.step import DataError, Result
from compute.engine.testing import fake_context
from compute.q3 import features
from compute.q3.text import decode, encode

PARAMS = {
    "source": "ljspeech",
    "root": None,
    "bounds": [2, 3, 4],
    "sample_rate": 22050,
    "mel_sample_rate": 16000,
    "n_fft": 400,
    "hop": 160,
    "n_mels": 80,
    "frames": 100,
    "max_text": 97,
}


# a straightforward implementation, written from the formulas -------------------------------
def slaney_mel(hz):
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz < 1000.0, linear, log)


def slaney_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel < 15.0, mel * 200.0 / 3, 1000.0 * np.exp((mel - 15.0) * np.log(6.4) / 27.0))


def numpy_log_mel(signal: np.ndarray, mel_rate: int, n_fft=400, hop=160, n_mels=80) -> np.ndarray:
    padded = np.pad(signal.astype(np.float64), n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    count = 1 + len(signal) // hop
    frames = np.stack([padded[t * hop : t * hop + n_fft] * window for t in range(count)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (count, n_fft // 2 + 1)
    bin_hz = np.linspace(0, mel_rate / 2, n_fft // 2 + 1)  # the filterbank's idea of each bin
    edges = slaney_hz(np.linspace(0, slaney_mel(mel_rate / 2), n_mels + 2))
    bank = np.zeros((n_mels, n_fft // 2 + 1))
    for m in range(n_mels):
        low, mid, high = edges[m], edges[m + 1], edges[m + 2]
        rising, falling = (bin_hz - low) / (mid - low), (high - bin_hz) / (high - mid)
        bank[m] = np.maximum(0, np.minimum(rising, falling)) * 2.0 / (high - low)
    log = np.log10(np.maximum(bank @ power.T, 1e-10))
    log = np.maximum(log, log.max() - 8.0)
    return (log + 4.0) / 4.0


def noisy_chirp(seconds=0.4, rate=22050, seed=0):
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.05, t.size)
    return (0.5 * np.sin(2 * np.pi * (200 + 3000 * t) * t) + noise).astype(np.float32)


@pytest.mark.parametrize("mel_rate", [16000, 22050])
def test_log_mel_matches_a_plain_numpy_implementation(mel_rate):
    signal = noisy_chirp()
    bank = features.mel_filterbank(400, 80, mel_rate)
    ours = features.log_mel(torch.from_numpy(signal), bank, 400, 160).numpy()
    assert ours.shape == (80, 8820 // 160 + 1)
    np.testing.assert_allclose(ours, numpy_log_mel(signal, mel_rate), atol=1e-4)


def test_mel_rate_changes_the_features():
    """The reference's filterbank (16 kHz) on 22,050 Hz audio is not the matched one."""
    signal = torch.from_numpy(noisy_chirp())
    quirk = features.log_mel(signal, features.mel_filterbank(400, 80, 16000), 400, 160)
    matched = features.log_mel(signal, features.mel_filterbank(400, 80, 22050), 400, 160)
    assert (quirk - matched).abs().max() > 0.1


def test_quiet_frames_are_floored_eight_decades_below_the_clip_maximum():
    signal = noisy_chirp()
    signal[4000:] = 0.0  # silence after 0.18 s
    mel = features.log_mel(
        torch.from_numpy(signal), features.mel_filterbank(400, 80, 16000), 400, 160
    )
    floor = mel.max() - 2.0  # 8 decades of log10 are 2 after (x + 4) / 4
    assert mel.min() == pytest.approx(float(floor), abs=1e-6)
    assert torch.all(mel[:, 40:] == mel.min())  # frames wholly in the silence sit on the floor


def test_pad_appends_zeros_and_crop_cuts_the_right_end():
    x = torch.arange(1, 13, dtype=torch.float32).reshape(2, 6)
    assert torch.equal(features.pad_or_crop(x, 8), torch.cat([x, torch.zeros(2, 2)], dim=1))
    assert torch.equal(features.pad_or_crop(x, 4), x[:, :4])


# the step ------------------------------------------------------------------------------------
def write_clips(root: Path, clips: list[tuple[str, str, float, int]]) -> Path:
    """clips: (id, normalized text, seconds, sample rate) -> an LJ Speech-like folder."""
    (root / "wavs").mkdir(parents=True)
    lines = []
    for clip_id, text, seconds, rate in clips:
        soundfile.write(
            str(root / "wavs" / f"{clip_id}.wav"),
            noisy_chirp(seconds, rate),
            rate,
            subtype="PCM_16",
        )
        lines.append(f"{clip_id}|{text.upper()}|{text}\n")
    (root / "metadata.csv").write_text("".join(lines), encoding="utf-8")
    return root


LONG = (
    "the committee met forty-two times; it said nothing, and nobody asked it why it met at all "
    "in the end."
)
CLIPS = [
    ("A1", "hello there.", 0.5, 22050),
    ("A2", LONG, 1.2, 22050),
    ("A3", "a question?", 0.3, 22050),
    ("A4", "slow clip.", 0.5, 16000),
]


def test_step_writes_each_split_with_padded_features_tokens_and_lengths(tmp_path):
    root = write_clips(tmp_path / "lj", CLIPS)
    result = features.run(fake_context(tmp_path / "step", params={**PARAMS, "root": str(root)}))
    out = tmp_path / "step" / "out"
    assert sorted(p.name for p in out.iterdir()) == ["test.pt", "train.pt", "val.pt"]
    train = torch.load(out / "train.pt")
    assert train["ids"] == ["A1", "A2"]
    assert train["features"].shape == (2, 80, 100) and train["features"].dtype == torch.float32
    # 0.5 s is 11,025 samples: 11025 // 160 + 1 = 69 frames, then zeros; 1.2 s (166 frames) is
    # cropped
    assert train["frames_used"].tolist() == [69, 100]
    assert torch.all(train["features"][0, :, 69:] == 0) and torch.all(
        train["features"][0, :, 68] != 0
    )
    assert train["texts"] == ["hello there.", LONG[:97]]
    assert train["tokens"].dtype == torch.int64 and train["tokens"].shape == (2, 99)
    assert train["tokens"][1].tolist() == encode(LONG, 97)
    assert decode(train["tokens"][1]).count("#") == 1  # the semicolon
    clip = features.log_mel(
        torch.from_numpy(soundfile.read(str(root / "wavs" / "A1.wav"), dtype="float32")[0]),
        features.mel_filterbank(400, 80, 16000),
        400,
        160,
    )
    assert torch.equal(train["features"][0, :, :69], clip)
    assert result["splits"] == {"train": 2, "val": 1, "test": 1}
    assert result["unknown_chars"] == {";": 1}
    assert result["cropped"] == 1 and result["resampled"] == 1
    assert result["hours"] == pytest.approx((0.5 + 1.2 + 0.3 + 0.5) / 3600, rel=1e-4)


def test_step_resamples_a_clip_at_another_rate(tmp_path):
    root = write_clips(tmp_path / "lj", CLIPS)
    features.run(fake_context(tmp_path / "step", params={**PARAMS, "root": str(root)}))
    test = torch.load(tmp_path / "step" / "out" / "test.pt")
    assert test["ids"] == ["A4"] and test["frames_used"].tolist() == [11025 // 160 + 1]


def test_step_reads_the_corpus_folder_from_the_upstream_result(tmp_path):
    write_clips(tmp_path / "corpus" / "LJSpeech-offline", CLIPS[:3])
    upstream = {"q3.corpus": Result(data={"dir": "LJSpeech-offline"}, dir=tmp_path / "corpus")}
    params = {**PARAMS, "source": "corpus", "bounds": [1, 2, 3]}
    result = features.run(fake_context(tmp_path / "step", params=params, needed=upstream))
    assert result["source"] == "corpus" and result["splits"] == {"train": 1, "val": 1, "test": 1}
    assert torch.load(tmp_path / "step" / "out" / "val.pt")["ids"] == ["A2"]


def test_step_refuses_a_split_with_a_missing_wav(tmp_path):
    root = write_clips(tmp_path / "lj", CLIPS)
    (root / "wavs" / "A3.wav").unlink()
    with pytest.raises(DataError, match=r"1 clips of the split have no wav file \(A3.wav\)"):
        features.run(fake_context(tmp_path / "step", params={**PARAMS, "root": str(root)}))


def test_real_clips_fill_frames_in_proportion_to_their_duration(tmp_path, ljspeech_sample):
    params = {**PARAMS, "root": str(ljspeech_sample), "bounds": [4, 6, 8], "frames": 2754}
    result = features.run(fake_context(tmp_path, params=params))
    train = torch.load(tmp_path / "out" / "train.pt")
    assert train["ids"] == ["LJ001-0001", "LJ001-0002", "LJ001-0003", "LJ001-0004"]
    assert train["features"].shape == (4, 80, 2754)
    for i, clip_id in enumerate(train["ids"]):
        samples = soundfile.info(str(ljspeech_sample / "wavs" / f"{clip_id}.wav")).frames
        used = int(train["frames_used"][i])
        assert used == samples // 160 + 1  # about 138 frames a second
        x = train["features"][i]
        assert torch.all(x[:, used:] == 0)
        assert x[:, :used].min() == pytest.approx(float(x[:, :used].max()) - 2.0, abs=1e-5)
    assert train["texts"][1] == "in being comparatively modern."
    assert result["splits"] == {"train": 4, "val": 2, "test": 2}
    assert result["cropped"] == 0 and result["resampled"] == 0
