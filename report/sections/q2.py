"""Q2's claims and the variables its template reads.

Accuracies are re-derived from the stored predictions and validation confusion matrices against
the labels read again from the data file (the course's 529-image subset selected again here); the
architecture the text states is checked against the constructed modules and a forward pass;
parameter counts against the per-layer formulas; settings against the step's declaration.
"""
from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

import numpy as np
import sympy as sp

from compute.q2 import steps
from compute.q2.data import COURSE_TEST_PER_CLASS, ENV_VAR, FILE_NAME, PIXEL_SCALE
from compute.q2.train import best_learning_rate
from report.claims import Claim, declared
from report.sections import DataOption, Section
from report.render import Tex

NAMES = {"cnn_maxpool": "max-pooling (2.1)", "cnn_strided": "strided (2.2)"}
# Published runs on real OCTMNIST (test accuracy on the course's 529 images), for comparison only.
REFERENCE = [
    {"what": "2.1 at rate 0.01", "low": 0.828, "high": 0.839, "note": "validation 0.872 to 0.880"},
    {"what": "2.1 at rate 0.1", "low": 0.70, "high": 0.80, "note": "unstable"},
    {"what": "2.1 at rate 0.001", "low": 0.75, "high": 0.80, "note": "still rising"},
    {"what": "2.2 at rate 0.01", "low": 0.796, "high": 0.820, "note": ""},
]
LAYER_TEXT = {"conv1": "conv 1", "conv2": "conv 2", "fc1": "fc 1", "fc2": "fc 2", "fc3": "fc 3 (output)"}
# the architecture sizes each network's paragraph states
STATED_SIZES = {"cnn_maxpool": ("kernel", "conv1_channels", "conv2_channels", "downsample", "flat_features",
                                "fc1", "fc2", "n_classes", "dropout"),
                "cnn_strided": ("downsample", "image_size", "conv1_size", "conv2_size", "flat_features")}
PUBLISHED_CLASSES = 10  # the output size behind the parameter count printed in one published answer
MEASURED = {
    "q2.train:runs.*.seconds": "Q2, table of all runs: wall time of each run's training and validation",
    "q2.cost:networks.*.inference_seconds_per_image.*": "Q2.3: inference time per image",
}


