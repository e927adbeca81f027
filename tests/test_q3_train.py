import json
import shutil
from pathlib import Path

import pytest
import torch

from compute.q3 import steps as q3_steps
from compute.q3 import train
from compute.q3.metrics import similarities
from compute.q3.steps import PROFILES, differences_from_homework, steps
from compute.q3.text import encode
from compute.step import DataError, Result
from compute.testing import fake_context

TEXTS = ["the cat sat", "a dog ran", "the cat ran", "a red box", "the cat sat", "my old map"]
TINY_MODEL = {"n_mels": 80, "n_state": 32, "n_head": 2, "n_mlp": 64, "n_audio_layer": 2, "n_vocab": 35,
              "n_text_ctx": 98, "max_timescale": 3000.0}


def params(decoder: str, epochs: int = 2, **changes) -> dict:
    return {"decoder": decoder, "model": TINY_MODEL, "epochs": epochs, "batch_size": 4, "eval_batch_size": 3,
            "lr": 1e-3, "weight_decay": 0.01, "label_smoothing": 0.1, "warmup_epochs": 1, "decay_epochs": 1,
            "lr_floor": 0.01, "samples": 2, "baseline_candidates": 3, **changes}


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """q3.features' files for 10 + 4 + 4 clips of 24 random frames."""
    folder = tmp_path_factory.mktemp("features")
    generator = torch.Generator().manual_seed(0)
    for name, n in (("train", 10), ("val", 4), ("test", 4)):
        texts = [TEXTS[i % len(TEXTS)] for i in range(n)]
        torch.save({"ids": [f"{name}-{i}" for i in range(n)], "texts": texts,
                    "features": torch.randn(n, 80, 24, generator=generator),
                    "tokens": torch.tensor([encode(t) for t in texts], dtype=torch.int64),
                    "frames_used": torch.full((n,), 24)}, folder / f"{name}.pt")
    return Result({"splits": {"train": 10, "val": 4, "test": 4}}, folder)


def run(tmp_path, features, **kw):
    ctx = fake_context(tmp_path, params=params(**kw), seed=42, needed={"q3.features": features})
    return ctx, train.run(ctx)


@pytest.mark.parametrize("epoch, factor", [(0, 0.01), (1, 0.505), (2, 1.0), (3, 1 - 0.99 / 12),
                                           (8, 0.505), (13, 1 - 0.99 * 11 / 12), (14, 0.01)])
def test_learning_rate_warms_up_over_2_epochs_and_decays_over_12(epoch, factor):
    assert train.lr_factor(epoch, warmup_epochs=2, decay_epochs=12, floor=0.01) == pytest.approx(factor)


def test_learning_rate_stays_at_the_floor_after_the_decay():
    assert train.lr_factor(20, warmup_epochs=2, decay_epochs=12, floor=0.01) == pytest.approx(0.01)


def test_run_reports_losses_similarities_and_learning_rates_per_epoch(tmp_path, features):
    _, result = run(tmp_path, features, decoder="lstm", epochs=3, decay_epochs=2)
    history = result["history"]
    assert result["epochs"] == [1, 2, 3]
    for key in ("train_loss", "val_loss", "val_jaccard", "val_cosine", "val_damerau_levenshtein", "epoch_seconds"):
        assert len(history[key]) == 3
    assert history["learning_rate"] == pytest.approx([1e-5, 1e-3, 5.05e-4])  # factors 0.01, 1, 0.505
    assert all(0 <= v <= 1 for v in history["val_jaccard"] + history["val_damerau_levenshtein"])


def test_run_reports_test_scores_samples_and_parameter_counts(tmp_path, features):
    _, result = run(tmp_path, features, decoder="attention")
    assert set(result["test"]) == {"loss", "jaccard", "cosine", "damerau_levenshtein"}
    assert result["test"]["loss"] > 0
    assert [s["id"] for s in result["samples"]] == ["test-0", "test-1"]
    assert result["samples"][0]["target"] == "<the cat sat>"
    assert result["samples"][0]["output"].startswith("<") and result["samples"][0]["output"].endswith(">")
    parameters = result["parameters"]
    assert parameters["total"] == parameters["encoder"] + parameters["decoder"]
    assert result["damerau_levenshtein_variant"].startswith("restricted")
    json.dumps(result)  # plain JSON values only


