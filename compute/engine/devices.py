"""The device the steps compute on (cpu or cuda) and the machine that computed a step."""

from __future__ import annotations

import platform
from pathlib import Path

from compute.engine.errors import BuildError


def resolve_device(choice: str, where: str = "here") -> str:
    """The device class the steps compute on: cpu or cuda. `where` the steps compute: "here" (in
    this process or its subprocesses: cuda must be visible, auto takes it when it is), "slurm"
    (jobs on GPU nodes: auto means cuda) or "nowhere" (--frozen: cuda names the results wanted and
    needs no GPU here; auto takes cuda when this machine has it)."""
    if choice not in ("auto", "cpu", "cuda"):
        raise BuildError(f"--device {choice}: unknown device; use auto, cpu or cuda")
    if choice == "cpu":
        return "cpu"
    if where == "slurm" or (where == "nowhere" and choice == "cuda"):
        return "cuda"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if choice == "cuda":
        raise BuildError(
            "--device cuda: torch sees no CUDA device on this machine; use --device auto "
            "(CUDA when present, else the CPU) or --device cpu"
        )
    return "cpu"


def device_kind(device: str) -> str:
    if device == "cuda":
        import torch

        return "cuda:" + torch.cuda.get_device_name(0)
    return "cpu"


def machine(device: str) -> str:
    """What computed a step: the GPU's name, or the CPU's model and the vector instruction set
    PyTorch dispatches to (results may differ between CPUs whose instruction sets differ)."""
    if device == "cuda":
        return device_kind(device).removeprefix("cuda:")
    model = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith(("model name", "Model"))
        )
    except (OSError, StopIteration):
        pass
    import torch

    return f"{model} ({torch.backends.cpu.get_cpu_capability()})"
