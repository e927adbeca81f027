"""The claims that changed between builds, and why: after each build (report/diff.py,
`report_changes`) and between two folders (`build.py --diff A B`). In a copy of the project, smoke
builds that differ by one setting of one profile list exactly the claims that follow from it, under
the step whose parameter changed; identical builds, and a build beside the folder its results were
pushed to, differ in nothing; bad folders are one line each."""

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

import build
from compute.engine.testing import copy_project, edit
from report import diff

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (make test installs it as root)",
)
CHANGE_LINE = re.compile(r"^  (?P<step>[\w.]+) \((?P<cause>.*)\):$")
CLAIM_LINE = re.compile(r"^    (?P<name>[\w.]+): (?P<a>.*) -> (?P<b>.*) \((?P<judged>.*)\)$")


CAUSE = "parameter changed: epochs (2 -> 3)"
TABLE_CAUSE = "parameter changed: differences.epochs.profile (2 -> 3)"  # the settings table's step


def run(copy: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(copy / "build.py"), *args],
        capture_output=True,
        text=True,
        cwd=copy,
        timeout=900,
    )


def check(copy: Path, build_dir: Path) -> subprocess.CompletedProcess:
    """A smoke build that checks every claim (no LaTeX)."""
    out = run(copy, "--profile", "smoke", "--check", "--build-dir", str(build_dir))
    assert out.returncode == 0, out.stderr
    return out


def stored_values(build_dir: Path) -> dict:
    sections = json.loads((build_dir / diff.FILE).read_text())["sections"]
    return {name: c["value"] for s in sections.values() for name, c in s["claims"].items()}


def differing(a: Path, b: Path) -> set[str]:
    """The claims whose stored values differ, read from the two claims files."""
    x, y = stored_values(a), stored_values(b)
    return {n for n in set(x) | set(y) if json.dumps(x.get(n)) != json.dumps(y.get(n))}


def change_summary(stderr: str) -> dict[str, tuple[str, dict[str, tuple[str, str]]]]:
    """{step: (cause, {claim: (old, new)})} of the change summary a build printed."""
    groups, current = {}, None
    for line in stderr.splitlines():
        if (m := CHANGE_LINE.match(line)) is not None:
            current = groups.setdefault(m["step"], (m["cause"], {}))
        elif (m := CLAIM_LINE.match(line)) is not None and current is not None:
            current[1][m["name"]] = (m["a"], m["b"])
    return groups


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """A copy of the project and its checked smoke build (the claims file written)."""
    copy = copy_project(tmp_path_factory.mktemp("diff") / "project")
    build_dir = copy.parent / "a"
    out = check(copy, build_dir)
    assert "claims changed" not in out.stderr  # a first build has nothing to compare with
    return copy, build_dir


def rebuilt(
    smoke, name: str, module: str, old: str, new: str
) -> tuple[Path, subprocess.CompletedProcess]:
    """A copy of the smoke build folder, built again with one profile setting edited (then
    restored)."""
    copy, first = smoke
    target = first.parent / name
    shutil.copytree(first, target)
    edit(copy / module, old, new)
    try:
        return target, check(copy, target)
    finally:
        edit(copy / module, new, old)


@needs_espeak
def test_identical_builds_give_an_empty_diff_and_pass_the_gate(smoke, capsys):
    _, first = smoke
    twin = first.parent / "twin"
    shutil.copytree(first, twin)
    assert build.main(["--diff", str(first), str(twin), "--fail-on-change"]) == 0
    out = capsys.readouterr().out
    total = len(stored_values(first))
    assert total > 150
    assert (
        out.splitlines()[0] == f"summary: 0 of {total} claims differ (0 beyond their tolerance), "
        "0 only in A, 0 only in B; 0 step(s) differ"
    )
    assert "claims that differ" not in out and "steps whose key" not in out
    assert out.splitlines()[-1] == f"unchanged: {total} claim(s) (each listed by --json)"