def test_run_writes_the_loss_and_similarity_figures(tmp_path, features):
    ctx, result = run(tmp_path, features, decoder="lstm", epochs=1)
    assert result["figures"] == {"loss": "loss_lstm.pdf", "similarity": "similarity_lstm.pdf"}
    for name in result["figures"].values():
        assert (ctx.out / name).read_bytes().startswith(b"%PDF")


def test_constant_baseline_picks_the_best_output_on_validation():
    train_texts = ["the cat", "the cat", "a dog"]
    baseline = train.constant_baseline(train_texts, ["<the cat>", "<the hat>"], ["<the cat>"], candidates=2)
    assert baseline["candidates"] == 3  # "<>" and the two distinct training transcripts
    assert baseline["damerau_levenshtein"]["output"] == "<the cat>"
    assert baseline["damerau_levenshtein"]["validation"] == pytest.approx((1 + (1 - 1 / 9)) / 2)
    assert baseline["jaccard"]["test"] == 1.0
    assert baseline["empty_output_test"]["jaccard"] == pytest.approx(2 / 9)


def test_interrupted_training_resumes_with_identical_results(tmp_path, features, monkeypatch):
    _, whole = run(tmp_path / "whole", features, decoder="attention", epochs=3, decay_epochs=2)

    saved = train.save_checkpoint
    calls = []

    def save_then_stop(path, state):
        saved(path, state)
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed", features, decoder="attention", epochs=3, decay_epochs=2)
    monkeypatch.setattr(train, "save_checkpoint", saved)
    trained_epochs = []
    train_epoch = train.train_epoch
    monkeypatch.setattr(train, "train_epoch", lambda *a: trained_epochs.append(1) or train_epoch(*a))
    _, resumed = run(tmp_path / "resumed", features, decoder="attention", epochs=3, decay_epochs=2)

    assert len(trained_epochs) == 1  # only the epoch after the last checkpoint

    for key in ("train_loss", "val_loss", "val_jaccard", "learning_rate"):
        assert resumed["history"][key] == whole["history"][key]
    assert resumed["test"] == whole["test"]
    assert resumed["samples"] == whole["samples"]


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path, features):
    run(tmp_path, features, decoder="lstm", epochs=1)
    _, other = run(tmp_path, features, decoder="lstm", epochs=1, lr=5e-4)
    _, fresh = run(tmp_path / "fresh", features, decoder="lstm", epochs=1, lr=5e-4)
    assert other["history"]["train_loss"] == fresh["history"]["train_loss"]


def test_homework_profile_has_the_course_settings():
    homework = PROFILES["homework"]
    assert (homework["source"], homework["bounds"], homework["frames"], homework["mel_sample_rate"]) == \
        ("ljspeech", [9825, 10480, 13100], 2754, 16000)
    training = ("epochs", "batch_size", "eval_batch_size", "lr", "weight_decay", "label_smoothing", "seed")
    assert [homework[k] for k in training] == [15, 64, 16, 1e-3, 0.01, 0.1, 42]
    assert [train.lr_factor(e, homework["warmup_epochs"], homework["decay_epochs"], homework["lr_floor"])
            for e in (0, 2, 14)] == pytest.approx([0.01, 1.0, 0.01])
    assert homework["require_complete"] is True


def test_quick_profile_changes_only_what_the_corpus_needs():
    allowed = {"source", "n_clips", "bounds", "require_complete", "frames", "epochs", "batch_size",
               "warmup_epochs", "decay_epochs"}
    assert set(differences_from_homework("quick")) <= allowed
    assert differences_from_homework("quick")["frames"] == {"homework": 2754, "profile": PROFILES["quick"]["frames"]}


