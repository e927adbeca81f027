"""The Q2 section's steps: what each profile declares."""

import dataclasses
import json

import pytest

from compute.engine.step import DataError, Result
from compute.engine.testing import fake_context
from compute.q2 import cost, data, fetch, steps, synthetic
from compute.q2.models import CNN, NETWORKS
from report.sections import q2 as q2_report

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


def test_the_stated_input_side_is_checked_against_the_data_images_not_the_network_itself(
    tmp_path,
):
    """A network declared for 32 x 32 inputs agrees with its own forward pass; the claim of the
    side the text states fails all the same, since the data's images are 28 x 28."""
    params = steps.PROFILES["smoke"]["cost"]
    ctx = fake_context(tmp_path, params=params)
    result = cost.run(ctx)
    declared = {"params": params, "seed": steps.PROFILES["smoke"]["seed"]}
    (ctx.out.parent / "manifest.json").write_text(json.dumps({"components": declared}))
    images = synthetic.generate({"train": 4, "val": 4, "test": 4}, seed=0)
    side = q2_report._image_side(str(data.save_arrays(images, tmp_path / "octmnist.npz")))
    assert side == 28

    def claim(networks: dict):
        found = q2_report._cost_claims(Result(result | {"networks": networks}, ctx.out), side)
        (stated,) = [c for c in found if c.name == "q2.arch.cnn_strided.image_size"]
        return stated

    assert claim(result["networks"]).failure() is None
    wider = CNN(dataclasses.replace(NETWORKS["cnn_strided"]().dims, image_size=32))
    strided = result["networks"]["cnn_strided"] | {"architecture": cost.architecture(wider)}
    assert claim(result["networks"] | {"cnn_strided": strided}).failure() is not None
