"""Bad inputs and broken states, tried as a user would: each ends in a short message that names the
file (and line) and the fix, a non-zero exit status where the build cannot go on, and no traceback.

The cases run build.py in a copy of the project (so report.toml and the templates can be broken
without touching the checkout) whose build folder starts from one cached smoke build of Q1.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from compute.engine import errors
from compute.engine.files import ROOT
from compute.engine.testing import copy_project, edit, pdf_text


def build(project: Path, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(project / "build.py"), "--profile", "smoke", *args],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=600,
        env={**os.environ, "BUILD_DEBUG": "", **(env or {})},
    )


@pytest.fixture(scope="module")
def cached_q1(tmp_path_factory):
    """A project copy and a build folder holding Q1's smoke results."""
    project = copy_project(tmp_path_factory.mktemp("cached") / "project")
    build_dir = project.parent / "build"
    first = build(project, "--section", "q1", "--check", "--build-dir", str(build_dir))
    assert first.returncode == 0, first.stderr
    return project, build_dir


@pytest.fixture
def setup(cached_q1, project_copy, tmp_path):
    """A fresh copy of the project and of the cached build folder for one case."""
    project = project_copy
    build_dir = tmp_path / "build"
    shutil.copytree(cached_q1[1], build_dir)
    return project, build_dir


def numeric_entry(build_dir: Path) -> Path:
    (manifest,) = (build_dir / "cache" / "q1.numeric").glob("*/manifest.json")
    return manifest.parent


def fake_ljspeech(root: Path, ids: list[str], present: list[str]) -> Path:
    (root / "wavs").mkdir(parents=True)
    (root / "metadata.csv").write_text("".join(f"{i}|Text {i}.|text {i}.\n" for i in ids))
    for i in present:
        (root / "wavs" / f"{i}.wav").write_bytes(b"RIFF")
    return root


def octmnist_file(path: Path, train_size: int) -> Path:
    arrays = {}
    for split, n in (("train", train_size), ("val", 4), ("test", 4)):
        arrays[f"{split}_images"] = np.zeros((n, 28, 28), np.uint8)
        arrays[f"{split}_labels"] = np.zeros((n, 1), np.uint8)
    np.savez(path, **arrays)
    return path


# Each case: (setup(project, build_dir, tmp) -> extra args, environment or None), the exit status,
# and texts the output must hold (the file and line it names). `{p}`, `{b}`, `{t}` stand for the
# project, the build folder and the case's temporary folder.


def case_ljspeech_under_quick(p, b, t):
    return ["--profile", "quick", "--check-data", "--ljspeech", str(t / "nowhere")], None


def case_octmnist_under_smoke(p, b, t):
    return ["--octmnist", str(t / "octmnist.npz"), "--build-dir", str(b)], None


def case_cuda_without_gpu(p, b, t):
    return ["--device", "cuda", "--build-dir", str(b)], {"CUDA_VISIBLE_DEVICES": ""}


def case_build_dir_under_a_file(p, b, t):
    (t / "afile").write_text("x")
    return ["--build-dir", str(t / "afile" / "build")], None


def case_explain_build_dir_under_a_file(p, b, t):
    (t / "afile").write_text("x")
    return ["--explain", "--build-dir", str(t / "afile" / "build")], None


def case_report_toml_missing(p, b, t):
    (p / "report.toml").unlink()
    return ["--build-dir", str(b)], None


def case_report_toml_malformed(p, b, t):
    edit(p / "report.toml", 'subtitle = "', "subtitle = ")
    return ["--build-dir", str(b)], None


def case_report_toml_number_for_text(p, b, t):
    edit(p / "report.toml", 'student_id = "ist1100002"', "student_id = 1100002")
    return ["--build-dir", str(b)], None


def case_report_toml_name_latex_cannot_print(p, b, t):
    edit(p / "report.toml", 'name = "Second Author"', 'name = "王小明"')
    return ["--build-dir", str(b)], None


