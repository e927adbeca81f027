import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from compute.engine.files import DigestMemo
from compute.engine.keys import cache_key, key_components
from compute.engine.pipeline import Runner
from compute.engine.step import DataError, Result
from compute.engine.testing import LJSPEECH_SAMPLE, fake_context
from compute.q3 import figures, train
from compute.q3 import steps as q3_steps
from compute.q3.metrics import similarities
from compute.q3.steps import PROFILES, differences_from_homework, steps
from compute.q3.text import decode, encode

TEXTS = ["the cat sat", "a dog ran", "the cat ran", "a red box", "the cat sat", "my old map"]
TINY_MODEL = {
    "n_mels": 80,
    "n_state": 32,
    "n_head": 2,
    "n_mlp": 64,
    "n_audio_layer": 2,
    "n_vocab": 35,
    "n_text_ctx": 98,
    "max_timescale": 3000.0,
}


def params(decoders: list[str], epochs: int = 2, **changes) -> dict:
    return {
        "decoders": decoders,
        "model": TINY_MODEL,
        "epochs": epochs,
        "batch_size": 4,
        "eval_batch_size": 3,
        "lr": 1e-3,
        "weight_decay": 0.01,
        "label_smoothing": 0.1,
        "warmup_epochs": 1,
        "decay_epochs": 1,
        "lr_floor": 0.01,
        "padding": train.FIXED,
        "fused_adamw": False,
        "workers": 1,
        "cpu_threads": 1,
        "baseline_candidates": 3,
        **changes,
    }


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """q3.features' files for 10 + 4 + 4 clips of 24 random frames."""
    folder = tmp_path_factory.mktemp("features")
    generator = torch.Generator().manual_seed(0)
    for name, n in (("train", 10), ("val", 4), ("test", 4)):
        texts = [TEXTS[i % len(TEXTS)] for i in range(n)]
        used = torch.randint(6, 25, (n,), generator=generator)
        frames = torch.arange(24)
        torch.save(
            {
                "ids": [f"{name}-{i}" for i in range(n)],
                "texts": texts,  # zeros after a clip's end
                "features": torch.randn(n, 80, 24, generator=generator)
                * (frames < used[:, None, None]),
                "tokens": torch.tensor([encode(t) for t in texts], dtype=torch.int64),
                "frames_used": used,
            },
            folder / f"{name}.pt",
        )
    return Result({"splits": {"train": 10, "val": 4, "test": 4}}, folder)


def run_all(tmp_path, features, decoders=("lstm", "attention"), **kw):
    ctx = fake_context(
        tmp_path, params=params(list(decoders), **kw), seed=42, needed={"q3.features": features}
    )
    return ctx, train.run(ctx)


def run(tmp_path, features, decoder, **kw):
    """One decoder's result."""
    ctx, result = run_all(tmp_path, features, [decoder], **kw)
    return ctx, result["decoders"][decoder]


@pytest.mark.parametrize(
    "epoch, factor",
    [
        (0, 0.01),
        (1, 0.505),
        (2, 1.0),
        (3, 1 - 0.99 / 12),
        (8, 0.505),
        (13, 1 - 0.99 * 11 / 12),
        (14, 0.01),
    ],
)
def test_learning_rate_warms_up_over_2_epochs_and_decays_over_12(epoch, factor):
    assert train.lr_factor(epoch, warmup_epochs=2, decay_epochs=12, floor=0.01) == pytest.approx(
        factor
    )


def test_learning_rate_stays_at_the_floor_after_the_decay():
    assert train.lr_factor(20, warmup_epochs=2, decay_epochs=12, floor=0.01) == pytest.approx(0.01)


def test_run_reports_losses_similarities_and_learning_rates_per_epoch(tmp_path, features):
    _, result = run(tmp_path, features, decoder="lstm", epochs=3, decay_epochs=2)
    history = result["history"]
    assert result["epochs"] == [1, 2, 3]
    for key in (
        "train_loss",
        "val_loss",
        "val_jaccard",
        "val_cosine",
        "val_damerau_levenshtein",
        "epoch_seconds",
    ):
        assert len(history[key]) == 3
    assert history["learning_rate"] == pytest.approx(
        [1e-5, 1e-3, 5.05e-4]
    )  # factors 0.01, 1, 0.505
    assert all(0 <= v <= 1 for v in history["val_jaccard"] + history["val_damerau_levenshtein"])


