"""Q2's claims, re-derived from the confusion matrices, the per-epoch logs and the layer formulas."""
from __future__ import annotations

import sympy as sp

from compute.q2 import steps
from compute.q2.train import best_learning_rate
from report.claims import Claim
from report.sections import Section
from report.render import Tex, num, table

NAMES = {"cnn_maxpool": "max-pooling (2.1)", "cnn_strided": "strided (2.2)"}
# Published runs on real OCTMNIST (test accuracy on the course's 529 images), for comparison only.
REFERENCE = [
    {"what": "2.1 at rate 0.01", "low": 0.828, "high": 0.839, "note": "validation 0.872 to 0.880"},
    {"what": "2.1 at rate 0.1", "low": 0.70, "high": 0.80, "note": "unstable"},
    {"what": "2.1 at rate 0.001", "low": 0.75, "high": 0.80, "note": "still rising"},
    {"what": "2.2 at rate 0.01", "low": 0.796, "high": 0.820, "note": ""},
]
LAYER_TEXT = {"conv1": "conv 1", "conv2": "conv 2", "fc1": "fc 1", "fc2": "fc 2", "fc3": "fc 3 (output)"}


def _accuracy(confusion: list[list[int]]) -> float:
    return sum(confusion[i][i] for i in range(len(confusion))) / sum(map(sum, confusion))


def best_run(runs: list[dict], net: str) -> dict:
    """The run of `net` at the rate the shared selection rule picks from the final validation accuracies."""
    mine = {r["lr"]: r for r in runs if r["net"] == net}
    return mine[best_learning_rate({lr: r["val_acc"][-1] for lr, r in mine.items()})]


def _lr_key(lr: float) -> str:
    return f"{lr:g}"


def claims(results: dict) -> list[Claim]:
    train, cost = results["q2.train"].data, results["q2.cost"].data
    runs, out = train["runs"], []
    for run in runs:
        key = f"q2.run.{run['net']}.{_lr_key(run['lr'])}"
        out += [Claim(f"{key}.test529", run["test_acc_529"], _accuracy(run["confusion_529"]), tol=1e-6),
                Claim(f"{key}.test1000", run["test_acc_1000"], _accuracy(run["confusion_1000"]), tol=1e-6)]
    best = {net: best_run(runs, net) for net in train["settings"]["networks"]}
    for net, run in best.items():
        others = sorted((r["val_acc"][-1] for r in runs if r["net"] == net and r is not run), reverse=True)
        out += [Claim(f"q2.best_lr.{net}", train["best_lr"][net], run["lr"]),
                Claim(f"q2.best_val.{net}", run["val_acc"][-1], max(r["val_acc"][-1] for r in runs if r["net"] == net)),
                Claim(f"q2.best_margin.{net}", run["val_acc"][-1] - others[0],
                      max(r["val_acc"][-1] for r in runs if r["net"] == net) - others[0], tol=1e-12)]
    gap = best["cnn_maxpool"]["test_acc_529"] - best["cnn_strided"]["test_acc_529"]
    out += [Claim("q2.maxpool_minus_strided", gap, _accuracy(best["cnn_maxpool"]["confusion_529"])
                  - _accuracy(best["cnn_strided"]["confusion_529"]), tol=1e-6),
            Claim("q2.same_best_lr", train["best_lr"]["cnn_maxpool"] == train["best_lr"]["cnn_strided"],
                  best["cnn_maxpool"]["lr"] == best["cnn_strided"]["lr"])]
    for net, info in cost["networks"].items():
        values = {sp.Symbol(s, positive=True, integer=True): v for s, v in info["symbols"].items()}
        by_formula = sum(int(sp.sympify(r["formula"]).subs(values)) for r in info["param_rows"])
        out += [Claim(f"q2.params.{net}", info["params_torch"], by_formula),
                Claim(f"q2.params10.{net}", info["params_with_10_classes"],
                      info["params_torch"] + (10 - values[sp.Symbol("K", positive=True, integer=True)])
                      * (values[sp.Symbol("H_2", positive=True, integer=True)] + 1)),
                Claim(f"q2.macs.{net}", info["macs"], sum(r["macs"] for r in info["macs_rows"]))]
    return out


def _still_rising(runs: list[dict], net: str) -> bool:
    """Whether the smallest rate's validation accuracy grew over the last three epochs."""
    slowest = min((r for r in runs if r["net"] == net), key=lambda r: r["lr"])
    acc = slowest["val_acc"]
    return len(acc) >= 4 and acc[-1] > acc[-4]


def context(results: dict) -> dict:
    data, train, cost, figures = (results[k].data for k in ("q2.data", "q2.train", "q2.cost", "q2.figures"))
    maxpool = cost["networks"]["cnn_maxpool"]
    symbols = {sp.Symbol(s, positive=True, integer=True): v for s, v in maxpool["symbols"].items()}
    param_rows = []
    for r in maxpool["param_rows"]:
        formula = sp.sympify(r["formula"])
        with sp.evaluate(False):
            values = formula.subs(symbols)
        param_rows.append([LAYER_TEXT[r["layer"]], Tex(f"${sp.latex(formula)}$"), Tex(f"${sp.latex(values)}$"),
                           num(r["count"]), num(r["torch"])])
    return {
        "data": data, "train": train, "cost": cost, "figures": figures, "names": NAMES,
        "param_table": table(["Layer", "Formula", "Values", "Count", "PyTorch"], param_rows, "lllrr"),
        "symbol_values": [(Tex(sp.latex(sym)), v) for sym, v in symbols.items()],
        "lr_key": _lr_key,
        "reference": REFERENCE,
        "rising": {net: _still_rising(train["runs"], net) for net in train["settings"]["networks"]},
    }


SECTION = Section(
    name="q2", title="A CNN on OCTMNIST",
    summary="two networks x three learning rates, curves, parameter counts",
    profiles=steps.PROFILES, steps=steps.steps, claims=claims, context=context,
    check_data=steps.check_data, download=steps.download,
    data_options={"octmnist": tuple(p for p, s in steps.PROFILES.items() if s["data"] == "octmnist")})
