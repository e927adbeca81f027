"""Q2's claims and the variables its template reads.

Accuracies are re-derived from the stored predictions and validation confusion matrices against
the labels read again from the data file (the course's 529-image subset selected again here); the
architecture the text states is checked against the constructed modules and a forward pass, its
input's side against the data file's images;
parameter counts against the per-layer formulas; settings against the step's declaration.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

import numpy as np
import sympy as sp

from compute.q2 import steps
from compute.q2.data import CLASSES, ENV_VAR, FILE_NAME, PIXEL_SCALE
from compute.q2.train import best_learning_rate
from report.cited import PUBLISHED, cited_value
from report.claims import Claim, declared
from report.figures import axes, figure_claims, line, matrix, prefix
from report.links import linked
from report.render import Tex
from report.sections import DataOption, Section

NAMES = {"cnn_maxpool": "max-pooling (2.1)", "cnn_strided": "strided (2.2)"}
LAYER_TEXT = {"conv1": "conv1", "conv2": "conv2", "fc1": "fc1", "fc2": "fc2", "fc3": "fc3 (output)"}
# each symbol of the parameter formulas and the size of the constructed network it stands for
SYMBOL_SIZES = {
    "C_in": "in_channels",
    "C_1": "conv1_channels",
    "C_2": "conv2_channels",
    "k": "kernel",
    "s": "feature_size",
    "H_1": "fc1",
    "H_2": "fc2",
    "K": "n_classes",
}
# the architecture sizes each network's paragraph states
STATED_SIZES = {
    "cnn_maxpool": (
        "kernel",
        "conv1_channels",
        "conv2_channels",
        "downsample",
        "flat_features",
        "fc1",
        "fc2",
        "n_classes",
        "dropout",
    ),
    "cnn_strided": ("downsample", "image_size", "conv1_size", "conv2_size", "flat_features"),
}
MEASURED = {
    "q2.train:runs.*.seconds": (
        "Q2, table of all runs: wall time of each run's training and validation"
    ),
    "q2.cost:networks.*.inference_seconds_per_image.*": "Q2.3: inference time per image",
}


@lru_cache(maxsize=4)
def _labels(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        return {s: npz[f"{s}_labels"].reshape(-1) for s in ("train", "val", "test")}


@lru_cache(maxsize=4)
def _image_side(path: str) -> int | None:
    """The side of the data file's images (read from its test split, 1,000 images in every
    profile); None when they are not square."""
    with np.load(path) as npz:
        height, width = npz["test_images"].shape[1:]
    return int(width) if height == width else None


# Training computes accuracies in float32; the re-derivations here count in float64. They agree to
# float32's precision on [0, 1] (under 1e-7); the mutation check's smallest corruption (a relative
# 1e-4 of an accuracy) is a thousand times larger.
FLOAT32 = 1e-6


def _course_subset(labels: np.ndarray) -> list[int]:
    """The course's test images, selected again: walking the test split in order, an image is kept
    while its class has fewer than its quota."""
    taken, keep, quota = Counter(), [], cited_value("q2.course.test_per_class")
    for i, c in enumerate(labels.tolist()):
        if taken[c] < quota[c]:
            taken[c] += 1
            keep.append(i)
    return keep


def _accuracy(predicted: list[int], labels: np.ndarray, images) -> float:
    """Correct over all on `images`; NaN (which fails every claim) unless each label has a
    prediction."""
    if len(predicted) != len(labels):
        return math.nan
    return sum(predicted[i] == labels[i] for i in images) / len(images)


def _val_accuracy(matrix: list[list[int]], labels: np.ndarray) -> float:
    """Correct over all from a validation confusion matrix; NaN (which fails every claim) unless
    each row counts exactly the validation images of its class in the data file."""
    counts = Counter(labels.tolist())
    if [sum(row) for row in matrix] != [counts[c] for c in range(len(matrix))]:
        return math.nan
    return _trace(matrix) / len(labels)


def _trace(matrix: list[list[int]]) -> int | float:
    """The correctly classified images of a confusion matrix: its diagonal; NaN unless it is
    square."""
    if any(len(row) != len(matrix) for row in matrix):
        return math.nan
    return sum(matrix[c][c] for c in range(len(matrix)))


def _recount(predicted: list[int], labels: np.ndarray, images, classes: int) -> list[list[int]]:
    if len(predicted) != len(labels):
        return []
    pairs = Counter((int(labels[i]), predicted[i]) for i in images)
    return [[pairs[(t, p)] for p in range(classes)] for t in range(classes)]


def _rescored(runs: list[dict], labels: dict) -> dict:
    """Per (net, lr): the accuracies re-derived from predictions and confusion matrices."""
    subset = _course_subset(labels["test"])
    return {
        (r["net"], r["lr"]): {
            "val": [_val_accuracy(m, labels["val"]) for m in r["val_confusion"]],
            "test529": _accuracy(r["test_predictions"], labels["test"], subset),
            "test1000": _accuracy(
                r["test_predictions"], labels["test"], range(len(labels["test"]))
            ),
            "confusion529": _recount(r["test_predictions"], labels["test"], subset, len(CLASSES)),
        }
        for r in runs
    }


def lr_key(lr: float) -> str:
    return f"{lr:g}"


def _data_claims(data_result, labels: dict) -> list[Claim]:
    data = data_result.data
    out = [Claim(f"q2.images.{s}", data["splits"][s]["images"], len(labels[s])) for s in labels]
    counts = Counter(labels["train"].tolist())
    out.append(
        Claim(
            "q2.class_counts.train",
            data["splits"]["train"]["class_counts"],
            [counts[c] for c in range(len(data["classes"]))],
        )
    )
    if data["source"] == "synthetic":
        out.append(Claim("q2.data_seed", data["generator"]["seed"], declared(data_result)["seed"]))
    return out


def _margin(accuracies: dict, lr: float) -> float:
    """How far the accuracy at `lr` is above the best of the other rates (NaN if `lr` has none)."""
    return accuracies.get(lr, math.nan) - max(v for k, v in accuracies.items() if k != lr)


def _setting_claims(train: dict, setting: dict, labels: dict) -> list[Claim]:
    """The training settings the text states against the step's declaration and the data."""
    runs, rates = train["runs"], setting["params"]["learning_rates"]
    return [
        Claim(
            "q2.course_test_images",
            sum(train["data"]["course_test_per_class"]),
            len(_course_subset(labels["test"])),
        ),
        Claim("q2.epochs", train["settings"]["epochs"], min(len(r["val_confusion"]) for r in runs)),
        Claim("q2.batch_size", train["settings"]["batch_size"], setting["params"]["batch_size"]),
        Claim("q2.seed", train["settings"]["seed"], setting["seed"]),
        Claim("q2.learning_rates", train["settings"]["learning_rates"], rates),
        Claim("q2.pixel_scale", PIXEL_SCALE, float(cited_value("q2.course.pixel_scale"))),
        Claim("q2.run_count", len(runs), len(setting["params"]["networks"]) * len(rates)),
    ]


