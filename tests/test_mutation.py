"""All three sections built on the smoke profile through claims, templates and LaTeX, and the
mutation check on those results: every corrupted value that reaches the text fails a claim."""
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compute.pipeline import Runner
from compute.testing import pdf_text
from report.claims import Claim
from report.mutate import check_section, is_measured, section_plugin
from report.sections import discover

ROOT = Path(__file__).resolve().parent.parent
needs_latex = pytest.mark.skipif(  # the smoke build speaks Q3's corpus with espeak-ng
    any(shutil.which(tool) is None for tool in ("latexmk", "pdftotext", "espeak-ng")),
    reason="latexmk/pdftotext/espeak-ng are not installed (make test installs them as root)")


@pytest.fixture(scope="module")
def smoke_build(tmp_path_factory):
    """One smoke build of every section, and its results as the build computed them."""
    build_dir = tmp_path_factory.mktemp("build")
    done = subprocess.run([sys.executable, str(ROOT / "build.py"), "--profile", "smoke", "--build-dir",
                           str(build_dir)], capture_output=True, text=True, cwd=ROOT, timeout=1800)
    runner = Runner(build_dir, device="cpu")
    results = {}
    for section in discover().values():
        for step in section.steps("smoke", {"octmnist": None, "ljspeech": None, "device": "cpu"}):
            results[step.name] = runner.cached(step)
    return build_dir, done, results


@needs_latex
def test_every_section_builds_on_the_smoke_profile_with_its_claims_verified(smoke_build):
    build_dir, done, results = smoke_build
    assert done.returncode == 0, done.stderr
    assert all(results.values())
    text = pdf_text(build_dir / "report.pdf")
    for heading in ("Efficient self-attention", "A CNN on OCTMNIST", "Speech recognition on LJ Speech",
                    "Question 2.3", "Question 3.4", "optimal string alignment"):
        assert heading in text
    assert "NOT COMPUTED" not in text
    trained = results["q2.cost"].data["networks"]["cnn_maxpool"]
    assert f"{trained['params_torch']:,}" in text


@needs_latex
@pytest.mark.parametrize("section", ["q1", "q2", "q3"])
def test_the_claims_catch_every_corrupted_value_that_reaches_the_text(smoke_build, section):
    _, done, results = smoke_build
    assert done.returncode == 0, done.stderr
    outcome = check_section(section, results)
    assert outcome.slipped == []
    assert outcome.errors == []
    assert len(outcome.caught) >= 50  # the text states many values; none escaped the corruption
    assert outcome.fraction == 1.0


@needs_latex
def test_a_claim_that_cannot_fail_lets_its_corrupted_value_slip_through(smoke_build, monkeypatch):
    _, done, results = smoke_build
    plugin = section_plugin("q2")

    def weakened(found):
        return [Claim(c.name, c.value, c.value) if c.name == "q2.macs.cnn_strided" else c
                for c in plugin.claims(found)]

    monkeypatch.setattr("report.mutate.section_plugin", lambda name: dataclasses.replace(plugin, claims=weakened))
    outcome = check_section("q2", results)
    assert outcome.slipped == ["q2.cost:networks.cnn_strided.macs"]
    assert outcome.fraction < 1.0


@needs_latex
def test_wall_clock_times_are_counted_apart_as_measured_values(smoke_build):
    _, _, results = smoke_build
    outcome = check_section("q2", results)
    # the inference times always reach the text; a run's time only when its corruption changes a digit
    assert {f"q2.cost:networks.{net}.inference_seconds_per_image.{batch}"
            for net in ("cnn_maxpool", "cnn_strided") for batch in (1, 16)} <= set(outcome.measured)
    assert all(is_measured(name, tuple(section_plugin("q2").measured)) for name in outcome.measured)
    assert not set(outcome.measured) & set(outcome.caught + outcome.slipped)
