"""The Q2 section's steps: what each profile declares."""

import pytest

from compute.engine.step import DataError
from compute.engine.testing import fake_context
from compute.q2 import cost, fetch, steps

OPTIONS = {"octmnist": None, "ljspeech": None, "device": "cpu"}


def test_offline_profiles_generate_their_data_and_need_no_file():
    for profile in ("quick", "smoke"):
        declared = {s.name: s for s in steps.steps(profile, OPTIONS)}
        assert list(declared) == ["q2.data", "q2.train", "q2.figures", "q2.cost"]
        assert (
            declared["q2.figures"].needs == ("q2.data", "q2.train")
            and "torch" not in declared["q2.figures"].libraries
        )
        assert declared["q2.data"].params == {"sizes": steps.PROFILES[profile]["data"]["sizes"]}
        assert declared["q2.train"].needs == ("q2.data",) and declared["q2.train"].input_files == ()
        assert declared["q2.train"].uses_device and declared["q2.train"].seed == 42


def test_homework_profile_runs_the_course_settings_on_a_given_file(tmp_path, monkeypatch):
    monkeypatch.delenv("OCTMNIST_PATH", raising=False)
    path = tmp_path / "octmnist.npz"
    path.write_bytes(b"checked when the step runs")
    declared = {s.name: s for s in steps.steps("homework", OPTIONS | {"octmnist": path})}
    assert declared["q2.data"].params == {"path": str(path)}
    assert declared["q2.data"].input_files == (path,) == declared["q2.train"].input_files
    settings = declared["q2.train"].params
    assert (settings["learning_rates"], settings["epochs"], settings["batch_size"]) == (
        [0.1, 0.01, 0.001],
        15,
        8,
    )


def test_homework_profile_downloads_when_no_file_is_given(tmp_path, monkeypatch):
    monkeypatch.delenv("OCTMNIST_PATH", raising=False)
    monkeypatch.setattr(fetch, "DEFAULT_PATH", tmp_path / "absent" / "octmnist.npz")
    fetched = []
    monkeypatch.setattr(fetch, "download", lambda target: fetched.append(target) or target)
    declared = steps.steps("homework", OPTIONS | {"download_missing": True})
    assert fetched == [tmp_path / "absent" / "octmnist.npz"]
    assert declared[0].input_files == (fetched[0],)


def test_homework_profile_without_data_names_the_fix_when_not_asked_to_download(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("OCTMNIST_PATH", raising=False)
    monkeypatch.setattr(fetch, "DEFAULT_PATH", tmp_path / "absent" / "octmnist.npz")
    monkeypatch.setattr(
        fetch, "download", lambda target: pytest.fail("listed steps must not download")
    )
    with pytest.raises(DataError, match="make data"):
        steps.steps("homework", OPTIONS)


def test_check_data_says_the_offline_data_is_generated():
    (line,) = steps.check_data("quick", OPTIONS)
    assert "project-generated" in line and "train 20,000" in line


def test_cost_step_reports_both_networks_with_agreeing_counts(tmp_path):
    ctx = fake_context(tmp_path, params=steps.PROFILES["smoke"]["cost"])
    result = cost.run(ctx)
    for net in ("cnn_maxpool", "cnn_strided"):
        n = result["networks"][net]
        assert n["params_torch"] == n["params_symbolic"] == 224_892 and n["params_agree"]
        assert set(n["inference_seconds_per_image"]) == {"1", "16"}
        assert all(0 < t < 1 for t in n["inference_seconds_per_image"].values())
    assert result["networks"]["cnn_strided"]["macs"] == 278_784