def _best_rate_claims(train: dict, setting: dict, redo: dict) -> list[Claim]:
    """Each network's best learning rate, its margin, confusion matrix, and the two compared."""
    runs, nets = train["runs"], train["settings"]["networks"]
    out, best, best_again = [], {}, {}
    by_run = {(r["net"], r["lr"]): r for r in runs}
    for net in nets:
        out.append(
            Claim(
                f"q2.rates.{net}",
                [r["lr"] for r in runs if r["net"] == net],
                setting["params"]["learning_rates"],
            )
        )
        finals = {lr: v["val"][-1] for (n, lr), v in redo.items() if n == net}
        best[net], best_again[net] = train["best_lr"][net], best_learning_rate(finals)
        stated = {r["lr"]: r["val_acc"][-1] for r in runs if r["net"] == net}
        out += [
            Claim(f"q2.best_lr.{net}", best[net], best_again[net]),
            Claim(
                f"q2.best_margin.{net}",
                _margin(stated, best[net]),
                _margin(finals, best_again[net]),
                tol=FLOAT32,
            ),
            Claim(
                f"q2.rising.{net}",
                _still_rising(by_run[(net, min(stated))]["val_acc"]),
                _still_rising(redo[(net, min(finals))]["val"]),
            ),
            Claim(
                f"q2.confusion.{net}",
                by_run.get((net, best[net]), {}).get("confusion_529"),
                redo[(net, best_again[net])]["confusion529"],
            ),
        ]
    test = {net: by_run.get((net, best[net]), {}).get("test_acc_529", math.nan) for net in nets}
    return out + [
        Claim(
            "q2.maxpool_minus_strided",
            test["cnn_maxpool"] - test["cnn_strided"],
            redo[("cnn_maxpool", best_again["cnn_maxpool"])]["test529"]
            - redo[("cnn_strided", best_again["cnn_strided"])]["test529"],
            tol=FLOAT32,
        ),
        Claim(
            "q2.same_best_lr",
            best["cnn_maxpool"] == best["cnn_strided"],
            best_again["cnn_maxpool"] == best_again["cnn_strided"],
        ),
    ]