def case_report_toml_missing_key(p, b, t):
    edit(p / "report.toml", 'course = "', 'courses = "')
    return ["--build-dir", str(b)], None


def broken_template(project: Path, name: str, line: str) -> None:
    """Puts `line` at line 5 of the template, below four whole-line `%#` comments (which the
    template engine drops, so a line number it reports must be mapped back)."""
    path = project / "templates" / name
    path.write_text("%# one\n%# two\n  %# three\n%# four\n" + line + "\n" + path.read_text())


def case_template_unclosed_block(p, b, t):
    broken_template(p, "q2.tex.j2", "\\BLOCK{if true}")
    return ["--build-dir", str(b)], None


def case_template_bad_expression(p, b, t):
    broken_template(p, "q3.tex.j2", "Value: \\VAR{1 +* 2}.")
    return ["--build-dir", str(b)], None


def case_template_undefined_variable(p, b, t):
    broken_template(p, "q1.tex.j2", "\\VAR{no_such_variable}")
    return ["--section", "q1", "--check", "--build-dir", str(b)], None


def case_preamble_undefined_variable(p, b, t):
    broken_template(p, "preamble.tex.j2", "\\VAR{no_such_variable}")
    return ["--section", "q1", "--build-dir", str(b)], None


def case_truncated_result_explained(p, b, t):
    entry = numeric_entry(b)
    (entry / "result.json").write_text((entry / "result.json").read_text()[:100])
    return ["--explain", "--build-dir", str(b)], None


def case_garbage_manifest_recomputed(p, b, t):
    (numeric_entry(b) / "manifest.json").write_text("not json {")
    return ["--section", "q1", "--check", "--build-dir", str(b)], None


def case_deleted_figure_recomputed(p, b, t):
    (figures,) = (b / "cache" / "q1.figures").glob("*/files/approx_error.pdf")
    figures.unlink()
    return ["--section", "q1", "--check", "--build-dir", str(b)], None


def case_leftover_of_a_killed_run(p, b, t):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    (b / "cache" / "q1.numeric" / f".tmp-0000000000000000-{dead}" / "files").mkdir(parents=True)
    return ["--explain", "--build-dir", str(b)], None


def case_partial_ljspeech(p, b, t):
    root = fake_ljspeech(
        t / "LJSpeech-1.1", ["LJ001-0001", "LJ002-0201", "LJ003-0001"], ["LJ001-0001"]
    )
    given = ["--ljspeech", str(root), "--build-dir", str(b)]
    return ["--profile", "homework", "--section", "q3", *given], None


def case_empty_metadata(p, b, t):
    root = fake_ljspeech(t / "LJSpeech-1.1", [], [])
    return ["--profile", "homework", "--check-data", "--ljspeech", str(root)], None


def case_octmnist_empty_arrays(p, b, t):
    path = octmnist_file(t / "octmnist.npz", train_size=0)
    return ["--profile", "homework", "--check-data", "--octmnist", str(path)], None


def case_octmnist_not_a_zip(p, b, t):
    (t / "octmnist.npz").write_bytes(b"\x80\x04garbage, not an archive")
    return ["--profile", "homework", "--check-data", "--octmnist", str(t / "octmnist.npz")], None


def case_latex_not_installed(p, b, t):
    bin_dir = t / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    return ["--section", "q1", "--build-dir", str(b)], {"PATH": str(bin_dir)}


def case_push_to_a_folder_under_home_written_with_a_tilde(p, b, t):
    (t / "home").mkdir()
    home = {"HOME": str(t / "home")}
    return ["--section", "q1", "--build-dir", str(b), "--push=~/dl-results"], home


def case_build_dir_from_a_variable_in_quotes(p, b, t):
    return ["--explain", "--build-dir=$MY_BUILD"], {"MY_BUILD": str(b)}


def case_pull_from_a_folder_that_does_not_exist(p, b, t):
    return ["--section", "q1", "--build-dir", str(b), "--pull", str(t / "dl-results")], None


