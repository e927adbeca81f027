"""Q2 figures, as vector PDFs for print: sample images, training curves, confusion matrices.

The q2.figures step draws them from the stored results of q2.data and q2.train, so a change of
style re-plots in seconds and never retrains (no training step imports this module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compute.plotted import pyplot, save
from compute.q2.data import load_arrays

plt = pyplot()


def samples(
    images: np.ndarray, labels: np.ndarray, classes: list[str], out: Path, per_class: int = 6
) -> dict:
    """The first `per_class` images of each class, one row per class; what it shows is the row
    labels and the indices of the training images in each row (the pixels are the data file's)."""
    fig, axes = plt.subplots(
        len(classes), per_class, figsize=(0.75 * per_class + 0.8, 0.75 * len(classes))
    )
    for c, name in enumerate(classes):
        chosen = np.flatnonzero(labels.reshape(-1) == c)[:per_class]
        for j, ax in enumerate(axes[c]):
            if j < len(chosen):
                ax.imshow(images[chosen[j]], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[c][0].set_ylabel(name, rotation=0, ha="right", va="center")
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    fig.savefig(Path(out) / "samples.pdf")
    rows = [axes[c][0].get_ylabel() for c in range(len(classes))]
    plt.close(fig)
    return {
        "file": "samples.pdf",
        "rows": rows,
        "shown": [
            np.flatnonzero(labels.reshape(-1) == c)[:per_class].tolist()
            for c in range(len(classes))
        ],
    }


def curves(runs: list[dict], net: str, key: str, ylabel: str, out: Path, name: str) -> dict:
    """One line per learning rate of `net`: runs[i][key] against the epoch."""
    mine = [i for i, r in enumerate(runs) if r["net"] == net]
    fig, ax = plt.subplots(figsize=(3.4, 2.4))
    for r in (runs[i] for i in mine):
        epochs = np.arange(1, len(r[key]) + 1)
        ax.plot(epochs, r[key], marker="o", label=f"lr = {r['lr']:g}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True)
    ax.legend()
    return save(fig, Path(out) / name, [f"q2.train:runs.{i}.{key}" for i in mine])


def confusion(
    matrix: list[list[int]], classes: list[str], out: Path, name: str, source: str
) -> dict:
    """Counts, rows the true class, columns the predicted class."""
    m = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(2.8, 2.5))
    ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        ax.text(
            j, i, str(v), ha="center", va="center", color="white" if v > m.max() / 2 else "black"
        )
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for spine in ax.spines.values():
        spine.set_visible(False)
    return save(fig, Path(out) / name, [source])


def training_figures(
    runs: list[dict], best_lr: dict[str, float], classes: list[str], out: Path
) -> list[dict]:
    """What the training figures show (compute/plotted.py): each network's curves and confusion
    matrix."""
    shown = []
    for net, lr in best_lr.items():
        shown.append(
            curves(
                runs, net, "train_loss", "training loss (epoch mean)", out, f"train_loss_{net}.pdf"
            )
        )
        shown.append(curves(runs, net, "val_acc", "validation accuracy", out, f"val_acc_{net}.pdf"))
        best = next(i for i, r in enumerate(runs) if r["net"] == net and r["lr"] == lr)
        shown.append(
            confusion(
                runs[best]["confusion_529"],
                classes,
                out,
                f"confusion_{net}.pdf",
                f"q2.train:runs.{best}.confusion_529",
            )
        )
    return shown


def run(ctx) -> dict:
    """The q2.figures step: {"samples": file, "train_loss": {net: file}, "val_acc": ...,
    "confusion": ..., "plotted": {file: what it shows}}."""
    data, train = ctx.needed["q2.data"], ctx.needed["q2.train"].data
    arrays = load_arrays(data.dir / data.data["file"])
    classes = data.data["classes"]
    shown = [samples(arrays["train_images"], arrays["train_labels"], classes, ctx.out)]
    shown += training_figures(train["runs"], train["best_lr"], classes, ctx.out)
    files = {
        kind: {net: f"{kind}_{net}.pdf" for net in train["best_lr"]}
        for kind in ("train_loss", "val_acc", "confusion")
    }
    return {"samples": "samples.pdf", **files, "plotted": {s["file"]: s for s in shown}}