def _run_claims(train_result, labels: dict, redo: dict) -> list[Claim]:
    train, setting = train_result.data, declared(train_result)
    out = _setting_claims(train, setting, labels)
    for r in train["runs"]:
        key, again = f"q2.run.{r['net']}.{lr_key(r['lr'])}", redo[(r["net"], r["lr"])]
        out += [
            Claim(f"{key}.val", r["val_acc"][-1], again["val"][-1], tol=FLOAT32),
            Claim(f"{key}.test529", r["test_acc_529"], again["test529"], tol=FLOAT32),
            Claim(f"{key}.test1000", r["test_acc_1000"], again["test1000"], tol=FLOAT32),
        ]
    out += _best_rate_claims(train, setting, redo)
    return out + _published_claims(train, redo)


def published_runs() -> list[dict]:
    """The published runs on the real OCTMNIST (report/cited.py): network, rate, accuracy ranges."""
    found = []
    for name, entry in PUBLISHED.items():
        if name.startswith("q2.published.cnn_"):
            net = name.split(".")[2]
            found.append(
                {
                    "name": name,
                    "net": net,
                    "note": entry.note,
                    **linked(entry.value, ("cited", name)),
                }
            )
    return found


def _inside(value: float, span) -> bool:
    return span[0] <= value <= span[1]


def _published_claims(train: dict, redo: dict) -> list[Claim]:
    """On the real data only: which results fall inside the published ranges (none on generated
    data)."""
    if train["data"]["source"] != "octmnist":
        return []
    stated = {(r["net"], r["lr"]): r for r in train["runs"]}
    out = []
    for run in published_runs():
        key = (run["net"], float(run["lr"]))
        mine, again = stated.get(key, {}), redo.get(key, {})
        out.append(
            Claim(
                f"q2.inside.{run['net']}.{lr_key(run['lr'])}",
                _inside(mine.get("test_acc_529", math.nan), run["test"]),
                _inside(again.get("test529", math.nan), run["test"]),
            )
        )
    return out


def comparison(results: dict) -> list[tuple[str, float, tuple, bool]]:
    """(what, this build's value, the published range, inside) of every run with a published
    counterpart; empty on generated data, whose numbers are compared by their trends only."""
    train = results["q2.train"].data
    if train["data"]["source"] != "octmnist":
        return []
    stated = {(r["net"], r["lr"]): r for r in train["runs"]}
    out = []
    for run in published_runs():
        mine = stated.get((run["net"], float(run["lr"])))
        if mine is not None:
            value = mine["test_acc_529"]
            out.append(
                (
                    f"{NAMES[run['net']]} at rate {run['lr']:g}, test accuracy",
                    value,
                    run["test"],
                    _inside(value, run["test"]),
                )
            )
    return out


def _still_rising(accuracies: list) -> bool:
    """Whether a validation curve grew over its last three epochs."""
    return len(accuracies) >= 4 and accuracies[-1] > accuracies[-4]


