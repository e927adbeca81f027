"""Q3's claims and the variables its template reads.

The similarities are re-scored from the stored test transcriptions with implementations written
again here; the test losses are recomputed by running the saved weights on the test features; the
corpus and split sizes are counted again from the files; parameter counts come from the layer
shapes; settings are checked against the steps' declarations.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile
import torch
import torch.nn.functional as F

from compute import parallel
from compute.q3 import steps
from compute.q3.corpus import VOICES
from compute.q3.data import ENV_VAR
from compute.q3.features import SETTINGS
from compute.q3.names import DECODER_NAMES, METRIC_NAMES
from compute.q3.steps import HOMEWORK, flat, split_sizes
from compute.q3.text import VOCAB, decode, until_eos
from compute.q3.train import FIXED, load_split, load_trained
from report.cited import PUBLISHED, cited_value
from report.claims import Claim, declared
from report.figures import axes, figure_claims, line, prefix
from report.render import Tex, escape, num, texjoin
from report.sections import DataOption, Section

DECODERS, METRICS = DECODER_NAMES, METRIC_NAMES

# how far from the published range a result on the real LJ Speech may be and still agree with it
PUBLISHED_MARGIN = 0.01
# the settings the text states, checked against the declaration of the step that used them (and
# the feature settings, compute/q3/features.py's SETTINGS)
TRAIN_SETTINGS = ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "warmup_epochs")
MODEL_SETTINGS = ("n_state", "n_head", "n_audio_layer")
# a setting of the differences table in words, and how its value reads
SETTING_WORDS = {
    "source": (
        "data",
        lambda v: {"ljspeech": "LJ Speech 1.1", "corpus": "generated corpus"}.get(v, v),
    ),
    "n_clips": ("clips used", lambda v: "all" if v is None else num(v)),
    "bounds": (
        "clips per split (training / validation / test)",
        lambda v: texjoin([num(n) for n in (split_sizes(v) if len(v) == 3 else v)], " / "),
    ),
    "require_complete": ("refuse an incomplete dataset", lambda v: "yes" if v else "no"),
    "hop": ("hop between frames (samples)", num),
    "frames": ("padded length (frames)", num),
    "epochs": ("epochs", num),
    "batch_size": ("batch size (clips)", num),
    "fused_adamw": ("AdamW step", lambda v: "fused (one kernel)" if v else "PyTorch's default"),
    "warmup_epochs": ("warm-up (epochs)", num),
    "decay_epochs": ("linear decay (epochs)", num),
    "baseline_candidates": ("candidates of the constant baseline", num),
    "padding": (
        "padding",
        lambda v: (
            v
            if v == FIXED
            else "to each batch's longest clip and transcript (clips grouped by length)"
        ),
    ),
}
SAMPLES_SHOWN = 6  # test transcriptions the text shows, the first ones of the test split
BASELINE_SHOWN = "attention"  # both decoders score the same constant baseline; the table shows one
MEASURED = {
    "q3.train:decoders.*.timing.train_seconds": "Q3.1 and Q3.2: training time of each decoder"
}


def osa_distances_by_table(pairs: list[tuple[str, str]]) -> list[int]:
    """Restricted Damerau-Levenshtein distances from the textbook recurrence, table row i of every
    pair at once (numpy): an independent implementation of what compute/q3/metrics.py computes
    with bit vectors. Rows are padded to the longest strings; a pair's distance is its cell
    (len(a), len(b)), which depends on no cell past it."""
    n = len(pairs)
    la, lb = np.array([len(a) for a, _ in pairs]), np.array([len(b) for _, b in pairs])
    width = int(lb.max(initial=0))
    a_codes, b_codes = np.full((n, int(la.max(initial=0))), -1), np.full((n, width), -2)
    for k, (a, b) in enumerate(pairs):
        a_codes[k, : len(a)], b_codes[k, : len(b)] = [ord(c) for c in a], [ord(c) for c in b]
    j = np.arange(width + 1)
    above, before = np.tile(j, (n, 1)), None  # row 0: j insertions
    out = np.where(la == 0, lb, 0)
    for i in range(1, a_codes.shape[1] + 1):
        # every term of the recurrence but the left neighbour's
        rest = np.minimum(above[:, 1:] + 1, above[:, :-1] + (a_codes[:, i - 1 : i] != b_codes))
        if i > 1:
            swap = (a_codes[:, i - 1 : i] == b_codes[:, :-1]) & (
                a_codes[:, i - 2 : i - 1] == b_codes[:, 1:]
            )
            rest[:, 1:] = np.where(swap, np.minimum(rest[:, 1:], before[:, :-2] + 1), rest[:, 1:])
        # row[j] = min(rest[j], row[j - 1] + 1) = min over k <= j of rest[k] + (j - k), row[0] = i
        row = np.minimum.accumulate(np.hstack([np.full((n, 1), i), rest]) - j, axis=1) + j
        done = la == i
        out[done] = row[done, lb[done]]
        before, above = above, row
    return out.tolist()


def osa_distance_by_table(a: str, b: str) -> int:
    """The distance of one pair (osa_distances_by_table)."""
    return osa_distances_by_table([(a, b)])[0]


@lru_cache(maxsize=64)  # the mutation check asks for the same scores many times
def _scores(pairs: tuple[tuple[str, str], ...]) -> tuple[dict[str, float], ...]:
    """The three similarities of each utterance, written out again from their definitions."""
    distances = osa_distances_by_table(list(pairs))
    out = []
    for (target, output), distance in zip(pairs, distances):
        a, b = Counter(target), Counter(output)
        common = sum(min(a[c], b[c]) for c in a)
        out.append(
            {
                "jaccard": common / sum(max(a[c], b[c]) for c in a | b),
                "cosine": common / math.sqrt(len(target) * len(output)),
                "damerau_levenshtein": 1 - distance / max(len(target), len(output)),
            }
        )
    return tuple(out)


def _average(pairs: tuple[tuple[str, str], ...]) -> dict[str, float]:
    scores = _scores(pairs)
    return {m: sum(s[m] for s in scores) / len(scores) for m in METRICS}


def _expected_parameters(m: dict, decoder: str) -> dict[str, int]:
    """Parameter counts from the layer shapes of the specification."""
    d, mlp, vocab = m["n_state"], m["n_mlp"], m["n_vocab"]
    norm = 2 * d
    attention = 4 * d * d + 3 * d  # q, k, v, out weights; q, v, out biases
    block = norm + attention + norm + (d * mlp + mlp + mlp * d + d)
    encoder = (m["n_mels"] * d * 3 + d) + (d * d * 3 + d) + m["n_audio_layer"] * block + norm
    head = norm + d * vocab + vocab
    if decoder == "lstm":
        body = vocab * d + norm + (4 * d * (d + d) + 2 * 4 * d) + block
    else:
        body = vocab * d + m["n_text_ctx"] * d + (norm + attention) + block
    return {"encoder": encoder, "decoder": body + head, "total": encoder + body + head}


@lru_cache(maxsize=8)
def _split_loss(
    model_file: str,
    features_dir: str,
    split_name: str,
    batch_size: int,
    label_smoothing: float,
    padding: str,
) -> float:
    """The loss of a split computed again: the saved weights on its features, teacher forcing, the
    mean of the per-batch mean losses; with per-batch padding, the clips in order of length and
    each batch cut to its longest clip and to its longest transcript (counted in characters)."""
    model, split = load_trained(Path(model_file)), load_split(Path(features_dir), split_name)
    order = list(range(len(split["tokens"])))
    if padding != FIXED:
        order.sort(key=lambda i: int(split["frames_used"][i]))
    losses = []
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = torch.tensor(order[start : start + batch_size])
            mel, tokens = split["features"][idx], split["tokens"][idx]
            if padding != FIXED:
                mel = mel[..., : int(split["frames_used"][idx].max())]
                tokens = tokens[
                    :, : max(len(until_eos(decode(row))) for row in tokens.tolist())
                ]  # `<` text `>`
            logits = model(mel, tokens[:, :-1])
            losses.append(
                F.cross_entropy(logits, tokens[:, 1:], label_smoothing=label_smoothing).item()
            )
    return sum(losses) / len(losses)


@lru_cache(maxsize=4)
def _corpus_on_disk(folder: str) -> dict:
    """Clips, characters and durations counted again from the corpus' metadata.csv and wav files."""
    with open(Path(folder) / "metadata.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE))
    seconds = [soundfile.info(str(Path(folder) / "wavs" / f"{r[0]}.wav")).duration for r in rows]
    return {
        "clips": len(rows),
        "mean_chars": sum(len(r[2]) for r in rows) / len(rows),
        "hours": sum(seconds) / 3600,
        "min_seconds": min(seconds),
        "max_seconds": max(seconds),
    }


def _winner(attention_minus_lstm: float) -> str:
    """Which decoder a difference favours; below 1e-9 the two tie (float noise, not a result)."""
    if abs(attention_minus_lstm) < 1e-9:
        return "tie"
    return "attention" if attention_minus_lstm > 0 else "lstm"


@lru_cache(maxsize=8)
def _split_sizes(features_dir: str) -> dict[str, int]:
    """Clips in each split file q3.features wrote, counted from the files (once per folder)."""
    return {s: len(load_split(Path(features_dir), s)["tokens"]) for s in ("train", "val", "test")}


def _data_claims(results: dict) -> list[Claim]:
    features = results["q3.features"]
    counted = _split_sizes(str(features.dir))
    out = [
        Claim(f"q3.clips.{s}", features.data["splits"][s], counted[s])
        for s in ("train", "val", "test")
    ]
    stated = declared(features)["params"]
    out += [Claim(f"q3.setting.{k}", features.data["settings"][k], stated[k]) for k in SETTINGS]
    if "q3.corpus" in results:
        corpus = results["q3.corpus"]
        counted = _corpus_on_disk(str(corpus.dir / corpus.data["dir"]))
        out += [
            Claim(f"q3.corpus.{k}", corpus.data[k], v, tol=0.0 if k == "clips" else 1e-9)
            for k, v in counted.items()
        ]
        voices = corpus.data["voices"]
        out.append(Claim("q3.corpus.voices", len(voices), len(set(voices) & set(VOICES))))
    else:
        counted = _corpus_on_disk(features.data["root"])
        out.append(Claim("q3.hours", features.data["hours"], counted["hours"], tol=1e-9))
    return out


def _settings_claims(result) -> list[Claim]:
    first = result.data["decoders"][next(iter(DECODERS))]
    settings, stated = first["settings"], declared(result)
    return (
        [Claim(f"q3.setting.{k}", settings[k], stated["params"][k]) for k in TRAIN_SETTINGS]
        + [
            Claim(f"q3.setting.{k}", settings["model"][k], stated["params"]["model"][k])
            for k in MODEL_SETTINGS
        ]
        + [
            Claim("q3.setting.seed", first["seed"], stated["seed"]),
            Claim(
                "q3.processes",
                result.data["processes"],
                parallel.process_count(
                    stated["params"]["workers"],
                    len(result.data["decoders"]),
                    first["device"],
                    result.data["cpus"],
                ),
            ),  # the training machine's cores
            Claim("q3.vocabulary", settings["model"]["n_vocab"], len(VOCAB)),
        ]
    )


def _differences_claim(results: dict) -> Claim:
    """The settings table against the settings the computing steps were declared with (their
    manifests: what ran) and the course's (cited where published); a setting no computation uses
    (how strictly --check-data judges the data) as the table's step was declared with it."""
    ran = {"seed": declared(results["q3.train"])["seed"]}
    for name in ("q3.corpus", "q3.features", "q3.train"):
        ran |= declared(results[name])["params"] if name in results else {}
    table = results["q3.settings"]
    listed = declared(table)["params"]["differences"]
    expected = {}
    for k, homework in flat(HOMEWORK).items():
        used = ran[k] if k in ran else listed.get(k, {"profile": homework})["profile"]
        if used != homework:
            course = cited_value(f"q3.course.{k}") if f"q3.course.{k}" in PUBLISHED else homework
            expected[k] = {"homework": course, "profile": used}
    return Claim("q3.differences", table.data["differences"], expected)


def _loss_again(result, r: dict, params: dict, features_dir: str, split: str) -> float:
    """The decoder's loss on `split` computed again from its saved weights, with the batches,
    smoothing and padding its training step was declared with."""
    batches, smoothing = params["eval_batch_size"], params["label_smoothing"]
    model = str(result.file(r["model_file"]))
    return _split_loss(model, features_dir, split, batches, smoothing, params["padding"])


def _decoder_claims(decoder: str, result, features_dir: str) -> tuple[list[Claim], dict]:
    r, params = result.data["decoders"][decoder], declared(result)["params"]
    pairs = [(x["target"], x["output"]) for x in r["test_transcriptions"]]
    rescored = _average(tuple(pairs))
    expected = _expected_parameters(params["model"], decoder)
    loss = _loss_again(result, r, params, features_dir, "test")
    out = [
        Claim(f"q3.params.{decoder}.{part}", r["parameters"][part], expected[part])
        for part in ("encoder", "decoder", "total")
    ]
    out += [Claim(f"q3.test.{decoder}.{m}", r["test"][m], rescored[m], tol=1e-9) for m in METRICS]
    out.append(Claim(f"q3.test.{decoder}.loss", r["test"]["loss"], loss, tol=2e-5))
    baseline = {
        m: _average(tuple((t, r["baseline"][m]["output"]) for t, _ in pairs))[m] for m in METRICS
    }
    if decoder == BASELINE_SHOWN:
        out += [
            Claim(f"q3.baseline.{m}", r["baseline"][m]["test"], baseline[m], tol=1e-9)
            for m in METRICS
        ]
    out.append(
        Claim(
            f"q3.beats_baseline.{decoder}",
            all(r["test"][m] > r["baseline"][m]["test"] for m in METRICS),
            all(rescored[m] > baseline[m] for m in METRICS),
        )
    )
    out.append(
        Claim(
            f"q3.margin.{decoder}",
            min(r["test"][m] - r["baseline"][m]["test"] for m in METRICS),
            min(rescored[m] - baseline[m] for m in METRICS),
            tol=1e-9,
        )
    )
    out.append(
        Claim(
            f"q3.cosine_above_jaccard.{decoder}",
            r["test"]["cosine"] >= r["test"]["jaccard"],
            all(s["cosine"] >= s["jaccard"] for s in _scores(tuple(pairs))),
        )
    )
    return out, rescored | {"loss": loss}  # every test result, computed again


def _rates(settings: dict) -> list[float]:
    """The learning rate of each epoch the declared schedule gives: linear from lr_floor times the
    rate up to the rate over the warm-up epochs, then linearly down to lr_floor times it over the
    decay epochs, and there after them."""
    rate, floor = settings["lr"], settings["lr_floor"]
    warm, decay = settings["warmup_epochs"], settings["decay_epochs"]
    out = []
    for epoch in range(settings["epochs"]):
        if epoch < warm:
            out.append(rate * (floor + (1.0 - floor) * epoch / warm))
        else:
            out.append(rate * (1.0 - (1.0 - floor) * min(epoch - warm, decay) / decay))
    return out


@lru_cache(maxsize=4)
def _targets(features_dir: str, split: str) -> tuple[str, ...]:
    """The reference character sequences of a split, `<` to `>`, read from its token ids."""
    return tuple(
        until_eos(decode(ids)) for ids in load_split(Path(features_dir), split)["tokens"].tolist()
    )


def _curve_claims(decoder: str, result, plotted: dict, features_dir: str) -> list[Claim]:
    """The two figures of a decoder: one point per declared epoch of each recorded curve, the last
    validation loss computed again from the saved weights, the constant baseline's validation
    similarities scored again; every recorded per-epoch quantity has one value per declared epoch
    and the learning rates are the declared schedule's."""
    r, params = result.data["decoders"][decoder], declared(result)["params"]
    history, epochs = r["history"], range(1, params["epochs"] + 1)
    loss, similarity = plotted[f"loss_{decoder}.pdf"], plotted[f"similarity_{decoder}.pdf"]
    val_loss = _loss_again(result, r, params, features_dir, "val")
    val = _targets(features_dir, "val")
    baseline = {
        m: _average(tuple((t, r["baseline"][m]["output"]) for t in val))[m] for m in METRICS
    }
    lines = [
        ln
        for m in METRICS
        for ln in (
            line(METRICS[m], epochs, history[f"val_{m}"]),
            line("", [0, 1], [baseline[m]] * 2),
        )
    ]
    name, legend = prefix("q3", loss["file"]), list(METRICS.values()) + ["best constant output"]
    losses = [
        line("training", epochs, history["train_loss"]),
        line("validation", epochs, history["val_loss"]),
    ]
    return (
        figure_claims(
            "q3",
            loss,
            [axes("epoch", f"loss (label smoothing {params['label_smoothing']:g})", losses)],
        )
        + [
            Claim(f"{name}.last", loss["axes"][0]["lines"][-1]["y"][-1], val_loss, tol=2e-5),
            Claim(f"{name}.epochs", r["epochs"], list(epochs)),
            Claim(
                f"{name}.recorded",
                [len(history[k]) for k in sorted(history)],
                [len(epochs)] * len(history),
            ),
            Claim(f"q3.schedule.{decoder}", history["learning_rate"], _rates(params), rtol=1e-12),
        ]
        + figure_claims(
            "q3", similarity, [axes("epoch", "validation similarity", lines, legend)], tol=1e-9
        )
        + [
            Claim(
                prefix("q3", similarity["file"]) + ".baseline",
                [r["baseline"][m]["validation"] for m in METRICS],
                [baseline[m] for m in METRICS],
                tol=1e-9,
            )
        ]
    )


def published_range(decoder: str, metric: str) -> tuple[float, float]:
    low, high = cited_value(f"q3.published.{decoder}.{metric}")
    return low - PUBLISHED_MARGIN, high + PUBLISHED_MARGIN


def _published_claims(results: dict, rescored: dict) -> list[Claim]:
    """On the real LJ Speech only: which results fall within the margin of the published ranges."""
    if results["q3.features"].data["source"] != "ljspeech":
        return []
    out = []
    for decoder in DECODERS:
        test = results["q3.train"].data["decoders"][decoder]["test"]
        again = rescored[decoder]
        for m in ("loss", *METRICS):
            low, high = published_range(decoder, m)
            out.append(
                Claim(f"q3.inside.{decoder}.{m}", low <= test[m] <= high, low <= again[m] <= high)
            )
    return out


def comparison(results: dict) -> list[tuple[str, float, tuple, bool]]:
    """(what, value, the published range widened by the margin, inside) of every test result, on the
    real LJ Speech only; the generated corpus is compared by trends."""
    if results["q3.features"].data["source"] != "ljspeech":
        return []
    out = []
    for decoder, title in DECODERS.items():
        test = results["q3.train"].data["decoders"][decoder]["test"]
        for m in ("loss", *METRICS):
            low, high = published_range(decoder, m)
            out.append(
                (
                    f"{title}, test {m.replace('_', '-')}",
                    test[m],
                    (low, high),
                    low <= test[m] <= high,
                )
            )
    return out


def claims(results: dict) -> list[Claim]:
    out = _data_claims(results) + _settings_claims(results["q3.train"])
    out.append(_differences_claim(results))
    rescored = {}
    features_dir, plotted = str(results["q3.features"].dir), results["q3.figures"].data["plotted"]
    for decoder in DECODERS:
        found, rescored[decoder] = _decoder_claims(decoder, results["q3.train"], features_dir)
        out += found + _curve_claims(decoder, results["q3.train"], plotted, features_dir)
    out += _published_claims(results, rescored)
    lstm, attention = (results["q3.train"].data["decoders"][d]["test"] for d in DECODERS)
    for m in METRICS:
        out.append(
            Claim(
                f"q3.better.{m}",
                _winner(attention[m] - lstm[m]),
                _winner(rescored["attention"][m] - rescored["lstm"][m]),
            )
        )
        out.append(
            Claim(
                f"q3.gap.{m}",
                attention[m] - lstm[m],
                rescored["attention"][m] - rescored["lstm"][m],
                tol=1e-9,
            )
        )
    return out


def _plain(value) -> str | Tex:
    return (
        num(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else str(value)
    )


def setting_row(name: str, value) -> Tex:
    """A cell of the differences table: the value of setting `name` in words."""
    words = SETTING_WORDS.get(name, (name.replace("_", " "), _plain))[1](value)
    return words if isinstance(words, Tex) else escape(words)


def context(results: dict) -> dict:
    trained = results["q3.train"].data["decoders"]
    first = trained["lstm"]
    shown = min(SAMPLES_SHOWN, len(first["test_transcriptions"]))
    return {
        "corpus": results["q3.corpus"].data if "q3.corpus" in results else None,
        "features": results["q3.features"].data,
        "trained": trained,
        "figures": results["q3.figures"].data,
        "decoders": DECODERS,
        "metrics": METRICS,
        "real_data": results["q3.features"].data["source"] == "ljspeech",
        "setting_label": lambda name: SETTING_WORDS.get(name, (name.replace("_", " "),))[0],
        "setting_row": setting_row,
        "dl_variant": first["damerau_levenshtein_variant"],
        "per_batch_padding": first["settings"]["padding"] != FIXED,
        "samples": [
            {
                "id": s["id"],
                "target": s["target"],
                **{d: trained[d]["test_transcriptions"][i]["output"] for d in DECODERS},
            }
            for i, s in enumerate(first["test_transcriptions"][:shown])
        ],
    }


DECLARED = "the setting the step was declared with"
RESCORED = (
    "the stored test transcriptions scored again by the similarities' implementations written here"
)
PROOFS = {
    "q3.clips.*": ("q3.features", "the clips of the split file, counted"),
    **{f"q3.setting.{k}": ("q3.features", DECLARED) for k in SETTINGS},
    "q3.setting.*": ("q3.train", DECLARED),
    "q3.corpus.voices": (
        "q3.corpus",
        "the voices the corpus used that are in the project's pool, counted",
    ),
    "q3.corpus.*": (
        "q3.corpus",
        "metadata.csv and the wav files of the corpus, read and counted again",
    ),
    "q3.hours": ("q3.features", "the durations of the dataset's wav files, summed again"),
    "q3.processes": (
        "q3.train",
        "the declared workers, the decoders and the training machine's cores",
    ),
    "q3.vocabulary": ("q3.train", "the symbols of the vocabulary, counted"),
    "q3.differences": (
        "q3.settings",
        "the settings the computing steps were declared with, against the course's (cited)",
    ),
    "q3.params.*": ("q3.train", "the parameter count from the layer shapes of the specification"),
    "q3.test.*.loss": ("q3.train", "the saved weights run again on the test features"),
    "q3.test.*": ("q3.train", RESCORED),
    "q3.baseline.*": (
        "q3.train",
        "the constant transcription scored again against the test targets",
    ),
    "q3.beats_baseline.*": (
        "q3.train",
        "the re-scored similarities against the re-scored baseline",
    ),
    "q3.margin.*": ("q3.train", "the smallest re-scored difference to the baseline"),
    "q3.cosine_above_jaccard.*": (
        "q3.train",
        "cosine against Jaccard for every test clip, re-scored",
    ),
    "q3.better.*": ("q3.train", "the decoder with the higher re-scored similarity"),
    "q3.gap.*": ("q3.train", "the difference of the re-scored similarities"),
    "q3.schedule.*": (
        "q3.train",
        "the rate of each epoch from the declared rate, floor, warm-up and decay",
    ),
    "q3.inside.*": (
        "q3.train",
        "the re-derived test result against the published range (cited) and the margin",
    ),
    "q3.figure.loss_*.last": (
        "q3.figures",
        "the last validation loss: the saved weights run again on the validation features",
    ),
    "q3.figure.loss_*.epochs": ("q3.train", "the declared epochs"),
    "q3.figure.loss_*.recorded": (
        "q3.train",
        "one recorded value per declared epoch, for every recorded quantity",
    ),
    "q3.figure.similarity_*.drawn": (
        "q3.figures",
        "the stored curves; the dashed constant baselines scored again on the validation targets",
    ),
    "q3.figure.similarity_*.baseline": (
        "q3.train",
        "the constant transcription scored again on the validation targets",
    ),
}

SECTION = Section(
    name="q3",
    title="Speech recognition on LJ Speech",
    summary="Transformer encoder, LSTM and attention decoders",
    profiles=steps.PROFILES,
    steps=steps.steps,
    claims=claims,
    context=context,
    check_data=steps.check_data,
    download=steps.download,
    data_options=(
        DataOption(
            "ljspeech",
            "the LJSpeech-1.1 folder (else downloaded)",
            ENV_VAR,
            tuple(p for p, s in steps.PROFILES.items() if s["source"] == "ljspeech"),
            "LJ Speech",
        ),
    ),
    measured=MEASURED,
    proofs=PROOFS,
    compare=comparison,
)
