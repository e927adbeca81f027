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
from compute.q3.names import DECODER_NAMES, METRIC_NAMES
from compute.q3.steps import HOMEWORK, split_sizes
from compute.q3.text import VOCAB, decode, until_eos
from compute.q3.train import FIXED, load_split, load_trained
from report.claims import Claim, declared
from report.render import Tex, escape, num, texjoin
from report.sections import DataOption, Section

DECODERS, METRICS = DECODER_NAMES, METRIC_NAMES

# Published test results on the real LJ Speech 1.1 (14 independent runs).
REFERENCE_CLIPS = 2620
REFERENCE = {
    "lstm": {"loss": (1.1828, 1.1828), "jaccard": (0.7149, 0.7149), "cosine": (0.8324, 0.8324),
             "damerau_levenshtein": (0.5087, 0.5087)},
    "attention": {"loss": (1.1596, 1.1606), "jaccard": (0.7645, 0.7658), "cosine": (0.8652, 0.8661),
                  "damerau_levenshtein": (0.6322, 0.6347)},
}
# the settings the text states, checked against the declaration of the step that used them
FEATURE_SETTINGS = ("sample_rate", "mel_sample_rate", "n_fft", "hop", "n_mels", "frames", "max_text")
TRAIN_SETTINGS = ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "warmup_epochs")
MODEL_SETTINGS = ("n_state", "n_head", "n_audio_layer")
# a setting of the differences table in words, and how its value reads
SETTING_WORDS = {
    "source": ("data", lambda v: {"ljspeech": "LJ Speech 1.1", "corpus": "generated corpus"}.get(v, v)),
    "n_clips": ("clips used", lambda v: "all" if v is None else num(v)),
    "bounds": ("clips per split (training / validation / test)",
               lambda v: texjoin([num(n) for n in split_sizes(v)], " / ")),
    "require_complete": ("refuse an incomplete dataset", lambda v: "yes" if v else "no"),
    "hop": ("hop between frames (samples)", num),
    "frames": ("padded length (frames)", num),
    "epochs": ("epochs", num),
    "batch_size": ("batch size (clips)", num),
    "fused_adamw": ("AdamW step", lambda v: "fused (one kernel)" if v else "PyTorch's default"),
    "warmup_epochs": ("warm-up (epochs)", num),
    "decay_epochs": ("linear decay (epochs)", num),
    "baseline_candidates": ("candidates of the constant baseline", num),
    "padding": ("padding", lambda v: v if v == FIXED else "to each batch's longest clip and transcript "
                                                          "(clips grouped by length)"),
}
SAMPLES_SHOWN = 6  # test transcriptions the text shows, the first ones of the test split
BASELINE_SHOWN = "attention"  # both decoders score the same constant baseline; the table shows one
MEASURED = {"q3.train:decoders.*.timing.train_seconds": "Q3.1 and Q3.2: training time of each decoder"}


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
        a_codes[k, :len(a)], b_codes[k, :len(b)] = [ord(c) for c in a], [ord(c) for c in b]
    j = np.arange(width + 1)
    above, before = np.tile(j, (n, 1)), None  # row 0: j insertions
    out = np.where(la == 0, lb, 0)
    for i in range(1, a_codes.shape[1] + 1):
        # every term of the recurrence but the left neighbour's
        rest = np.minimum(above[:, 1:] + 1, above[:, :-1] + (a_codes[:, i - 1:i] != b_codes))
        if i > 1:
            swap = (a_codes[:, i - 1:i] == b_codes[:, :-1]) & (a_codes[:, i - 2:i - 1] == b_codes[:, 1:])
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
        out.append({"jaccard": common / sum(max(a[c], b[c]) for c in a | b),
                    "cosine": common / math.sqrt(len(target) * len(output)),
                    "damerau_levenshtein": 1 - distance / max(len(target), len(output))})
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


@lru_cache(maxsize=4)
def _test_loss(model_file: str, features_dir: str, batch_size: int, label_smoothing: float, padding: str) -> float:
    """The test loss computed again: the saved weights on the test features, teacher forcing, the
    mean of the per-batch mean losses; with per-batch padding, the clips in order of length and
    each batch cut to its longest clip and to its longest transcript (counted in characters)."""
    model, split = load_trained(Path(model_file)), load_split(Path(features_dir), "test")
    order = list(range(len(split["tokens"])))
    if padding != FIXED:
        order.sort(key=lambda i: int(split["frames_used"][i]))
    losses = []
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = torch.tensor(order[start:start + batch_size])
            mel, tokens = split["features"][idx], split["tokens"][idx]
            if padding != FIXED:
                mel = mel[..., : int(split["frames_used"][idx].max())]
                tokens = tokens[:, : max(len(until_eos(decode(row))) for row in tokens.tolist())]  # `<` text `>`
            logits = model(mel, tokens[:, :-1])
            losses.append(F.cross_entropy(logits, tokens[:, 1:], label_smoothing=label_smoothing).item())
    return sum(losses) / len(losses)