def test_run_reports_test_scores_samples_and_parameter_counts(tmp_path, features):
    _, result = run(tmp_path, features, decoder="attention")
    assert set(result["test"]) == {"loss", "jaccard", "cosine", "damerau_levenshtein"}
    assert result["test"]["loss"] > 0
    assert [s["id"] for s in result["test_transcriptions"][:2]] == ["test-0", "test-1"]
    assert result["test_transcriptions"][0]["target"] == "<the cat sat>"
    first = result["test_transcriptions"][0]["output"]
    assert first.startswith("<") and first.endswith(">")
    parameters = result["parameters"]
    assert parameters["total"] == parameters["encoder"] + parameters["decoder"]
    assert result["damerau_levenshtein_variant"].startswith("restricted")
    json.dumps(result)  # plain JSON values only


def test_figures_are_drawn_from_the_stored_results_by_their_own_step(tmp_path, features):
    ctx, result = run_all(tmp_path / "train", features, epochs=1)
    stored = Result(json.loads(json.dumps(result)), ctx.out)  # as read back from the cache
    drawn = fake_context(tmp_path / "figures", needed={"q3.train": stored})
    files = figures.run(drawn)
    shown = files.pop("plotted")
    assert files == {
        d: {"loss": f"loss_{d}.pdf", "similarity": f"similarity_{d}.pdf"}
        for d in ("lstm", "attention")
    }
    losses = stored.data["decoders"]["lstm"]["history"]["train_loss"]
    assert (
        shown["loss_lstm.pdf"]["axes"][0]["lines"][0]["y"] == losses
    )  # read back from the drawing
    for name in (
        "loss_lstm.pdf",
        "similarity_lstm.pdf",
        "loss_attention.pdf",
        "similarity_attention.pdf",
    ):
        assert (drawn.out / name).read_bytes().startswith(b"%PDF")


def test_training_code_draws_nothing_and_names_no_metric_for_display():
    source = Path(train.__file__).read_text()
    assert "matplotlib" not in source and "Damerau-Levenshtein" not in source


def test_length_batches_hold_every_clip_once_and_similar_lengths_together():
    lengths = torch.randint(10, 800, (1000,), generator=torch.Generator().manual_seed(1))
    batches = train.length_batches(lengths, 4, torch.Generator().manual_seed(0))
    assert sorted(torch.cat(batches).tolist()) == list(range(1000))
    assert all(len(b) == 4 for b in batches)
    padded = sum(int(lengths[b].max()) * len(b) for b in batches)
    assert padded < 1.1 * int(lengths.sum())  # random batches of 4 pad to ~1.5 times the frames
    again = train.length_batches(lengths, 4, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))


def test_per_batch_padding_cuts_each_batch_to_its_longest_clip_and_transcript(features):
    split = train.load_split(features.dir, "train")
    idx = torch.tensor([0, 3])
    mel, tokens = train.batch(split, idx, torch.device("cpu"), train.BY_LENGTH)
    longest = int(split["frames_used"][idx].max())
    width = 2 + max(len(split["texts"][i]) for i in idx.tolist())  # `<` text `>`
    assert mel.shape == (2, 80, longest) and tokens.shape == (2, width) and width < 99
    assert torch.equal(mel, split["features"][idx][..., :longest])
    assert torch.equal(tokens, split["tokens"][idx][:, :width])
    assert [decode(row) for row in tokens] == ["<the cat sat>", "<a red box>@@"]
    fixed = train.batch(split, idx, torch.device("cpu"), train.FIXED)
    assert fixed[0].shape == (2, 80, 24) and fixed[1].shape == (2, 99)