@lru_cache(maxsize=4)
def _labels(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        return {s: npz[f"{s}_labels"].reshape(-1) for s in ("train", "val", "test")}


# Training computes accuracies in float32; the re-derivations here count in float64. They agree to
# float32's precision on [0, 1] (under 1e-7); the mutation check's smallest corruption (a relative
# 1e-4 of an accuracy) is a thousand times larger.
FLOAT32 = 1e-6

def _course_subset(labels: np.ndarray) -> list[int]:
    """The course's test images, selected again: walking the test split in order, an image is kept
    while its class has fewer than its quota."""
    taken, keep = Counter(), []
    for i, c in enumerate(labels.tolist()):
        if taken[c] < COURSE_TEST_PER_CLASS[c]:
            taken[c] += 1
            keep.append(i)
    return keep


def _accuracy(predicted: list[int], labels: np.ndarray, images) -> float:
    return sum(predicted[i] == labels[i] for i in images) / len(images)


def _val_accuracy(matrix: list[list[int]], labels: np.ndarray) -> float:
    """Correct over all from a validation confusion matrix; NaN (which fails every claim) unless each row counts exactly the
    validation images of its class in the data file."""
    counts = Counter(labels.tolist())
    if [sum(row) for row in matrix] != [counts[c] for c in range(len(matrix))]:
        return math.nan
    return _trace(matrix) / len(labels)


def _trace(matrix: list[list[int]]) -> int:
    """The correctly classified images of a confusion matrix: its diagonal."""
    return sum(matrix[c][c] for c in range(len(matrix)))


def _recount(predicted: list[int], labels: np.ndarray, images, classes: int) -> list[list[int]]:
    pairs = Counter((int(labels[i]), predicted[i]) for i in images)
    return [[pairs[(t, p)] for p in range(classes)] for t in range(classes)]


def _rescored(runs: list[dict], labels: dict) -> dict:
    """Per (net, lr): the accuracies re-derived from predictions and confusion matrices."""
    subset = _course_subset(labels["test"])
    return {(r["net"], r["lr"]): {
        "val": [_val_accuracy(m, labels["val"]) for m in r["val_confusion"]],
        "test529": _accuracy(r["test_predictions"], labels["test"], subset),
        "test1000": _accuracy(r["test_predictions"], labels["test"], range(len(labels["test"]))),
        "confusion529": _recount(r["test_predictions"], labels["test"], subset, len(COURSE_TEST_PER_CLASS)),
    } for r in runs}


def lr_key(lr: float) -> str:
    return f"{lr:g}"


def _data_claims(data_result, labels: dict) -> list[Claim]:
    data = data_result.data
    out = [Claim(f"q2.images.{s}", data["splits"][s]["images"], len(labels[s])) for s in labels]
    counts = Counter(labels["train"].tolist())
    out.append(Claim("q2.class_counts.train", data["splits"]["train"]["class_counts"],
                     [counts[c] for c in range(len(data["classes"]))]))
    if data["source"] == "synthetic":
        out.append(Claim("q2.data_seed", data["generator"]["seed"], declared(data_result)["seed"]))
    return out


def _run_claims(train_result, labels: dict) -> list[Claim]:
    train = train_result.data
    runs, nets = train["runs"], train["settings"]["networks"]
    redo, setting = _rescored(runs, labels), declared(train_result)
    out = [Claim("q2.course_test_images", sum(train["data"]["course_test_per_class"]),
                 len(_course_subset(labels["test"]))),
           Claim("q2.epochs", train["settings"]["epochs"], min(len(r["val_confusion"]) for r in runs)),
           Claim("q2.batch_size", train["settings"]["batch_size"], setting["params"]["batch_size"]),
           Claim("q2.seed", train["settings"]["seed"], setting["seed"]),
           Claim("q2.learning_rates", train["settings"]["learning_rates"], setting["params"]["learning_rates"])]
    for r in runs:
        key, again = f"q2.run.{r['net']}.{lr_key(r['lr'])}", redo[(r["net"], r["lr"])]
        out += [Claim(f"{key}.val", r["val_acc"][-1], again["val"][-1], tol=FLOAT32),
                Claim(f"{key}.test529", r["test_acc_529"], again["test529"], tol=FLOAT32),
                Claim(f"{key}.test1000", r["test_acc_1000"], again["test1000"], tol=FLOAT32)]
    best, best_again = {}, {}
    by_run = {(r["net"], r["lr"]): r for r in runs}
    for net in nets:
        out.append(Claim(f"q2.rates.{net}", [r["lr"] for r in runs if r["net"] == net],
                         setting["params"]["learning_rates"]))
        finals = {lr: v["val"][-1] for (n, lr), v in redo.items() if n == net}
        best[net], best_again[net] = train["best_lr"][net], best_learning_rate(finals)
        stated = {r["lr"]: r["val_acc"][-1] for r in runs if r["net"] == net}
        margin = lambda acc, lr: acc.get(lr, math.nan) - max(v for k, v in acc.items() if k != lr)  # noqa: E731
        out += [Claim(f"q2.best_lr.{net}", best[net], best_again[net]),
                Claim(f"q2.best_margin.{net}", margin(stated, best[net]), margin(finals, best_again[net]),
                      tol=FLOAT32),
                Claim(f"q2.rising.{net}", _still_rising(by_run[(net, min(stated))]["val_acc"]),
                      _still_rising(redo[(net, min(finals))]["val"])),
                Claim(f"q2.confusion.{net}", by_run.get((net, best[net]), {}).get("confusion_529"),
                      redo[(net, best_again[net])]["confusion529"])]
    test = {net: by_run.get((net, best[net]), {}).get("test_acc_529", math.nan) for net in nets}
    out += [Claim("q2.maxpool_minus_strided", test["cnn_maxpool"] - test["cnn_strided"],
                  redo[("cnn_maxpool", best_again["cnn_maxpool"])]["test529"]
                  - redo[("cnn_strided", best_again["cnn_strided"])]["test529"], tol=FLOAT32),
            Claim("q2.same_best_lr", best["cnn_maxpool"] == best["cnn_strided"],
                  best_again["cnn_maxpool"] == best_again["cnn_strided"])]
    return out


def _still_rising(accuracies: list) -> bool:
    """Whether a validation curve grew over its last three epochs."""
    return len(accuracies) >= 4 and accuracies[-1] > accuracies[-4]


def _cost_claims(cost_result) -> list[Claim]:
    cost, out = cost_result.data, []
    out.append(Claim("q2.cost_threads", cost["cpu_threads"], declared(cost_result)["params"]["cpu_threads"]))
    for net, info in cost["networks"].items():
        arch = info["architecture"]
        out += [Claim(f"q2.arch.{net}.{size}", arch["declared"][size], arch["constructed"][size])
                for size in STATED_SIZES[net]]
        values = {sp.Symbol(s, positive=True, integer=True): v for s, v in info["symbols"].items()}
        by_formula = {r["layer"]: int(sp.sympify(r["formula"]).subs(values)) for r in info["param_rows"]}
        out += [Claim(f"q2.params.{net}", info["params_torch"], sum(by_formula.values())),
                Claim(f"q2.params10.{net}", info["params_with_10_classes"],
                      info["params_torch"] + (PUBLISHED_CLASSES - values[sp.Symbol("K", positive=True, integer=True)])
                      * (values[sp.Symbol("H_2", positive=True, integer=True)] + 1)),
                Claim(f"q2.macs.{net}", info["macs"], sum(r["macs"] for r in info["macs_rows"]))]
        if net == "cnn_maxpool":  # the network whose per-layer table the text prints
            out += [Claim(f"q2.layer.{r['layer']}.{column}", r[column], by_formula[r["layer"]])
                    for r in info["param_rows"] for column in ("count", "torch")]
    return out


def claims(results: dict) -> list[Claim]:
    data = results["q2.data"]
    labels = _labels(str(data.dir / data.data["file"]))
    return _data_claims(data, labels) + _run_claims(results["q2.train"], labels) + _cost_claims(results["q2.cost"])


def context(results: dict) -> dict:
    data, train, cost, figures = (results[k].data for k in ("q2.data", "q2.train", "q2.cost", "q2.figures"))
    maxpool = cost["networks"]["cnn_maxpool"]
    symbols = {sp.Symbol(s, positive=True, integer=True): v for s, v in maxpool["symbols"].items()}
    layer_rows = []
    for r in maxpool["param_rows"]:
        formula = sp.sympify(r["formula"])
        with sp.evaluate(False):
            values = formula.subs(symbols)
        layer_rows.append({"layer": r["layer"], "name": LAYER_TEXT[r["layer"]],
                           "formula": Tex(f"${sp.latex(formula)}$"), "values": Tex(f"${sp.latex(values)}$")})
    return {
        "data": data, "train": train, "cost": cost, "figures": figures, "names": NAMES,
        "layer_rows": layer_rows,
        "symbol_values": [(Tex(sp.latex(sym)), v) for sym, v in symbols.items()],
        "lr_key": lr_key,
        "runs": {(r["net"], r["lr"]): r for r in train["runs"]},
        "pixel_scale": PIXEL_SCALE,
        "trace": _trace,
        "reference": REFERENCE,
        "published_classes": PUBLISHED_CLASSES,
    }


SECTION = Section(
    name="q2", title="A CNN on OCTMNIST",
    summary="two networks x three learning rates, curves, parameter counts",
    profiles=steps.PROFILES, steps=steps.steps, claims=claims, context=context,
    check_data=steps.check_data, download=steps.download,
    data_options=(DataOption("octmnist", f"the {FILE_NAME} file (else downloaded)", ENV_VAR,
                             tuple(p for p, s in steps.PROFILES.items() if s["data"] == "octmnist"), "OCTMNIST"),),
    measured=MEASURED)