def case_pull_from_a_file(p, b, t):
    (t / "dl-results.tar").write_bytes(b"an archive, not a folder")
    return ["--section", "q1", "--build-dir", str(b), "--pull", str(t / "dl-results.tar")], None


def case_pull_from_a_build_folder(p, b, t):
    return ["--section", "q1", "--build-dir", str(t / "laptop"), "--pull", str(b)], None


def case_pull_from_a_build_folder_without_results(p, b, t):
    shutil.rmtree(b / "cache")  # only digests.json is left
    return ["--section", "q1", "--build-dir", str(t / "laptop"), "--pull", str(b)], None


def case_pull_from_an_empty_folder(p, b, t):
    (t / "dl-results").mkdir()
    return ["--section", "q1", "--build-dir", str(b), "--pull", str(t / "dl-results")], None


def case_push_under_a_missing_folder(p, b, t):
    shared = t / "no" / "such" / "dl-results"
    return ["--section", "q1", "--build-dir", str(b), "--push", str(shared)], None


def case_pull_of_another_profiles_results(p, b, t):
    laptop = ["--frozen", "--build-dir", str(t / "laptop")]
    return ["--profile", "quick", "--section", "q1", *laptop, "--pull", str(b / "cache")], None


def case_slurm_settings_without_slurm(p, b, t):
    return ["--section", "q1", "--build-dir", str(b), "--slurm", "partition=gpu"], None


def case_a_file_where_an_entry_should_be(p, b, t):
    entry = numeric_entry(b)
    shutil.rmtree(entry)
    entry.write_text("left here by hand")
    return ["--section", "q1", "--check", "--build-dir", str(b)], None


def case_section_with_a_syntax_error(p, b, t):
    (p / "report" / "sections" / "q9.py").write_text(
        "from report.sections import Section\nSECTION = Section(\n"
    )
    return ["--explain", "--build-dir", str(b)], None


def case_section_without_its_declaration(p, b, t):
    (p / "report" / "sections" / "q9.py").write_text("TITLE = 'a ninth question'\n")
    return ["--explain", "--build-dir", str(b)], None


