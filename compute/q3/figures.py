"""Q3's figures, drawn from the stored training results (q3.train) by a step of their own, so
that a change of style re-plots in seconds and never re-trains: per decoder, the training and
validation loss per epoch, and the validation similarities with the best constant output's."""

from __future__ import annotations

from pathlib import Path

from compute.plotted import pyplot, save
from compute.q3.names import METRIC_NAMES as LABELS


def plot_curves(
    path: Path,
    epochs: list[int],
    curves: dict[str, list[float]],
    ylabel: str,
    sources: list[str],
    constants: dict[str, float] | None = None,
    ylim: tuple[float, float] | None = None,
) -> dict:
    fig, ax = pyplot().subplots(figsize=(4.2, 2.8))
    for (label, values), color in zip(curves.items(), ("C0", "C1", "C2")):
        ax.plot(epochs, values, marker="o", color=color, label=label)
        if constants and label in constants:
            ax.axhline(constants[label], color=color, linestyle="--", linewidth=0.8)
    if constants:
        ax.plot([], [], color="0.4", linestyle="--", linewidth=0.8, label="best constant output")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True)
    ax.legend()
    return save(fig, path, sources)


def decoder_figures(out: Path, trained: dict) -> tuple[dict[str, str], list[dict]]:
    """loss_<decoder>.pdf (training and validation loss) and similarity_<decoder>.pdf (validation
    similarities, with the best constant output's as dashed lines), and what each shows."""
    decoder, history, baseline = trained["decoder"], trained["history"], trained["baseline"]
    figures = {"loss": f"loss_{decoder}.pdf", "similarity": f"similarity_{decoder}.pdf"}
    stored = f"q3.train:decoders.{decoder}."
    shown = [
        plot_curves(
            out / figures["loss"],
            trained["epochs"],
            {"training": history["train_loss"], "validation": history["val_loss"]},
            f"loss (label smoothing {trained['settings']['label_smoothing']:g})",
            [stored + "epochs", stored + "history.train_loss", stored + "history.val_loss"],
        ),
        plot_curves(
            out / figures["similarity"],
            trained["epochs"],
            {LABELS[m]: history[f"val_{m}"] for m in LABELS},
            "validation similarity",
            [stored + "epochs"]
            + [stored + f"history.val_{m}" for m in LABELS]
            + [stored + f"baseline.{m}.validation" for m in LABELS],
            constants={LABELS[m]: baseline[m]["validation"] for m in LABELS},
            ylim=(0.0, 1.0),
        ),
    ]
    return figures, shown


def run(ctx) -> dict:
    """The q3.figures step: {decoder: {"loss": file, "similarity": file}, "plotted": {file: what it
    shows}}."""
    drawn = {
        decoder: decoder_figures(ctx.out, trained)
        for decoder, trained in ctx.needed["q3.train"].data["decoders"].items()
    }
    return {decoder: files for decoder, (files, _) in drawn.items()} | {
        "plotted": {s["file"]: s for _, shown in drawn.values() for s in shown}
    }
