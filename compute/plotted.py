"""What a drawn figure shows, read back from its matplotlib artists after saving: the figure steps
store it beside the file, so that the report can check every plotted point, label and legend
against the settings and the stored results (report/figures.py)."""
from __future__ import annotations

import numpy as np


def _values(data) -> list:
    return np.asarray(data).tolist()


def _axes(ax) -> dict:
    legend = ax.get_legend()
    lines = [{"label": "" if line.get_label().startswith("_") else line.get_label(),
              "x": _values(line.get_xdata()), "y": _values(line.get_ydata())}
             for line in ax.get_lines() if len(line.get_xdata())]  # an empty line is only a legend entry
    images = [{"data": _values(image.get_array()), "texts": [t.get_text() for t in ax.texts],
               "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
               "yticklabels": [t.get_text() for t in ax.get_yticklabels()]} for image in ax.get_images()]
    return {"xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(), "xscale": ax.get_xscale(),
            "yscale": ax.get_yscale(), "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
            "lines": lines, "images": images}


def record(fig, file: str, sources: list[str]) -> dict:
    """{"file", "axes": [what each axes shows], "sources": ["<step>:<path>" of the stored values drawn]}.
    Call after saving, so that tick labels are laid out."""
    return {"file": file, "axes": [_axes(ax) for ax in fig.axes], "sources": list(sources)}
