"""The appendix of proofs: for every claimed number, published value and figure, where the text
links to (report/links.py), what the appendix says about it.

`Proofs` gives the templates their `claim`, `cited`, `fig`, `figure_checks` and `written`, and
remembers what they used; `entries` turns that into the appendix's rows: a claim's name and value,
how it is re-derived (the section's `proofs` table), its tolerance, the step and short cache key it
reads, and the file:line that makes the check; each figure's step, key and data checks; each
published value with its source (report/cited.py).
"""

from __future__ import annotations

import fnmatch
from typing import Any, Callable

import sympy

from report.cited import PUBLISHED, SOURCES, cited_value
from report.claims import WRITTEN, ClaimRegistry
from report.figures import prefix
from report.links import linked
from report.render import Tex, anchor, escape, linked_text, num

WRITTEN_CHECK = (
    "",
    "the formula as typed in the template, read back by SymPy's LaTeX parser, equals the claim",
)
FIGURES = {  # the checks every figure has (report/figures.py); a section describes its own `.drawn`
    "*.figure.*.labels": (
        "",
        "axis labels, scales, legend and tick labels named from the declared settings",
    ),
    "*.figure.*.points": (
        "",
        "the points of each line and cells of each matrix the declared settings imply",
    ),
    "*.figure.*.drawn": ("", "every plotted value against the stored value it comes from"),
    "*.figure.*.derived": ("", "every plotted value against its re-derivation"),
}
KEY_SHOWN = 8  # characters of a cache key the appendix shows


class Proofs:
    """What the templates call to state numbers and include figures, with what they used."""

    def __init__(self, registry: ClaimRegistry, place_figure: Callable[[str, str], Tex]):
        self.registry, self.place = registry, place_figure
        self.figures: list[dict] = []  # in the order the text includes them
        self.pending: list[dict] = []  # included since the last caption
        self.cited: dict[str, None] = {}

    def globals(self) -> dict:
        return {
            "claim": self.registry.stated,
            "cited": self.cite,
            "fig": self.fig,
            "figure_checks": self.figure_checks,
            "written": lambda source, name: linked_text(
                self.registry.written(source, name), linked(0, ("claim", name + WRITTEN))
            ),
        }

    def cite(self, name: str) -> Any:
        """A published value, each number of it linked to its entry and source."""
        value = cited_value(name)
        self.cited.setdefault(name)
        return linked(value, ("cited", name))

    def fig(self, step: str, file: str) -> Tex:
        """Includes a figure: its data checks count as used, the next caption links to them."""
        self.registry.figure(prefix(step.split(".", 1)[0], file), file)
        entry = {
            "step": step,
            "file": file,
            "number": len(self.figures) + 1,
            "anchor": anchor(f"{step}.{file}"),
        }
        self.figures.append(entry)
        self.pending.append(entry)
        return self.place(step, file)

    def figure_checks(self) -> Tex:
        """For a caption: links to the appendix entries of the figures included since the last
        one."""
        shown, self.pending = self.pending, []
        links = ", ".join(rf"\figureref{{{e['anchor']}}}{{F{e['number']}}}" for e in shown)
        return Tex(f"Drawn data checked: {links}." if shown else "")


def describe(value: Any, limit: int = 4) -> Tex:
    """A claim's or published value's value, short, for the appendix."""
    if isinstance(value, bool) or value is None:
        return Tex({True: "true", False: "false", None: "none"}[value])
    if isinstance(value, int):
        return num(value)
    if isinstance(value, float):
        return escape(f"{value:.6g}")
    if isinstance(value, sympy.Basic):
        latex = sympy.latex(value)
        return Tex(f"${latex}$") if len(latex) <= 70 else escape(str(value)[:60] + "...")
    if isinstance(value, (list, tuple)):
        shown = [describe(v, 2) for v in value[:limit]]
        more = f", ... ({len(value)} entries)" if len(value) > limit else ""
        return Tex("[" + ", ".join(shown) + more + "]")
    if isinstance(value, dict):
        shown = [escape(f"{k} ") + describe(v, 2) for k, v in list(value.items())[:limit]]
        return Tex("; ".join(shown) + ("; ..." if len(value) > limit else ""))
    text = str(value)
    return escape(text if len(text) <= 50 else text[:47] + "...")


