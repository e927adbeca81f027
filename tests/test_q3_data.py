"""The LJ Speech folder reader and the archive download, on the real sample and on folders
written here."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from compute.engine.step import DataError
from compute.q3 import check, data, download
from compute.q3.data import DataWarning, Row


def tone(seconds: float, rate: int = 22050, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_folder(
    root: Path, rows: list[str], wavs: dict[str, np.ndarray] | None = None, rate: int = 22050
) -> Path:
    """An LJ Speech-like folder: metadata.csv from `rows` and a 0.5 s tone for each id unless
    given."""
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    (root / "metadata.csv").write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    if wavs is None:
        wavs = {r.split("|")[0]: tone(0.5, rate) for r in rows}
    for clip_id, audio in wavs.items():
        soundfile.write(str(root / "wavs" / f"{clip_id}.wav"), audio, rate, subtype="PCM_16")
    return root


def rows_of(n: int) -> list[str]:
    return [f"C{i:03d}|Text {i}.|text number {i}." for i in range(n)]


# metadata.csv --------------------------------------------------------------------------------
def test_real_sample_metadata_has_186_rows_in_file_order(ljspeech_sample):
    rows = data.read_metadata(ljspeech_sample)
    assert len(rows) == 186
    assert rows[0] == Row("LJ001-0001", rows[0].transcript, rows[0].normalized, 1)
    assert rows[1].normalized == "in being comparatively modern."
    assert rows[-1].id == "LJ001-0186" and rows[-1].row == 186


def test_real_sample_wav_is_mono_float_at_22050(ljspeech_sample):
    wave = data.read_wav(ljspeech_sample / "wavs" / "LJ001-0002.wav", 22050)
    info = soundfile.info(str(ljspeech_sample / "wavs" / "LJ001-0002.wav"))
    assert wave.dtype == torch.float32 and wave.shape == (info.frames,)
    assert 0.01 < wave.abs().max() <= 1.0


def test_real_sample_summary_counts_clips_hours_and_unknown_characters(ljspeech_sample):
    summary = check.summarize(ljspeech_sample, [150, 168, 186], 22050)
    assert summary["clips"] == summary["readable"] == 186
    assert summary["splits"] == {"train": 150, "val": 18, "test": 18}
    assert summary["hours"] == pytest.approx(0.3325, abs=0.001)  # 186 clips of 6.4 s on average
    assert summary["unknown_chars"]['"'] == 34 and summary["unknown_chars"][";"] == 24
    assert summary["missing"]["count"] == 0


def test_malformed_row_is_an_error_naming_the_file_and_row(tmp_path):
    root = write_folder(tmp_path, ["A1|one.|one.", "A2|two.|two.", "A3|three, no third field"])
    with pytest.raises(DataError, match=r"metadata.csv row 3: 2 field\(s\)"):
        data.read_metadata(root)


def test_empty_normalized_transcript_is_an_error_naming_the_row(tmp_path):
    root = write_folder(tmp_path, ["A1|one.|one.", "A2|two.|  "])
    with pytest.raises(DataError, match=r"row 2 \(A2\): the normalized transcript is empty"):
        data.read_metadata(root)


def test_bytes_that_are_not_utf8_are_an_error_naming_row_and_offset(tmp_path):
    root = write_folder(tmp_path, ["A1|one.|one."])
    (root / "metadata.csv").write_bytes(b"A1|one.|one.\nA2|caf\xe9.|caf\xe9.\n")
    # "A1|one.|one.\n" is 13 bytes; the bad byte is 6 bytes into row 2
    with pytest.raises(DataError, match=r"row 2: byte 0xe9 at file offset 19 is not UTF-8"):
        data.read_metadata(root)


def test_duplicate_clip_id_is_an_error_naming_both_rows(tmp_path):
    root = write_folder(tmp_path, ["A1|one.|one.", "A2|two.|two.", "A1|again.|again."])
    with pytest.raises(DataError, match="row 3: clip id A1 already used on row 1"):
        data.read_metadata(root)


def test_windows_line_endings_are_read_like_unix_ones(tmp_path):
    root = write_folder(tmp_path, ["A1|one.|one."])
    (root / "metadata.csv").write_bytes(b"A1|One.|one.\r\nA2|Two.|two.\r\n")
    assert [(r.id, r.normalized) for r in data.read_metadata(root)] == [
        ("A1", "one."),
        ("A2", "two."),
    ]


def test_missing_metadata_is_an_error_saying_how_to_get_the_data(tmp_path):
    with pytest.raises(DataError, match="metadata.csv: not found.*LJSPEECH_PATH"):
        data.read_metadata(tmp_path)


# splits --------------------------------------------------------------------------------------
def test_course_split_by_row_order_is_9825_655_2620():
    rows = [Row(f"LJ{i:05d}", "t", "t", i + 1) for i in range(13100)]
    splits = data.split_rows(rows, data.COURSE_BOUNDS)
    assert {k: len(v) for k, v in splits.items()} == {"train": 9825, "val": 655, "test": 2620}
    assert splits["val"][0].id == "LJ09825" and splits["test"][0].id == "LJ10480"
    assert splits["test"][-1].id == "LJ13099"


def test_split_of_a_larger_folder_keeps_only_the_first_total_rows():
    rows = [Row(f"C{i}", "t", "t", i + 1) for i in range(50)]
    splits = data.split_rows(rows, [10, 15, 20])
    assert [len(v) for v in splits.values()] == [10, 5, 5] and splits["test"][-1].id == "C19"


def test_split_needing_more_rows_than_the_folder_has_is_an_error():
    rows = [Row(f"C{i}", "t", "t", i + 1) for i in range(186)]
    with pytest.raises(DataError, match="186 rows but the split bounds .* need 13100"):
        data.split_rows(rows, data.COURSE_BOUNDS)


# wav files -----------------------------------------------------------------------------------
def test_missing_wav_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(DataError, match=r"LJ001-0001\.wav: wav file not found"):
        data.read_wav(tmp_path / "LJ001-0001.wav", 22050)


def test_unreadable_wav_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(DataError, match=r"broken\.wav: unreadable as audio"):
        data.read_wav(path, 22050)


def test_stereo_wav_is_averaged_to_mono_with_a_warning(tmp_path):
    left, right = tone(0.1), tone(0.1, freq=1000.0)
    path = tmp_path / "stereo.wav"
    soundfile.write(str(path), np.stack([left, right], axis=1), 22050, subtype="FLOAT")
    with pytest.warns(DataWarning, match=r"stereo\.wav: 2 channels; averaged to mono"):
        wave = data.read_wav(path, 22050)
    assert wave.shape == (2205,)
    np.testing.assert_allclose(wave.numpy(), (left + right) / 2, atol=1e-7)


def test_other_sample_rate_is_resampled_with_a_warning(tmp_path):
    path = tmp_path / "slow.wav"
    soundfile.write(str(path), tone(1.0, rate=16000), 16000, subtype="PCM_16")
    with pytest.warns(DataWarning, match=r"slow\.wav: sample rate 16000 Hz; resampled to 22050 Hz"):
        wave = data.read_wav(path, 22050)
    assert wave.shape == (22050,)
    # still a 440 Hz tone: the spectrum peaks at 440 Hz (1 Hz bins for a 1 s clip)
    assert int(np.abs(np.fft.rfft(wave.numpy())).argmax()) == 440


def test_wav_at_the_expected_rate_gives_no_warning(tmp_path):
    path = tmp_path / "fine.wav"
    soundfile.write(str(path), tone(0.2), 22050, subtype="PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wave = data.read_wav(path, 22050)
    np.testing.assert_allclose(wave.numpy(), tone(0.2), atol=1 / 32768)


# checking a folder ---------------------------------------------------------------------------
def test_absent_wavs_are_counted_and_named_but_allowed_outside_the_homework_profile(tmp_path):
    root = write_folder(tmp_path, rows_of(10))
    for i in (2, 7, 8):
        (root / "wavs" / f"C{i:03d}.wav").unlink()
    summary = check.summarize(root, [6, 8, 10], 22050)
    assert summary["missing"] == {"count": 3, "first": ["C002.wav", "C007.wav", "C008.wav"]}
    assert summary["missing_by_split"] == {"train": 1, "val": 1, "test": 1}
    assert summary["readable"] == 7 and summary["hours"] == pytest.approx(7 * 0.5 / 3600)
    lines = check.check_data(root, [6, 8, 10], 22050, require_complete=False)
    assert any(
        line.startswith("warning: 3 wav files missing (train 1, val 1, test 1)") for line in lines
    )


def test_homework_profile_refuses_a_split_with_absent_wavs(tmp_path):
    root = write_folder(tmp_path, rows_of(10))
    (root / "wavs" / "C009.wav").unlink()
    with pytest.raises(DataError, match="1 wav files missing .*C009.wav.*homework profile"):
        check.check_data(root, [6, 8, 10], 22050, require_complete=True)


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])  # as an interrupted copy or extraction leaves it


def test_a_truncated_wav_is_refused_by_the_reader_naming_both_lengths(tmp_path):
    root = write_folder(tmp_path, rows_of(1), wavs={"C000": tone(2.0)})
    _truncate(root / "wavs" / "C000.wav", 20_000)
    assert (
        soundfile.info(str(root / "wavs" / "C000.wav")).frames < 22050
    )  # libsndfile reads it silently
    with pytest.raises(
        DataError,
        match=r"C000\.wav: truncated: its header declares 2\.00 s of audio but "
        r"the file holds 0\.45 s .* Re-download or re-extract this file",
    ):
        data.read_wav(root / "wavs" / "C000.wav", 22050)


def test_check_data_names_a_truncated_wav_and_the_homework_profile_refuses_it(tmp_path):
    root = write_folder(tmp_path, rows_of(10))
    _truncate(root / "wavs" / "C004.wav", 10_000)
    lines = check.check_data(root, [6, 8, 10], 22050, require_complete=False)
    assert (
        "warning: 1 wav files truncated (their header declares more audio than they hold): C004.wav"
        in lines
    )
    assert "10 clips, 9 readable" in lines[0]
    with pytest.raises(DataError, match="1 wav files truncated .*C004.wav.*homework profile"):
        check.check_data(root, [6, 8, 10], 22050, require_complete=True)


def test_every_wav_of_the_real_sample_holds_what_its_header_declares(ljspeech_sample):
    for path in sorted((ljspeech_sample / "wavs").glob("*.wav")):
        assert data.declared_frames(path) == soundfile.info(str(path)).frames, path


def test_check_refuses_a_folder_without_a_readable_clip(tmp_path):
    root = write_folder(tmp_path, rows_of(3), wavs={})
    (root / "wavs" / "C000.wav").write_bytes(b"not audio")
    with pytest.raises(DataError, match="none of the 3 clips"):
        check.check_data(root, [1, 2, 3], 22050, require_complete=False)


def test_check_reports_unknown_characters_with_counts(tmp_path):
    root = write_folder(tmp_path, ['A1|x|"Quoted"; twice "here".', "A2|x|Fine, really?"])
    lines = check.check_data(root, [1, 2, 2], 22050, require_complete=True)
    assert "characters mapped to the unknown token #: '\"' x4, ';' x1" in lines


# finding the folder --------------------------------------------------------------------------
def test_find_prefers_the_given_path_then_the_environment(tmp_path):
    given = write_folder(tmp_path / "given", rows_of(1))
    env = write_folder(tmp_path / "env" / "LJSpeech-1.1", rows_of(1))
    assert check.find_ljspeech(given, environ={"LJSPEECH_PATH": str(env)}) == given
    assert check.find_ljspeech(None, environ={"LJSPEECH_PATH": str(tmp_path / "env")}) == env
    assert check.find_ljspeech(None, environ={}) is None
    assert (
        check.find_ljspeech(None, environ={}, defaults=[tmp_path / "nowhere", tmp_path / "env"])
        == env
    )


def test_find_refuses_a_named_folder_without_metadata(tmp_path):
    with pytest.raises(DataError, match=r"\$LJSPEECH_PATH\): no metadata.csv"):
        check.find_ljspeech(None, environ={"LJSPEECH_PATH": str(tmp_path)})


# download ------------------------------------------------------------------------------------
def small_archive(tmp_path: Path) -> tuple[Path, str, int]:
    """A bzip2 tar shaped like LJSpeech-1.1.tar.bz2 holding two clips; (path, sha256, size)."""
    folder = write_folder(tmp_path / "build" / "LJSpeech-1.1", rows_of(2))
    archive = tmp_path / "serve" / "LJSpeech-1.1.tar.bz2"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(folder, arcname="LJSpeech-1.1")
    payload = archive.read_bytes()
    return archive, hashlib.sha256(payload).hexdigest(), len(payload)


def test_download_verifies_and_extracts_a_file_url(tmp_path):
    archive, sha, size = small_archive(tmp_path)
    dest = tmp_path / "data"
    folder = download.download_ljspeech(
        dest, url=archive.as_uri(), sha256=sha, size=size, show_progress=False
    )
    assert folder == dest / "LJSpeech-1.1"
    assert [r.id for r in data.read_metadata(folder)] == ["C000", "C001"]
    assert data.read_wav(folder / "wavs" / "C001.wav", 22050).shape == (11025,)
    assert sorted(p.name for p in dest.iterdir()) == ["LJSpeech-1.1"]  # archive and scratch removed
    # a second call finds the folder and does not fetch again (the address no longer exists)
    assert (
        download.download_ljspeech(dest, url="file:///nonexistent/x.tar.bz2", show_progress=False)
        == folder
    )


def test_download_with_a_wrong_checksum_is_refused_and_removed(tmp_path):
    archive, sha, size = small_archive(tmp_path)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="SHA-256 .* should give 0000"):
        download.download_ljspeech(
            dest, url=archive.as_uri(), sha256="0" * 64, size=size, show_progress=False
        )
    assert list(dest.iterdir()) == []


def test_download_with_a_wrong_size_is_refused(tmp_path):
    archive, sha, size = small_archive(tmp_path)
    with pytest.raises(DataError, match=f"{size:,} bytes where .* should give {size + 1:,}"):
        download.download_ljspeech(
            tmp_path / "data", url=archive.as_uri(), sha256=sha, size=size + 1, show_progress=False
        )


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one file and honours `Range: bytes=N-`, counting the bytes it sends."""

    payload = b""
    sent: list[int] = []

    def do_GET(self):
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            self.send_response(206)
            self.send_header(
                "Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}"
            )
        else:
            self.send_response(200)
        body = self.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.sent.append(len(body))

    def log_message(self, *args):
        pass