def test_evaluation_in_length_order_returns_transcriptions_in_the_split_order(
    features, monkeypatch
):
    split = train.load_split(features.dir, "val")
    torch.manual_seed(0)
    model = train.SpeechRecognizer(train.ModelDimensions(**TINY_MODEL, n_frames=24), "lstm")
    # a decoding that writes as many `a` (id 9) as the encoder gave it positions (half the frames)
    monkeypatch.setattr(
        train,
        "greedy_decode",
        lambda decoder, xa: torch.tensor([[0] + [9] * xa.shape[1] + [1]] * xa.shape[0]),
    )
    _, outputs, _ = train.evaluate(model, split, 1, torch.device("cpu"), 0.1, train.BY_LENGTH)
    lengths = split["frames_used"].tolist()
    assert sorted(lengths) != lengths  # the length order is not the split order
    assert outputs == ["<" + "a" * ((n + 1) // 2) + ">" for n in lengths]


def test_constant_baseline_picks_the_best_output_on_validation():
    train_texts = ["the cat", "the cat", "a dog"]
    baseline = train.constant_baseline(
        train_texts, ["<the cat>", "<the hat>"], ["<the cat>"], candidates=2
    )
    assert baseline["candidates"] == 3  # "<>" and the two distinct training transcripts
    assert baseline["damerau_levenshtein"]["output"] == "<the cat>"
    assert baseline["damerau_levenshtein"]["validation"] == pytest.approx((1 + (1 - 1 / 9)) / 2)
    assert baseline["jaccard"]["test"] == 1.0
    assert baseline["empty_output_test"]["jaccard"] == pytest.approx(2 / 9)


def interrupt_at_save(monkeypatch, number: int) -> None:
    """The `number`-th checkpoint is written, then the training stops as on Ctrl-C."""
    saved, calls = train.save_atomic, []

    def save_then_stop(path, state):
        saved(path, state)
        calls.append(path)
        if len(calls) == number:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "save_atomic", save_then_stop)


def count_batches(monkeypatch) -> list[int]:
    trained, train_batch = [], train.train_batch
    monkeypatch.setattr(train, "train_batch", lambda *a: trained.append(1) or train_batch(*a))
    return trained


def test_interrupted_training_resumes_with_identical_results(tmp_path, features, monkeypatch):
    _, whole = run(tmp_path / "whole", features, decoder="attention", epochs=3, decay_epochs=2)
    interrupt_at_save(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed", features, decoder="attention", epochs=3, decay_epochs=2)
    monkeypatch.undo()
    trained = count_batches(monkeypatch)
    _, resumed = run(tmp_path / "resumed", features, decoder="attention", epochs=3, decay_epochs=2)

    assert len(trained) == 3  # only the epoch after the last checkpoint: 10 clips in batches of 4
    for key in ("train_loss", "val_loss", "val_jaccard", "learning_rate"):
        assert resumed["history"][key] == whole["history"][key]
    assert resumed["test"] == whole["test"]
    assert resumed["test_transcriptions"] == whole["test_transcriptions"]


def without_times(result: dict) -> dict:
    """The result without the wall-clock times, the only values a resumed run may change."""
    out = json.loads(json.dumps(result))
    out.pop("seconds")
    for decoder in out["decoders"].values():
        decoder.pop("timing")
        decoder["history"].pop("epoch_seconds")
    return out


def test_a_run_stopped_within_an_epoch_resumes_there_and_stores_every_value_as_an_uninterrupted_one(
    tmp_path, features, monkeypatch, capsys
):
    def train_both(folder: Path, checkpoint_seconds: float) -> tuple:
        ctx = fake_context(
            folder,
            params=params(["lstm", "attention"], epochs=2, padding=train.BY_LENGTH),
            seed=42,
            needed={"q3.features": features},
        )
        ctx = dataclasses.replace(ctx, checkpoint_seconds=checkpoint_seconds)
        return ctx, train.run(ctx)

    whole_ctx, whole = train_both(tmp_path / "whole", 600)
    interrupt_at_save(
        monkeypatch, 2
    )  # with checkpoints after every batch: lstm, epoch 1, after batch 2 of 3
    with pytest.raises(KeyboardInterrupt):
        train_both(tmp_path / "resumed", 0)
    state = torch.load(tmp_path / "resumed" / "work" / "checkpoint_lstm.pt", weights_only=True)
    assert (state["epoch"], state["position"], len(state["losses"])) == (0, 2, 2)
    monkeypatch.undo()
    trained = count_batches(monkeypatch)
    capsys.readouterr()
    ctx, resumed = train_both(tmp_path / "resumed", 0)

    assert "lstm: resuming in epoch 1 after batch 2" in capsys.readouterr().err
    assert (
        len(trained) == 2 * 3 * 2 - 2
    )  # two decoders, two epochs of 3 batches, less the 2 done before
    assert without_times(resumed) == without_times(whole)
    for decoder in ("lstm", "attention"):
        weights = [
            torch.load(c.out / f"model_{decoder}.pt", weights_only=True)["state_dict"]
            for c in (ctx, whole_ctx)
        ]
        assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[1])


def test_the_checkpoint_interval_and_the_progress_cadence_are_no_part_of_the_key(
    tmp_path, monkeypatch
):
    """They change when checkpoints and progress lines are written, not the numbers."""

    def key(minutes: str, seconds: str) -> str:
        monkeypatch.setenv("BUILD_CHECKPOINT_MINUTES", minutes)
        monkeypatch.setenv("BUILD_PROGRESS_SECONDS", seconds)
        step = next(s for s in steps("smoke", {}) if s.name == "q3.train")
        return cache_key(
            key_components(step, {"q3.features": "0" * 16}, "cpu", DigestMemo(tmp_path / "d.json"))
        )

    assert key("0", "1") == key("10", "30")


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path, features):
    run(tmp_path, features, decoder="lstm", epochs=1)
    _, other = run(tmp_path, features, decoder="lstm", epochs=1, lr=5e-4)
    _, fresh = run(tmp_path / "fresh", features, decoder="lstm", epochs=1, lr=5e-4)
    assert other["history"]["train_loss"] == fresh["history"]["train_loss"]