def _cost_claims(cost_result, image_side: int | None) -> list[Claim]:
    """The architecture, parameter counts and multiply-adds; `image_side` is the side of the data's
    images, which the input size the networks declare must be."""
    cost, out = cost_result.data, []
    out.append(
        Claim(
            "q2.cost_threads", cost["cpu_threads"], declared(cost_result)["params"]["cpu_threads"]
        )
    )
    for net, info in cost["networks"].items():
        arch = info["architecture"]
        observed = arch["constructed"] | {"image_size": image_side}
        out += [
            Claim(f"q2.arch.{net}.{size}", arch["declared"][size], observed[size])
            for size in STATED_SIZES[net]
        ]
        values = info["symbols"]
        by_formula = {
            r["layer"]: _evaluated(r["formula"], tuple(info["symbols"].items()))
            for r in info["param_rows"]
        }
        published_classes = cited_value("q2.published.classes")
        out += [
            Claim(f"q2.params.{net}", info["params_torch"], sum(by_formula.values())),
            Claim(
                f"q2.params10.{net}",
                info["params_with_10_classes"],
                info["params_torch"] + (published_classes - values["K"]) * (values["H_2"] + 1),
            ),
            Claim(f"q2.macs.{net}", info["macs"], sum(r["macs"] for r in info["macs_rows"])),
        ]
        if net == "cnn_maxpool":  # the network whose per-layer table the text prints
            out += [
                Claim(f"q2.layer.{r['layer']}.{column}", r[column], by_formula[r["layer"]])
                for r in info["param_rows"]
                for column in ("count", "torch")
            ]
            out += [
                Claim(f"q2.symbol.{s}", v, arch["constructed"][SYMBOL_SIZES[s]])
                for s, v in info["symbols"].items()
            ]
            published = cited_value("q2.published.params")
            out.append(
                Claim(
                    "q2.published_params_match",
                    info["params_with_10_classes"] == published,
                    sum(by_formula.values())
                    + (published_classes - arch["constructed"]["n_classes"])
                    * (arch["constructed"]["fc2"] + 1)
                    == published,
                )
            )
    timed = cost["networks"]["cnn_maxpool"]["inference_seconds_per_image"]
    out.append(
        Claim(
            "q2.timing_batches",
            [int(b) for b in timed],
            declared(cost_result)["params"]["timing_batches"],
        )
    )
    return out


def _curve_claims(train_result, plotted: dict, redo: dict) -> list[Claim]:
    """The training-loss and validation-accuracy figures of each network: one line per declared
    rate, one point per declared epoch; the validation accuracies drawn and stored are those
    re-derived from each epoch's confusion matrix, and their last points are the ones the text
    states."""
    train, params = train_result.data, declared(train_result)["params"]
    epochs, rates = range(1, params["epochs"] + 1), params["learning_rates"]
    out = []
    for net in params["networks"]:
        mine = {r["lr"]: r for r in train["runs"] if r["net"] == net}
        losses = [
            line(f"lr = {lr:g}", epochs, mine.get(lr, {}).get("train_loss", [])) for lr in rates
        ]
        accuracies = [
            line(f"lr = {lr:g}", epochs, redo.get((net, lr), {}).get("val", [])) for lr in rates
        ]
        record = plotted[f"val_acc_{net}.pdf"]
        out += figure_claims(
            "q2",
            plotted[f"train_loss_{net}.pdf"],
            [axes("epoch", "training loss (epoch mean)", losses)],
        )
        out += figure_claims(
            "q2",
            record,
            [axes("epoch", "validation accuracy", accuracies)],
            tol=FLOAT32,
            derived=True,
        )
        name = prefix("q2", record["file"])
        out += [
            Claim(
                f"{name}.history",
                [mine.get(lr, {}).get("val_acc") for lr in rates],
                [redo.get((net, lr), {}).get("val") for lr in rates],
                tol=FLOAT32,
            ),
            Claim(
                f"{name}.last",
                [drawn["y"][-1] for drawn in record["axes"][0]["lines"]],
                [mine.get(lr, {}).get("val_acc", [math.nan])[-1] for lr in rates],
            ),
        ]
    return out


def _confusion_claims(train_result, plotted: dict, redo: dict, labels: dict) -> list[Claim]:
    """Each network's confusion-matrix figure: the matrix recounted from the stored predictions of
    the re-chosen best run; its cells sum to the course's test images and its diagonal over them is
    the test accuracy the text states."""
    train = train_result.data
    runs = {(r["net"], r["lr"]): r for r in train["runs"]}
    out, total = [], len(_course_subset(labels["test"]))
    for net in declared(train_result)["params"]["networks"]:
        best = best_learning_rate({lr: v["val"][-1] for (n, lr), v in redo.items() if n == net})
        record = plotted[f"confusion_{net}.pdf"]
        recounted = matrix(redo[(net, best)]["confusion529"], CLASSES)
        out += figure_claims(
            "q2",
            record,
            [axes("predicted class", "true class", [], images=[recounted])],
            derived=True,
        )
        drawn = record["axes"][0]["images"][0]["data"]
        name = prefix("q2", record["file"])
        out += [
            Claim(f"{name}.total", sum(map(sum, drawn)), total),
            Claim(
                f"{name}.correct",
                _trace(drawn) / max(1, sum(map(sum, drawn))),
                runs.get((net, train["best_lr"][net]), {}).get("test_acc_529", math.nan),
                tol=FLOAT32,
            ),
        ]
    return out