def _how(name: str, table: dict) -> tuple[str, str]:
    if name.endswith(WRITTEN):
        return WRITTEN_CHECK
    for pattern, found in (table | FIGURES).items():
        if fnmatch.fnmatchcase(name, pattern):
            if found[0] or ".figure." not in name:
                return found
            return f"{name.split('.')[0]}.figures", found[1]
    return "", ""


def undescribed(names, table: dict) -> list[str]:
    """The claims a section's proofs table says nothing about (a test keeps this empty)."""
    return [n for n in names if not _how(n, table)[1]]


def claim_entries(registry: ClaimRegistry, sections: dict, keys: dict[str, str]) -> list[dict]:
    """Per section (in order), its used claims in the order the text first uses them."""
    out = []
    for name, section in sections.items():
        groups: dict[
            str, list
        ] = {}  # claims checked the same way together, in the order of first use
        for claimed in (n for n in registry.used if n.split(".", 1)[0] == name):
            claim = registry.claims[claimed]
            step, how = _how(claimed, section.proofs)
            step = step or _how(claimed.removesuffix(WRITTEN), section.proofs)[0]
            groups.setdefault(how, []).append(
                {
                    "anchor": anchor(claimed),
                    "name": claimed,
                    "value": describe(claim.value),
                    "how": how,
                    "tol": _tolerance(claim),
                    "step": step,
                    "key": keys.get(step, "")[:KEY_SHOWN],
                    "where": claim.where.removeprefix("report/sections/"),
                }
            )
        rows = [
            row | {"how": row["how"] if i == 0 else "as above"}
            for group in groups.values()
            for i, row in enumerate(group)
        ]
        if rows:
            out.append({"section": name, "title": section.title, "claims": rows})
    return out


def _tolerance(claim) -> str:
    parts = ([f"{claim.tol:g}"] if claim.tol else []) + (
        [f"{claim.rtol:g} relative"] if claim.rtol else []
    )
    return " + ".join(parts) or "exact"


def figure_entries(proofs: Proofs, registry: ClaimRegistry, keys: dict[str, str]) -> list[dict]:
    out = []
    for entry in proofs.figures:
        drawn = prefix(entry["step"].split(".", 1)[0], entry["file"]) + "."
        checks = [n for n in registry.used if n.startswith(drawn)]
        out.append(
            entry
            | {
                "key": keys.get(entry["step"], "")[:KEY_SHOWN],
                "checks": [{"anchor": anchor(n), "name": n.rsplit(".", 1)[1]} for n in checks],
            }
        )
    return out


def cited_entries(proofs: Proofs) -> dict:
    """Every published value (used by the text or by a claim), and the sources."""
    values = [
        {
            "anchor": anchor(name),
            "name": name,
            "what": entry.what,
            "value": Tex(f"${entry.value}$") if entry.formula else describe(entry.value),
            "note": entry.note,
            "source": entry.source,
            "used": name in proofs.cited,
        }
        for name, entry in PUBLISHED.items()
    ]
    return {
        "values": values,
        "sources": [{"key": key, "text": text} for key, text in SOURCES.items()],
    }


def appendix(proofs: Proofs, registry: ClaimRegistry, sections: dict, outcomes: dict) -> dict:
    """What main.tex.j2's appendix of proofs prints; `outcomes` are the runner's, by step name."""
    keys = {name: outcome.key for name, outcome in outcomes.items()}
    return {
        "sections": claim_entries(registry, sections, keys),
        "figures": figure_entries(proofs, registry, keys),
        **cited_entries(proofs),
    }
