"""Downloads and extracts LJ Speech 1.1 (2.6 GB) for the homework profile.

Resume-safe: bytes go to `<archive>.part` (an interrupted download continues where it stopped
when the server honours ranges); the archive gets its real name only once its size and SHA-256
match; extraction goes to a scratch folder renamed into place at the end, so a folder named
LJSpeech-1.1 is always complete.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from compute.engine.files import file_digest
from compute.engine.step import DataError
from compute.q3.data import ENV_VAR

URL = "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"
# The published archive's SHA-256 and size (the same values torchaudio's LJSPEECH dataset checks).
SHA256 = "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5"
SIZE = 2_748_572_632
FOLDER = "LJSpeech-1.1"
CHUNK = 1 << 20
EXTRACTED_RATIO = 2.4  # the archive (2.75 GB) and its extraction (3.80 GB) on disk at once


def download_ljspeech(
    dest_dir: Path,
    url: str = URL,
    sha256: str = SHA256,
    size: int | None = SIZE,
    keep_archive: bool = False,
    show_progress: bool = True,
) -> Path:
    """dest_dir/LJSpeech-1.1 (holding metadata.csv and wavs/), downloading it if absent."""
    dest_dir = Path(dest_dir)
    target = dest_dir / FOLDER
    if (target / "metadata.csv").is_file():
        return target
    if target.exists():
        raise DataError(
            f"{target}: exists but holds no metadata.csv (not a complete LJ Speech 1.1). "
            f"Remove it and run the download again."
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    if size is not None:
        needed = int(size * EXTRACTED_RATIO)
        free = shutil.disk_usage(dest_dir).free
        if free < needed:
            raise DataError(
                f"{dest_dir}: {free / 1e9:.1f} GB free, but the archive and its extraction "
                f"need about {needed / 1e9:.1f} GB. Free some space or choose another folder."
            )
    archive = dest_dir / Path(urllib.request.url2pathname(url.rsplit("/", 1)[-1])).name
    if not archive.is_file():
        _fetch(url, archive, sha256, size, show_progress)
    else:
        try:
            _verify(archive, file_digest(archive), archive.stat().st_size, sha256, size, url)
        except DataError:
            archive.unlink()
            raise
    _extract(archive, dest_dir, target, show_progress)
    if not keep_archive:
        archive.unlink()
    return target


def _fetch(url: str, archive: Path, sha256: str, size: int | None, show_progress: bool) -> None:
    part = archive.with_name(archive.name + ".part")
    digest = hashlib.sha256()
    have = part.stat().st_size if part.is_file() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the part already holds every byte
            response = None
        else:
            raise DataError(
                f"{url}: download failed ({err}). Check the address or try again later; "
                f"or download it by hand and set {ENV_VAR} to the extracted folder."
            ) from None
    except (urllib.error.URLError, OSError) as err:
        raise DataError(
            f"{url}: download failed ({err}). Check the network and run again; "
            f"{part.name} is kept and the download resumes from it."
        ) from None
    if response is not None and have and getattr(response, "status", None) != 206:
        have = 0  # the server sent the whole file: start over
    with open(part, "ab" if have else "wb") as out:
        if have:
            with open(part, "rb") as done:
                for block in iter(lambda: done.read(CHUNK), b""):
                    digest.update(block)
        if response is not None:
            with response, _bar(size, have, archive.name, show_progress) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
    got = part.stat().st_size
    try:
        _verify(part, digest.hexdigest(), got, sha256, size, url)
    except DataError:
        part.unlink()
        raise
    part.replace(archive)


def _verify(
    path: Path, got_sha: str, got_size: int, sha256: str, size: int | None, url: str
) -> None:
    if size is not None and got_size != size:
        raise DataError(
            f"{path}: {got_size:,} bytes where {url} should give {size:,}. "
            f"The file was removed; run the download again."
        )
    if sha256 and got_sha != sha256.lower():
        raise DataError(
            f"{path}: SHA-256 {got_sha} where {url} should give {sha256}. "
            f"The file was removed; run the download again."
        )


def _extract(archive: Path, dest_dir: Path, target: Path, show_progress: bool) -> None:
    scratch = dest_dir / f".{FOLDER}.extracting"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    try:
        # Streaming mode ("r|*") reads the compressed file once; seekable mode re-reads it per
        # member.
        with (
            tarfile.open(archive, mode="r|*") as tar,
            _bar(None, 0, f"extracting {archive.name}", show_progress, unit="file") as bar,
        ):
            for member in tar:
                if not (member.name == FOLDER or member.name.startswith(FOLDER + "/")):
                    raise DataError(
                        f"{archive}: member {member.name!r} lies outside {FOLDER}/; "
                        f"this is not the LJ Speech 1.1 archive."
                    )
                tar.extract(member, scratch, filter="data")
                bar.update(1)
    except (tarfile.TarError, EOFError, OSError) as err:
        shutil.rmtree(scratch, ignore_errors=True)
        raise DataError(
            f"{archive}: extraction failed ({err}). Delete it and download again."
        ) from None
    if not (scratch / FOLDER / "metadata.csv").is_file():
        shutil.rmtree(scratch, ignore_errors=True)
        raise DataError(
            f"{archive}: holds no {FOLDER}/metadata.csv; this is not the LJ Speech 1.1 archive."
        )
    (scratch / FOLDER).rename(target)
    shutil.rmtree(scratch)


def _bar(total, initial: int, desc: str, show: bool, unit: str = "B"):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        unit_scale=unit == "B",
        unit_divisor=1024,
        disable=not show,
        file=sys.stderr,
        dynamic_ncols=True,
    )