@pytest.mark.parametrize("profile, names", [
    ("quick", ["q3.corpus", "q3.features", "q3.train.lstm", "q3.train.attention"]),
    ("smoke", ["q3.corpus", "q3.features", "q3.train.lstm", "q3.train.attention"])])
def test_offline_profiles_generate_the_corpus_then_train_both_decoders(profile, names):
    declared = steps(profile, {"octmnist": None, "ljspeech": None, "device": "cpu"})
    assert [s.name for s in declared] == names
    by_name = {s.name: s for s in declared}
    assert by_name["q3.features"].needs == ("q3.corpus",)
    for decoder in ("lstm", "attention"):
        step = by_name[f"q3.train.{decoder}"]
        assert step.needs == ("q3.features",) and step.uses_device and step.seed == 42
        assert step.params["decoder"] == decoder
        assert {"torch", "torchaudio", "rapidfuzz"} <= set(step.libraries)


SAMPLE = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ljspeech-sample").resolve()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_quick_check_data_describes_the_generated_corpus():
    lines = q3_steps.check_data("quick", {"ljspeech": None})
    quick = PROFILES["quick"]
    assert f"{quick['n_clips']} clips spoken by eSpeak NG" in lines[0]
    assert lines[1] == "splits: train {}, val {}, test {}".format(*q3_steps.split_sizes(quick["bounds"]))


def test_homework_check_data_says_how_to_get_a_missing_ljspeech(tmp_path, monkeypatch):
    monkeypatch.setattr(q3_steps, "DATA_DIR", tmp_path)
    monkeypatch.delenv("LJSPEECH_PATH", raising=False)
    with pytest.raises(DataError, match="--ljspeech"):
        q3_steps.check_data("homework", {"ljspeech": None})


def test_homework_steps_without_ljspeech_name_the_fix_and_download_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(q3_steps, "DATA_DIR", tmp_path)
    monkeypatch.delenv("LJSPEECH_PATH", raising=False)
    monkeypatch.setattr(q3_steps, "download_ljspeech", lambda dest: pytest.fail("listing steps must not download"))
    with pytest.raises(DataError, match="make data"):
        steps("homework", {"ljspeech": None, "device": "auto"})


def test_homework_steps_download_when_the_section_is_computed(tmp_path, monkeypatch):
    monkeypatch.setattr(q3_steps, "DATA_DIR", tmp_path)
    monkeypatch.delenv("LJSPEECH_PATH", raising=False)
    fetched = []
    monkeypatch.setattr(q3_steps, "download_ljspeech", lambda dest: fetched.append(dest) or SAMPLE)
    monkeypatch.setattr(q3_steps.data, "input_files", lambda root: ())
    features_step = steps("homework", {"ljspeech": None, "device": "auto", "download_missing": True})[0]
    assert fetched == [tmp_path] and features_step.params["root"] == str(SAMPLE)


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="the LJ Speech sample (../shared/data/ljspeech-sample) is absent")
def test_homework_refuses_an_incomplete_ljspeech():
    with pytest.raises(DataError, match="13100"):
        q3_steps.check_data("homework", {"ljspeech": SAMPLE})


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="the LJ Speech sample (../shared/data/ljspeech-sample) is absent")
def test_homework_features_step_reads_the_given_folder_and_digests_its_files():
    features_step = steps("homework", {"ljspeech": SAMPLE, "device": "auto"})[0]
    assert features_step.name == "q3.features" and features_step.needs == ()
    assert features_step.params["root"] == str(SAMPLE) and features_step.params["frames"] == 2754
    assert len(features_step.input_files) == 1 + 186  # metadata.csv and every wav


def test_stored_test_transcriptions_rescore_to_the_reported_similarities(tmp_path, features):
    _, result = run(tmp_path, features, decoder="lstm", epochs=1)
    pairs = result["test_transcriptions"]
    assert [p["id"] for p in pairs] == ["test-0", "test-1", "test-2", "test-3"]
    rescored = similarities([p["target"] for p in pairs], [p["output"] for p in pairs])
    assert rescored == pytest.approx({m: result["test"][m] for m in rescored}, abs=1e-12)