def _sample_claims(record: dict, labels: np.ndarray) -> list[Claim]:
    """The sample figure: one row per class, named by it, each showing that class's first training
    images."""
    first: dict[int, list[int]] = {c: [] for c in range(len(CLASSES))}
    for i, c in enumerate(labels.tolist()):
        if len(first[c]) < len(record["shown"][0]):
            first[c].append(i)
    name = prefix("q2", record["file"])
    return [
        Claim(f"{name}.rows", record["rows"], list(CLASSES)),
        Claim(f"{name}.shown", record["shown"], [first[c] for c in range(len(CLASSES))]),
    ]


def _symbols(values: tuple) -> dict:
    return {sp.Symbol(s, positive=True, integer=True): v for s, v in values}


@lru_cache(maxsize=64)  # the mutation check renders the section many times over the same formulas
def _evaluated(formula: str, values: tuple) -> int:
    """A per-layer parameter formula evaluated at the sizes ((symbol name, value), ...)."""
    return int(sp.sympify(formula).subs(_symbols(values)))


@lru_cache(maxsize=64)
def _layer_formula(formula: str, values: tuple) -> dict:
    """A row of the parameter table: the formula, and the formula with the sizes put in,
    unevaluated."""
    expr = sp.sympify(formula)
    with sp.evaluate(False):
        put_in = expr.subs(_symbols(values))
    return {"formula": Tex(f"${sp.latex(expr)}$"), "values": Tex(f"${sp.latex(put_in)}$")}


def claims(results: dict) -> list[Claim]:
    data = results["q2.data"]
    path = str(data.dir / data.data["file"])
    labels = _labels(path)
    train, plotted = results["q2.train"], results["q2.figures"].data["plotted"]
    redo = _rescored(train.data["runs"], labels)
    return (
        _data_claims(data, labels)
        + _run_claims(train, labels, redo)
        + _cost_claims(results["q2.cost"], _image_side(path))
        + _curve_claims(train, plotted, redo)
        + _confusion_claims(train, plotted, redo, labels)
        + _sample_claims(plotted["samples.pdf"], labels["train"])
    )


def context(results: dict) -> dict:
    data, train, cost, figures = (
        results[k].data for k in ("q2.data", "q2.train", "q2.cost", "q2.figures")
    )
    maxpool = cost["networks"]["cnn_maxpool"]
    symbols = {sp.Symbol(s, positive=True, integer=True): v for s, v in maxpool["symbols"].items()}
    sizes = tuple(maxpool["symbols"].items())
    layer_rows = [
        {"layer": r["layer"], "name": LAYER_TEXT[r["layer"]], **_layer_formula(r["formula"], sizes)}
        for r in maxpool["param_rows"]
    ]
    return {
        "data": data,
        "train": train,
        "cost": cost,
        "figures": figures,
        "names": NAMES,
        "layer_rows": layer_rows,
        "symbol_values": [(Tex(sp.latex(sym)), sym.name) for sym in symbols],
        "lr_key": lr_key,
        "runs": {(r["net"], r["lr"]): r for r in train["runs"]},
        "trace": _trace,
        "published": published_runs(),
        "real_data": data["source"] == "octmnist",
    }


