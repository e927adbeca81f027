"""How a running step shows its progress: log lines and progress bars.

The runner hands a `Reporter` to each step through its context (`ctx.log`, `ctx.progress`). No
step module imports this one, so changing how progress looks never changes a cache key.
"""
from __future__ import annotations

import sys
import time
from typing import Iterable


class Reporter:
    """Prints a step's messages on stderr; a bar with ETA on a terminal, a line every ~10% otherwise."""

    def log(self, name: str, message: str) -> None:
        print(f"  {name}: {message}", file=sys.stderr, flush=True)

    def progress(self, name: str, interactive: bool, iterable: Iterable, total: int | None = None,
                 desc: str = "") -> Iterable:
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        if interactive:
            from tqdm import tqdm

            yield from tqdm(iterable, total=total, desc=f"{name} {desc}".strip(), leave=False,
                            dynamic_ncols=True)
            return
        start, every = time.monotonic(), max(1, (total or 10) // 10)
        for i, item in enumerate(iterable, 1):
            yield item
            if total and (i % every == 0 or i == total):
                spent = time.monotonic() - start
                eta = spent / i * (total - i)
                self.log(name, f"{desc} {i}/{total} ({spent:.0f} s, ETA {eta:.0f} s)".strip())
