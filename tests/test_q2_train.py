"""q2.train on the smoke profile: the result's contents, determinism, resuming after an
interruption, and the same numbers when the two networks train at once in two processes."""

import copy
import json
import os

import pytest
import torch

from compute.engine.step import Result
from compute.engine.testing import fake_context
from compute.q2 import figures, synthetic, train
from compute.q2.steps import PROFILES
from report.sections import q2 as q2_report

SMOKE = PROFILES["smoke"]
PARAMS = SMOKE["train"]


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    ctx = fake_context(tmp_path_factory.mktemp("data"), params=SMOKE["data"], seed=SMOKE["seed"])
    return {"q2.data": Result(synthetic.run(ctx), ctx.out)}


def train_once(folder, needed, **extra):
    ctx = fake_context(folder, params=PARAMS | extra, seed=SMOKE["seed"], needed=needed)
    return train.run(ctx), ctx


def without_seconds(result):
    """Everything but wall-clock times and the process count they were measured with."""
    runs = [{k: v for k, v in r.items() if k != "seconds"} for r in result["runs"]]
    return {k: v for k, v in result.items() if k not in ("seconds_fused", "processes")} | {
        "runs": runs
    }


@pytest.fixture(scope="module")
def first(smoke_data, tmp_path_factory):
    return train_once(tmp_path_factory.mktemp("first"), smoke_data)


def test_result_has_every_run_with_per_epoch_curves_and_test_accuracy(first):
    result, ctx = first
    assert [(r["net"], r["lr"]) for r in result["runs"]] == [
        (net, lr) for net in ("cnn_maxpool", "cnn_strided") for lr in (0.1, 0.01, 0.001)
    ]
    for r in result["runs"]:
        assert len(r["train_loss"]) == len(r["val_loss"]) == len(r["val_acc"]) == PARAMS["epochs"]
        assert 0 <= r["test_acc_529"] <= 1 and 0 <= r["test_acc_1000"] <= 1
        assert (
            sum(map(sum, r["confusion_529"])) == 529 and sum(map(sum, r["confusion_1000"])) == 1000
        )
        accuracy = sum(r["confusion_529"][c][c] for c in range(4)) / 529
        assert accuracy == pytest.approx(r["test_acc_529"])
    assert set(result["best_lr"]) == {"cnn_maxpool", "cnn_strided"}
    assert result["data"]["splits"]["train"]["images"] == SMOKE["data"]["sizes"]["train"]


def test_best_rate_is_the_one_with_the_highest_final_validation_accuracy(first):
    result, _ = first
    for net, lr in result["best_lr"].items():
        finals = {r["lr"]: r["val_acc"][-1] for r in result["runs"] if r["net"] == net}
        assert finals[lr] == max(finals.values())


def test_an_exact_validation_tie_goes_to_the_smallest_rate_in_training_and_in_the_report(
    first, smoke_data
):
    result, ctx = first
    tied = copy.deepcopy(result)
    runs = [r for r in tied["runs"] if r["net"] == "cnn_maxpool"]
    leader = max(runs, key=lambda r: r["val_acc"][-1])
    for r in runs:  # all three rates end with the same validation predictions
        r["val_acc"], r["val_confusion"] = (
            list(leader["val_acc"]),
            copy.deepcopy(leader["val_confusion"]),
        )
    chosen = train.best_learning_rate({r["lr"]: r["val_acc"][-1] for r in runs})
    assert chosen == min(PARAMS["learning_rates"])
    (ctx.out.parent / "manifest.json").write_text(
        json.dumps({"components": {"params": PARAMS, "seed": SMOKE["seed"]}})
    )
    labels = q2_report._labels(str(smoke_data["q2.data"].dir / smoke_data["q2.data"].data["file"]))
    for stated, holds in (
        (chosen, True),
        (runs[0]["lr"], False),
    ):  # the rate chosen by training; the first rate
        tied["best_lr"]["cnn_maxpool"] = stated
        redo = q2_report._rescored(tied["runs"], labels)
        (claim,) = [
            c
            for c in q2_report._run_claims(Result(tied, ctx.out), labels, redo)
            if c.name == "q2.best_lr.cnn_maxpool"
        ]
        assert (claim.failure() is None) is holds