@needs_espeak
def test_one_training_setting_lists_exactly_its_claims_under_its_step(smoke, capsys):
    _, first = smoke
    old = '"epochs": 2,'  # the smoke profile's (quick's are 12, the course's 15)
    second, out = rebuilt(smoke, "epochs", "compute/q3/steps.py", old, old.replace("2", "3"))
    groups = change_summary(out.stderr)
    changed = differing(first, second)
    assert list(groups) == ["q3.train", "q3.figures", "q3.settings"], out.stderr
    cause, listed = groups["q3.train"]
    assert cause == CAUSE
    assert groups["q3.settings"][0] == TABLE_CAUSE
    assert list(groups["q3.settings"][1]) == ["q3.differences"]
    assert groups["q3.figures"][0] == "upstream result changed: q3.train"
    drawn = groups["q3.figures"][1]  # what the redrawn figures show: their claims follow from them
    assert drawn and all(n.startswith("q3.figure.") for n in drawn)
    assert set(listed) | set(drawn) | {"q3.differences"} == changed
    # the stated setting, the settings table's list of what differs, and each decoder's test loss
    assert changed >= {
        "q3.setting.epochs",
        "q3.differences",
        "q3.test.lstm.loss",
        "q3.test.attention.loss",
    }
    assert listed["q3.setting.epochs"] == ("2", "3")
    # the data the decoders train on did not change: none of its claims is listed
    assert not any(n.startswith(("q3.clips", "q3.corpus", "q3.hours")) for n in listed)
    assert f"claims changed since the previous build in {second}: {len(changed)} of" in out.stderr

    assert build.main(["--diff", str(first), str(second), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in result["claims"] if r["status"] != "equal"}
    assert set(rows) == changed
    assert {r["step"] for r in rows.values()} == {"q3.train", "q3.figures", "q3.settings"}
    assert rows["q3.setting.epochs"] == {
        "name": "q3.setting.epochs",
        "a": 2,
        "b": 3,
        "status": "changed",
        "difference": 1,
        "tolerance": 0,
        "within": False,
        "step": "q3.train",
    }
    steps = {s["name"]: s["cause"] for s in result["steps"]}
    assert steps == {
        "q3.train": CAUSE,
        "q3.settings": TABLE_CAUSE,
        "q3.figures": "upstream result changed: q3.train",
    }

    assert build.main(["--diff", str(first), str(second), "--fail-on-change"]) == 1
    text = capsys.readouterr()
    assert "q3.setting.epochs: 2 -> 3 (+1, beyond its tolerance, exact)" in text.out
    assert "q3.setting.epochs" in text.err.splitlines()[-1]


@needs_espeak
def test_a_data_setting_splits_its_claims_between_the_data_and_the_training(smoke):
    first = smoke[1]
    second, out = rebuilt(
        smoke, "sizes", "compute/q2/steps.py", '"train": 96, "val": 64,', '"train": 96, "val": 48,'
    )
    groups = change_summary(out.stderr)
    assert set(groups) == {"q2.data", "q2.train", "q2.figures"}, out.stderr
    assert groups["q2.data"][0] == "parameter changed: sizes.val (64 -> 48)"
    assert groups["q2.data"][1] == {"q2.images.val": ("64", "48")}
    assert groups["q2.train"][0] == "upstream result changed: q2.data"
    assert all(n.startswith("q2.figure.") for n in groups["q2.figures"][1])
    assert {*groups["q2.data"][1], *groups["q2.train"][1], *groups["q2.figures"][1]} == differing(
        first, second
    )
    # the validation accuracies are counted over the 48 images now, so each is a multiple of 1/48
    for name, (_, new) in groups["q2.train"][1].items():
        if name.endswith(".val"):
            assert math.isclose(float(new) * 48, round(float(new) * 48), abs_tol=1e-4)


@needs_espeak
def test_a_pushed_folder_states_the_claims_of_the_build_that_pushed_it(smoke, capsys):
    copy, first = smoke
    shared = first.parent / "shared"
    pushed = run(copy, "--profile", "smoke", "--build-dir", str(first), "--push", str(shared))
    assert pushed.returncode == 0, pushed.stderr
    assert build.main(["--diff", str(first), str(shared), "--fail-on-change"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"summary: 0 of {len(stored_values(first))} claims differ")
    assert f"B: {shared}: no claims file: the claims evaluated on the newest entry" in out
    assert re.search(r"^   q2\.train [0-9a-f]{16} \(finished \d{4}-", out, re.M)

    partial = first.parent / "partial"
    shutil.copytree(shared, partial, ignore=shutil.ignore_patterns("q3.*"))
    assert build.main(["--diff", str(first), str(partial), "--fail-on-change"]) == 1
    out = capsys.readouterr().out
    q3 = {n for n in stored_values(first) if n.startswith("q3.")}
    total = len(stored_values(first))
    # the 5 steps: q3's corpus, features, training, figures and settings table
    assert (
        f"0 of {total} claims differ (0 beyond their tolerance), {len(q3)} only in A, 0 only in B; "
        "5 step(s) differ" in out
    )
    assert f"claims only in A:\n  q3: all {len(q3)} of its claims (B states none of q3)\n" in out
    assert re.search(r"^  q3\.train: [0-9a-f]{16} -> -: only in A$", out, re.M)

    entry = next((partial / "q2.train").glob("*/result.json"))
    entry.write_text(entry.read_text().replace('"epochs": 2', '"epochs": 7', 1))
    assert build.main(["--diff", str(first), str(partial)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {entry.parent}: a damaged entry (result.json differs from the digest recorded "
        f"when it was stored); remove that folder, or rebuild or push it again"
    )


def test_bad_folders_are_one_line_naming_them(tmp_path, capsys):
    empty, other, build_dir = tmp_path / "empty", tmp_path / "other", tmp_path / "build"
    empty.mkdir()
    (other / "notes").mkdir(parents=True)
    (other / "notes" / "a.txt").write_text("not a result")
    (build_dir / "cache").mkdir(parents=True)
    (build_dir / diff.FILE).write_text('{"sections": {"q1": {"claims": 3}}}')
    cases = {
        tmp_path / "absent": "no such folder",
        empty: "an empty folder",
        other: "neither a build folder (no claims.json, no cache/) nor a folder written by --push",
        build_dir: "damaged (not the claims file a build writes)",
    }
    for folder, what in cases.items():
        assert build.main(["--diff", str(folder), str(empty)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and what in err and "Traceback" not in err, err
        assert err.startswith(
            f"error: {folder if folder != build_dir else build_dir / diff.FILE}: "
        )


def test_a_damaged_manifest_in_a_shared_folder_is_named(tmp_path, capsys):
    entry = tmp_path / "shared" / "q1.symbolic" / "0123456789abcdef"
    entry.mkdir(parents=True)
    (entry / "manifest.json").write_text("{not json")
    assert build.main(["--diff", str(tmp_path / "shared"), str(tmp_path / "shared")]) == 1
    assert (
        capsys.readouterr().err
        == f"error: {entry}: a damaged entry (its manifest.json is unreadable); "
        "remove that folder, or rebuild or push it again\n"
    )


def test_json_and_the_gate_need_diff(capsys):
    with pytest.raises(SystemExit):
        build.parse_args(["--fail-on-change"])
    assert "--json and --fail-on-change work with --diff" in capsys.readouterr().err


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (3, 5, 2),
        (0.5, 0.25, -0.25),
        ([1, 2, 3], [1, 5, 2], 3),
        ([[1, 2], [3, 4]], [[1, 2], [3, 1]], -3),
        (True, False, None),
        ("x", "y", None),
        ([1, 2], [1, 2, 3], None),
        (2, [2], None),
    ],
)
def test_the_difference_of_two_values(a, b, expected):
    assert diff.difference(a, b) == expected


def test_a_change_is_judged_against_the_claims_tolerance():
    row = diff.claim_row("x", {"value": 0.5, "tol": 1e-6}, {"value": 0.5 + 5e-7, "tol": 1e-6})
    assert (
        row["status"] == "changed"
        and row["within"]
        and diff.claim_line(row).endswith("(+5e-07, within its tolerance, 1e-06)")
    )
    row = diff.claim_row("x", {"value": 0.5, "tol": 1e-6}, {"value": 0.5 + 2e-6, "tol": 1e-6})
    assert not row["within"]
    nan = {"value": math.nan, "tol": 0}
    assert diff.claim_row("x", nan, dict(nan))["status"] == "equal"
    assert diff.claim_row("x", None, {"value": 1, "tol": 0})["status"] == "only_b"
    assert diff.json_value(sympy.Symbol("D") * 2 + 1) == "2*D + 1"
    assert diff.json_value((np.float32(0.5), np.array([1, 2]))) == [0.5, [1, 2]]
    row = diff.claim_row("x", {"value": "2*D + 1", "tol": 0}, {"value": "2*D + 2", "tol": 0})
    assert row["difference"] is None and not row["within"]


@needs_espeak
def test_the_same_step_computed_on_another_machine_is_named_as_the_cause(smoke, capsys):
    """Cross-CPU drift: the same key, another result (here written into a copy of the build)."""
    first = smoke[1]
    other = first.parent / "other-machine"
    shutil.copytree(first, other)
    stored = json.loads((other / diff.FILE).read_text())
    step = stored["sections"]["q3"]["steps"]["q3.train"]
    step["result"] = "0" * 64
    jaccard = stored["sections"]["q3"]["claims"]["q3.test.attention.jaccard"]
    jaccard["value"] += 0.012
    (other / diff.FILE).write_text(json.dumps(stored))
    manifest_path = other / "cache" / "q3.train" / step["key"] / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps(manifest | {"machine": "Another CPU (AVX2)"}))
    assert build.main(["--diff", str(first), str(other)]) == 0
    out = capsys.readouterr().out
    cause = f"the same key, another result; machine {manifest['machine']} -> Another CPU (AVX2)"
    assert f"\n  q3.train ({cause}):\n    q3.test.attention.jaccard: " in out
    assert f"\n  q3.train: {step['key']} -> {step['key']}: {cause}\n" in out
    assert "(+0.012, beyond its tolerance, 1e-09)" in out
