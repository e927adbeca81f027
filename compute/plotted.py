"""The report's one figure style, and what a drawn figure shows.

Every figure step draws with `pyplot()` (matplotlib without a screen, with STYLE: sizes for print,
fonts embedded as TrueType, no top and right spines) and saves with `save`, which also reads back
what the figure shows from its matplotlib artists: the figure steps store it beside the file, so
that the report can check every plotted point, label and legend against the settings and the
stored results (report/figures.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

STYLE = {
    "font.size": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "pdf.fonttype": 42,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.markersize": 3,
    "lines.linewidth": 1.2,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "legend.frameon": False,
    "savefig.bbox": "tight",
}


def pyplot():
    """matplotlib's pyplot, drawing to files only (no screen), with the report's STYLE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt


def save(fig, path: Path, sources: list[str]) -> dict:
    """Saves the figure to `path` (a vector PDF for print) and closes it; returns what it shows."""
    fig.savefig(path)
    shown = record(fig, Path(path).name, sources)
    pyplot().close(fig)
    return shown


def _values(data) -> list:
    return np.asarray(data).tolist()


def _axes(ax) -> dict:
    legend = ax.get_legend()
    lines = [
        {
            "label": "" if line.get_label().startswith("_") else line.get_label(),
            "x": _values(line.get_xdata()),
            "y": _values(line.get_ydata()),
        }
        for line in ax.get_lines()
        if len(line.get_xdata())
    ]  # an empty line is only a legend entry
    images = [
        {
            "data": _values(image.get_array()),
            "texts": [t.get_text() for t in ax.texts],
            "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
            "yticklabels": [t.get_text() for t in ax.get_yticklabels()],
        }
        for image in ax.get_images()
    ]
    return {
        "xlabel": ax.get_xlabel(),
        "ylabel": ax.get_ylabel(),
        "xscale": ax.get_xscale(),
        "yscale": ax.get_yscale(),
        "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
        "lines": lines,
        "images": images,
    }


def record(fig, file: str, sources: list[str]) -> dict:
    """{"file", "axes": [what each axes shows],
    "sources": ["<step>:<path>" of the stored values drawn]}.
    Call after saving, so that tick labels are laid out."""
    return {"file": file, "axes": [_axes(ax) for ax in fig.axes], "sources": list(sources)}
