"""Projections of Q2's steps (see compute/engine/plan.py): the data from a sample generated or the
file read once, the training from timed epochs of a few hundred batches of each network on random
images at the profile's batch size, scaled by the images and epochs."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from compute import parallel
from compute.engine.plan import Probe, Projection, peak_ram, timed
from compute.q2 import data, synthetic, train
from compute.q2.fused import FusedCNN
from compute.q2.models import NETWORKS
from compute.torchtools import torch_threads

GENERATED = {"train": 1000, "val": 100, "test": 100}  # images generated for a projection
EPOCH = 200  # training batches of a timed epoch, at most
IMAGE_BYTES = data.IMAGE_SIZE**2 + 1  # an image and its label in octmnist.npz


def split_sizes(probe: Probe) -> dict[str, int]:
    step = probe.steps["q2.data"]
    if "sizes" in step.params:
        return dict(step.params["sizes"])
    arrays = probe.shared("arrays", lambda: data.load_arrays(Path(step.params["path"])))
    return {s: len(arrays[f"{s}_labels"]) for s in data.SPLITS}


def data_projection(step, probe: Probe) -> Projection:
    if "sizes" not in step.params:  # the real file: the step reads and checks it
        path = Path(step.params["path"])
        if not probe.measure:
            return Projection(None, "not measured", reads=str(path))
        began = time.perf_counter()
        data.md5(path)
        probe.shared("arrays", lambda: data.load_arrays(path))
        return Projection(
            time.perf_counter() - began,
            f"{path.name} read and checked now",
            reads=f"{path} ({path.stat().st_size / 1e6:.0f} MB)",
            writes="its summary",
            ram=peak_ram(),
        )
    images = sum(step.params["sizes"].values())
    writes = f"octmnist.npz, {images:,} generated images"
    if not probe.measure:
        return Projection(None, "not measured", writes=writes, disk=images * IMAGE_BYTES)
    sample = {s: min(n, GENERATED[s]) for s, n in step.params["sizes"].items()}
    began = time.perf_counter()
    synthetic.generate(sample, step.seed)
    seconds = time.perf_counter() - began
    return Projection(
        seconds * images / sum(sample.values()),
        f"{sum(sample.values()):,} images generated now ({seconds:.1f} s), times {images:,}",
        writes=writes,
        ram=peak_ram(),
        disk=images * IMAGE_BYTES,
    )


def measure(net: str, p: dict, batches: int, device: str, seed: int, thorough: bool) -> dict:
    """Seconds of a training batch of every learning rate's run (q2.train's own epoch loop over
    `batches` batches: shuffling, dropout masks and steps), of one evaluation batch, and the peak
    memory."""
    torch.manual_seed(seed)
    fused = FusedCNN(
        [copy.deepcopy(NETWORKS[net]()) for _ in p["learning_rates"]], p["learning_rates"], device
    )
    x = torch.rand(batches * p["batch_size"], 1, data.IMAGE_SIZE, data.IMAGE_SIZE, device=device)
    y = torch.randint(len(data.CLASSES), (len(x),), device=device)
    shuffle, dropout = (
        torch.Generator().manual_seed(seed),
        torch.Generator(device=device).manual_seed(seed),
    )
    epoch, _ = timed(
        lambda: train.train_epoch(fused, x, y, p["batch_size"], shuffle, dropout), thorough
    )
    eval_x = torch.rand(p["eval_batch"], 1, data.IMAGE_SIZE, data.IMAGE_SIZE)
    evaluation, _ = timed(
        lambda: train.evaluate(
            fused, eval_x, torch.zeros(len(eval_x), dtype=torch.long), p["eval_batch"]
        ),
        thorough,
    )
    return {
        "batch": epoch / batches,
        "eval": evaluation,
        "ram": peak_ram(),
        "weights": sum(t.numel() * 4 for t in fused.state().values()),
    }


def train_projection(step, probe: Probe) -> Projection:
    p = step.params
    sizes = split_sizes(probe)
    reads = "q2.data: " + ", ".join(f"{s} {n:,}" for s, n in sizes.items()) + " images"
    runs = len(p["networks"]) * len(p["learning_rates"])
    writes = f"curves, predictions and confusion matrices of {runs} runs"
    if not probe.measure:
        return Projection(None, "not measured", reads=reads, writes=writes)
    processes = train.process_count(p, probe.device)
    batches = -(-sizes["train"] // p["batch_size"])
    calls = [
        (net, p, min(batches, EPOCH), probe.device, step.seed, probe.thorough)
        for net in p["networks"]
    ]
    if processes > 1:
        names = [f"{step.name} {n} (plan)" for n in p["networks"]]
        measured = parallel.in_processes(measure, calls, train.process_threads(p, processes), names)
    else:
        with torch_threads(p["cpu_threads"]):
            measured = [measure(*call) for call in calls]
    evals = -(-sizes["val"] // p["eval_batch"]) * p["epochs"] + -(-sizes["test"] // p["eval_batch"])
    per_net = [p["epochs"] * batches * m["batch"] + evals * m["eval"] for m in measured]
    data_bytes = 4 * data.IMAGE_SIZE**2 * (2 * sizes["train"] + sizes["val"] + sizes["test"])
    # the epoch's dropout masks
    keep = 4 * batches * p["batch_size"] * NETWORKS[p["networks"][0]]().dims.fc1
    ram = [m["ram"] + data_bytes + keep for m in measured]
    basis = (
        f"epochs of {min(batches, EPOCH)} batches of {p['batch_size']} timed now on random images ("
        + ", ".join(
            f"{n} {m['batch'] * 1000:.2f} ms a batch" for n, m in zip(p["networks"], measured)
        )
        + f"), and an evaluation batch of {p['eval_batch']:,}; "
        f"times {p['epochs']} epochs of {batches:,} batches "
        f"and {evals} evaluation batches a network, "
        + (
            "the networks at once, one process each"
            if processes > 1
            else "the networks one after the other"
        )
    )
    return Projection(
        max(per_net) if processes > 1 else sum(per_net),
        basis,
        reads=reads,
        writes=writes,
        ram=sum(ram) if processes > 1 else max(ram),
        scratch=sum(m["weights"] for m in measured),
        disk=len(p["networks"]) * len(p["learning_rates"]) * 4 * sizes["test"],
    )


PROJECTIONS = {"q2.data": data_projection, "q2.train": train_projection}
