"""Trains the speech recogniser with each decoder and scores it: per-epoch losses and validation
similarities, test loss and similarities of the final weights, a constant-output baseline,
sample transcriptions and timings. Checkpoints every epoch and, within an epoch, every
ctx.checkpoint_seconds (10 minutes by default), and resumes from them.

On a CPU with two or more cores the two decoders train at once, one process each with
`cpu_threads` torch threads (the same numbers as training them one after the other with that
many threads). With `padding` FIXED every clip keeps the profile's frames and every transcript
its max_text + 2 ids (the course); with BY_LENGTH a batch holds clips of similar length and is cut
to its longest clip and its longest transcript: the encoder sees no frames past the longest clip,
and the loss no padding past the longest transcript.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from compute import parallel
from compute.engine.step import Context
from compute.q3.decode import greedy_decode
from compute.q3.metrics import DAMERAU_LEVENSHTEIN_VARIANT, METRICS, similarities
from compute.q3.model import ModelDimensions, SpeechRecognizer
from compute.q3.text import EOS, INDEX, PAD, SOS, decode, until_eos
from compute.torchtools import count_trainable_parameters, save_atomic, torch_threads

SPLITS = ("train", "val", "test")
FIXED = "fixed"  # every clip padded (or cropped) to the profile's frames, batches in random order
BY_LENGTH = "per batch, clips grouped by length"
POOL = 25  # batches whose clips are sorted by length together (BY_LENGTH)


def lr_factor(epoch: int, warmup_epochs: int, decay_epochs: int, floor: float = 0.01) -> float:
    """Learning-rate multiplier of an epoch (from 0): linear from floor to 1 over the warm-up
    epochs, then linear down to floor over the decay epochs, floor after that."""
    if epoch < warmup_epochs:
        return floor + (1.0 - floor) * epoch / warmup_epochs
    return 1.0 - (1.0 - floor) * min(epoch - warmup_epochs, decay_epochs) / decay_epochs


def load_split(directory: Path, name: str) -> dict:
    """One split written by q3.features; the feature array is memory-mapped, not read whole."""
    return torch.load(directory / f"{name}.pt", mmap=True, weights_only=True)


def targets(split: dict) -> list[str]:
    """The reference character sequences, from `<` to `>`, as the model sees them."""
    return [until_eos(decode(ids)) for ids in split["tokens"].tolist()]


def batch_indices(
    n: int, batch_size: int, generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


def length_batches(
    frames_used: torch.Tensor, batch_size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """Training batches of clips of similar length: the clips shuffled, sorted by length within
    pools of POOL batches, cut into batches, and the batches shuffled."""
    batches: list[torch.Tensor] = []
    for pool in torch.randperm(len(frames_used), generator=generator).split(batch_size * POOL):
        batches += pool[torch.argsort(frames_used[pool], stable=True)].split(batch_size)
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def training_batches(
    split: dict, batch_size: int, generator: torch.Generator, padding: str
) -> list[torch.Tensor]:
    if padding == FIXED:
        return batch_indices(len(split["tokens"]), batch_size, generator)
    return length_batches(split["frames_used"], batch_size, generator)


def evaluation_batches(split: dict, batch_size: int, padding: str) -> list[torch.Tensor]:
    if padding == FIXED:
        return batch_indices(len(split["tokens"]), batch_size)
    return list(torch.argsort(split["frames_used"], stable=True).split(batch_size))


def batch(
    split: dict, idx: torch.Tensor, device: torch.device, padding: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, tokens) of the clips idx; with per-batch padding cut to the longest clip and to
    the longest transcript (its `>` included)."""
    mel, tokens = split["features"][idx], split["tokens"][idx]
    if padding != FIXED:
        mel = mel[..., : int(split["frames_used"][idx].max())].contiguous()
        tokens = tokens[:, : int((tokens != INDEX[PAD]).sum(1).max())]
    return mel.to(device), tokens.to(device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def evaluate(
    model: SpeechRecognizer,
    split: dict,
    batch_size: int,
    device: torch.device,
    label_smoothing: float,
    padding: str = FIXED,
    counted=iter,
) -> tuple[float, list[str], float]:
    """Mean of the per-batch mean losses (teacher forcing), the greedy transcriptions in the
    split's order, and the seconds spent transcribing (encoder and greedy decoding, not the loss).
    `counted` wraps the batches (progress)."""
    model.eval()
    losses, outputs, seconds = [], [""] * len(split["tokens"]), 0.0
    for idx in counted(evaluation_batches(split, batch_size, padding)):
        mel, tokens = batch(split, idx, device, padding)
        synchronize(device)
        began = time.perf_counter()
        xa = model.encoder(mel)
        ids = greedy_decode(model.decoder, xa).tolist()
        seconds += time.perf_counter() - began
        for i, row in zip(idx.tolist(), ids):
            outputs[i] = decode(row)
        logits = model.decoder(tokens[:, :-1], xa)
        losses.append(
            F.cross_entropy(logits, tokens[:, 1:], label_smoothing=label_smoothing).item()
        )
    return sum(losses) / len(losses), outputs, seconds


def constant_baseline(
    train_texts: list[str], val_targets: list[str], test_targets: list[str], candidates: int
) -> dict:
    """The best single output for every clip, per metric: the empty transcription `<>` or one of
    the most frequent training transcripts (the first ones where all are distinct), chosen on
    validation and scored on test."""
    frequent = [text for text, _ in Counter(train_texts).most_common(candidates)]
    options = [SOS + EOS] + [SOS + text + EOS for text in frequent]
    on_val = [similarities(val_targets, [o] * len(val_targets)) for o in options]
    result = {"candidates": len(options), "selected_on": "validation"}
    for metric in METRICS:
        best = max(range(len(options)), key=lambda i: on_val[i][metric])
        test = similarities(test_targets, [options[best]] * len(test_targets))
        result[metric] = {
            "output": options[best],
            "validation": on_val[best][metric],
            "test": test[metric],
        }
    result["empty_output_test"] = similarities(test_targets, [SOS + EOS] * len(test_targets))
    return result


def load_trained(path: Path, device: str = "cpu") -> SpeechRecognizer:
    """A model saved by `run` (its model_<decoder>.pt)."""
    saved = torch.load(path, map_location=device, weights_only=True)
    model = SpeechRecognizer(ModelDimensions(**saved["dims"]), saved["decoder"]).to(device)
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def fingerprint(params: dict, seed: int, device: str) -> str:
    return hashlib.sha256(json.dumps([params, seed, device], sort_keys=True).encode()).hexdigest()


def train_batch(
    model: SpeechRecognizer,
    optimizer: torch.optim.Optimizer,
    split: dict,
    idx: torch.Tensor,
    device: torch.device,
    label_smoothing: float,
    padding: str = FIXED,
) -> float:
    """One AdamW step on the clips idx; their mean loss before the step."""
    mel, tokens = batch(split, idx, device, padding)
    logits = model(mel, tokens[:, :-1])
    loss = F.cross_entropy(logits, tokens[:, 1:], label_smoothing=label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


@contextmanager
def full_float32():
    """The course trains in float32: no TensorFloat-32 in CUDA matrix products or convolutions."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def run(ctx: Context) -> dict:
    """Both decoders, at once in two processes on a CPU with two free cores, else in turn."""
    p = ctx.params
    data = {name: load_split(ctx.needed["q3.features"].dir, name) for name in SPLITS}
    train_texts = [t[1:-1] for t in targets(data["train"])]
    common = {
        "baseline": constant_baseline(
            train_texts, targets(data["val"]), targets(data["test"]), p["baseline_candidates"]
        ),
        "damerau_levenshtein_variant": DAMERAU_LEVENSHTEIN_VARIANT,
        "settings": dict(p),
    }
    processes = parallel.process_count(p["workers"], len(p["decoders"]), ctx.device)
    began = time.perf_counter()
    if processes > 1:
        trained = parallel.in_processes(
            train_and_score,
            [([d], ctx) for d in p["decoders"]],
            p["cpu_threads"],
            [f"{ctx.name} {d}" for d in p["decoders"]],
        )
        trained = [result for results in trained for result in results]
    else:
        with torch_threads(p["cpu_threads"] if ctx.device == "cpu" else None):
            trained = train_and_score(p["decoders"], ctx)
    return {
        "decoders": {d: r | common for d, r in zip(p["decoders"], trained)},
        "processes": processes,
        "cpus": os.cpu_count(),
        "seconds": time.perf_counter() - began,
    }


def batch_counts(p: dict, clips: dict[str, int]) -> dict[str, int]:
    """Batches of an epoch of each split (training at batch_size, evaluation at eval_batch_size)."""
    return {
        name: -(-n // (p["batch_size"] if name == "train" else p["eval_batch_size"]))
        for name, n in clips.items()
    }


def work(p: dict, clips: dict[str, int], decoders: int) -> dict[str, tuple[int, float]]:
    """The batches `decoders` trainings compute, by kind, with the guessed cost of an evaluation
    batch relative to a training batch (until one is timed): its clips through the encoder once,
    without the backward pass (about a third of the cost each), and the decoding as much again."""
    batches = batch_counts(p, clips)
    guess = 2 * p["eval_batch_size"] / (3 * p["batch_size"])
    return {
        "training batches": (decoders * p["epochs"] * batches["train"], 1.0),
        "validation batches": (decoders * p["epochs"] * batches["val"], guess),
        "test batches": (decoders * batches["test"], guess),
    }


def rng_states(device: str) -> dict:
    """Every random-number state a training could draw from: torch (and CUDA), NumPy, Python."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if device == "cuda" else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
        "python": random.getstate(),
    }


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    random.setstate(states["python"])


class Training:
    """One decoder's model, optimiser, schedule and shuffling, restored from its checkpoint when
    one of the same settings is in ctx.work. A checkpoint is written after every epoch and, within
    an epoch, every ctx.checkpoint_seconds: it holds the position in the epoch, the losses of its
    batches so far and the state from which its batch order was drawn, so a resumed run continues
    with the next batch and ends with the numbers of an uninterrupted one."""

    def __init__(self, decoder: str, ctx: Context, n_frames: int, tracker):
        p, self.decoder, self.ctx, self.tracker = ctx.params, decoder, ctx, tracker
        torch.manual_seed(ctx.seed)
        self.dims = ModelDimensions(**p["model"], n_frames=n_frames)
        self.model = SpeechRecognizer(self.dims, decoder).to(ctx.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=p["lr"],
            weight_decay=p["weight_decay"],
            fused=p["fused_adamw"] or None,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda e: lr_factor(e, p["warmup_epochs"], p["decay_epochs"], p["lr_floor"]),
        )
        # draws the epoch's batch order
        self.order = torch.Generator().manual_seed(ctx.seed).get_state()
        self.history: dict[str, list] = {
            k: []
            for k in (
                "train_loss",
                "val_loss",
                "learning_rate",
                "epoch_seconds",
                *(f"val_{m}" for m in METRICS),
            )
        }
        self.epoch, self.position, self.losses, self.spent = 0, 0, [], 0.0  # the epoch in progress
        self.checkpoint = ctx.work / f"checkpoint_{decoder}.pt"
        self.key = fingerprint(
            {**p, "decoder": decoder, "checkpoints": "within epochs"}, ctx.seed, ctx.device
        )
        if self.checkpoint.exists():
            # RNG states stay on the CPU
            state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
            if state["fingerprint"] == self.key:
                self.restore(state)
                ctx.log(
                    f"{decoder}: resuming in epoch {self.epoch + 1} after batch {self.position}"
                    if self.position
                    else f"{decoder}: resuming after epoch {self.epoch}"
                )
        self.saved = time.monotonic()

    def parts(self) -> dict:
        return {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler}

    def restore(self, state: dict) -> None:
        for name, part in self.parts().items():
            part.load_state_dict(state[name])
        set_rng_states(state["rng"])
        self.order, self.history, self.epoch = state["order"], state["history"], state["epoch"]
        self.position, self.losses, self.spent = state["position"], state["losses"], state["spent"]

    def save(self) -> None:
        save_atomic(
            self.checkpoint,
            {  # an interrupted save keeps the previous one
                "fingerprint": self.key,
                "epoch": self.epoch,
                "position": self.position,
                "losses": self.losses,
                "spent": self.spent,
                "history": self.history,
                "order": self.order,
                "rng": rng_states(self.ctx.device),
                **{name: part.state_dict() for name, part in self.parts().items()},
            },
        )
        self.saved = time.monotonic()

    def train(self, data: dict, val_targets: list[str]) -> None:
        """The remaining epochs, each followed by validation and a checkpoint."""
        p, tracker = self.ctx.params, self.tracker
        batches = batch_counts(p, {name: len(data[name]["tokens"]) for name in SPLITS})
        tracker.skip("training batches", self.epoch * batches["train"] + self.position)
        tracker.skip("validation batches", self.epoch * batches["val"])
        tracker.mark()
        while self.epoch < p["epochs"]:
            began = time.perf_counter() - self.spent
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss = self.train_epoch(data["train"])
            self.scheduler.step()
            tracker.where = f"{self.decoder} epoch {self.epoch + 1}/{p['epochs']}, validation"
            val_loss, outputs, _ = evaluate(
                self.model,
                data["val"],
                p["eval_batch_size"],
                torch.device(self.ctx.device),
                p["label_smoothing"],
                p["padding"],
                partial(tracker.items, "validation batches"),
            )
            scores = similarities(val_targets, outputs)
            for name, value in (
                ("train_loss", train_loss),
                ("val_loss", val_loss),
                ("learning_rate", lr),
                *((f"val_{m}", scores[m]) for m in METRICS),
                ("epoch_seconds", time.perf_counter() - began),
            ):
                self.history[name].append(value)
            self.epoch, self.position, self.losses, self.spent = self.epoch + 1, 0, [], 0.0
            self.ctx.log(
                f"{self.decoder} epoch {self.epoch}/{p['epochs']}: train loss {train_loss:.4f}, "
                f"val loss {val_loss:.4f}, val Jaccard {scores['jaccard']:.4f}, cosine "
                f"{scores['cosine']:.4f}, DL {scores['damerau_levenshtein']:.4f} "
                f"({self.history['epoch_seconds'][-1]:.0f} s)"
            )
            self.save()

    def train_epoch(self, split: dict) -> float:
        """The rest of the epoch in progress (from batch `position`), checkpointing on time; the
        mean of its batches' losses."""
        p, began = self.ctx.params, time.perf_counter() - self.spent
        generator = torch.Generator()
        generator.set_state(self.order)
        batches = training_batches(split, p["batch_size"], generator, p["padding"])
        self.model.train()
        for idx in batches[self.position :]:
            self.tracker.where = (
                f"{self.decoder} epoch {self.epoch + 1}/{p['epochs']}, "
                f"batch {self.position + 1}/{len(batches)}"
            )
            self.losses.append(
                train_batch(
                    self.model,
                    self.optimizer,
                    split,
                    idx,
                    torch.device(self.ctx.device),
                    p["label_smoothing"],
                    p["padding"],
                )
            )
            self.position += 1
            self.tracker.step("training batches")
            if (
                self.position < len(batches)
                and time.monotonic() - self.saved >= self.ctx.checkpoint_seconds
            ):
                self.spent = time.perf_counter() - began
                self.save()
        self.order = generator.get_state()  # the next epoch's order is drawn from here
        return sum(self.losses) / len(self.losses)


def train_and_score(decoders: list[str], ctx: Context) -> list[dict]:
    """Trains the decoders one after the other (each resuming from its checkpoint) and scores their
    final weights on test; one progress line for all of them."""
    with full_float32():
        data = {name: load_split(ctx.needed["q3.features"].dir, name) for name in SPLITS}
        counts = {name: len(data[name]["tokens"]) for name in SPLITS}
        with ctx.track(work(ctx.params, counts, len(decoders))) as tracker:
            return [
                score(Training(d, ctx, data["train"]["features"].shape[-1], tracker), data)
                for d in decoders
            ]


def score(training: Training, data: dict) -> dict:
    """Trains what remains of one decoder's training, then scores its final weights on test."""
    ctx, p, decoder = training.ctx, training.ctx.params, training.decoder
    training.train(data, targets(data["val"]))
    began = time.perf_counter()
    training.tracker.where = f"{decoder}: test decoding"
    test_loss, outputs, decode_seconds = evaluate(
        training.model,
        data["test"],
        p["eval_batch_size"],
        torch.device(ctx.device),
        p["label_smoothing"],
        p["padding"],
        partial(training.tracker.items, "test batches"),
    )
    test_seconds = time.perf_counter() - began
    test_targets, model = targets(data["test"]), training.model
    transcriptions = [
        {"id": i, "target": t, "output": until_eos(o)}  # the scored sequences
        for i, t, o in zip(data["test"]["ids"], test_targets, outputs)
    ]
    model_file = f"model_{decoder}.pt"  # the final weights, for re-use (benchmarks/q3_decode.py)
    torch.save(
        {"decoder": decoder, "dims": asdict(training.dims), "state_dict": model.state_dict()},
        ctx.out / model_file,
    )
    history = training.history
    return {
        "decoder": decoder,
        "device": ctx.device,
        "seed": ctx.seed,
        "parameters": {
            "encoder": count_trainable_parameters(model.encoder),
            "decoder": count_trainable_parameters(model.decoder),
            "total": count_trainable_parameters(model),
        },
        "clips": {name: len(data[name]["tokens"]) for name in SPLITS},
        "frames": training.dims.n_frames,
        "epochs": list(range(1, p["epochs"] + 1)),
        "history": {k: [float(v) for v in values] for k, values in history.items()},
        "test": {"loss": test_loss, **similarities(test_targets, outputs)},
        "test_transcriptions": transcriptions,
        "timing": {
            "epoch_seconds": [float(s) for s in history["epoch_seconds"]],
            "train_seconds": float(sum(history["epoch_seconds"])),
            "test_seconds": test_seconds,
            "decode_seconds": decode_seconds,
            "decode_seconds_per_clip": decode_seconds / len(test_targets),
        },
        "model_file": model_file,
    }
