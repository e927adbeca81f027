"""All three sections built on the smoke profile through claims, templates and LaTeX, and the
mutation check on those results: every corrupted value that reaches the text or a figure fails a
claim; the PDF links every stated number to its entry in the appendix of proofs."""

import copy
import dataclasses
import re
import shutil
import subprocess
import sys

import pytest

from compute.engine.files import ROOT
from compute.engine.pipeline import Runner
from compute.engine.step import Result
from compute.engine.testing import pdf_text
from report.cited import PUBLISHED
from report.claims import Claim
from report.mutate import check_section, is_measured, render_section, replaced, section_plugin
from report.numerals import stray_numerals
from report.proofs import undescribed
from report.render import anchor
from report.sections import discover

needs_latex = pytest.mark.skipif(  # the smoke build speaks Q3's corpus with espeak-ng
    any(shutil.which(tool) is None for tool in ("latexmk", "pdftotext", "espeak-ng")),
    reason="latexmk/pdftotext/espeak-ng are not installed (make test installs them as root)",
)


@pytest.fixture(scope="module")
def smoke_build(tmp_path_factory):
    """One smoke build of every section, and its results as the build computed them."""
    build_dir = tmp_path_factory.mktemp("build")
    command = [sys.executable, str(ROOT / "build.py"), "--profile", "smoke"]
    command += ["--build-dir", str(build_dir)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=1800)
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
    for heading in (
        "Efficient self-attention",
        "A CNN on OCTMNIST",
        "Speech recognition on LJ Speech",
        "Question 2.3",
        "Question 3.4",
        "optimal string alignment",
    ):
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
    # every figure's drawn data and the stored values it drew
    caught, checked, _ = outcome.counts(figure=True)
    assert caught == checked >= 100
    assert any(name.endswith(" (one entry removed)") for name in outcome.figure)


@needs_latex
def test_a_claim_that_cannot_fail_lets_its_corrupted_value_slip_through(smoke_build, monkeypatch):
    _, done, results = smoke_build
    plugin = section_plugin("q2")

    def weakened(found):
        return [
            Claim(c.name, c.value, c.value) if c.name == "q2.macs.cnn_strided" else c
            for c in plugin.claims(found)
        ]

    monkeypatch.setattr(
        "report.mutate.section_plugin", lambda name: dataclasses.replace(plugin, claims=weakened)
    )
    outcome = check_section("q2", results)
    assert outcome.slipped == ["q2.cost:networks.cnn_strided.macs"]
    assert outcome.fraction < 1.0


@needs_latex
def test_wall_clock_times_are_counted_apart_as_measured_values(smoke_build):
    _, _, results = smoke_build
    outcome = check_section("q2", results)
    # the inference times always reach the text; a run's time only when its corruption changes a
    # digit
    assert {
        f"q2.cost:networks.{net}.inference_seconds_per_image.{batch}"
        for net in ("cnn_maxpool", "cnn_strided")
        for batch in (1, 16)
    } <= set(outcome.measured)
    assert all(is_measured(name, tuple(section_plugin("q2").measured)) for name in outcome.measured)
    assert not set(outcome.measured) & set(outcome.caught + outcome.slipped)


def _problems(results: dict, section: str, step: str, path: tuple, corrupt) -> set[str]:
    """The claims that fail once the value at `path` of `step`'s result is corrupted (the text
    unchanged or not)."""
    node = results[step].data
    for key in path:
        node = node[key]
    text, problems = render_section(
        section, replaced(results, step, {path: corrupt(copy.deepcopy(node))})
    )
    assert text is not None, problems
    return {p.split(":", 1)[0] for p in problems}


@needs_latex
def test_a_corrupted_figure_or_recorded_history_fails_the_figures_checks(smoke_build):
    _, done, results = smoke_build
    assert done.returncode == 0, done.stderr
    drawn = ("plotted", "val_acc_cnn_maxpool.pdf", "axes", 0, "lines", 1, "y")
    assert "q2.figure.val_acc_cnn_maxpool.derived" in _problems(
        results, "q2", "q2.figures", drawn, lambda y: [y[0] * 1.001] + y[1:]
    )
    assert {
        "q2.figure.train_loss_cnn_maxpool.points",
        "q2.figure.train_loss_cnn_maxpool.drawn",
    } <= _problems(
        results,
        "q2",
        "q2.train",
        ("runs", 0, "train_loss"),
        lambda losses: losses[1:],  # an epoch missing
    )
    assert "q2.figure.val_acc_cnn_maxpool.history" in _problems(
        results, "q2", "q2.train", ("runs", 1, "val_acc"), lambda acc: [acc[0] * 1.01] + acc[1:]
    )
    cell = ("plotted", "confusion_cnn_strided.pdf", "axes", 0, "images", 0, "data", 0, 0)
    assert {
        "q2.figure.confusion_cnn_strided.derived",
        "q2.figure.confusion_cnn_strided.total",
    } <= _problems(results, "q2", "q2.figures", cell, lambda n: n + 1)
    rates = ("decoders", "attention", "history", "learning_rate")
    assert "q3.schedule.attention" in _problems(
        results, "q3", "q3.train", rates, lambda r: [r[0] * 2] + r[1:]
    )
    label = ("plotted", "loss_lstm.pdf", "axes", 0, "ylabel")
    assert "q3.figure.loss_lstm.labels" in _problems(
        results, "q3", "q3.figures", label, lambda text: text.replace("0.1", "0.2")
    )
    error = ("error", "curves", 0, "points", 1, "mean_relative_error")
    assert "q1.figure.approx_error.stored" in _problems(
        results, "q1", "q1.numeric", error, lambda e: e * 1.0001
    )


