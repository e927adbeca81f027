"""Q2 training (2.1, 2.2): each network at the three learning rates, validated every epoch and
tested with its final-epoch weights, checkpointed every epoch so an interrupted run resumes.

The runs of one network are trained side by side (compute/q2/fused.py). Like the course's
separate runs with seed 42, they start from the same initial weights and see the same batches
and dropout masks; only the learning rate differs. On a CPU with two or more cores the two
networks train at the same time, one process each (`workers` in the profile), with the same
numbers as when they train one after the other.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from compute import parallel
from compute.q2.data import (
    CLASSES,
    COURSE_TEST_PER_CLASS,
    course_test_subset,
    describe,
    load_arrays,
    to_tensors,
)
from compute.q2.fused import FusedCNN
from compute.q2.models import NETWORKS
from compute.torchtools import save_atomic, torch_threads


class TrainingStopped(Exception):
    """Raised after the checkpoint of epoch `stop_after_epoch`, to interrupt a run on purpose."""


def run(ctx) -> dict:
    """The q2.train step: both networks, all learning rates, curves, test accuracy, confusion."""
    p = ctx.params
    data = ctx.needed["q2.data"]
    arrays, splits, subset = load_splits(ctx)
    processes = process_count(p, ctx.device)
    if processes > 1:
        trained = parallel.in_processes(
            train_alone,
            [(net, p, ctx) for net in p["networks"]],
            process_threads(p, processes),
            [f"{ctx.name} {net}" for net in p["networks"]],
        )
    else:
        with (
            torch_threads(p["cpu_threads"]),
            ctx.track(work(p, splits, len(p["networks"]))) as tracker,
        ):
            trained = [train_network(net, splits, subset, p, ctx, tracker) for net in p["networks"]]
    runs = [r for result in trained for r in result["runs"]]
    best = {
        net: best_learning_rate({r["lr"]: r["val_acc"][-1] for r in runs if r["net"] == net})
        for net in p["networks"]
    }
    return {
        "data": {
            "source": data.data["source"],
            "md5": data.data["md5"],
            "splits": describe(arrays),
            "classes": list(CLASSES),
            "course_test_per_class": list(COURSE_TEST_PER_CLASS),
        },
        "settings": {
            k: p[k] for k in ("networks", "learning_rates", "epochs", "batch_size", "cpu_threads")
        }
        | {"seed": ctx.seed, "device": ctx.device, "selection": "final-epoch validation accuracy"},
        "runs": runs,
        "best_lr": best,
        "seconds_fused": {net: result["seconds"] for net, result in zip(p["networks"], trained)},
        "processes": processes,
    }


def best_learning_rate(final_val_acc: dict[float, float]) -> float:
    """The rate with the highest final-epoch validation accuracy; on an exact tie the smallest of
    the tied rates, the most conservative step (the report states the same choice)."""
    return max(final_val_acc, key=lambda lr: (final_val_acc[lr], -lr))


def process_count(p: dict, device: str) -> int:
    """How many networks train at once: one process per network and CPU core, never on CUDA."""
    return parallel.process_count(p.get("workers", 1), len(p["networks"]), device)


def process_threads(p: dict, processes: int) -> int:
    """Torch threads of each process: one network per process; at batch 8 a second thread in one
    process gains little."""
    return p["cpu_threads"] or max(1, (os.cpu_count() or 1) // processes)


def load_splits(ctx) -> tuple[dict, dict, np.ndarray]:
    """The q2.data arrays, the (images, labels) tensors of each split, the course's test subset."""
    data = ctx.needed["q2.data"]
    arrays = load_arrays(data.dir / data.data["file"])
    splits = {
        s: to_tensors(arrays[f"{s}_images"], arrays[f"{s}_labels"])
        for s in ("train", "val", "test")
    }
    return arrays, splits, course_test_subset(arrays["test_labels"])


def train_alone(net: str, p: dict, ctx) -> dict:
    """train_network in a process of its own, which loads the data itself and shows its own
    progress."""
    _, splits, subset = load_splits(ctx)
    with ctx.track(work(p, splits, 1)) as tracker:
        return train_network(net, splits, subset, p, ctx, tracker)


