"""The course's transcript similarities, per utterance on character sequences that include
`<` and `>` (both cut at their first `>`), averaged over utterances."""
from __future__ import annotations

import math
from collections import Counter

import jellyfish

from compute.q3.text import until_eos

METRICS = ("jaccard", "cosine", "damerau_levenshtein")
# jellyfish computes the unrestricted Damerau-Levenshtein distance (a transposed pair may be
# edited again); the course's reference used the restricted one (optimal string alignment).
DAMERAU_LEVENSHTEIN_VARIANT = "unrestricted (jellyfish.damerau_levenshtein_distance)"


def jaccard(a: str, b: str) -> float:
    """Multiset Jaccard: sum of the smaller counts over sum of the larger counts."""
    ca, cb = Counter(a), Counter(b)
    return sum((ca & cb).values()) / sum((ca | cb).values())


def cosine(a: str, b: str) -> float:
    """Multiset cosine: size of the multiset intersection over sqrt(len a * len b)."""
    return sum((Counter(a) & Counter(b)).values()) / math.sqrt(len(a) * len(b))


def damerau_levenshtein(a: str, b: str) -> float:
    """1 - distance / max(len a, len b)."""
    return 1.0 - jellyfish.damerau_levenshtein_distance(a, b) / max(len(a), len(b))


SIMILARITIES = {"jaccard": jaccard, "cosine": cosine, "damerau_levenshtein": damerau_levenshtein}


def similarities(targets: list[str], outputs: list[str]) -> dict[str, float]:
    """Mean of each similarity over utterances; targets and outputs are character sequences from `<`."""
    if len(targets) != len(outputs) or not targets:
        raise ValueError(f"need as many outputs as targets (got {len(outputs)} and {len(targets)})")
    pairs = [(until_eos(t), until_eos(o)) for t, o in zip(targets, outputs)]
    return {name: sum(f(t, o) for t, o in pairs) / len(pairs) for name, f in SIMILARITIES.items()}
