"""Steps as jobs: local subprocesses and Slurm (a stand-in sbatch/srun on PATH), failures with the
step's own error and log, cancellation, and keys that agree across machines."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import compute.engine.keys as keys
import compute.engine.pipeline as pipeline
from compute.engine.devices import machine
from compute.engine.files import ROOT
from compute.engine.jobs import NO_SLURM, JobFailed, Jobs
from compute.engine.step import Resources, Step
from compute.engine.testing import fake_context
from compute.q3 import steps as q3_steps

STAND_IN = ROOT / "tests" / "slurm"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A throw-away package `jobproj` whose functions run as jobs (their processes import it)."""
    pkg = tmp_path / "jobproj"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "work.py").write_text(
        textwrap.dedent("""
        import os
        import time

        def double(ctx):
            (ctx.out / "pid.txt").write_text(str(os.getpid()))
            return {"value": ctx.params["x"] * 2, "pid": os.getpid()}

        def fail(ctx):
            raise ValueError(f"x = {ctx.params['x']} is not a number of clips")

        def die(ctx):
            os._exit(3)  # as a job killed for its memory would end: no result, no Python error

        def sleep(ctx):
            (ctx.params["flag"] and open(ctx.params["flag"], "w").write(str(os.getpid())))
            time.sleep(120)
            return {}
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(keys, "PROJECT_PACKAGES", ("jobproj",))
    for name in [m for m in sys.modules if m.startswith("jobproj")]:
        del sys.modules[name]
    import jobproj.work

    yield jobproj.work
    for name in [m for m in sys.modules if m.startswith("jobproj")]:
        del sys.modules[name]


def test_independent_steps_run_as_local_jobs_and_land_in_the_cache(project, tmp_path):
    build = tmp_path / "build"
    steps = [
        Step("t.a", project.double, params={"x": 2}),
        Step("t.b", project.double, params={"x": 5}),
    ]
    results = pipeline.Runner(build, jobs=Jobs("local", build, "cpu")).run_all(steps)
    assert results["t.a"].data["value"] == 4 and results["t.b"].data["value"] == 10
    assert results["t.a"].data["pid"] != os.getpid() != results["t.b"].data["pid"]
    assert results["t.a"].file("pid.txt").read_text() == str(results["t.a"].data["pid"])
    manifest = json.loads((results["t.a"].dir.parent / "manifest.json").read_text())
    assert manifest["device"] == "cpu" and manifest["machine"] == machine("cpu")  # for the appendix
    inline = pipeline.Runner(build)
    # the same keys: cached for an inline build
    assert [inline.plan(s).reason for s in steps] == [None, None]


def test_a_failed_job_names_the_step_its_own_error_and_the_log(project, tmp_path):
    build = tmp_path / "build"
    step = Step("t.fail", project.fail, params={"x": "ten"})
    with pytest.raises(JobFailed) as caught:
        pipeline.Runner(build, jobs=Jobs("local", build, "cpu")).run_all([step])
    message = str(caught.value)
    assert "t.fail failed (local job): ValueError: x = ten is not a number of clips" in message
    log = Path(re.search(r"\(log: (.+)\)", message).group(1))
    assert "Traceback" in log.read_text() and "ValueError" in log.read_text()
    assert [p.name for p in (build / "cache" / "t.fail").iterdir()] == []  # nothing half-stored


def test_a_job_that_dies_is_reported_with_its_log(project, tmp_path):
    build = tmp_path / "build"
    with pytest.raises(JobFailed) as caught:
        pipeline.Runner(build, jobs=Jobs("local", build, "cpu")).run_all(
            [Step("t.die", project.die)]
        )
    assert re.match(
        r"t.die failed \(local job\): job \d+ ended without a result \(state: [A-Z]+\) "
        r"\(log: .+_0_log.err\)$",
        str(caught.value),
    ), str(caught.value)
    assert Path(re.search(r"\(log: (.+)\)$", str(caught.value)).group(1)).exists()


def test_ctrl_c_cancels_the_running_jobs(project, tmp_path):
    flag = tmp_path / "job.pid"
    script = textwrap.dedent(f"""
        import signal, sys; sys.path[:0] = [{str(ROOT)!r}, {str(tmp_path)!r}]
        # also when started with SIGINT ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import compute.engine.keys as keys
        import compute.engine.pipeline as pipeline
        keys.PROJECT_PACKAGES = ("jobproj",)
        from compute.engine.jobs import Jobs
        from compute.engine.step import Step
        import jobproj.work
        build = __import__("pathlib").Path({str(tmp_path / "build")!r})
        step = Step("t.sleep", jobproj.work.sleep, params={{"flag": {str(flag)!r}}})
        pipeline.Runner(build, jobs=Jobs("local", build, "cpu")).run_all([step])
    """)
    build = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not flag.exists() or not flag.read_text():
        assert time.monotonic() < deadline and build.poll() is None, build.stderr.read()
        time.sleep(0.2)
    job_pid = int(flag.read_text())
    build.send_signal(signal.SIGINT)
    err = build.communicate(timeout=60)[1]
    assert build.returncode != 0
    assert re.search(r"t.sleep: cancelled job \d+", err)
    deadline = time.monotonic() + 30
    while _alive(job_pid):
        assert time.monotonic() < deadline, "the job's process still runs after Ctrl-C"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = (
        Path(f"/proc/{pid}/stat").read_text().split()[2]
        if Path(f"/proc/{pid}/stat").exists()
        else "X"
    )
    return status != "Z"


def stand_in_slurm(monkeypatch, tmp_path, run: bool) -> Path:
    log = tmp_path / "slurm"
    monkeypatch.setenv("PATH", f"{STAND_IN}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_LOG", str(log))
    monkeypatch.setenv("FAKE_SLURM_RUN", "1" if run else "0")
    return log


def test_the_slurm_job_script_asks_for_the_q3_training_resources_and_a_gpu(
    project, tmp_path, monkeypatch
):
    log = stand_in_slurm(monkeypatch, tmp_path, run=False)
    (train,) = [s for s in q3_steps.steps("smoke", {}) if s.name == "q3.train"]
    assert train.resources == Resources(cpus=4, memory_gb=32, hours=12)
    jobs = Jobs("slurm", tmp_path / "build", "cuda", {"partition": "gpu", "account": "dl2324"})
    submitted = jobs.submit(train, fake_context(tmp_path))
    (script,) = log.glob("job-*.sh")
    text = script.read_text()
    for line in (
        "#SBATCH --job-name=q3.train",
        "#SBATCH --time=720",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=32GB",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=dl2324",
        f"cd {ROOT}",
    ):
        assert line in text.splitlines(), (line, text)
    assert f"{sys.executable} -u -m submitit.core._submit" in text
    submitted.cancel(check=False)
    assert (log / "cancelled").read_text().split() == [submitted.job_id]


def test_a_step_that_does_not_use_the_device_gets_no_gpu(project, tmp_path, monkeypatch):
    log = stand_in_slurm(monkeypatch, tmp_path, run=False)
    (features,) = [s for s in q3_steps.steps("smoke", {}) if s.name == "q3.features"]
    Jobs("slurm", tmp_path / "build", "cuda").submit(features, fake_context(tmp_path)).cancel(
        check=False
    )
    text = next(log.glob("job-*.sh")).read_text()
    assert "#SBATCH --mem=16GB" in text and "#SBATCH --time=180" in text
    assert "gpus" not in text and "gres" not in text


def test_steps_run_as_jobs_of_a_stand_in_slurm(project, tmp_path, monkeypatch):
    log = stand_in_slurm(monkeypatch, tmp_path, run=True)
    build = tmp_path / "build"
    steps = [
        Step("t.a", project.double, params={"x": 3}, resources=Resources(memory_gb=2, hours=0.5)),
        Step("t.b", project.double, params={"x": 4}, needs=("t.a",)),
    ]
    results = pipeline.Runner(build, jobs=Jobs("slurm", build, "cpu")).run_all(steps)
    assert results["t.a"].data["value"] == 6 and results["t.b"].data["value"] == 8
    scripts = sorted(log.glob("job-*.sh"), key=lambda p: p.stat().st_mtime)
    assert len(scripts) == 2
    assert (
        "#SBATCH --mem=2GB" in scripts[0].read_text()
        and "#SBATCH --time=30" in scripts[0].read_text()
    )


def test_slurm_on_a_machine_without_it_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(JobFailed, match="this machine has no Slurm"):
        Jobs("slurm", tmp_path, "cpu")
    command = [sys.executable, str(ROOT / "build.py"), "--profile", "smoke", "--section", "q1"]
    command += ["--executor", "slurm", "--build-dir", str(tmp_path / "build")]
    without_slurm = {**os.environ, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, timeout=300, env=without_slurm
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {NO_SLURM}"


REFUSED = (
    "sbatch: error: Batch job submission failed: Invalid account or account/partition combination "
    "specified"
)


def test_a_job_slurm_refuses_is_reported_in_slurms_words_with_the_setting_to_change(
    project, tmp_path, monkeypatch
):
    stand_in_slurm(monkeypatch, tmp_path, run=False)
    monkeypatch.setenv("FAKE_SLURM_REFUSE", REFUSED)
    step = Step("t.a", project.double, params={"x": 3})
    with pytest.raises(JobFailed) as failed:
        Jobs("slurm", tmp_path / "build", "cpu", {"account": "nosuch"}).submit(
            step, fake_context(tmp_path)
        )
    assert str(failed.value).startswith(
        f't.a: sbatch refused the job: "{REFUSED}". Change the #SBATCH setting '
        f"it names with --slurm KEY=VALUE (account=, partition=, ...)"
    )


def test_sbatch_without_srun_is_a_clear_error(project, tmp_path, monkeypatch):
    only_sbatch = tmp_path / "bin"
    only_sbatch.mkdir()
    (only_sbatch / "sbatch").symlink_to(STAND_IN / "sbatch")
    monkeypatch.setenv("PATH", f"{only_sbatch}:/usr/bin:/bin")
    with pytest.raises(JobFailed, match="sbatch is on PATH but srun is not"):
        Jobs("slurm", tmp_path / "build", "cpu").submit(
            Step("t.a", project.double), fake_context(tmp_path)
        )


class EndedJob:
    """What submitit hands back for a job the scheduler ended: an id and a failing result()."""

    job_id = "4242"

    def __init__(self, state: str):
        self.state = state

    def result(self):
        raise RuntimeError(f"Job 4242 (task: 0) has not produced any output (state: {self.state})")


# what Slurm writes to the log of a job that ran past its time limit
TIME_LIMIT_SAID = (
    "slurmstepd: error: *** JOB 4242 ON node7 CANCELLED AT 2026-12-03T10:00:00 "
    "DUE TO TIME LIMIT ***"
)


@pytest.mark.parametrize(
    "state, said, fix",
    [
        (
            "TIMEOUT",
            TIME_LIMIT_SAID,
            "raise the step's time limit: --slurm time=MINUTES (it asked for 720 min), or "
            "Resources(hours=...) in compute/q3/steps.py",
        ),
        (
            "OUT_OF_MEMORY",
            "slurmstepd: error: Detected 1 oom_kill event in StepId=4242.0. Some of the step tasks "
            "have been OOM Killed.",
            "ask for more memory: --slurm mem=NGB (it asked for 32GB)",
        ),
        (
            "UNKNOWN",
            TIME_LIMIT_SAID,
            "raise the step's time limit",
        ),
    ],
)
def test_a_job_the_scheduler_ended_is_reported_with_its_reason_log_and_setting(
    tmp_path, monkeypatch, state, said, fix
):
    stand_in_slurm(monkeypatch, tmp_path, run=False)
    (train,) = [s for s in q3_steps.steps("smoke", {}) if s.name == "q3.train"]
    log = tmp_path / "4242_0_log.out"
    log.write_text(f"q3.train: epoch 3 of 12\n{said}\n")
    job = EndedJob(state)
    with pytest.raises(RuntimeError) as error:
        job.result()
    message = Jobs("slurm", tmp_path, "cuda").ended(train, job, str(error.value), log)
    shown = "TIMEOUT" if state == "UNKNOWN" else state
    assert message.startswith(
        f'job 4242 ended without a result (Slurm state: {shown}; the log says: "{said}")'
    )
    assert fix in message


# --- keys that mean the same computation on every machine ---------------------------------------


def test_local_build_labels_do_not_change_a_key_and_releases_do(project, tmp_path, monkeypatch):
    step = Step("t.a", project.double, params={"x": 1}, libraries=("torch",))
    found = {}
    for version in ("2.11.0+cu130", "2.11.0+cpu", "2.11.0", "2.12.0+cpu"):
        monkeypatch.setattr(keys, "library_version", lambda name, v=version: v)
        found[version] = pipeline.Runner(tmp_path / "build").plan(step).key
    assert found["2.11.0+cu130"] == found["2.11.0+cpu"] == found["2.11.0"] != found["2.12.0+cpu"]


def test_the_device_class_is_in_the_key_of_a_step_that_uses_the_device(project, tmp_path):
    trains = Step("t.train", project.double, params={"x": 1}, uses_device=True)
    counts = Step("t.count", project.double, params={"x": 1})
    key = {
        (s.name, d): pipeline.Runner(tmp_path / "build", device=d).plan(s).key
        for s in (trains, counts)
        for d in ("cpu", "cuda")
    }
    assert key[("t.train", "cpu")] != key[("t.train", "cuda")]  # a GPU training gives other numbers
    assert key[("t.count", "cpu")] == key[("t.count", "cuda")]


def test_the_same_data_in_another_folder_has_the_same_key(project, tmp_path):
    found = []
    for place in ("laptop/data", "cluster/home/me/LJSpeech-1.1"):
        root = tmp_path / place
        (root / "wavs").mkdir(parents=True)
        (root / "metadata.csv").write_text("LJ001|text|text\n")
        (root / "wavs" / "LJ001.wav").write_bytes(b"RIFF")
        files = (root / "metadata.csv", root / "wavs" / "LJ001.wav")
        step = Step(
            "t.features",
            project.double,
            params={"x": 1, "root": str(root)},
            input_files=files,
            locations=("root",),
        )
        found.append(pipeline.Runner(tmp_path / place / "build").plan(step).key)
    assert found[0] == found[1]
    (root / "wavs" / "LJ001.wav").write_bytes(b"RIFF, other audio")
    assert pipeline.Runner(tmp_path / "other").plan(step).key != found[1]


def test_frozen_computes_nothing_and_names_the_step_and_key(project, tmp_path):
    runner = pipeline.Runner(tmp_path / "build", frozen=True)
    step = Step("t.a", project.double, params={"x": 1})
    with pytest.raises(pipeline.MissingResult) as caught:
        runner.run_all([step])
    key = runner.plan(step).key
    assert caught.value.step == "t.a" and caught.value.key == key
    assert str(caught.value) == (
        f"t.a: no result for key {key} (never computed); --frozen computes nothing. "
        f"Compute it with: python build.py --section t --device cpu, or bring it "
        f"here with --pull DIR"
    )
    assert not (tmp_path / "build" / "cache" / "t.a").exists()
