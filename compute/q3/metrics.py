"""The course's transcript similarities, per utterance on character sequences that include
`<` and `>` (both cut at their first `>`), averaged over utterances."""

from __future__ import annotations

import math
from collections import Counter

from rapidfuzz.distance import OSA

from compute.q3.text import until_eos

METRICS = ("jaccard", "cosine", "damerau_levenshtein")
# The course scored with the restricted variant: an adjacent transposition costs one edit, but no
# character of a transposed pair is edited again (optimal string alignment, rapidfuzz's OSA). The
# unrestricted distance can be smaller, so it would overstate the similarity against the published
# numbers.
DAMERAU_LEVENSHTEIN_VARIANT = "restricted (optimal string alignment)"


def jaccard(a: str, b: str) -> float:
    """Multiset Jaccard: sum of the smaller counts over sum of the larger counts."""
    ca, cb = Counter(a), Counter(b)
    return sum((ca & cb).values()) / sum((ca | cb).values())


def cosine(a: str, b: str) -> float:
    """Multiset cosine: size of the multiset intersection over sqrt(len a * len b)."""
    return sum((Counter(a) & Counter(b)).values()) / math.sqrt(len(a) * len(b))


def damerau_levenshtein(a: str, b: str) -> float:
    """1 - distance / max(len a, len b), with the restricted distance."""
    return 1.0 - OSA.distance(a, b) / max(len(a), len(b))


SIMILARITIES = {"jaccard": jaccard, "cosine": cosine, "damerau_levenshtein": damerau_levenshtein}


def similarities(targets: list[str], outputs: list[str]) -> dict[str, float]:
    """Mean of each similarity over utterances; targets and outputs are character sequences
    from `<`."""
    if len(targets) != len(outputs) or not targets:
        raise ValueError(f"need as many outputs as targets (got {len(outputs)} and {len(targets)})")
    pairs = [(until_eos(t), until_eos(o)) for t, o in zip(targets, outputs)]
    return {name: sum(f(t, o) for t, o in pairs) / len(pairs) for name, f in SIMILARITIES.items()}