def train_network(net: str, splits: dict, subset: np.ndarray, p: dict, ctx, tracker) -> dict:
    """Trains `net` at every learning rate; resumes from ctx.work when a checkpoint is there.
    `tracker` (ctx.track) counts its batches, validations and test."""
    device, lrs, epochs = ctx.device, p["learning_rates"], p["epochs"]
    torch.manual_seed(ctx.seed)
    model = NETWORKS[net]()
    fused = FusedCNN([copy.deepcopy(model) for _ in lrs], lrs, device)
    shuffle = torch.Generator().manual_seed(ctx.seed)
    dropout = torch.Generator(device=device).manual_seed(ctx.seed + 1)
    checkpoint = Path(ctx.work) / f"{net}.pt"
    # what the numbers depend on: not how many processes train, nor where a run was stopped
    key = {k: v for k, v in p.items() if k not in ("workers", "stop_after_epoch")} | {
        "net": net,
        "seed": ctx.seed,
        "device": device,
        "history": "with validation confusion matrices",
    }
    history = resume(checkpoint, key, fused, (shuffle, dropout), ctx.log, net)
    # on the device once: every epoch trains on it (evaluate moves its batches itself)
    splits = splits | {"train": tuple(t.to(device) for t in splits["train"])}
    done, steps = len(history["val_acc"]), -(-len(splits["train"][1]) // p["batch_size"])
    tracker.skip("training batches", done * steps)
    tracker.skip("validations", done)
    tracker.mark()
    for epoch in range(done, epochs):
        tracker.where = f"{net} epoch {epoch + 1}/{epochs}"
        train_epoch_and_validate(fused, splits, p, (shuffle, dropout), history, tracker)
        save_atomic(
            checkpoint,
            {
                "key": key,
                "model": fused.state(),
                "shuffle": shuffle.get_state(),
                "dropout": dropout.get_state(),
                "history": history,
            },
        )
        ctx.log(
            f"{net} epoch {epoch + 1}/{epochs}: train loss {_fmt(history['train_loss'][-1])}, "
            f"val acc {_fmt(history['val_acc'][-1])} (lr {_fmt(lrs)})"
        )
        if p.get("stop_after_epoch") == epoch + 1:
            raise TrainingStopped(f"{net} stopped after epoch {epoch + 1}")
    tracker.where = f"{net}: test"
    _, test_acc, predicted = evaluate(fused, *splits["test"], p["eval_batch"])
    tracker.step("test")
    return {
        "seconds": history["seconds"],
        "runs": run_results(net, lrs, history, (test_acc, predicted), splits["test"][1], subset),
    }


def resume(checkpoint: Path, key: dict, fused: FusedCNN, generators: tuple, log, net: str) -> dict:
    """The history of the epochs done: from `checkpoint` when it was saved under the same `key`
    (the weights and the generators' states restored with it), else empty."""
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "val_confusion": [], "seconds": 0.0}
    if checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if saved["key"] == key:
            fused.load_state(saved["model"])
            generators[0].set_state(saved["shuffle"])
            generators[1].set_state(saved["dropout"])
            history = saved["history"]
            log(f"{net}: resuming after epoch {len(history['val_acc'])}")
    return history


def run_results(
    net: str, lrs: list, history: dict, test: tuple, labels: torch.Tensor, subset: np.ndarray
) -> list[dict]:
    """Per learning rate: its curves from `history`, and its test predictions, accuracies and
    confusion matrices on the test images and on the course's subset of them; `test` is
    evaluate's (accuracies, predictions) of the runs."""
    test_acc, predicted = test
    true = labels.numpy()
    return [
        {
            "net": net,
            "lr": lr,
            "train_loss": [e[r] for e in history["train_loss"]],
            "val_loss": [e[r] for e in history["val_loss"]],
            "val_acc": [e[r] for e in history["val_acc"]],
            "val_confusion": [e[r] for e in history["val_confusion"]],
            "test_predictions": predicted[r].tolist(),
            "test_acc_529": float((predicted[r][subset] == true[subset]).mean()),
            "test_acc_1000": test_acc[r],
            "confusion_529": confusion(true[subset], predicted[r][subset], len(CLASSES)),
            "confusion_1000": confusion(true, predicted[r], len(CLASSES)),
            "seconds": history["seconds"] / len(lrs),
        }
        for r, lr in enumerate(lrs)
    ]


