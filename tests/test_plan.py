"""build.py --plan and the preflight of a build: projections measured at the steps' shapes and
scaled by their counts, nothing computed or kept, a disk too small stops a build before it
computes, and --plan and --explain exit non-zero when a section cannot be planned."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from compute.engine import plan
from compute.engine.cache import Cache
from compute.engine.errors import BuildError
from compute.engine.files import ROOT
from compute.engine.pipeline import Runner
from compute.engine.plan import Projection, check_disk, reasons
from compute.engine.step import Step
from compute.q3 import plan as q3_plan

SCALED = ("q2.data", "q2.train", "q3.corpus", "q3.features", "q3.train")


def build(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "build.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def blocks(out: str) -> dict[str, str]:
    """The plan's lines by step: {step: its line and the indented ones under it}."""
    found: dict[str, str] = {}
    name = None
    for line in out.splitlines():
        if line.startswith("  ") and name:
            found[name] += line + "\n"
        elif ": " in line and not line.startswith(("plan ", "total")):
            name = line.split(":")[0]
            found[name] = line + "\n"
    return found


def test_plan_projects_each_scaled_step_from_a_measurement_and_keeps_nothing(tmp_path):
    result = build("--profile", "smoke", "--plan", "--build-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    steps = blocks(result.stdout)
    for name in SCALED:
        assert "would run (never computed" in steps[name]
        assert "  projection: " in steps[name] and "  from: " in steps[name], steps[name]
    assert "timed now on random images" in steps["q2.train"]
    assert (
        "timed batches a shape, random tensors" in steps["q3.train"]
        and "times 2 epochs" in steps["q3.train"]
    )
    assert "not projected: a step of fixed size" in steps["q1.symbolic"]
    assert result.stdout.splitlines()[-1].startswith("total, projected on cpu")
    assert [p.name for p in tmp_path.iterdir() if p.name not in ("digests.json", ".lock")] in (
        [],
        ["cache"],
    )
    assert not list(tmp_path.rglob("result.json"))


def test_a_fixed_size_step_is_projected_from_its_last_run_and_a_cached_one_said_cached(tmp_path):
    first = build("--profile", "smoke", "--section", "q1", "--check", "--build-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    cached = build("--profile", "smoke", "--section", "q1", "--plan", "--build-dir", str(tmp_path))
    assert "q1.symbolic: cached" in cached.stdout and "nothing to compute" in cached.stdout
    forced = build(
        "--profile", "smoke", "--section", "q1", "--plan", "--force", "--build-dir", str(tmp_path)
    )
    assert "q1.symbolic: would run (forced (--force))" in forced.stdout
    assert "from: its last run in this build folder (" in blocks(forced.stdout)["q1.numeric"]


def test_a_fixed_size_step_whose_manifest_records_no_time_is_not_projected(tmp_path):
    """The newest entry is measured where it lies, whatever its manifest says of its key."""
    entry = tmp_path / "cache" / "q9.fixed" / "0123456789abcdef"
    (entry / "files").mkdir(parents=True)
    (entry / "files" / "table.bin").write_bytes(b"x" * 1000)
    manifest = {"key": "another", "finished": "2024-05-01 10:00:00", "device": "cpu"}
    (entry / "manifest.json").write_text(json.dumps(manifest))
    step = Step("q9.fixed", lambda ctx: {})
    projection = plan.last_run(Cache(tmp_path / "cache"), step)
    assert projection.seconds is None
    assert projection.basis == (
        "not projected: its last run in this build folder (2024-05-01 10:00:00, cpu) recorded "
        "no time"
    )
    assert projection.disk == 1000 + len(json.dumps(manifest))
    lines = plan.plan_lines([(step, "forced (--force)", projection)], tmp_path, "cpu")
    assert lines[:2] == [
        "q9.fixed: would run (forced (--force))",
        f"  from: {projection.basis}",
    ]
    assert lines[-1].startswith("total, projected on cpu: 0 s + 1 step(s) not projected")


def unusable_ljspeech(tmp_path: Path) -> list[str]:
    (tmp_path / "LJSpeech-1.1" / "wavs").mkdir(parents=True)
    (tmp_path / "LJSpeech-1.1" / "metadata.csv").write_text("")
    arrays = {
        f"{s}_{k}": np.zeros((4, 28, 28) if k == "images" else (4, 1), np.uint8)
        for s in ("train", "val", "test")
        for k in ("images", "labels")
    }
    np.savez(tmp_path / "octmnist.npz", **arrays)
    return [
        "--profile",
        "homework",
        "--ljspeech",
        str(tmp_path / "LJSpeech-1.1"),
        "--octmnist",
        str(tmp_path / "octmnist.npz"),
        "--build-dir",
        str(tmp_path / "build"),
    ]


@pytest.mark.parametrize("option", [["--explain"], ["--plan", "--section", "q3"]])
def test_explain_and_plan_exit_non_zero_when_a_section_cannot_be_planned(tmp_path, option):
    result = build(*unusable_ljspeech(tmp_path), *option)
    assert result.returncode == 1
    assert f"q3: cannot plan: {tmp_path}/LJSpeech-1.1/metadata.csv: empty" in result.stderr


def test_a_step_never_computed_here_is_planned_without_reading_its_input_files(tmp_path):
    files = [tmp_path / f"clip{i}.wav" for i in range(3)]
    for f in files:
        f.write_bytes(b"x" * 1000)
    runner = Runner(tmp_path / "build")
    step = Step("q9.features", lambda ctx: {}, input_files=tuple(files))
    assert reasons(runner, [step]) == {"q9.features": "never computed in this build folder"}
    assert not runner.digests.known(files) and not (tmp_path / "build" / "digests.json").exists()


def test_the_training_projection_scales_the_measured_batches_by_epochs_clips_and_splits():
    measured = {"train": [2.0], "eval": [0.5], "setup": 0.25, "save": 0.125}
    chosen = {"train": [(64, 2754, 99)], "eval": [(16, 2754, 99)]}
    epoch = {
        "train": [(64, 2754, 99)] * 153 + [(33, 2754, 99)],
        "val": [(16, 2754, 99)] * 41,
        "test": [(16, 2754, 99)] * 164,
    }
    expected = 0.25 + 15 * (153 * 2.0 + 33 / 64 * 2.0 + 41 * 0.5 + 0.125) + 164 * 0.5 + 0.125
    assert q3_plan.decoder_seconds(measured, chosen, epoch, 15) == pytest.approx(expected)


def test_batches_cut_to_their_longest_clip_are_timed_at_three_widths_and_fitted_by_a_line():
    used = torch.arange(100, 500)
    p = {"batch_size": 4, "eval_batch_size": 16, "padding": "per batch, clips grouped by length"}
    shapes = q3_plan.batch_shapes(p, {"frames": 500, "max_text": 97}, (used, used // 10), True, 42)
    assert len(shapes) == 100 and sum(s[0] for s in shapes) == 400
    chosen = q3_plan.representative(shapes, thorough=True)
    assert len(chosen) == 3 and chosen[0][1] < chosen[1][1] < chosen[2][1]
    slope, intercept = q3_plan.fitted([(100, 1.0), (300, 2.0), (500, 3.0)])
    assert (slope, intercept) == (pytest.approx(0.005), pytest.approx(0.5))


def rows(disk: int, scratch: int) -> list:
    step = Step("q9.features", lambda ctx: {})
    return [(step, "never computed", Projection(10.0, "measured", disk=disk, scratch=scratch))]


def test_the_disk_check_names_the_shortfall_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "free_bytes", lambda folder: 5 * 10**9)
    check_disk(rows(3 * 10**9, 2 * 10**9), tmp_path)  # fits exactly
    with pytest.raises(BuildError) as error:
        check_disk(rows(11_550_000_000, 8_660_000_000), tmp_path)
    assert str(error.value) == (
        f"{tmp_path}: 5.0 GB free, but the steps that would run write 20 GB at their peak "
        f"(q9.features 20 GB); free 15 GB more, or choose a folder on a larger disk with "
        f"--build-dir"
    )


def test_a_build_stops_before_computing_when_its_disk_is_too_small(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(ROOT))
    import build as build_module

    monkeypatch.setattr(plan, "free_bytes", lambda folder: 1000)
    status = build_module.main(
        ["--profile", "smoke", "--section", "q2", "--check", "--build-dir", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert status == 1
    assert f"error: {tmp_path}: 1 kB free, but the steps that would run write " in err
    assert "running" not in err and not list(tmp_path.rglob("result.json"))


def test_a_build_projected_past_an_hour_prints_its_plan_first(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(ROOT))
    import build as build_module

    monkeypatch.setattr(plan, "HOUR", 0.0)
    status = build_module.main(
        ["--profile", "smoke", "--section", "q2", "--check", "--build-dir", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert status == 0, err
    assert (
        err.index("this build is projected to take")
        < err.index("q2.train: would run")
        < err.index("q2.data: running")
    )