@needs_latex
def test_every_claim_says_how_it_is_checked_and_every_published_value_is_used(smoke_build):
    _, _, results = smoke_build
    for name, section in discover().items():
        assert undescribed([c.name for c in section.claims(results)], section.proofs) == [], name
    code = "".join(
        p.read_text()
        for p in [*(ROOT / "report" / "sections").glob("*.py"), *(ROOT / "templates").glob("*.j2")]
    )
    by_prefix = ("q2.published.cnn_", "q3.published.lstm.", "q3.published.attention.", "q3.course.")
    unused = [
        n
        for n in PUBLISHED
        if f"'{n}'" not in code
        and f'"{n}"' not in code
        # read by a name made in the code
        and not any(n.startswith(prefix) for prefix in by_prefix)
    ]
    assert unused == []


@needs_latex
def test_every_stated_number_links_to_an_entry_of_the_appendix_and_every_entry_is_stated(
    smoke_build,
):
    build_dir, done, _ = smoke_build
    assert done.returncode == 0, done.stderr
    tex = {p.name: p.read_text() for p in (build_dir / "tex").glob("*.tex")}
    linked = {
        kind: set(re.findall(rf"\\{kind}ref{{([^}}]+)}}", "".join(tex.values())))
        for kind in ("claim", "cited", "figure")
    }
    entries = {
        kind: set(re.findall(rf"\\entry{{{kind}}}{{([^}}]+)}}", tex["main.tex"]))
        for kind in ("claim", "cited", "figure")
    }
    assert len(linked["claim"]) >= 150 and linked["claim"] <= entries["claim"]
    assert linked["cited"] and linked["cited"] <= entries["cited"]
    assert linked["figure"] == entries["figure"] and len(entries["figure"]) == 13
    # an entry the text links to no number is a check of a figure (its caption links to it) or a
    # claim that decides the wording: a template tests it in a \BLOCK{if ...}, \BLOCK{elif ...} or
    # \BLOCK{set ...}
    blocks = "".join(
        re.findall(
            r"\\BLOCK\{(?:if|elif|set) [^\n]*",
            "".join(t.read_text() for t in (ROOT / "templates").glob("*.j2")),
        )
    )
    # 'q1.M_table.D%d.K%d'
    tested = [
        re.escape(anchor(name.replace("%d", "9"))).replace("9", r"\d+")
        for name in re.findall(r"claim\('([^']+)'", blocks)
    ]
    unlinked = entries["claim"] - linked["claim"]
    assert all(".figure." in name or any(re.match(t, name) for t in tested) for name in unlinked), (
        unlinked
    )
    log = (build_dir / "tex" / "main.log").read_text(errors="replace")
    assert "has been referenced but does not exist" not in log
    text = pdf_text(build_dir / "report.pdf")
    assert "How each number is checked" in text and "Drawn data checked: F1." in text


@needs_latex
def test_a_hand_typed_numeral_in_a_template_stops_the_build_at_its_line(
    smoke_build, project_copy, tmp_path
):
    build_dir, done, _ = smoke_build
    assert done.returncode == 0, done.stderr
    template = project_copy / "templates" / "q2.tex.j2"
    lines = template.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(r"\paragraph{Protocol.}"))
    lines.insert(at, "The course keeps 529 test images.\n")
    template.write_text("".join(lines))
    # the same code: every step cached
    shutil.copytree(build_dir / "cache", tmp_path / "build" / "cache")
    command = [sys.executable, str(project_copy / "build.py"), "--profile", "smoke", "--check"]
    command += ["--build-dir", str(tmp_path / "build")]
    checked = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert checked.returncode == 1
    assert f"templates/q2.tex.j2:{at + 1}: the numeral 529 comes from no claim" in checked.stderr


@needs_latex
def test_the_real_data_branches_state_no_hand_typed_numeral(smoke_build):
    """The homework profile's text (real OCTMNIST and LJ Speech), rendered from the smoke results
    relabelled as real data: the published comparison appears, and every numeral has an origin."""
    _, _, results = smoke_build
    real = dict(results)
    for step in ("q2.data", "q2.train"):
        data = copy.deepcopy(results[step].data)
        (data["data"] if step == "q2.train" else data)["source"] = "octmnist"
        data.setdefault("md5", "c68d92d5b585d8d81f7112f81e2d0842")
        real[step] = Result(data, results[step].dir)
    features = copy.deepcopy(results["q3.features"].data) | {"source": "ljspeech"}
    real["q3.features"] = Result(features, results["q3.features"].dir)
    del real["q3.corpus"]
    for section, shown in (
        ("q2", "against those ranges"),
        ("q3", "allowing a hundredth beyond their ranges"),
    ):
        text, _ = render_section(section, real)
        assert shown in text
        assert stray_numerals(text) == [], section
        compared = discover()[section].compare(real)  # what --check warns about
        assert compared and all(
            inside == (low <= value <= high) for _, value, (low, high), inside in compared
        )
        assert discover()[section].compare(results) == []  # generated data: trends only