@lru_cache(maxsize=4)
def _corpus_on_disk(folder: str) -> dict:
    """Clips, characters and durations counted again from the corpus' metadata.csv and wav files."""
    with open(Path(folder) / "metadata.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE))
    seconds = [soundfile.info(str(Path(folder) / "wavs" / f"{r[0]}.wav")).duration for r in rows]
    return {"clips": len(rows), "mean_chars": sum(len(r[2]) for r in rows) / len(rows),
            "hours": sum(seconds) / 3600, "min_seconds": min(seconds), "max_seconds": max(seconds)}


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
    out = [Claim(f"q3.clips.{s}", features.data["splits"][s], counted[s]) for s in ("train", "val", "test")]
    stated = declared(features)["params"]
    out += [Claim(f"q3.setting.{k}", features.data["settings"][k], stated[k]) for k in FEATURE_SETTINGS]
    if "q3.corpus" in results:
        corpus = results["q3.corpus"]
        counted = _corpus_on_disk(str(corpus.dir / corpus.data["dir"]))
        out += [Claim(f"q3.corpus.{k}", corpus.data[k], v, tol=0.0 if k == "clips" else 1e-9)
                for k, v in counted.items()]
    else:
        counted = _corpus_on_disk(features.data["root"])
        out.append(Claim("q3.hours", features.data["hours"], counted["hours"], tol=1e-9))
    return out


def _settings_claims(result) -> list[Claim]:
    first = result.data["decoders"][next(iter(DECODERS))]
    settings, stated = first["settings"], declared(result)
    differences = {k: {"homework": HOMEWORK[k], "profile": d["profile"]}
                   for k, d in stated["params"]["differences_from_homework"].items()}
    return ([Claim(f"q3.setting.{k}", settings[k], stated["params"][k]) for k in TRAIN_SETTINGS]
            + [Claim(f"q3.setting.{k}", settings["model"][k], stated["params"]["model"][k]) for k in MODEL_SETTINGS]
            + [Claim("q3.setting.seed", first["seed"], stated["seed"]),
               Claim("q3.processes", result.data["processes"],
                     parallel.process_count(stated["params"]["workers"], len(result.data["decoders"]),
                                            first["device"], result.data["cpus"])),  # the training machine's cores
               Claim("q3.vocabulary", settings["model"]["n_vocab"], len(VOCAB)),
               Claim("q3.differences", first["differences_from_homework"], differences)])


def _decoder_claims(decoder: str, result, features_dir: str) -> tuple[list[Claim], dict]:
    r, params = result.data["decoders"][decoder], declared(result)["params"]
    pairs = [(x["target"], x["output"]) for x in r["test_transcriptions"]]
    rescored = _average(tuple(pairs))
    expected = _expected_parameters(params["model"], decoder)
    loss = _test_loss(str(result.file(r["model_file"])), features_dir, params["eval_batch_size"],
                      params["label_smoothing"], params["padding"])
    out = [Claim(f"q3.params.{decoder}.{part}", r["parameters"][part], expected[part])
           for part in ("encoder", "decoder", "total")]
    out += [Claim(f"q3.test.{decoder}.{m}", r["test"][m], rescored[m], tol=1e-9) for m in METRICS]
    out.append(Claim(f"q3.test.{decoder}.loss", r["test"]["loss"], loss, tol=2e-5))
    baseline = {m: _average(tuple((t, r["baseline"][m]["output"]) for t, _ in pairs))[m] for m in METRICS}
    if decoder == BASELINE_SHOWN:
        out += [Claim(f"q3.baseline.{m}", r["baseline"][m]["test"], baseline[m], tol=1e-9) for m in METRICS]
    out.append(Claim(f"q3.beats_baseline.{decoder}", all(r["test"][m] > r["baseline"][m]["test"] for m in METRICS),
                     all(rescored[m] > baseline[m] for m in METRICS)))
    out.append(Claim(f"q3.margin.{decoder}", min(r["test"][m] - r["baseline"][m]["test"] for m in METRICS),
                     min(rescored[m] - baseline[m] for m in METRICS), tol=1e-9))
    out.append(Claim(f"q3.cosine_above_jaccard.{decoder}", r["test"]["cosine"] >= r["test"]["jaccard"],
                     all(s["cosine"] >= s["jaccard"] for s in _scores(tuple(pairs)))))
    return out, rescored


def claims(results: dict) -> list[Claim]:
    out, rescored = _data_claims(results) + _settings_claims(results["q3.train"]), {}
    for decoder in DECODERS:
        found, rescored[decoder] = _decoder_claims(decoder, results["q3.train"], str(results["q3.features"].dir))
        out += found
    lstm, attention = (results["q3.train"].data["decoders"][d]["test"] for d in DECODERS)
    for m in METRICS:
        out.append(Claim(f"q3.better.{m}", _winner(attention[m] - lstm[m]),
                         _winner(rescored["attention"][m] - rescored["lstm"][m])))
        out.append(Claim(f"q3.gap.{m}", attention[m] - lstm[m],
                         rescored["attention"][m] - rescored["lstm"][m], tol=1e-9))
    return out


def setting_row(name: str, value) -> Tex:
    """A cell of the differences table: the value of setting `name` in words."""
    words = SETTING_WORDS.get(name, (name.replace("_", " "), str))[1](value)
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
        "reference": REFERENCE,
        "reference_clips": REFERENCE_CLIPS,
        "voice_pool": len(VOICES),
        "setting_label": lambda name: SETTING_WORDS.get(name, (name.replace("_", " "),))[0],
        "setting_row": setting_row,
        "dl_variant": first["damerau_levenshtein_variant"],
        "per_batch_padding": first["settings"]["padding"] != FIXED,
        "samples": [{"id": s["id"], "target": s["target"],
                     **{d: trained[d]["test_transcriptions"][i]["output"] for d in DECODERS}}
                    for i, s in enumerate(first["test_transcriptions"][:shown])],
    }


SECTION = Section(
    name="q3", title="Speech recognition on LJ Speech",
    summary="Transformer encoder, LSTM and attention decoders",
    profiles=steps.PROFILES, steps=steps.steps, claims=claims, context=context,
    check_data=steps.check_data, download=steps.download,
    data_options=(DataOption("ljspeech", "the LJSpeech-1.1 folder (else downloaded)", ENV_VAR,
                             tuple(p for p, s in steps.PROFILES.items() if s["source"] == "ljspeech"),
                             "LJ Speech"),),
    measured=MEASURED)
