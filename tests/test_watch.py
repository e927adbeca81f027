"""--watch: rebuilds on every saved source, restarts on code changes, reports errors and goes on."""

import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from compute.engine.testing import lines_of, pdf_text, save, wait_for
from report import watch

needs_latex = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="latexmk/pdftotext are not installed (make test installs them as root)",
)


class Enough(Exception):
    pass


def test_a_saved_template_rebuilds_in_process_and_saved_code_restarts(tmp_path):
    for name in (
        "templates/q1.tex.j2",
        "compute/q1/steps.py",
        "report/x.py",
        "report.toml",
        "notes.txt",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("first")
    builds, restarts = [], []

    def build_once():
        builds.append(time.monotonic())
        if len(builds) == 4:
            raise Enough
        return 0 if len(builds) != 2 else 1  # a failed build does not stop the watch

    def edits():
        for name, expected in (
            ("templates/q1.tex.j2", 2),
            ("notes.txt", None),
            ("report.toml", 3),
            ("compute/q1/steps.py", 4),
        ):
            while expected and len(builds) < expected - 1:
                time.sleep(0.01)
            save(tmp_path / name, "second")

    editor = threading.Thread(target=edits)
    editor.start()
    with pytest.raises(Enough):
        watch.watch(
            build_once, tmp_path, interval=0.02, on_code_change=lambda: restarts.append(len(builds))
        )
    editor.join()
    assert len(builds) == 4 and restarts == [3]  # only the Python file restarted the process


@needs_latex
def test_watch_builds_reports_errors_with_their_line_and_keeps_watching(project_copy, tmp_path):
    template = project_copy / "templates" / "q1.tex.j2"
    pdf = tmp_path / "build" / "report.pdf"
    process = subprocess.Popen(
        [
            sys.executable,
            "-u",
            str(project_copy / "build.py"),
            "--watch",
            "--profile",
            "smoke",
            "--section",
            "q1",
            "--build-dir",
            str(tmp_path / "build"),
        ],
        cwd=project_copy,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines = lines_of(process)
    try:
        wait_for(lines, "watch: built")
        text = template.read_text()
        save(template, text + "\nA sentence written while watching.\n")
        rebuilt = wait_for(lines, "watch: built")
        assert not any("running" in line for line in rebuilt)
        assert "A sentence written while watching." in pdf_text(pdf, layout=False)
        save(template, text + "\n\\VAR{no_such_variable}\n")
        failed = wait_for(lines, "watch: failed")
        line = len(text.splitlines()) + 2
        assert any(
            f"templates/q1.tex.j2:{line}" in s and "no_such_variable" in s for s in failed
        ), failed
        save(template, text)
        wait_for(lines, "watch: built")
        figures = project_copy / "compute" / "q1" / "figures.py"
        save(figures, figures.read_text() + "\n\ndef _a_new_style():\n    return 1\n")
        restarted = wait_for(lines, "watch: built")
        assert any(
            "q1.figures: running (code changed in compute/q1/figures.py)" in s for s in restarted
        )
        assert any("q1.numeric: cached" in s for s in restarted)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0
