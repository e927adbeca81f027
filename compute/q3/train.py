"""Trains the speech recogniser with one decoder and scores it: per-epoch losses and validation
similarities, test loss and similarities of the final weights, a constant-output baseline,
sample transcriptions, timings and two figures. Checkpoints every epoch and resumes from them."""
from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from compute.q3.decode import greedy_decode
from compute.q3.metrics import DAMERAU_LEVENSHTEIN_VARIANT, METRICS, similarities
from compute.q3.model import ModelDimensions, SpeechRecognizer, count_trainable_parameters
from compute.q3.text import EOS, SOS, decode, until_eos
from compute.step import Context

SPLITS = ("train", "val", "test")


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


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def evaluate(model: SpeechRecognizer, split: dict, batch_size: int, device: torch.device,
             label_smoothing: float) -> tuple[float, list[str], float]:
    """Mean of the per-batch mean losses (teacher forcing), the greedy transcriptions, and the
    seconds spent transcribing (encoder and greedy decoding, not the loss)."""
    model.eval()
    losses, outputs, seconds = [], [], 0.0
    for idx in batch_indices(len(split["tokens"]), batch_size):
        mel, tokens = split["features"][idx].to(device), split["tokens"][idx].to(device)
        synchronize(device)
        began = time.perf_counter()
        xa = model.encoder(mel)
        ids = greedy_decode(model.decoder, xa).tolist()
        seconds += time.perf_counter() - began
        outputs += [decode(row) for row in ids]
        logits = model.decoder(tokens[:, :-1], xa)
        losses.append(F.cross_entropy(logits, tokens[:, 1:], label_smoothing=label_smoothing).item())
    return sum(losses) / len(losses), outputs, seconds


def constant_baseline(train_texts: list[str], val_targets: list[str], test_targets: list[str],
                      candidates: int) -> dict:
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
        result[metric] = {"output": options[best], "validation": on_val[best][metric], "test": test[metric]}
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


def save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a run interrupted while saving keeps the previous checkpoint