def test_interrupted_download_resumes_from_the_part_file(tmp_path):
    archive, sha, size = small_archive(tmp_path)
    payload = archive.read_bytes()
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "LJSpeech-1.1.tar.bz2.part").write_bytes(payload[: size // 2])
    RangeHandler.payload, RangeHandler.sent = payload, []
    server = http.server.HTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/LJSpeech-1.1.tar.bz2"
        folder = download.download_ljspeech(
            dest, url=url, sha256=sha, size=size, show_progress=False
        )
    finally:
        server.shutdown()
        server.server_close()
    assert RangeHandler.sent == [size - size // 2]
    assert [r.id for r in data.read_metadata(folder)] == ["C000", "C001"]


def test_archive_with_members_outside_the_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        info = tarfile.TarInfo("other/metadata.csv")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"x|y\n"))
    payload = archive.read_bytes()
    with pytest.raises(DataError, match="'other/metadata.csv' lies outside LJSpeech-1.1/"):
        download.download_ljspeech(
            tmp_path / "data",
            url=archive.as_uri(),
            sha256=hashlib.sha256(payload).hexdigest(),
            size=len(payload),
            show_progress=False,
        )
    assert not (tmp_path / "data" / "LJSpeech-1.1").exists()


def test_real_sample_is_described_then_refused_for_the_course_split(ljspeech_sample):
    with pytest.raises(DataError) as error:
        check.check_data(ljspeech_sample, data.COURSE_BOUNDS, 22050, require_complete=True)
    message = str(error.value)
    assert "186 clips, 186 readable, 0.33 hours" in message
    assert "186 rows but the split bounds [9825, 10480, 13100] need 13100" in message
