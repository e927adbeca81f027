"""What the build tells its user when something fails: one or a few lines saying what went wrong,
where (a file, a line), and what to do, never a Python traceback (that is for --debug).

`BuildError` is a failure the user can fix whose message already says all three; `describe` turns
any other exception into such lines (a full disk, a folder that cannot be written, a bug).
"""

from __future__ import annotations

import errno
import os
import shutil
import traceback
from pathlib import Path

from compute.engine.files import ROOT

LOW_SPACE = 256 * 2**20  # below this many free bytes, a failed write is taken for a full disk
DEBUG_HINT = "run again with --debug (or BUILD_DEBUG=1) for the Python traceback"


class BuildError(Exception):
    """A failure the user can fix, and the one family of errors meant for the user: the build
    prints its message alone. It says what went wrong, where, and the fix: given apart
    (`BuildError(what, where=..., fix=...)`) or as one message that already holds all three."""

    def __init__(self, what: str, where: str | None = None, fix: str | None = None):
        self.what, self.where, self.fix = what, where, fix
        super().__init__((f"{where}: " if where else "") + what + (f". {fix}" if fix else ""))


def env_number(variable: str, default: float, example: str, *, zero: bool) -> float:
    """The number an environment variable sets (its default when unset or empty); anything else,
    a negative number, or zero where `zero` is false, is a BuildError that names the variable and
    gives `example`, what the number means."""
    text = os.environ.get(variable, "")
    try:
        value = float(text) if text else default
    except ValueError:
        value = -1.0
    if value < 0 or (value == 0 and not zero):
        raise BuildError(f"{variable}={text!r}: give {example}")
    return value


def free_bytes(folder: Path) -> int | None:
    """Free bytes on the disk that holds `folder` (or its nearest existing parent)."""
    for path in (folder, *folder.parents):
        try:
            return shutil.disk_usage(path).free
        except OSError:
            continue
    return None


def _project_frame(error: BaseException) -> str | None:
    """'file:line' of the innermost frame in the project's own code (not the libraries'), or of
    the line a SyntaxError is about."""
    if isinstance(error, SyntaxError) and error.filename:
        path = Path(error.filename)
        return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{error.lineno}"
    where = None
    for frame in traceback.extract_tb(error.__traceback__):
        path = Path(frame.filename)
        if path.is_relative_to(ROOT) and ".venv" not in path.parts:
            where = f"{path.relative_to(ROOT)}:{frame.lineno}"
    return where


def _os_problem(error: OSError, build_dir: Path) -> str | None:
    where = error.filename or build_dir
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on the disk holding {where}. Free some space (or choose another folder "
            f"with --build-dir) and run the build again; finished steps stay cached and nothing "
            f"half-written was kept"
        )
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"cannot write {where}: {error.strerror.lower()}. Make it writable, or choose another "
            f"folder with --build-dir"
        )
    if error.errno in (errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP):
        return (
            f"cannot use {where}: {error.strerror.lower()}. A path given to the build (an option, "
            f"a variable such as OCTMNIST_PATH or LJSPEECH_PATH) has the wrong shape: check it"
        )
    if error.errno == errno.EFBIG:
        return f"a file under {where} is larger than this system allows ({error.strerror.lower()})"
    return None


def _memory_problem(error: BaseException) -> str | None:
    """A computation that ran out of memory, on the GPU (torch's OutOfMemoryError) or in RAM."""
    if isinstance(error, MemoryError):
        return (
            "the machine ran out of memory (RAM). Close other programs, or run the build where "
            "there is more memory (with --executor slurm, --slurm mem=NGB); finished steps stay "
            "cached"
        )
    if type(error).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(error):
        return (
            "the GPU ran out of memory. Use a GPU with more memory, or free it (nvidia-smi shows "
            "what else runs there); finished steps stay cached and the training resumes from its "
            "checkpoints"
        )
    return None


def describe(error: BaseException, build_dir: Path) -> str:
    """The lines to print for a failure: its message, the notes added on the way (which step was
    running), and for an unexpected error where in the project it happened."""
    notes = "".join(f"\n  {note}" for note in getattr(error, "__notes__", []))
    if isinstance(error, BuildError):
        return f"error: {error}{notes}"
    problem = _os_problem(error, build_dir) if isinstance(error, OSError) else None
    if problem is None:
        problem = _memory_problem(error)
    if problem is None:
        free = free_bytes(build_dir)
        # torch reports a full disk as "unexpected pos ..."
        if free is not None and free < LOW_SPACE:
            problem = _os_problem(
                OSError(errno.ENOSPC, "No space left on device", str(build_dir)), build_dir
            )
            problem += f" (only {free // 2**20} MiB free; the failure read: {error})"
    if problem is not None:
        return f"error: {problem}{notes}"
    where = _project_frame(error)
    return (
        f"error: unexpected {type(error).__name__}: {error}"
        + (f"\n  at {where}" if where else "")
        + f"{notes}\n  this is a bug in the build, not in your input; {DEBUG_HINT}"
    )
