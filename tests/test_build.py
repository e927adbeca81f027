"""build.py end to end on the smoke profile: sections, cache, placeholders, claims, LaTeX."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compute.engine.files import ROOT
from compute.engine.share import comparable_results
from compute.engine.testing import pdf_text

needs_latex = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="latexmk/pdftotext are not installed (make test installs them as root)",
)


def build(*args, build_dir: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "build.py"), "--profile", "smoke"]
    command += ["--build-dir", str(build_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)


@pytest.fixture(scope="module")
def q1_build(tmp_path_factory):
    """One smoke build of Q1 alone, shared by the tests that read it."""
    build_dir = tmp_path_factory.mktemp("build")
    first = build("--section", "q1", build_dir=build_dir)
    return build_dir, first


def test_help_reads_like_a_manual():
    out = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "--help"], capture_output=True, text=True
    ).stdout
    for text in (
        "--section",
        "--profile",
        "--explain",
        "--check",
        "--check-data",
        "quick",
        "homework",
        "smoke",
        "build/report.pdf",
        "examples:",
    ):
        assert text in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--section", "q9"], "unknown section 'q9'; valid sections: q1, q2, q3"),
        (["--profile", "fast"], "unknown profile 'fast'; valid profiles: quick, homework, smoke"),
    ],
)
def test_unknown_names_are_errors_listing_the_valid_ones(tmp_path, args, message):
    result = build(*args, build_dir=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


@needs_latex
def test_q1_alone_builds_a_pdf_with_placeholders_for_the_other_sections(q1_build):
    build_dir, first = q1_build
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(build_dir / "report.pdf")
    text = pdf_text(build_dir / "report.pdf")
    assert "Efficient self-attention" in text
    assert "47,905" in text and "2,145" in text
    assert text.count("NOT COMPUTED") == 2


@needs_latex
def test_a_second_build_of_q1_computes_nothing(q1_build):
    build_dir, _ = q1_build
    second = build("--section", "q1", build_dir=build_dir)
    assert second.returncode == 0, second.stderr
    assert "q1.symbolic: cached" in second.stderr and "q1.numeric: cached" in second.stderr
    assert "running" not in second.stderr


@needs_latex
def test_explain_says_cached_for_q1_and_never_computed_for_q2(q1_build):
    build_dir, _ = q1_build
    out = build("--explain", build_dir=build_dir).stdout
    assert "q1.symbolic: cached" in out
    assert "q2." in out and "would run: never computed" in out


@needs_latex
def test_check_passes_then_fails_on_a_corrupted_result(q1_build, tmp_path):
    build_dir, _ = q1_build
    copy = tmp_path / "build"
    shutil.copytree(build_dir, copy)
    ok = build("--section", "q1", "--check", build_dir=copy)
    assert ok.returncode == 0, ok.stderr
    assert "0 problem(s)" in ok.stdout
    (result,) = (copy / "cache" / "q1.symbolic").glob("*/result.json")
    data = json.loads(result.read_text())
    row = next(r for r in data["feature_map"]["table"] if r["D"] == 64 and r["K"] == 3)
    # what a typo in a hand-written table would look like
    row["constructed"] = row["closed_form"] = 2146
    result.write_text(json.dumps(data))
    manifest = json.loads((result.parent / "manifest.json").read_text())  # stored as if computed so
    manifest["digests"]["result.json"] = hashlib.sha256(result.read_bytes()).hexdigest()
    (result.parent / "manifest.json").write_text(json.dumps(manifest))
    bad = build("--section", "q1", "--check", build_dir=copy)
    assert bad.returncode == 1
    assert "q1.M_table.D64.K3: states 2146 but verification gives 2145" in bad.stderr


def test_check_data_refuses_missing_datasets_naming_each_path(tmp_path):
    command = [sys.executable, str(ROOT / "build.py"), "--profile", "homework", "--check-data"]
    command += ["--octmnist", str(tmp_path / "none.npz"), "--ljspeech", str(tmp_path / "none")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 1
    assert f"q2: unusable: {tmp_path / 'none.npz'}: no such file" in result.stderr
    assert f"q3: unusable: {tmp_path / 'none'} (the given path): no metadata.csv" in result.stderr


def test_check_data_summarises_the_offline_datasets():
    result = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "--check-data"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "q2: project-generated OCTMNIST-like data" in result.stdout
    assert "q3: splits: train 1200, val 150, test 250" in result.stdout


@needs_latex
def test_local_jobs_give_the_keys_and_numbers_of_an_inline_build(q1_build, tmp_path):
    build_dir, _ = q1_build
    local = build("--section", "q1", "--executor", "local", "--check", build_dir=tmp_path)
    assert local.returncode == 0, local.stderr
    assert "q1.symbolic: running" in local.stderr and "0 problem(s)" in local.stdout
    inline, jobs = comparable_results(build_dir), comparable_results(tmp_path)
    assert sorted(jobs) == sorted(inline) and len(jobs) == 3  # symbolic, numeric, figures
    assert jobs == inline
    assert len(list((tmp_path / "jobs" / "q1.numeric").glob("*_log.err"))) == 1


@needs_latex
def test_push_pull_frozen_renders_the_pdf_computing_nothing(q1_build, tmp_path):
    build_dir, _ = q1_build
    shared, laptop = tmp_path / "shared", tmp_path / "laptop"
    push = build("--section", "q1", "--push", str(shared), build_dir=build_dir)
    assert push.returncode == 0, push.stderr
    assert f"pushed to {shared}: 3 copied (q1.symbolic, q1.numeric, q1.figures)" in push.stdout
    assert not (shared / "report.pdf").exists()
    # the README's laptop render: --device cuda names the results wanted, and this machine has no
    # GPU
    frozen = build(
        "--section", "q1", "--pull", str(shared), "--frozen", "--device", "cuda", build_dir=laptop
    )
    assert frozen.returncode == 0, frozen.stderr
    assert f"pulled from {shared}: 3 copied (q1.symbolic, q1.numeric, q1.figures)" in frozen.stderr
    assert "running" not in frozen.stderr and "q1.numeric: cached" in frozen.stderr
    text = pdf_text(laptop / "report.pdf")
    assert "47,905" in text and "device cpu (as the results record)" in " ".join(text.split())


@needs_latex
def test_a_damaged_shared_entry_is_refused_with_a_message(q1_build, tmp_path):
    build_dir, _ = q1_build
    shared = tmp_path / "shared"
    assert build("--section", "q1", "--push", str(shared), build_dir=build_dir).returncode == 0
    (result,) = shared.glob("q1.symbolic/*/result.json")
    result.write_text(result.read_text().replace("2145", "2146"))
    pulled = build(
        "--section", "q1", "--pull", str(shared), "--frozen", build_dir=tmp_path / "laptop"
    )
    assert (
        f"refused {result.parent}: result.json differs from the digest recorded when it was stored"
        in pulled.stderr
    )
    assert (
        pulled.returncode == 1
        and not (tmp_path / "laptop" / "cache" / "q1.symbolic" / result.parent.name).exists()
    )


def test_frozen_with_a_missing_result_names_the_step_its_key_and_the_command(tmp_path):
    result = build("--section", "q1", "--frozen", build_dir=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    key = re.search(
        r"q1.symbolic: no result for key ([0-9a-f]{16}) \(never computed\)", result.stderr
    ).group(1)
    assert (
        "Compute it with: python build.py --profile smoke --section q1 --device cpu"
        in result.stderr
    )
    assert f"[{key}]" in build("--explain", build_dir=tmp_path).stdout
