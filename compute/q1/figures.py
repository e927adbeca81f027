"""Q1 figures, drawn by the q1.figures step from the stored q1.numeric result: the approximation
error against K and the wall time against L. No measuring step imports this module, so a change
of style re-plots in seconds and never re-measures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compute.plotted import pyplot, save

plt = pyplot()

FILES = {"error": "approx_error.pdf", "timing": "attention_timing.pdf"}


def plot_error(error: dict, path: Path) -> dict:
    fig, ax = plt.subplots(figsize=(3.6, 2.8))
    for i, curve in enumerate(error["curves"]):
        ks = [pt["K"] for pt in curve["points"]]
        ax.semilogy(
            ks,
            [pt["mean_relative_error"] for pt in curve["points"]],
            "o-",
            color=f"C{i}",
            label=rf"std$(q^\top k) = {curve['logit_std']:g}$",
        )
        ax.semilogy(ks, [pt["mean_weights_l1"] for pt in curve["points"]], "s--", color=f"C{i}")
        bad = [pt for pt in curve["points"] if pt["rows_nonpositive_normaliser"]]
        if bad:
            ax.semilogy(
                [pt["K"] for pt in bad],
                [pt["mean_relative_error"] for pt in bad],
                "kx",
                label="rows with normaliser $\\leq 0$ left out",
            )
    ax.plot([], [], "k-", label="output: relative error")
    ax.plot([], [], "k--", label="weights: $L^1$ distance")
    ax.set_xlabel("terms of the series $K$")
    ax.set_ylabel("mean error (dimensionless)")
    ax.set_xticks([pt["K"] for pt in error["curves"][0]["points"]])
    ax.grid(True, which="both")
    ax.legend()
    points = "q1.numeric:error.curves.*.points.*."
    return save(
        fig,
        path,
        [
            points + "K",
            points + "mean_relative_error",
            points + "mean_weights_l1",
            points + "rows_nonpositive_normaliser",
            "q1.numeric:error.curves.*.logit_std",
        ],
    )


def plot_timing(result: dict, path: Path) -> dict:
    fig, ax = plt.subplots(figsize=(3.6, 2.7))
    for name, label, colour in (("softmax", "softmax", "C0"), ("linear", "linear, $K=3$", "C1")):
        curve = result[name]
        lengths, seconds = np.array(curve["lengths"], dtype=float), np.array(curve["seconds"])
        ax.loglog(
            lengths, seconds * 1e3, "o", color=colour, label=f"{label} (slope {curve['slope']:.2f})"
        )
        x = lengths[lengths >= result["fit_from"]]
        ax.loglog(x, np.exp(curve["fit_intercept"]) * x ** curve["slope"] * 1e3, "-", color=colour)
    crossovers = [("predicted_crossover_length", "--", "flop-count")]
    if result["crossover_length"]:  # measured only when the timed curves cross
        crossovers.insert(0, ("crossover_length", ":", "measured"))
    for key, style, what in crossovers:
        label = f"{what} crossover {result[key]:.0f}"
        ax.axvline(result[key], color="0.3", linestyle=style, linewidth=1, label=label)
    ax.set_xlabel("sequence length $L$")
    ax.set_ylabel("wall time per call (ms)")
    ax.grid(True, which="both")
    ax.legend()
    drawn = ("lengths", "seconds", "slope", "fit_intercept")
    sources = [
        f"q1.numeric:timing.{name}.{what}" for name in ("softmax", "linear") for what in drawn
    ]
    return save(
        fig,
        path,
        sources
        + [
            f"q1.numeric:timing.{what}"
            for what in ("fit_from", "crossover_length", "predicted_crossover_length")
        ],
    )


def run(ctx) -> dict:
    """The q1.figures step: {"error": file, "timing": file, "plotted": {file: what it shows}}."""
    measured = ctx.needed["q1.numeric"].data
    shown = [
        plot_error(measured["error"], Path(ctx.out) / FILES["error"]),
        plot_timing(measured["timing"], Path(ctx.out) / FILES["timing"]),
    ]
    return dict(FILES) | {"plotted": {s["file"]: s for s in shown}}
