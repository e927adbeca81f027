"""Checks of what a figure draws. A figure step stores, beside each file, what the drawn figure
shows (compute/plotted.py); a section states what it should show, built from the declared
settings and from the stored results or their re-derivation, and these claims compare the two:

- `<section>.figure.<stem>.labels`: axis labels, scales, legend entries, line labels, tick labels
  and the numbers written in the cells of a matrix;
- `.points`: the number of points of every line and the shape of every matrix (the epochs, rates
  and lengths the settings declare);
- `.drawn`: every plotted value, against the stored values it was drawn from, or `.derived`: every
  plotted value against values the section derives again (another algorithm, a recount).

A section adds its own checks of a figure under the same prefix (`.last`, `.history`, ...); the
template's `fig(step, file)` counts them all as used.
"""

from __future__ import annotations

from pathlib import Path

from report import claims
from report.claims import Claim

claims.HELPERS.add(__file__)


def line(label: str, x, y) -> dict:
    return {"label": label, "x": list(x), "y": list(y)}


def axes(
    xlabel: str,
    ylabel: str,
    lines: list[dict],
    legend: list[str] | None = None,
    images=(),
    xscale: str = "linear",
    yscale: str = "linear",
) -> dict:
    """What one axes should show; the legend defaults to the labels of the labelled lines."""
    return {
        "xlabel": xlabel,
        "ylabel": ylabel,
        "xscale": xscale,
        "yscale": yscale,
        "legend": [ln["label"] for ln in lines if ln["label"]] if legend is None else legend,
        "lines": lines,
        "images": list(images),
    }


def matrix(data: list[list[int]], ticks: list[str]) -> dict:
    """A matrix drawn as an image, each cell's count written in it, both axes labelled by
    `ticks`."""
    return {
        "data": data,
        "texts": [str(v) for row in data for v in row],
        "xticklabels": list(ticks),
        "yticklabels": list(ticks),
    }


def prefix(section: str, file: str) -> str:
    return f"{section}.figure.{Path(file).stem}"


def _labels(shown: list[dict]) -> list:
    return [
        [
            a["xlabel"],
            a["ylabel"],
            a["xscale"],
            a["yscale"],
            a["legend"],
            [ln["label"] for ln in a["lines"]],
            [[m["xticklabels"], m["yticklabels"], m["texts"]] for m in a["images"]],
        ]
        for a in shown
    ]


def _points(shown: list[dict]) -> list:
    return [
        [[len(ln["x"]), len(ln["y"])] for ln in a["lines"]]
        + [[len(row) for row in m["data"]] for m in a["images"]]
        for a in shown
    ]


def _values(shown: list[dict]) -> list:
    return [
        [[ln["x"], ln["y"]] for ln in a["lines"]] + [m["data"] for m in a["images"]] for a in shown
    ]


def figure_claims(
    section: str,
    record: dict,
    expected: list[dict],
    tol: float = 0.0,
    rtol: float = 0.0,
    derived: bool = False,
) -> list[Claim]:
    """The three claims of the module docstring for one drawn figure: `record` is what the figure
    step stored, `expected` the axes it should show (built with `axes`, `line` and `matrix`);
    `derived` when every expected value is derived again rather than read from the stored
    results."""
    name, shown = prefix(section, record["file"]), record["axes"]
    return [
        Claim(f"{name}.labels", _labels(shown), _labels(expected)),
        Claim(f"{name}.points", _points(shown), _points(expected)),
        Claim(
            f"{name}.{'derived' if derived else 'drawn'}",
            _values(shown),
            _values(expected),
            tol=tol,
            rtol=rtol,
        ),
    ]
