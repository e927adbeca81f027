"""The step cache: keys, reruns with reasons, atomic writes, failures never cached."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import compute.engine.cache as cache
import compute.engine.files as files
import compute.engine.keys as keys
import compute.engine.pipeline as pipeline
from compute.engine.cache import Cache
from compute.engine.step import DataError, Step


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A throw-away project package `fakeproj` whose modules the cache key must follow."""
    pkg = tmp_path / "fakeproj"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "scaling.py").write_text("def scale():\n    return 2\n")
    (pkg / "work.py").write_text(
        textwrap.dedent('''
        """Doubles a number."""
        from fakeproj import scaling

        CALLS = []

        def run(ctx):
            CALLS.append(1)
            (ctx.out / "note.txt").write_text("hi")
            return {"value": ctx.params["x"] * scaling.scale()}

        def fail(ctx):
            (ctx.out / "partial.txt").write_text("half")
            raise RuntimeError("boom")

        def where(ctx):
            return {"value": ctx.params["x"], "device": ctx.device}
    ''')
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(keys, "PROJECT_PACKAGES", ("fakeproj",))
    for name in [m for m in sys.modules if m.startswith("fakeproj")]:
        del sys.modules[name]
    import fakeproj.work

    yield pkg, fakeproj.work
    for name in [m for m in sys.modules if m.startswith("fakeproj")]:
        del sys.modules[name]


def test_code_files_follow_project_imports_transitively(project):
    pkg, _ = project
    names = {p.name for p in keys.code_files("fakeproj.work")}
    assert names == {"work.py", "scaling.py", "__init__.py"}


def test_docstrings_and_comments_do_not_change_the_normalised_source(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text('"""Doc."""\nx = 1  # one\n')
    b.write_text("x = 1\n")
    assert keys.normalised_source(a) == keys.normalised_source(b)
    b.write_text("x = 2\n")
    assert keys.normalised_source(a) != keys.normalised_source(b)


def test_second_run_is_cached_and_runs_nothing(project, tmp_path):
    _, work = project
    step = Step("t.double", work.run, params={"x": 3})
    first = pipeline.Runner(tmp_path / "build").run(step, {})
    second = pipeline.Runner(tmp_path / "build").run(step, {})
    assert first.data == second.data == {"value": 6}
    assert len(work.CALLS) == 1
    assert second.file("note.txt").read_text() == "hi"


def test_editing_an_imported_module_reruns_and_names_the_file(project, tmp_path):
    pkg, work = project
    step = Step("t.double", work.run, params={"x": 3})
    pipeline.Runner(tmp_path / "build").run(step, {})
    (pkg / "scaling.py").write_text("def scale():\n    return 3\n")
    reason = pipeline.Runner(tmp_path / "build").plan(step).reason
    assert reason.startswith("code changed in") and "scaling.py" in reason


def test_a_parameter_change_is_explained_with_both_values(project, tmp_path):
    _, work = project
    pipeline.Runner(tmp_path / "build").run(Step("t.double", work.run, params={"x": 3}), {})
    reason = (
        pipeline.Runner(tmp_path / "build").plan(Step("t.double", work.run, params={"x": 4})).reason
    )
    assert reason == "parameter changed: x (3 -> 4)"


def test_a_nested_parameter_change_is_explained_by_its_dotted_name(project, tmp_path):
    _, work = project
    params = {"x": 3, "timing": {"repeats": 3, "lengths": [16, 32]}, "error": {}}
    pipeline.Runner(tmp_path / "build").run(Step("t.double", work.run, params=params), {})
    changed = {**params, "timing": {"repeats": 5, "lengths": [16, 32]}}
    reason = pipeline.Runner(tmp_path / "build").plan(Step("t.double", work.run, params=changed))
    assert reason.reason == "parameter changed: timing.repeats (3 -> 5)"


def test_a_failed_step_leaves_no_cache_entry(project, tmp_path):
    _, work = project
    runner = pipeline.Runner(tmp_path / "build")
    step = Step("t.fail", work.fail)
    with pytest.raises(RuntimeError):
        runner.run(step, {})
    planned = runner.plan(step)
    key, reason = planned.key, planned.reason
    assert reason == "never computed"
    assert not (tmp_path / "build" / "cache" / "t.fail" / key).exists()
    assert list((tmp_path / "build" / "cache" / "t.fail").iterdir()) == []


def test_upstream_key_is_part_of_the_downstream_key(project, tmp_path):
    _, work = project
    up = Step("t.up", work.run, params={"x": 1})
    down = Step("t.down", work.run, params={"x": 1}, needs=("t.up",))
    runner = pipeline.Runner(tmp_path / "build")
    runner.run_all([up, down])
    up2 = Step("t.up", work.run, params={"x": 2})
    runner2 = pipeline.Runner(tmp_path / "build")
    runner2.plan(up2)
    reason = runner2.plan(down).reason
    assert reason.startswith("upstream result changed: t.up")


def test_input_file_digest_is_part_of_the_key(project, tmp_path):
    _, work = project
    data = tmp_path / "data.bin"
    data.write_bytes(b"one")
    step = Step("t.input", work.run, params={"x": 1}, input_files=(data,))
    pipeline.Runner(tmp_path / "build").run(step, {})
    data.write_bytes(b"two, longer")
    reason = pipeline.Runner(tmp_path / "build").plan(step).reason
    assert reason == "input changed: data.bin"  # named within its folder: the same on every machine


def test_two_builds_in_one_folder_run_one_after_the_other(tmp_path, capsys):
    import threading
    import time

    events = []

    def first():
        with pipeline.build_lock(tmp_path):
            events.append("first in")
            time.sleep(0.5)
            events.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    while not events:
        time.sleep(0.01)
    with pipeline.build_lock(tmp_path):
        events.append("second in")
    thread.join()
    assert events == ["first in", "first out", "second in"]
    assert "another build is running" in capsys.readouterr().err


def _damage_result(entry):
    (entry / "result.json").write_text('{"value": 6')  # truncated


def _empty_result(entry):
    (entry / "result.json").write_text("")


def _garbage_manifest(entry):
    (entry / "manifest.json").write_bytes(b"\x00\x13garbage")


def _changed_file(entry):
    (entry / "files" / "note.txt").write_text("edited by hand")


def _deleted_file(entry):
    (entry / "files" / "note.txt").unlink()


def _result_edited_to_valid_json(entry):
    (entry / "result.json").write_text('{"value": 7}')


def _older_entry_without_digests(entry):
    manifest = json.loads((entry / "manifest.json").read_text())
    del manifest["digests"]
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _manifest_of_another_key(entry):
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["key"] = "0123456789abcdef"  # an entry of another computation, filed under this key
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _components_edited(entry):
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["components"]["params"]["x"] = 4  # relabelled as another computation: its key stays
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _a_file_in_its_place(entry):
    shutil.rmtree(entry)
    entry.write_text("not an entry")


@pytest.mark.parametrize(
    "damage, named",
    [
        (
            _manifest_of_another_key,
            "its manifest describes t.double [0123456789abcdef], not t.double [",
        ),
        (_components_edited, "the key computed from its manifest's components is not "),
        (_a_file_in_its_place, "a file lies where the entry's folder should be"),
        (_damage_result, "result.json differs"),
        (_empty_result, "result.json differs"),
        (_garbage_manifest, "manifest.json is missing or not valid JSON"),
        (_changed_file, "files/note.txt differs"),
        (_deleted_file, "files/note.txt is missing"),
        (_result_edited_to_valid_json, "result.json differs"),
        (_older_entry_without_digests, "manifest.json records no file digests"),
    ],
)
def test_a_damaged_entry_is_explained_then_recomputed(project, tmp_path, capsys, damage, named):
    _, work = project
    step = Step("t.double", work.run, params={"x": 3})
    pipeline.Runner(tmp_path / "build").run(step, {})
    (entry,) = (tmp_path / "build" / "cache" / "t.double").glob("*/manifest.json")
    damage(entry.parent)
    assert (entry.parent.parent / "latest.json").exists()
    reason = pipeline.Runner(tmp_path / "build").plan(step).reason
    assert reason.startswith("damaged, will recompute: " + named)
    assert pipeline.Runner(tmp_path / "build").cached(step) is None
    capsys.readouterr()
    result = pipeline.Runner(tmp_path / "build").run(step, {})
    assert f"t.double: running (damaged, will recompute: {named}" in capsys.readouterr().err
    assert result.data == {"value": 6} and result.file("note.txt").read_text() == "hi"
    assert len(work.CALLS) == 2
    reason = pipeline.Runner(tmp_path / "build").plan(step).reason
    assert reason is None


def test_the_manifest_records_the_digest_of_every_file(project, tmp_path):
    _, work = project
    result = pipeline.Runner(tmp_path / "build").run(
        Step("t.double", work.run, params={"x": 3}), {}
    )
    manifest = json.loads((result.dir.parent / "manifest.json").read_text())
    assert manifest["digests"] == {
        "result.json": hashlib.sha256((result.dir.parent / "result.json").read_bytes()).hexdigest(),
        "files/note.txt": hashlib.sha256(b"hi").hexdigest(),
    }


def test_a_computed_step_has_each_file_read_once_for_its_digest(project, tmp_path, monkeypatch):
    """Storing digests each file of the entry; checking the stored entry, and the next build's
    check of it, find those digests remembered and read nothing again."""
    _, work = project
    read: list[str] = []

    def counted(path, *args, **kwargs):
        read.append(Path(path).name)
        return real(path, *args, **kwargs)

    real = files.file_digest
    monkeypatch.setattr(files, "file_digest", counted)
    monkeypatch.setattr(cache, "file_digest", counted)
    step = Step("t.double", work.run, params={"x": 3})
    pipeline.Runner(tmp_path / "build").run(step, {})
    assert sorted(read) == ["note.txt", "result.json"]
    again = pipeline.Runner(tmp_path / "build").run(step, {})
    assert again.data == {"value": 6} and len(work.CALLS) == 1
    assert sorted(read) == ["note.txt", "result.json"]


def test_leftovers_of_killed_runs_are_removed_and_live_ones_kept(tmp_path, capsys):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    step_dir = tmp_path / "build" / "cache" / "t.double"
    (step_dir / f".tmp-0123456789abcdef-{dead}" / "files").mkdir(parents=True)
    (step_dir / f".latest.json.{dead}.tmp").write_text("{")
    live = step_dir / f".tmp-0123456789abcdef-{os.getpid()}"
    live.mkdir()
    pipeline.Runner(tmp_path / "build")
    assert sorted(p.name for p in step_dir.iterdir()) == [live.name]
    assert "removed 2 leftover temporary folder(s) of interrupted runs" in capsys.readouterr().err


def test_input_digests_are_remembered_inside_the_build_folder(project, tmp_path):
    _, work = project
    data = tmp_path / "data.bin"
    data.write_bytes(b"one")
    pipeline.Runner(tmp_path / "build").run(
        Step("t.input", work.run, params={"x": 1}, input_files=(data,)), {}
    )
    table = json.loads((tmp_path / "build" / "digests.json").read_text())
    assert hashlib.sha256(b"one").hexdigest() in table.values()


def test_a_missing_input_file_is_a_data_error_naming_it(project, tmp_path):
    _, work = project
    step = Step(
        "t.input", work.run, params={"x": 1}, input_files=(tmp_path / "wavs" / "LJ002-0201.wav",)
    )
    with pytest.raises(
        DataError, match=r"wavs/LJ002-0201.wav: input file of t.input is missing.*--check-data"
    ):
        pipeline.Runner(tmp_path / "build").plan(step)


def test_a_program_version_is_part_of_the_key_and_explained(project, tmp_path, monkeypatch):
    """The offline corpus depends on the installed espeak-ng: a new version recomputes it."""
    _, work = project
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "speaker"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    step = Step("t.double", work.run, params={"x": 3}, programs=("speaker",))
    fake.write_text("#!/bin/sh\necho 'Speaker 1.51  Data at: /usr/share/speaker'\n")
    fake.chmod(0o755)
    pipeline.Runner(tmp_path / "build").run(step, {})
    planned = pipeline.Runner(tmp_path / "build").plan(step)
    components, reason = planned.components, planned.reason
    assert reason is None and components["programs"] == {"speaker": "Speaker 1.51"}
    fake.write_text("#!/bin/sh\necho 'Speaker 1.52  Data at: /usr/share/speaker'\n")
    reason = pipeline.Runner(tmp_path / "build").plan(step).reason
    assert reason == "program version changed: speaker (Speaker 1.51 -> Speaker 1.52)"
    assert keys.program_version("no-such-program-here") == "absent"


def test_the_manifest_names_the_machine_that_computed_the_step(project, tmp_path):
    import torch

    _, work = project
    step = Step("t.double", work.run, params={"x": 3})
    runner = pipeline.Runner(tmp_path / "build")
    runner.run(step, {})
    machine = runner.outcomes["t.double"].machine
    assert machine.endswith(f"({torch.backends.cpu.get_cpu_capability()})") and len(machine) > 10
    again = pipeline.Runner(tmp_path / "build")
    again.run(step, {})
    assert again.outcomes["t.double"].cached and again.outcomes["t.double"].machine == machine


def test_a_stray_file_in_place_of_a_step_folder_is_replaced_by_the_result(project, tmp_path):
    _, work = project
    (tmp_path / "build" / "cache").mkdir(parents=True)
    (tmp_path / "build" / "cache" / "t.double").write_text("left here by hand")
    result = pipeline.Runner(tmp_path / "build").run(
        Step("t.double", work.run, params={"x": 3}), {}
    )
    assert result.data == {"value": 6}


# --- shared folders: an entry is used only under the key it proves it belongs to ---------------

PROFILES = {"smoke": 1, "quick": 2}  # the setting that differs between the stand-in profiles


def _planned(work, profile: str, device: str) -> tuple[Step, str]:
    step = Step("t.where", work.where, params={"x": PROFILES[profile]}, uses_device=True)
    return step, pipeline.Runner(Path("/nonexistent"), device=device).plan(step).key


def _shuffled(shared: Path, entries: dict, how: str) -> None:
    """Files every entry of the shared folder under the key of the next one, as a person copying
    results by hand might: the folder renamed, also its manifest's key rewritten, or only its
    result.json copied into the other entry."""
    names = list(entries)
    contents = {name: shared / "t.where" / f".saved-{entries[name]}" for name in names}
    for name in names:
        shutil.copytree(shared / "t.where" / entries[name], contents[name])
    for source, target in zip(names, names[1:] + names[:1]):
        place = shared / "t.where" / entries[target]
        # the target's manifest stays, the source's results come in
        if how == "results copied over":
            shutil.copyfile(contents[source] / "result.json", place / "result.json")
            continue
        shutil.rmtree(place)
        shutil.copytree(contents[source], place)
        if how == "manifest key rewritten":
            manifest = json.loads((place / "manifest.json").read_text())
            manifest["key"] = entries[target]
            (place / "manifest.json").write_text(json.dumps(manifest))
    for path in contents.values():
        shutil.rmtree(path)


@pytest.mark.parametrize("how", ["renamed", "manifest key rewritten", "results copied over"])
def test_entries_copied_between_keys_profiles_and_devices_are_never_used(
    project, tmp_path, monkeypatch, how
):
    _, work = project
    monkeypatch.setattr(
        pipeline, "device_kind", lambda device: "cuda:Stand-in GPU" if device == "cuda" else "cpu"
    )
    monkeypatch.setattr(pipeline, "machine", lambda device: device_kind_stand_in(device))
    shared = Cache(tmp_path / "shared")
    entries = {}
    for profile in PROFILES:
        for device in ("cpu", "cuda"):
            step, key = _planned(work, profile, device)
            runner = pipeline.Runner(tmp_path / f"cluster-{profile}-{device}", device=device)
            runner.run(step, {})
            assert shared.receive("t.where", key, runner.cache.entry("t.where", key)) is None
            entries[(profile, device)] = key
    assert len(set(entries.values())) == 4
    step, key = _planned(work, "quick", "cuda")
    honest = pipeline.Runner(tmp_path / "honest-laptop", device="cuda", frozen=True)
    assert honest.cache.receive("t.where", key, shared.entry("t.where", key)) is None
    assert honest.cached(step).data == {"value": 2, "device": "cuda"}  # unshuffled entries are used
    _shuffled(shared.root, {n: k for n, k in entries.items()}, how)
    for (profile, device), key in entries.items():
        step, _ = _planned(work, profile, device)
        laptop = pipeline.Runner(
            tmp_path / f"laptop-{profile}-{device}", device=device, frozen=True
        )
        refused = laptop.cache.receive("t.where", key, shared.entry("t.where", key))
        assert refused is not None  # every entry lies under another computation's key
        assert laptop.cached(step) is None
        with pytest.raises(pipeline.MissingResult):
            laptop.run(step, {})


def device_kind_stand_in(device: str) -> str:
    return "Stand-in GPU" if device == "cuda" else "stand-in CPU"


def test_a_figure_step_is_drawn_again_when_its_upstream_is_recomputed_with_other_numbers(
    project, tmp_path
):
    """A measurement recomputed under the same key (here: a damaged manifest) gives other numbers;
    the figure step drawn from the old ones must not stay cached, while the same numbers keep it."""
    pkg, work = project
    (pkg / "timing.py").write_text(
        "import time\n\ndef run(ctx):\n    return {'seconds': time.perf_counter()}\n"
        "\ndef draw(ctx):\n    return {'drawn': ctx.needed['t.numeric'].data['seconds']}\n"
    )
    import fakeproj.timing as timing

    steps = [
        Step("t.numeric", timing.run),
        Step("t.figures", timing.draw, needs=("t.numeric",), presents=True),
    ]
    build = tmp_path / "build"
    drawn = pipeline.Runner(build).run_all(steps)["t.figures"].data["drawn"]
    runner = pipeline.Runner(build)
    assert [runner.plan(s).reason for s in steps] == [None, None]
    (build / "cache" / "t.numeric" / runner.keys["t.numeric"] / "manifest.json").write_text(
        "garbage"
    )
    again = pipeline.Runner(build).run_all(steps)
    assert again["t.figures"].data["drawn"] == again["t.numeric"].data["seconds"] != drawn
    runner = pipeline.Runner(build)
    assert [runner.plan(s).reason for s in steps] == [None, None]