def test_homework_profile_has_the_course_settings():
    homework = PROFILES["homework"]
    f, t = homework["features"], homework["train"]
    assert (homework["source"], f["bounds"], f["frames"], f["mel_sample_rate"]) == (
        "ljspeech",
        [9825, 10480, 13100],
        2754,
        16000,
    )
    training = ("epochs", "batch_size", "eval_batch_size", "lr", "weight_decay", "label_smoothing")
    assert [t[k] for k in training] + [homework["seed"]] == [15, 64, 16, 1e-3, 0.01, 0.1, 42]
    assert t["padding"] == train.FIXED  # every clip padded to 2,754 frames, as the course
    assert (f["hop"], t["fused_adamw"]) == (160, False)  # the course's features and AdamW
    assert [
        train.lr_factor(e, t["warmup_epochs"], t["decay_epochs"], t["lr_floor"]) for e in (0, 2, 14)
    ] == pytest.approx([0.01, 1.0, 0.01])
    assert homework["require_complete"] is True


def test_quick_profile_changes_only_data_size_feature_rate_and_training_cost_settings():
    allowed = {
        "source",
        "n_clips",
        "bounds",
        "require_complete",
        "hop",
        "frames",
        "epochs",
        "batch_size",
        "fused_adamw",
        "warmup_epochs",
        "decay_epochs",
        "padding",
    }
    assert set(differences_from_homework("quick")) <= allowed
    assert differences_from_homework("quick")["frames"] == {
        "homework": 2754,
        "profile": PROFILES["quick"]["features"]["frames"],
    }
    assert differences_from_homework("homework") == {}


@pytest.mark.parametrize(
    "profile, names",
    [
        ("quick", ["q3.corpus", "q3.features", "q3.train", "q3.figures", "q3.settings"]),
        ("smoke", ["q3.corpus", "q3.features", "q3.train", "q3.figures", "q3.settings"]),
    ],
)
def test_offline_profiles_generate_the_corpus_then_train_both_decoders(profile, names):
    declared = steps(profile, {"octmnist": None, "ljspeech": None, "device": "cpu"})
    assert [s.name for s in declared] == names
    by_name = {s.name: s for s in declared}
    assert by_name["q3.features"].needs == ("q3.corpus",)
    step = by_name["q3.train"]
    assert step.needs == ("q3.features",) and step.uses_device and step.seed == 42
    assert step.params["decoders"] == ["lstm", "attention"]
    assert {"torch", "torchaudio", "rapidfuzz"} <= set(step.libraries)
    assert "matplotlib" not in step.libraries and by_name["q3.figures"].needs == ("q3.train",)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_quick_check_data_describes_the_generated_corpus():
    lines = q3_steps.check_data("quick", {"ljspeech": None})
    quick = PROFILES["quick"]
    assert f"{quick['corpus']['n_clips']} clips spoken by eSpeak NG" in lines[0]
    assert lines[1] == "splits: train {}, val {}, test {}".format(
        *q3_steps.split_sizes(quick["features"]["bounds"])
    )


def test_homework_check_data_says_how_to_get_a_missing_ljspeech(tmp_path, monkeypatch):
    monkeypatch.setattr(q3_steps, "DATA_DIR", tmp_path)
    monkeypatch.delenv("LJSPEECH_PATH", raising=False)
    with pytest.raises(DataError, match="--ljspeech"):
        q3_steps.check_data("homework", {"ljspeech": None})


