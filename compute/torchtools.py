"""Small torch helpers shared by the sections: the thread count for a block, parameter counts, and
an atomic torch.save."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from compute.engine.files import write_atomic


@contextmanager
def torch_threads(count: int | None) -> Iterator[int]:
    """Runs the block on `count` torch threads (None or 0: as many as now), then restores the
    previous count; yields the count in effect."""
    before = torch.get_num_threads()
    torch.set_num_threads(count or before)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def count_trainable_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def save_atomic(path: Path, obj) -> None:
    """torch.save, written whole or not at all: an interrupted save leaves the previous file."""
    write_atomic(path, lambda tmp: torch.save(obj, tmp))