def work(p: dict, splits: dict, networks: int) -> dict[str, tuple[int, float]]:
    """What the training of `networks` networks computes, by kind, with the guessed cost of a
    validation or a test relative to a training batch (until one is timed): its images forward
    only, for each a third of what a training batch costs an image."""
    (train, val, test), batch = (
        (len(splits[s][1]) for s in ("train", "val", "test")),
        p["batch_size"],
    )
    return {
        "training batches": (networks * p["epochs"] * -(-train // batch), 1.0),
        "validations": (networks * p["epochs"], val / (3 * batch)),
        "test": (networks, test / (3 * batch)),
    }


def train_epoch_and_validate(
    fused: FusedCNN, splits: dict, p: dict, generators: tuple, history: dict, tracker
) -> None:
    """One epoch of every run, then their validation losses, accuracies and confusion matrices,
    appended to `history`."""
    start = time.perf_counter()
    train_loss = train_epoch(fused, *splits["train"], p["batch_size"], *generators, tracker.step)
    val_loss, val_acc, val_predicted = evaluate(fused, *splits["val"], p["eval_batch"])
    history["val_confusion"].append(
        [
            confusion(splits["val"][1].numpy(), predicted, len(CLASSES))
            for predicted in val_predicted
        ]
    )
    history["train_loss"].append(train_loss)
    history["val_loss"].append(val_loss)
    history["val_acc"].append(val_acc)
    history["seconds"] += time.perf_counter() - start
    tracker.step("validations")


def train_epoch(
    fused: FusedCNN,
    x: torch.Tensor,
    y: torch.Tensor,
    batch: int,
    shuffle: torch.Generator,
    dropout: torch.Generator,
    counted=None,
) -> list[float]:
    """One shuffled pass over (x, y) in batches; returns each run's mean of its batch losses."""
    n, d = len(y), fused.dims
    steps = -(-n // batch)
    order = torch.randperm(n, generator=shuffle).to(x.device)
    # gathered once per epoch so that every batch is a slice
    xs, targets = x[order], F.one_hot(y[order], d.n_classes).float()
    keep = torch.empty(steps, batch, d.fc1, device=x.device)
    keep.bernoulli_(1 - d.dropout, generator=dropout).div_(1 - d.dropout)
    loss_sum = torch.zeros(fused.runs, device=x.device)
    for i in range(steps):
        b = slice(i * batch, (i + 1) * batch)
        loss_sum += fused.sgd_step(xs[b], targets[b], keep[i, : len(targets[b])])
        if counted is not None:
            counted("training batches")
    return (loss_sum / steps).tolist()


def evaluate(fused: FusedCNN, x: torch.Tensor, y: torch.Tensor, batch: int):
    """Mean NLL and accuracy of every run (lists of R floats) and the predictions (R, N) array."""
    device = fused.lr.device
    log_p = torch.cat(
        [fused.log_probs(x[i : i + batch].to(device)) for i in range(0, len(y), batch)], dim=1
    )
    y = y.to(device)
    loss = -log_p.gather(-1, y.expand(fused.runs, -1)[..., None]).squeeze(-1).mean(1)
    predicted = log_p.argmax(-1)
    accuracy = (predicted == y).float().mean(1)
    return loss.tolist(), accuracy.tolist(), predicted.cpu().numpy()


def confusion(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> list[list[int]]:
    """Counts with rows the true class and columns the predicted class."""
    counts = np.bincount(true * n_classes + predicted, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).tolist()


def _fmt(values) -> str:
    return "/".join(f"{v:.4g}" for v in values)