def test_homework_steps_without_ljspeech_name_the_fix_and_download_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(q3_steps, "DATA_DIR", tmp_path)
    monkeypatch.delenv("LJSPEECH_PATH", raising=False)
    monkeypatch.setattr(
        q3_steps, "download_ljspeech", lambda dest: pytest.fail("listing steps must not download")
    )
    with pytest.raises(DataError, match="make data"):
        steps("homework", {"ljspeech": None, "device": "auto"})


def test_homework_steps_download_when_the_section_is_computed(tmp_path, monkeypatch):
    monkeypatch.setattr(q3_steps, "DATA_DIR", tmp_path)
    monkeypatch.delenv("LJSPEECH_PATH", raising=False)
    fetched = []
    monkeypatch.setattr(
        q3_steps, "download_ljspeech", lambda dest: fetched.append(dest) or LJSPEECH_SAMPLE
    )
    monkeypatch.setattr(q3_steps.check, "input_files", lambda root: ())
    features_step = steps(
        "homework", {"ljspeech": None, "device": "auto", "download_missing": True}
    )[0]
    assert fetched == [tmp_path] and features_step.params["root"] == str(LJSPEECH_SAMPLE)


def test_homework_refuses_an_incomplete_ljspeech(ljspeech_sample):
    with pytest.raises(DataError, match="13100"):
        q3_steps.check_data("homework", {"ljspeech": ljspeech_sample})


def test_homework_features_step_reads_the_given_folder_and_digests_its_files(ljspeech_sample):
    features_step = steps("homework", {"ljspeech": ljspeech_sample, "device": "auto"})[0]
    assert features_step.name == "q3.features" and features_step.needs == ()
    assert (
        features_step.params["root"] == str(ljspeech_sample)
        and features_step.params["frames"] == 2754
    )
    assert len(features_step.input_files) == 1 + 186  # metadata.csv and every wav


def test_stored_test_transcriptions_rescore_to_the_reported_similarities(tmp_path, features):
    _, result = run(tmp_path, features, decoder="lstm", epochs=1)
    pairs = result["test_transcriptions"]
    assert [p["id"] for p in pairs] == ["test-0", "test-1", "test-2", "test-3"]
    rescored = similarities([p["target"] for p in pairs], [p["output"] for p in pairs])
    assert rescored == pytest.approx({m: result["test"][m] for m in rescored}, abs=1e-12)


def numbers(result: dict) -> dict:
    """A q3.train result without its wall times and settings."""
    return {
        d: {k: v for k, v in r.items() if k not in ("timing", "settings")}
        | {"history": {k: v for k, v in r["history"].items() if k != "epoch_seconds"}}
        for d, r in result["decoders"].items()
    }


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one process per decoder needs two CPU cores")
def test_two_processes_give_the_numbers_of_one(tmp_path, features):
    _, apart = run_all(tmp_path / "two", features, padding=train.BY_LENGTH, workers=2)
    _, together = run_all(tmp_path / "one", features, padding=train.BY_LENGTH, workers=1)
    assert apart["processes"] == 2 and together["processes"] == 1
    assert numbers(apart) == numbers(together)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_two_cold_smoke_runs_give_identical_numbers(tmp_path):
    declared = [s for s in steps("smoke", {"ljspeech": None}) if s.name != "q3.figures"]
    first, second = (
        Runner(tmp_path / name).run_all(declared)["q3.train"].data for name in ("a", "b")
    )
    assert numbers(first) == numbers(second)
    assert (
        first["decoders"]["lstm"]["test_transcriptions"]
        == second["decoders"]["lstm"]["test_transcriptions"]
    )


@pytest.mark.parametrize("padding", [train.FIXED, train.BY_LENGTH])
def test_the_claims_test_loss_equals_the_trainings_evaluation(tmp_path, features, padding):
    """report/sections/q3.py computes the test loss again its own way (its own batches, the text
    cut at the first `>`); on the same weights it must give what `evaluate` gives."""
    from report.sections.q3 import _split_loss

    torch.manual_seed(0)
    dims = train.ModelDimensions(**TINY_MODEL, n_frames=24)
    model = train.SpeechRecognizer(dims, "lstm").eval()
    torch.save(
        {"decoder": "lstm", "dims": dataclasses.asdict(dims), "state_dict": model.state_dict()},
        tmp_path / "model.pt",
    )
    split = train.load_split(features.dir, "test")
    loss, _, _ = train.evaluate(model, split, 3, torch.device("cpu"), 0.1, padding)
    again = _split_loss(str(tmp_path / "model.pt"), str(features.dir), "test", 3, 0.1, padding)
    assert again == pytest.approx(loss, abs=1e-6) and loss > 0