CASES = [
    (
        case_ljspeech_under_quick,
        1,
        ["error: --ljspeech: the quick profile does not read it", "--profile homework"],
    ),
    (
        case_octmnist_under_smoke,
        1,
        ["error: --octmnist: the smoke profile does not read it", "--profile homework"],
    ),
    (
        case_cuda_without_gpu,
        1,
        ["error: --device cuda: torch sees no CUDA device", "--device auto"],
    ),
    (
        case_build_dir_under_a_file,
        1,
        ["error: build folder {t}/afile/build: cannot be created", "--build-dir"],
    ),
    (
        case_explain_build_dir_under_a_file,
        1,
        ["error: build folder {t}/afile/build: cannot be created"],
    ),
    (case_report_toml_missing, 1, ["error: {p}/report.toml: no such file"]),
    (case_report_toml_malformed, 1, ["error: {p}/report.toml:3: not valid TOML", "double quotes"]),
    (
        case_report_toml_number_for_text,
        1,
        [
            "error: {p}/report.toml:13: authors[2].student_id must be "
            "non-empty text in quotes, not 1100002"
        ],
    ),
    (case_report_toml_missing_key, 1, ["error: {p}/report.toml: course is missing"]),
    (
        case_report_toml_name_latex_cannot_print,
        1,
        [
            "error: {p}/report.toml:12: the character 王 (U+738B) cannot be printed",
            "(a transliteration)",
        ],
    ),
    (case_template_unclosed_block, 1, ["error: templates/q2.tex.j2:5: Unexpected end of template"]),
    (case_template_bad_expression, 1, ["error: templates/q3.tex.j2:5: unexpected '*'"]),
    (
        case_template_undefined_variable,
        1,
        ["error: templates/q1.tex.j2:5: 'no_such_variable' is undefined"],
    ),
    (
        case_preamble_undefined_variable,
        1,
        ["error: templates/preamble.tex.j2:5: 'no_such_variable' is undefined"],
    ),
    (
        case_truncated_result_explained,
        0,
        [
            "q1.numeric: would run: damaged, will recompute: result.json differs",
            "{b}/cache/q1.numeric/",
            "q1.symbolic: cached",
        ],
    ),
    (
        case_garbage_manifest_recomputed,
        0,
        [
            "q1.numeric: running (damaged, will recompute: manifest.json is "
            "missing or not valid JSON in {b}/cache/q1.numeric/",
            "0 problem(s)",
        ],
    ),
    (
        case_deleted_figure_recomputed,
        0,
        [
            "q1.figures: running (damaged, will recompute: files/approx_error.pdf is missing",
            "q1.numeric: cached",
            "0 problem(s)",
        ],
    ),
    (
        case_leftover_of_a_killed_run,
        0,
        ["removed 1 leftover temporary folder(s) of interrupted runs from {b}/cache"],
    ),
    (
        case_partial_ljspeech,
        1,
        [
            "error: {t}/LJSpeech-1.1: 2 of the 3 wav files metadata.csv lists are missing "
            "from wavs/ (LJ002-0201.wav, LJ003-0001.wav)",
            "--check-data",
        ],
    ),
    (case_empty_metadata, 1, ["q3: unusable: {t}/LJSpeech-1.1/metadata.csv: empty"]),
    (
        case_octmnist_empty_arrays,
        1,
        ["q2: unusable: {t}/octmnist.npz: train_images or train_labels is empty"],
    ),
    (case_octmnist_not_a_zip, 1, ["q2: unusable: {t}/octmnist.npz: not a .npz file"]),
    (case_latex_not_installed, 1, ["error: latexmk is not installed"]),
    (
        case_push_to_a_folder_under_home_written_with_a_tilde,
        0,
        ["pushed to {t}/home/dl-results: 3 copied"],
    ),
    (case_build_dir_from_a_variable_in_quotes, 0, ["q1.numeric: cached"]),
    (
        case_pull_from_a_folder_that_does_not_exist,
        1,
        ["error: --pull {t}/dl-results: no such folder. Check the path"],
    ),
    (case_pull_from_a_file, 1, ["error: --pull {t}/dl-results.tar: is a file, not a folder"]),
    (
        case_pull_from_a_build_folder,
        1,
        [
            "error: --pull {b}: is a build folder, not a shared folder. Its "
            "results are in {b}/cache: use --pull {b}/cache"
        ],
    ),
    (
        case_pull_from_a_build_folder_without_results,
        1,
        [
            "error: --pull {b}: is a build folder, not a shared folder. It holds no results "
            "({b}/cache does not exist): give a folder written by --push"
        ],
    ),
    (case_pull_from_an_empty_folder, 1, ["error: --pull {t}/dl-results: holds no shared results"]),
    (
        case_push_under_a_missing_folder,
        1,
        ["error: --push {t}/no/such/dl-results: its parent folder {t}/no/such does not exist"],
    ),
    (
        case_pull_of_another_profiles_results,
        1,
        [
            "pulled from {b}/cache: 12 absent",
            "warning: {b}/cache holds nothing usable for this build",
            "  q1.numeric: 1 entry of other keys; the newest (",
            "; parameter changed: error.dimension (4 -> 16); ",
            ") differs: parameter changed: ",
            "  no entry at all of q2.data, q2.train,",
            "q1.symbolic: no result for key",
        ],
    ),
    (
        case_slurm_settings_without_slurm,
        2,
        ["--slurm sets #SBATCH options of Slurm jobs: add --executor slurm"],
    ),
    (
        case_a_file_where_an_entry_should_be,
        0,
        [
            "q1.numeric: running (damaged, will recompute: a file lies "
            "where the entry's folder should be"
        ],
    ),
    (
        case_section_with_a_syntax_error,
        1,
        ["error: unexpected SyntaxError: '(' was never closed", "at report/sections/q9.py:2"],
    ),
    (
        case_section_without_its_declaration,
        1,
        ["error: {p}/report/sections/q9.py: a section module defines SECTION = Section(...)"],
    ),
]
LATEX_CASES = {case_preamble_undefined_variable}
BEFORE_COMPUTING = {
    case_report_toml_missing,
    case_report_toml_malformed,
    case_report_toml_number_for_text,
    case_report_toml_name_latex_cannot_print,
    case_report_toml_missing_key,
    case_template_unclosed_block,
    case_template_bad_expression,
    case_partial_ljspeech,
    case_latex_not_installed,
    case_cuda_without_gpu,
    case_pull_from_a_folder_that_does_not_exist,
    case_pull_from_a_file,
    case_pull_from_a_build_folder,
    case_pull_from_a_build_folder_without_results,
    case_pull_from_an_empty_folder,
    case_push_under_a_missing_folder,
    case_pull_of_another_profiles_results,
    case_slurm_settings_without_slurm,
}


