"""The course's transcript similarities, per utterance on character sequences that include
`<` and `>` (both cut at their first `>`), averaged over utterances."""
from __future__ import annotations

import math
from collections import Counter

from compute.q3.text import until_eos

METRICS = ("jaccard", "cosine", "damerau_levenshtein")
# The course scored with the restricted variant: an adjacent transposition costs one edit, but no
# character of a transposed pair is edited again. The unrestricted distance (jellyfish's) can be
# smaller, so it would overstate the similarity against the published numbers.
DAMERAU_LEVENSHTEIN_VARIANT = "restricted (optimal string alignment)"


def jaccard(a: str, b: str) -> float:
    """Multiset Jaccard: sum of the smaller counts over sum of the larger counts."""
    ca, cb = Counter(a), Counter(b)
    return sum((ca & cb).values()) / sum((ca | cb).values())


def cosine(a: str, b: str) -> float:
    """Multiset cosine: size of the multiset intersection over sqrt(len a * len b)."""
    return sum((Counter(a) & Counter(b)).values()) / math.sqrt(len(a) * len(b))


def optimal_string_alignment_distance(a: str, b: str) -> int:
    """Restricted Damerau-Levenshtein distance: insertions, deletions, substitutions and adjacent
    transpositions, no substring edited twice.

    Hyyro's bit-vector algorithm (2003): a column of the edit-distance table is kept as bit masks of
    its vertical differences (+1, -1), one update per character of b. As fast as a compiled
    library for transcripts of a hundred characters, which the per-epoch validation scores need.
    """
    if not a or not b:
        return len(a) + len(b)
    positions: dict[str, int] = {}
    for i, ch in enumerate(a):
        positions[ch] = positions.get(ch, 0) | 1 << i
    full, last = (1 << len(a)) - 1, 1 << (len(a) - 1)
    plus, minus, diagonal_zero, previous = full, 0, 0, 0
    distance = len(a)
    for ch in b:
        match = positions.get(ch, 0)
        transposed = ((~diagonal_zero & match) << 1) & previous
        diagonal_zero = ((((match & plus) + plus) & full) ^ plus) | match | minus | transposed
        right_plus = minus | (~(diagonal_zero | plus) & full)
        right_minus = plus & diagonal_zero
        distance += bool(right_plus & last) - bool(right_minus & last)
        right_plus = ((right_plus << 1) | 1) & full
        right_minus = (right_minus << 1) & full
        plus = right_minus | (~(diagonal_zero | right_plus) & full)
        minus = right_plus & diagonal_zero
        previous = match
    return distance


def damerau_levenshtein(a: str, b: str) -> float:
    """1 - distance / max(len a, len b), with the restricted distance."""
    return 1.0 - optimal_string_alignment_distance(a, b) / max(len(a), len(b))


SIMILARITIES = {"jaccard": jaccard, "cosine": cosine, "damerau_levenshtein": damerau_levenshtein}


def similarities(targets: list[str], outputs: list[str]) -> dict[str, float]:
    """Mean of each similarity over utterances; targets and outputs are character sequences from `<`."""
    if len(targets) != len(outputs) or not targets:
        raise ValueError(f"need as many outputs as targets (got {len(outputs)} and {len(targets)})")
    pairs = [(until_eos(t), until_eos(o)) for t, o in zip(targets, outputs)]
    return {name: sum(f(t, o) for t, o in pairs) / len(pairs) for name, f in SIMILARITIES.items()}