DECLARED = "the setting the step was declared with"
RESCORED = "the stored predictions scored again against the labels read from the data file"
PROOFS = {
    "q2.images.*": ("q2.data", "the labels of the split, counted in the data file"),
    "q2.class_counts.train": (
        "q2.data",
        "the training labels of each class, counted in the data file",
    ),
    "q2.data_seed": ("q2.data", DECLARED),
    "q2.course_test_images": (
        "q2.train",
        "the course's test subset selected again from the test labels "
        "with the published quotas per class (cited)",
    ),
    "q2.epochs": ("q2.train", "the validation confusion matrices stored, one per epoch"),
    "q2.batch_size": ("q2.train", DECLARED),
    "q2.seed": ("q2.train", DECLARED),
    "q2.learning_rates": ("q2.train", DECLARED),
    "q2.rates.*": ("q2.train", DECLARED),
    "q2.pixel_scale": (
        "q2.train",
        "the course's starter code (cited) against the scale the training code divides by",
    ),
    "q2.run_count": ("q2.train", "declared networks times declared learning rates"),
    "q2.run.*.val": (
        "q2.train",
        "correct over all of the last epoch's validation confusion matrix, whose "
        "rows must count the validation labels of each class",
    ),
    "q2.run.*.test*": ("q2.train", RESCORED),
    "q2.best_lr.*": ("q2.train", "the rate with the highest re-derived final validation accuracy"),
    "q2.best_margin.*": (
        "q2.train",
        "the same margin over the re-derived final validation accuracies",
    ),
    "q2.rising.*": (
        "q2.train",
        "the re-derived validation accuracies of the smallest rate over its last epochs",
    ),
    "q2.confusion.*": (
        "q2.train",
        "the matrix counted again from the stored predictions on the course's subset",
    ),
    "q2.maxpool_minus_strided": (
        "q2.train",
        "the difference of the re-scored test accuracies at the re-chosen rates",
    ),
    "q2.same_best_lr": ("q2.train", "the re-chosen rates compared"),
    "q2.inside.*": ("q2.train", "the re-scored test accuracy against the published range (cited)"),
    "q2.cost_threads": ("q2.cost", DECLARED),
    "q2.timing_batches": ("q2.cost", DECLARED),
    "q2.arch.*.image_size": ("q2.cost", "the side of the images read from the data file"),
    "q2.arch.*": (
        "q2.cost",
        "the size read from the constructed PyTorch modules and a forward pass",
    ),
    "q2.symbol.*": ("q2.cost", "the size read from the constructed PyTorch modules"),
    "q2.params.*": ("q2.cost", "the per-layer formulas evaluated at the constructed sizes, summed"),
    "q2.params10.*": (
        "q2.cost",
        "the count with the published number of classes (cited) in the output layer",
    ),
    "q2.published_params_match": (
        "q2.cost",
        "the per-layer formulas with the published classes, against the published count (cited)",
    ),
    "q2.macs.*": ("q2.cost", "the per-layer multiply-adds summed"),
    "q2.layer.*": ("q2.cost", "the layer's formula evaluated at the constructed sizes"),
    "q2.figure.val_acc_*.derived": (
        "q2.figures",
        "each epoch's validation accuracy derived again from its stored confusion matrix",
    ),
    "q2.figure.val_acc_*.history": (
        "q2.train",
        "the same derivation, against the stored accuracies of every epoch",
    ),
    "q2.figure.val_acc_*.last": (
        "q2.figures",
        "the last drawn point against the accuracy the text states",
    ),
    "q2.figure.confusion_*.derived": (
        "q2.figures",
        "the matrix counted again from the stored predictions of the re-chosen run",
    ),
    "q2.figure.confusion_*.total": ("q2.figures", "the course's test subset selected again"),
    "q2.figure.confusion_*.correct": (
        "q2.figures",
        "the drawn diagonal over the drawn total, against the test accuracy the text states",
    ),
    "q2.figure.samples.rows": ("q2.figures", "the class names, one row each"),
    "q2.figure.samples.shown": (
        "q2.figures",
        "the first training images of each class, found again in the data file",
    ),
}

SECTION = Section(
    name="q2",
    title="A CNN on OCTMNIST",
    summary="two networks x three learning rates, curves, parameter counts",
    profiles=steps.PROFILES,
    steps=steps.steps,
    claims=claims,
    context=context,
    check_data=steps.check_data,
    download=steps.download,
    data_options=(
        DataOption(
            "octmnist",
            f"the {FILE_NAME} file (else downloaded)",
            ENV_VAR,
            tuple(p for p, s in steps.PROFILES.items() if s["source"] == "octmnist"),
            "OCTMNIST",
        ),
    ),
    measured=MEASURED,
    proofs=PROOFS,
    compare=comparison,
)