@pytest.mark.parametrize("prepare, status, expected", CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_a_bad_input_ends_in_a_message_naming_the_place(setup, tmp_path, prepare, status, expected):
    if prepare in LATEX_CASES and shutil.which("latexmk") is None:
        pytest.skip("latexmk is not installed")
    project, build_dir = setup
    args, env = prepare(project, build_dir, tmp_path)
    result = build(project, *args, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == status, output
    assert "Traceback" not in output
    for text in expected:
        assert text.format(p=project, b=build_dir, t=tmp_path) in output, output
    if prepare in BEFORE_COMPUTING:
        assert "running" not in output  # refused before any step ran
    assert not (project / "build").exists()  # nothing written outside the build folder
    assert not (project / "~").exists() and not (project / "$MY_BUILD").exists()


def test_debug_shows_the_traceback(setup, tmp_path):
    project, build_dir = setup
    args, _ = case_template_unclosed_block(project, build_dir, tmp_path)
    for env, flag in (({"BUILD_DEBUG": "1"}, []), ({}, ["--debug"])):
        result = build(project, *args, *flag, env=env)
        assert result.returncode == 1
        assert "Traceback" in result.stderr and "TemplateSyntaxError" in result.stderr


def test_a_recomputed_entry_is_trusted_again(setup):
    project, build_dir = setup
    (numeric_entry(build_dir) / "result.json").write_text("")
    build(project, "--section", "q1", "--check", "--build-dir", str(build_dir))
    again = build(project, "--explain", "--build-dir", str(build_dir))
    assert "q1.numeric: cached" in again.stdout and "damaged" not in again.stdout


# --- failures that cannot be caused from the command line ------------------------------------


def test_a_full_disk_is_named_as_such(tmp_path):
    with pytest.raises(OSError) as raised:
        with open("/dev/full", "w") as full:
            full.write("x" * 100_000)
    assert raised.value.errno == errno.ENOSPC
    message = errors.describe(raised.value, tmp_path)
    assert message.startswith(f"error: no space left on the disk holding {tmp_path}")
    assert "nothing half-written was kept" in message


def test_torch_reporting_a_full_disk_as_a_position_is_named_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(errors, "free_bytes", lambda folder: 3 * 2**20)
    message = errors.describe(
        RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 17344 vs 17232"),
        tmp_path,
    )
    assert message.startswith(f"error: no space left on the disk holding {tmp_path}")
    assert "only 3 MiB free" in message and "unexpected pos 17344 vs 17232" in message


def test_an_unexpected_error_names_the_project_line_and_the_debug_flag(tmp_path):
    try:
        json.loads("{")
    except ValueError as error:
        error.add_note("while computing q9.step (nothing of it was cached)")
        message = errors.describe(error, tmp_path)
    lines = message.splitlines()
    assert lines[0].startswith("error: unexpected JSONDecodeError: Expecting property name")
    raised = test_an_unexpected_error_names_the_project_line_and_the_debug_flag.__code__
    assert lines[1] == f"  at tests/test_failures.py:{raised.co_firstlineno + 2}"
    assert lines[2] == "  while computing q9.step (nothing of it was cached)"
    assert "--debug" in lines[3]


def test_a_write_that_fails_leaves_neither_the_file_nor_a_temporary_one(tmp_path):
    from compute.engine.files import write_atomic

    (tmp_path / "report.pdf").write_bytes(b"%PDF old")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "report.pdf", Path("/nonexistent/main.pdf"))
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]
    assert (tmp_path / "report.pdf").read_bytes() == b"%PDF old"


