"""Every published value the report quotes, with its source: the course's statement and starter
code, published runs and published answers. The templates reach them through `cited(name)`, which
links each to its entry in the appendix; claims compare computed values with them where the two
should agree (the parameter count of a 10-class head, the course's test subset)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compute.engine.errors import BuildError

SOURCES = {
    "statement": "The course's Homework 2 statement (IST, Deep Learning 2023-24).",
    "starter": (
        "The course's Homework 2 starter code, which produced the published numbers; "
        "where it and the statement differ, the report follows the code."
    ),
    "q1-answer": (
        "One published answer to question 1.2: its formula for the dimension M of the feature map."
    ),
    "q2-answer": "One published answer to question 2.3: its count of trainable parameters.",
    "q2-runs": (
        "Independent published runs of question 2 on the real OCTMNIST (test accuracy of the "
        "final-epoch weights on the course's test images; validation on the whole validation "
        "split)."
    ),
    "q3-runs": (
        "Independent published runs of question 3 on the real LJ Speech 1.1, which agree with "
        "each other (the test split of the course)."
    ),
}


@dataclass(frozen=True)
class Cited:
    value: Any  # a number, a (low, high) range, a list, a dict of these or a LaTeX formula
    source: str  # a key of SOURCES
    what: str  # what the value is, in a few words
    note: str = ""  # what the source adds in words ("unstable")
    formula: bool = False  # the value is LaTeX maths


def _published_q3() -> dict[str, Cited]:
    ranges = {
        "lstm": {
            "loss": (1.1828, 1.1828),
            "jaccard": (0.7149, 0.7149),
            "cosine": (0.8324, 0.8324),
            "damerau_levenshtein": (0.5087, 0.5087),
        },
        "attention": {
            "loss": (1.1596, 1.1606),
            "jaccard": (0.7645, 0.7658),
            "cosine": (0.8652, 0.8661),
            "damerau_levenshtein": (0.6322, 0.6347),
        },
    }
    return {
        f"q3.published.{decoder}.{metric}": Cited(
            span,
            "q3-runs",
            f"test {metric.replace('_', '-')} of the {decoder} decoder (runs' range)",
        )
        for decoder, metrics in ranges.items()
        for metric, span in metrics.items()
    }


def _q2_run(
    lr: float,
    test: tuple,
    note: str = "",
    validation: tuple | None = None,
    net: str = "max-pooling",
) -> Cited:
    value = {"lr": lr, "test": test} | ({"validation": validation} if validation else {})
    what = f"{net} network: rate, test accuracy" + (
        " and validation accuracy" if validation else ""
    )
    return Cited(value, "q2-runs", what, note=note)


PUBLISHED: dict[str, Cited] = {
    "q1.asked_terms": Cited(
        3, "statement", "terms K of the truncated series that question 1.2 asks for"
    ),
    "q1.published_formula": Cited(
        r"1 + D + \sum_{i=3}^{K} \binom{D+K-2}{K-1}",
        "q1-answer",
        "the published formula for M",
        formula=True,
    ),
    "q2.course.test_per_class": Cited(
        [182, 55, 42, 250],
        "starter",
        "test images per class of the course's test subset, the first of each",
    ),
    "q2.course.pixel_scale": Cited(256, "starter", "what the pixel values are divided by"),
    "q2.published.cnn_maxpool.0.01": _q2_run(0.01, (0.828, 0.839), validation=(0.872, 0.880)),
    "q2.published.cnn_maxpool.0.1": _q2_run(0.1, (0.70, 0.80), "unstable"),
    "q2.published.cnn_maxpool.0.001": _q2_run(0.001, (0.75, 0.80), "still rising"),
    "q2.published.cnn_strided.0.01": _q2_run(0.01, (0.796, 0.820), net="strided"),
    "q2.published.best_rate": Cited(
        0.01, "q2-runs", "the learning rate that wins in every published run"
    ),
    "q2.published.maxpool_margin": Cited(
        (2, 4), "q2-runs", "percentage points by which max-pooling beats the strided network"
    ),
    "q2.published.params": Cited(225_618, "q2-answer", "the published parameter count"),
    "q2.published.classes": Cited(
        10, "q2-answer", "output classes of the network behind that count"
    ),
    "q3.published.clips": Cited(2620, "q3-runs", "test clips of the published runs"),
    "q3.course.log_floor": Cited(
        8, "starter", "log-mel values floored this far below the clip's maximum"
    ),
    "q3.course.log_offset": Cited(4, "starter", "log-mel values x scaled as (x + offset) / offset"),
    "q3.course.bounds": Cited(
        [9825, 10480, 13100],
        "starter",
        "LJ Speech rows ending the training, validation and test splits",
    ),
    "q3.course.hop": Cited(160, "starter", "samples between spectrogram frames"),
    "q3.course.frames": Cited(2754, "starter", "frames every clip is padded or cut to"),
    "q3.course.epochs": Cited(15, "starter", "training epochs"),
    "q3.course.batch_size": Cited(64, "starter", "training batch size"),
    "q3.course.warmup_epochs": Cited(2, "starter", "epochs of linear warm-up"),
    "q3.course.decay_epochs": Cited(12, "starter", "epochs of linear decay"),
    **_published_q3(),
}


def cited_value(name: str) -> Any:
    """The published value `name`; an unknown name stops the build, naming this table."""
    if name not in PUBLISHED:
        raise BuildError(
            f"the template cites {name!r}, which report/cited.py does not list; add it there "
            f"with its source"
        )
    return PUBLISHED[name].value
