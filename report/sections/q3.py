"""Q3's claims, re-scored from the stored test transcriptions, and the variables its template reads."""
from __future__ import annotations

import math
from collections import Counter

from compute.q3 import steps
from compute.q3.names import DECODER_NAMES, METRIC_NAMES
from report.claims import Claim
from report.sections import Section

DECODERS, METRICS = DECODER_NAMES, METRIC_NAMES

# Published test results on the real LJ Speech 1.1 (2,620 clips, 14 independent runs).
REFERENCE = {
    "lstm": {"loss": (1.1828, 1.1828), "jaccard": (0.7149, 0.7149), "cosine": (0.8324, 0.8324),
             "damerau_levenshtein": (0.5087, 0.5087)},
    "attention": {"loss": (1.1596, 1.1606), "jaccard": (0.7645, 0.7658), "cosine": (0.8652, 0.8661),
                  "damerau_levenshtein": (0.6322, 0.6347)},
}


def osa_distance_by_table(a: str, b: str) -> int:
    """Restricted Damerau-Levenshtein distance from its textbook recurrence, the whole table in
    memory: an independent implementation of what compute/q3/metrics.py computes with bit vectors."""
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1,
                              table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
    return table[-1][-1]


def _score(target: str, output: str) -> dict[str, float]:
    """The three similarities of one utterance, written out again from their definitions."""
    a, b = Counter(target), Counter(output)
    common = sum(min(a[c], b[c]) for c in a)
    return {"jaccard": common / sum(max(a[c], b[c]) for c in a | b),
            "cosine": common / math.sqrt(len(target) * len(output)),
            "damerau_levenshtein": 1 - osa_distance_by_table(target, output) / max(len(target), len(output))}


def _average(pairs: list[tuple[str, str]]) -> dict[str, float]:
    scores = [_score(t, o) for t, o in pairs]
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


def _winner(attention_minus_lstm: float) -> str:
    """Which decoder a difference favours; below 1e-9 the two tie (float noise, not a result)."""
    if abs(attention_minus_lstm) < 1e-9:
        return "tie"
    return "attention" if attention_minus_lstm > 0 else "lstm"


def claims(results: dict) -> list[Claim]:
    out, rescored = [], {}
    for decoder in DECODERS:
        r = results["q3.train"].data["decoders"][decoder]
        pairs = [(x["target"], x["output"]) for x in r["test_transcriptions"]]
        rescored[decoder] = _average(pairs)
        expected = _expected_parameters(r["settings"]["model"], decoder)
        out += [Claim(f"q3.params.{decoder}.{part}", r["parameters"][part], expected[part])
                for part in ("encoder", "decoder", "total")]
        out += [Claim(f"q3.test.{decoder}.{m}", r["test"][m], rescored[decoder][m], tol=1e-9) for m in METRICS]
        baseline = {m: _average([(t, r["baseline"][m]["output"]) for t, _ in pairs])[m] for m in METRICS}
        out.append(Claim(f"q3.beats_baseline.{decoder}",
                         all(r["test"][m] > r["baseline"][m]["test"] for m in METRICS),
                         all(rescored[decoder][m] > baseline[m] for m in METRICS)))
        out.append(Claim(f"q3.margin.{decoder}", min(r["test"][m] - r["baseline"][m]["test"] for m in METRICS),
                         min(rescored[decoder][m] - baseline[m] for m in METRICS), tol=1e-9))
        out.append(Claim(f"q3.cosine_above_jaccard.{decoder}", r["test"]["cosine"] >= r["test"]["jaccard"],
                         all(_score(t, o)["cosine"] >= _score(t, o)["jaccard"] for t, o in pairs)))
    lstm, attention = (results["q3.train"].data["decoders"][d]["test"] for d in DECODERS)
    for m in METRICS:
        out.append(Claim(f"q3.better.{m}", _winner(attention[m] - lstm[m]),
                         _winner(rescored["attention"][m] - rescored["lstm"][m])))
        out.append(Claim(f"q3.gap.{m}", attention[m] - lstm[m],
                         rescored["attention"][m] - rescored["lstm"][m], tol=1e-9))
    return out


def context(results: dict) -> dict:
    trained = results["q3.train"].data["decoders"]
    first = trained["lstm"]
    return {
        "corpus": results["q3.corpus"].data if "q3.corpus" in results else None,
        "features": results["q3.features"].data,
        "trained": trained,
        "processes": results["q3.train"].data["processes"],
        "figures": results["q3.figures"].data,
        "decoders": DECODERS,
        "metrics": METRICS,
        "reference": REFERENCE,
        "differences": first["differences_from_homework"],
        "settings": first["settings"],
        "settings_features": results["q3.features"].data["settings"],
        "dl_variant": first["damerau_levenshtein_variant"],
        "samples": [{"id": s["id"], "target": s["target"],
                     **{d: trained[d]["samples"][i]["output"] for d in DECODERS}}
                    for i, s in enumerate(first["samples"])],
    }


SECTION = Section(
    name="q3", title="Speech recognition on LJ Speech",
    summary="Transformer encoder, LSTM and attention decoders",
    profiles=steps.PROFILES, steps=steps.steps, claims=claims, context=context,
    check_data=steps.check_data, download=steps.download,
    data_options={"ljspeech": tuple(p for p, s in steps.PROFILES.items() if s["source"] == "ljspeech")})