def test_the_figures_step_draws_every_figure_from_the_stored_results(first, smoke_data, tmp_path):
    result, ctx = first
    assert sorted(p.name for p in ctx.out.iterdir()) == []  # training draws nothing
    needed = smoke_data | {"q2.train": Result(result, ctx.out)}
    drawn = figures.run(fake_context(tmp_path, needed=needed))
    names = [drawn["samples"]] + [
        name for kind in ("train_loss", "val_acc", "confusion") for name in drawn[kind].values()
    ]
    assert sorted(names) == sorted(
        ["samples.pdf"]
        + [
            f"{kind}_{net}.pdf"
            for kind in ("train_loss", "val_acc", "confusion")
            for net in ("cnn_maxpool", "cnn_strided")
        ]
    )
    assert all((tmp_path / "out" / name).read_bytes()[:4] == b"%PDF" for name in names)


def test_the_first_epoch_lowers_the_training_loss_at_the_largest_rate(smoke_data, tmp_path):
    result, _ = train_once(tmp_path, smoke_data, epochs=3)
    losses = [r["train_loss"] for r in result["runs"] if r["lr"] == 0.1]
    assert all(loss[-1] < loss[0] for loss in losses)


def test_same_seed_gives_identical_numbers_on_cpu(first, smoke_data, tmp_path):
    again, _ = train_once(tmp_path, smoke_data)
    assert without_seconds(again) == without_seconds(first[0])


def test_an_interrupted_run_resumes_and_ends_with_the_same_numbers(
    first, smoke_data, tmp_path, capsys
):
    with pytest.raises(train.TrainingStopped):
        train_once(tmp_path, smoke_data, stop_after_epoch=1)
    assert (tmp_path / "work" / "cnn_maxpool.pt").is_file()
    capsys.readouterr()
    resumed, _ = train_once(tmp_path, smoke_data)
    log = capsys.readouterr().err
    assert "cnn_maxpool: resuming after epoch 1" in log and "cnn_maxpool epoch 1/2" not in log
    assert without_seconds(resumed) == without_seconds(first[0])


two_cores = pytest.mark.skipif(
    (os.cpu_count() or 1) < 2, reason="one process per network needs two CPU cores"
)


@two_cores
def test_two_processes_give_the_numbers_of_one_also_across_an_interruption(
    first, smoke_data, tmp_path, capfd
):
    with pytest.raises(train.TrainingStopped) as stopped:
        train_once(tmp_path, smoke_data, stop_after_epoch=1, workers=2)
    assert "raised in the process that ran test cnn_" in "\n".join(stopped.value.__notes__)
    assert {p.name for p in (tmp_path / "work").iterdir()} == {"cnn_maxpool.pt", "cnn_strided.pt"}
    capfd.readouterr()
    resumed, _ = train_once(tmp_path, smoke_data, workers=2)
    log = capfd.readouterr().err
    assert (
        "cnn_maxpool: resuming after epoch 1" in log
        and "cnn_strided: resuming after epoch 1" in log
    )
    assert "cnn_maxpool epoch 2/2" in log and "cnn_maxpool epoch 1/2" not in log
    assert resumed["processes"] == 2 and first[0]["processes"] == 1
    assert without_seconds(resumed) == without_seconds(first[0])


@two_cores
def test_an_error_in_one_process_is_raised_naming_its_network(smoke_data, tmp_path):
    with pytest.raises(KeyError, match="no_such_network") as failed:
        train_once(tmp_path, smoke_data, workers=2, networks=["cnn_maxpool", "no_such_network"])
    assert failed.value.__notes__ == ["raised in the process that ran test no_such_network"]


def test_networks_train_one_after_the_other_on_cuda_on_one_core_or_when_asked(monkeypatch):
    both = {"networks": ["cnn_maxpool", "cnn_strided"], "workers": 2}
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert train.process_count(both, "cpu") == 2
    assert train.process_count(both | {"workers": 1}, "cpu") == 1
    assert train.process_count(both | {"networks": ["cnn_maxpool"]}, "cpu") == 1
    assert train.process_count(both, "cuda") == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert train.process_count(both, "cpu") == 1


def test_the_training_split_reaches_each_epoch_on_the_training_device(
    smoke_data, tmp_path, monkeypatch
):
    """On a device other than the CPU ("meta" here, which needs no accelerator) the training
    images and labels are moved there before the epochs."""
    cpu_generator = torch.Generator
    monkeypatch.setattr(torch, "Generator", lambda device="cpu": cpu_generator())
    devices = []

    class Reached(Exception):
        pass

    def first_epoch(fused, x, y, *rest):
        devices.extend([x.device, y.device])
        raise Reached

    monkeypatch.setattr(train, "train_epoch", first_epoch)
    ctx = fake_context(
        tmp_path, params=PARAMS, seed=SMOKE["seed"], needed=smoke_data, device="meta"
    )
    with pytest.raises(Reached):
        train.run(ctx)
    assert devices == [torch.device("meta")] * 2