def plot_curves(path: Path, epochs: list[int], curves: dict[str, list[float]], ylabel: str,
                constants: dict[str, float] | None = None, ylim: tuple[float, float] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    for (label, values), color in zip(curves.items(), ("C0", "C1", "C2")):
        ax.plot(epochs, values, marker="o", markersize=3, color=color, label=label)
        if constants and label in constants:
            ax.axhline(constants[label], color=color, linestyle="--", linewidth=0.8)
    if constants:
        ax.plot([], [], color="0.4", linestyle="--", linewidth=0.8, label="best constant output")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def train_epoch(model: SpeechRecognizer, optimizer: torch.optim.Optimizer, split: dict,
                batches: list[torch.Tensor], device: torch.device, label_smoothing: float, progress) -> float:
    """One pass over the training batches; the mean of the per-batch mean losses."""
    model.train()
    losses = []
    for idx in progress(batches):
        mel, tokens = split["features"][idx].to(device), split["tokens"][idx].to(device)
        logits = model(mel, tokens[:, :-1])
        loss = F.cross_entropy(logits, tokens[:, 1:], label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


@contextmanager
def full_float32():
    """The course trains in float32: no TensorFloat-32 in CUDA matrix products or convolutions."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def write_figures(out: Path, decoder: str, epochs: list[int], history: dict, baseline: dict) -> dict[str, str]:
    """loss_<decoder>.pdf (training and validation loss) and similarity_<decoder>.pdf (validation
    similarities, with the best constant output's as dashed lines)."""
    figures = {"loss": f"loss_{decoder}.pdf", "similarity": f"similarity_{decoder}.pdf"}
    plot_curves(out / figures["loss"], epochs, {"training": history["train_loss"], "validation": history["val_loss"]},
                "loss (label smoothing 0.1)")
    names = {"jaccard": "Jaccard", "cosine": "cosine", "damerau_levenshtein": "Damerau-Levenshtein"}
    plot_curves(out / figures["similarity"], epochs, {names[m]: history[f"val_{m}"] for m in METRICS},
                "validation similarity", constants={names[m]: baseline[m]["validation"] for m in METRICS},
                ylim=(0.0, 1.0))
    return figures


def run(ctx: Context) -> dict:
    with full_float32():
        return train_and_score(ctx)


def train_and_score(ctx: Context) -> dict:
    p = ctx.params
    decoder_name = p["decoder"]
    device = torch.device(ctx.device)
    data_dir = ctx.needed["q3.features"].dir
    data = {name: load_split(data_dir, name) for name in SPLITS}
    val_targets, test_targets = targets(data["val"]), targets(data["test"])

    torch.manual_seed(ctx.seed)
    dims = ModelDimensions(**p["model"], n_frames=data["train"]["features"].shape[-1])
    model = SpeechRecognizer(dims, decoder_name).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: lr_factor(e, p["warmup_epochs"], p["decay_epochs"], p["lr_floor"]))
    generator = torch.Generator().manual_seed(ctx.seed)  # the order of the training clips
    history: dict[str, list] = {k: [] for k in ("train_loss", "val_loss", "learning_rate", "epoch_seconds",
                                               *(f"val_{m}" for m in METRICS))}

    checkpoint, key = ctx.work / f"checkpoint_{decoder_name}.pt", fingerprint(p, ctx.seed, ctx.device)
    start = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)  # RNG states stay on the CPU
        if state["fingerprint"] == key:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
            history, start = state["history"], state["epoch"]
            ctx.log(f"resuming after epoch {start} from {checkpoint.name}")

    for epoch in range(start, p["epochs"]):
        began = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        batches = batch_indices(len(data["train"]["tokens"]), p["batch_size"], generator)
        progress = partial(ctx.progress, total=len(batches), desc=f"epoch {epoch + 1}/{p['epochs']}")
        train_loss = train_epoch(model, optimizer, data["train"], batches, device, p["label_smoothing"], progress)
        scheduler.step()
        val_loss, outputs, _ = evaluate(model, data["val"], p["eval_batch_size"], device, p["label_smoothing"])
        scores = similarities(val_targets, outputs)
        for name, value in (("train_loss", train_loss), ("val_loss", val_loss), ("learning_rate", lr),
                            *((f"val_{m}", scores[m]) for m in METRICS),
                            ("epoch_seconds", time.perf_counter() - began)):
            history[name].append(value)
        ctx.log(f"epoch {epoch + 1}/{p['epochs']}: train loss {train_loss:.4f}, val loss {val_loss:.4f}, "
                f"val Jaccard {scores['jaccard']:.4f}, cosine {scores['cosine']:.4f}, "
                f"DL {scores['damerau_levenshtein']:.4f} ({history['epoch_seconds'][-1]:.0f} s)")
        save_checkpoint(checkpoint, {
            "fingerprint": key, "epoch": epoch + 1, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "history": history})

    began = time.perf_counter()
    test_loss, test_outputs, decode_seconds = evaluate(
        model, data["test"], p["eval_batch_size"], device, p["label_smoothing"])
    test_seconds = time.perf_counter() - began
    test_scores = similarities(test_targets, test_outputs)
    transcriptions = [{"id": i, "target": t, "output": until_eos(o)}  # the scored sequences
                      for i, t, o in zip(data["test"]["ids"], test_targets, test_outputs)]
    train_texts = [t[1:-1] for t in targets(data["train"])]
    baseline = constant_baseline(train_texts, val_targets, test_targets, p["baseline_candidates"])

    model_file = f"model_{decoder_name}.pt"  # the final weights, for re-use (benchmarks/q3_decode.py)
    torch.save({"decoder": decoder_name, "dims": asdict(dims), "state_dict": model.state_dict()}, ctx.out / model_file)

    epochs = list(range(1, p["epochs"] + 1))
    figures = write_figures(ctx.out, decoder_name, epochs, history, baseline)

    return {
        "decoder": decoder_name,
        "device": ctx.device,
        "seed": ctx.seed,
        "parameters": {"encoder": count_trainable_parameters(model.encoder),
                       "decoder": count_trainable_parameters(model.decoder),
                       "total": count_trainable_parameters(model)},
        "clips": {name: len(data[name]["tokens"]) for name in SPLITS},
        "frames": dims.n_frames,
        "epochs": epochs,
        "history": {k: [float(v) for v in values] for k, values in history.items()},
        "test": {"loss": test_loss, **test_scores},
        "baseline": baseline,
        "samples": transcriptions[: p["samples"]],
        "test_transcriptions": transcriptions,
        "timing": {
            "epoch_seconds": [float(s) for s in history["epoch_seconds"]],
            "train_seconds": float(sum(history["epoch_seconds"])),
            "test_seconds": test_seconds,
            "decode_seconds": decode_seconds,
            "decode_seconds_per_clip": decode_seconds / len(test_targets),
        },
        "damerau_levenshtein_variant": DAMERAU_LEVENSHTEIN_VARIANT,
        "settings": {k: v for k, v in p.items() if k != "differences_from_homework"},
        "differences_from_homework": p.get("differences_from_homework", {}),
        "figures": figures,
        "model_file": model_file,
    }
