"""Progress of long steps: a line at least every interval, in terminals and plain logs alike, with
the time left for the whole step (every kind of work counted)."""

import subprocess
import sys
import time

import pytest

from compute.engine import progress
from compute.engine.errors import BuildError
from compute.engine.files import ROOT
from compute.engine.progress import Reporter, Tracker, duration
from compute.engine.step import checkpoint_interval


def test_a_line_comes_every_interval_also_while_one_long_item_runs():
    stamps = []
    work = {"training batches": (3, 1.0)}
    with Tracker(lambda line: stamps.append((time.monotonic(), line)), work, every=0.2) as tracker:
        began = time.monotonic()
        time.sleep(1.1)  # one batch longer than five intervals
        tracker.step("training batches")
        time.sleep(0.5)
    gaps = [b - a for (a, _), (b, _) in zip([(began, "")] + stamps, stamps)]
    assert len(stamps) >= 6 and max(gaps) < 0.45
    assert "time left known after the first item" in stamps[0][1]
    assert "about 2 s left for the whole step" in stamps[-1][1]  # 2 batches left at about 1.1 s


def test_the_time_left_covers_every_kind_of_work_and_guesses_an_untimed_kind_from_the_timed(
    monkeypatch,
):
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    tracker = Tracker(
        print,
        {"training batches": (10, 1.0), "validation batches": (4, 0.5), "test batches": (2, 0.5)},
        every=30,
    )
    tracker.skip("training batches", 4)  # restored from a checkpoint: counted, not timed
    for _ in range(2):
        clock[0] += 3.0
        tracker.step("training batches")
    assert tracker.left() == (4 * 3.0 + (4 + 2) * 0.5 * 3.0, ["validation batches", "test batches"])
    clock[0] += 1.0
    tracker.step("validation batches")
    # a guessed kind: its weight times the seconds per unit of weight of the kinds timed so far
    per_weight = (2 * 3.0 + 1.0) / (2 * 1.0 + 1 * 0.5)
    assert tracker.left() == (
        pytest.approx(4 * 3.0 + 3 * 1.0 + 2 * 0.5 * per_weight),
        ["test batches"],
    )
    assert tracker.line().endswith("s left for the whole step (test batches guessed until timed)")


def test_plain_logs_get_the_lines_with_the_time_left(tmp_path):
    script = (
        "import time; from compute.engine.progress import Reporter\n"
        "for _ in Reporter().progress('q9.slow', range(4), desc='clips'): time.sleep(0.3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"BUILD_PROGRESS_SECONDS": "0.25", "PATH": ""},
        timeout=60,
    )
    lines = result.stderr.splitlines()
    assert len(lines) >= 3, result.stderr
    assert lines[-1].startswith("  q9.slow: clips ") and "left for the whole step" in lines[-1]


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_bad_progress_interval_is_a_one_line_error(monkeypatch, value):
    monkeypatch.setenv("BUILD_PROGRESS_SECONDS", value)
    with pytest.raises(
        BuildError, match=f"BUILD_PROGRESS_SECONDS='{value}': give the seconds between"
    ):
        Reporter()


@pytest.mark.parametrize("value, seconds", [("", 600.0), ("0", 0.0), ("2.5", 150.0)])
def test_the_checkpoint_interval_is_read_in_minutes(monkeypatch, value, seconds):
    monkeypatch.setenv("BUILD_CHECKPOINT_MINUTES", value)
    assert checkpoint_interval() == seconds


@pytest.mark.parametrize("value", ["often", "-1"])
def test_a_bad_checkpoint_interval_is_a_one_line_error(monkeypatch, value):
    monkeypatch.setenv("BUILD_CHECKPOINT_MINUTES", value)
    with pytest.raises(
        BuildError, match=f"BUILD_CHECKPOINT_MINUTES='{value}': give the minutes between"
    ):
        checkpoint_interval()


@pytest.mark.parametrize(
    "seconds, text", [(44.6, "45 s"), (390, "6 min 30 s"), (59_400, "16 h 30 min")]
)
def test_durations_read_as_words(seconds, text):
    assert duration(seconds) == text
