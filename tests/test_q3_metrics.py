import math
import random

import pytest
from rapidfuzz.distance import OSA, DamerauLevenshtein

from compute.q3.metrics import (
    DAMERAU_LEVENSHTEIN_VARIANT,
    cosine,
    damerau_levenshtein,
    jaccard,
    similarities,
)
from report.sections.q3 import osa_distance_by_table, osa_distances_by_table

# The worked example: target "<the>" (5 characters), output "<to>" (4 characters).
# Shared characters (multiset intersection): <, t, >  -> 3.
# Multiset union: < t h e o >  -> 6 (= 5 + 4 - 3).
# Jaccard = 3 / 6 = 0.5; cosine = 3 / sqrt(5 * 4) = 0.6708;
# edits "<the>" -> "<to>": h -> o, delete e -> distance 2; similarity = 1 - 2 / 5 = 0.6.


def test_worked_example_gives_half_jaccard():
    assert jaccard("<the>", "<to>") == 0.5


def test_worked_example_gives_cosine_three_over_root_twenty():
    assert cosine("<the>", "<to>") == pytest.approx(3 / math.sqrt(20))
    assert round(cosine("<the>", "<to>"), 4) == 0.6708


def test_worked_example_gives_damerau_levenshtein_similarity_six_tenths():
    assert damerau_levenshtein("<the>", "<to>") == pytest.approx(0.6)


def test_jaccard_counts_repeated_characters():
    # "<aab>" vs "<ab>": min counts < 1, a 1, b 1, > 1 = 4; max counts < 1, a 2, b 1, > 1 = 5
    assert jaccard("<aab>", "<ab>") == pytest.approx(4 / 5)


def test_cosine_counts_repeated_characters():
    # intersection 4 (as above), lengths 5 and 4
    assert cosine("<aab>", "<ab>") == pytest.approx(4 / math.sqrt(20))


def test_damerau_levenshtein_is_the_restricted_variant():
    # "<ca>" -> "<abc>": unrestricted: swap ca -> ac, insert b = 2 edits; the restricted
    # variant (optimal string alignment) may not edit inside a swapped pair and needs 3.
    assert damerau_levenshtein("<ca>", "<abc>") == pytest.approx(1 - 3 / 5)
    assert DamerauLevenshtein.distance("<ca>", "<abc>") == 2
    assert DAMERAU_LEVENSHTEIN_VARIANT.startswith("restricted")


def test_the_library_distance_equals_the_textbook_table_on_random_strings():
    rng = random.Random(0)
    for alphabet in ("ab", "abc<>", "abcdefgh <>"):
        pairs = [
            tuple(
                "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(2)
            )
            for _ in range(1500)
        ]
        for a, b in pairs[:200]:  # one pair a table
            assert OSA.distance(a, b) == osa_distance_by_table(a, b), (a, b)
        # all pairs in one table of rows padded to the longest strings
        assert osa_distances_by_table(pairs) == [OSA.distance(a, b) for a, b in pairs]


def test_the_library_distance_handles_strings_longer_than_a_machine_word():
    a = "<the quick brown fox jumps over the lazy dog and keeps running far away>" * 2
    b = a.replace("quick", "qiuck").replace("lazy", "lay")
    assert len(a) > 128
    assert OSA.distance(a, b) == osa_distance_by_table(a, b) == 4


def test_damerau_levenshtein_counts_a_transposition_as_one_edit():
    assert damerau_levenshtein("<ab>", "<ba>") == pytest.approx(1 - 1 / 4)


def test_similarities_cut_outputs_at_their_first_eos():
    assert similarities(["<the>@@@"], ["<to>hello>@@"]) == similarities(["<the>"], ["<to>"])


def test_similarities_end_an_output_without_eos_with_one():
    # "<tox" has no ">": scored as "<to>" (its last token becomes ">")
    assert similarities(["<the>"], ["<tox"]) == pytest.approx(
        {"jaccard": 0.5, "cosine": 3 / math.sqrt(20), "damerau_levenshtein": 0.6}
    )


def test_similarities_average_over_utterances():
    scores = similarities(["<the>", "<ab>"], ["<to>", "<ab>"])
    assert scores["jaccard"] == pytest.approx((0.5 + 1.0) / 2)
    assert scores["cosine"] == pytest.approx((3 / math.sqrt(20) + 1.0) / 2)
    assert scores["damerau_levenshtein"] == pytest.approx((0.6 + 1.0) / 2)


def test_similarities_refuse_mismatched_lists():
    with pytest.raises(ValueError):
        similarities(["<a>"], [])