def test_an_octmnist_split_without_images_is_refused_by_the_loader(tmp_path):
    from compute.engine.step import DataError
    from compute.q2 import data

    arrays = dict(np.load(octmnist_file(tmp_path / "c.npz", train_size=3)))
    np.savez(
        tmp_path / "d.npz", **{k: (v[:0] if k.startswith("val") else v) for k, v in arrays.items()}
    )
    with pytest.raises(DataError, match="d.npz: val_images or val_labels is empty"):
        data.load_arrays(tmp_path / "d.npz")


def test_running_out_of_gpu_or_main_memory_is_named_as_such(tmp_path):
    import torch

    gpu = errors.describe(
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), tmp_path
    )
    assert gpu.startswith("error: the GPU ran out of memory. Use a GPU with more memory")
    ram = errors.describe(MemoryError(), tmp_path)
    assert ram.startswith("error: the machine ran out of memory (RAM)") and "--slurm mem=NGB" in ram
    assert "bug" not in gpu + ram


def test_a_path_through_a_file_is_named_with_the_path_to_check(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OSError) as raised:
        (tmp_path / "afile" / "octmnist.npz").read_bytes()
    message = errors.describe(raised.value, tmp_path)
    assert message.startswith(f"error: cannot use {tmp_path}/afile/octmnist.npz: not a directory")
    assert "bug" not in message


NAMES = [
    "Zoe\u0308 Ångström-Łukasiewicz",
    "José Nuñez & Hijos_50% {sic} ~ #1 $x$",
    "Maria da Conceição " + "Albuquerque-" * 6 + "Sousa",
]


@pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("latexmk") is None,
    reason="latexmk/pdftotext are not installed (make test installs them as root)",
)
def test_report_toml_as_people_write_it_renders_every_name_on_the_page(setup):
    """Names with accents, LaTeX's special characters and great length, in a file with a byte-order
    mark and Windows line endings (as some editors save it), all reach the title page."""
    project, build_dir = setup
    text = (project / "report.toml").read_text()
    for old, new in zip(("First Author", "Second Author", "Third Author"), NAMES):
        text = text.replace(old, new)
    (project / "report.toml").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    result = build(project, "--section", "q1", "--build-dir", str(build_dir))
    assert result.returncode == 0, result.stderr
    page = pdf_text(build_dir / "report.pdf", layout=False, pages=(1, 1))
    flat = "".join(page.split()).replace("-", "")
    for name in NAMES:
        # the e and its combining diaeresis print as one ë
        name = unicodedata.normalize("NFC", name)
        assert "".join(name.split()).replace("-", "") in flat, (name, page)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_a_title_page_that_printed_is_not_typeset_again(tmp_path, monkeypatch):
    """The trial typesetting before the computation runs once per set of title-page values: the
    build folder keeps the digest of the last one that printed."""
    from report import meta as title_page
    from report.render import make_environment

    runs = []
    real_trial = title_page._trial

    def counted(text, values, path):
        runs.append([value for _, _, value in values])
        return real_trial(text, values, path)

    monkeypatch.setattr(title_page, "_trial", counted)
    toml, memo = ROOT / "report.toml", tmp_path / "title-page.ok"
    meta = title_page.load_meta(toml)
    for _ in range(2):
        title_page.check_typesets(meta, toml, make_environment(), memo)
    assert len(runs) == 1 and memo.is_file()
    meta["authors"][1]["name"] = "王小明"
    with pytest.raises(errors.BuildError, match="cannot be printed"):
        title_page.check_typesets(meta, toml, make_environment(), memo)
    assert len(runs) == 2 and "王小明" in runs[1]
