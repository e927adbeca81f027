"""A step context for tests and benchmarks that call a step's `run` directly (no cache, no runner)."""
from __future__ import annotations

from pathlib import Path

from compute.progress import Reporter
from compute.step import Context, Result


def fake_context(tmp: Path, params: dict | None = None, seed: int = 0,
                 needed: dict[str, Result] | None = None, device: str = "cpu", name: str = "test") -> Context:
    """A context whose `out` and `work` folders are under `tmp`; progress is printed as log lines."""
    (tmp / "out").mkdir(parents=True, exist_ok=True)
    (tmp / "work").mkdir(parents=True, exist_ok=True)
    return Context(params=params or {}, seed=seed, device=device, out=tmp / "out", work=tmp / "work",
                   needed=needed or {}, name=name, interactive=False, reporter=Reporter())
