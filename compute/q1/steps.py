"""Q1 efficient self-attention: the SymPy derivations, then the measured error and wall time."""

from __future__ import annotations

from compute.engine.profiles import derive
from compute.engine.step import Resources, Step
from compute.q1 import figures, numeric, symbolic

TIMING_DIMENSION = 16  # D of the timing; the symbolic crossover is solved for the same D

SYMBOLIC = {
    "identity_dimensions": [1, 2, 3, 4],
    "identity_terms": [1, 2, 3, 4, 5],
    "count_dimensions": list(range(1, 9)),
    "count_terms": list(range(1, 7)),
    "tensor_dimensions": [1, 2, 3],
    "tensor_terms": [1, 2, 3, 4],
    "wrong_formula_at": [2, 4],
    "table_dimensions": [2, 4, 8, 64],
    "table_terms": [2, 3, 4, 5],
    "construct_up_to": 50_000,
    "kernel_lengths": [2, 3],
    "kernel_dimensions": [1, 2],
    "kernel_terms": 3,
    "timing_dimension": TIMING_DIMENSION,
}

# Q1 has no dataset: the course's setting is the offline one, so `quick` changes nothing
HOMEWORK = {
    "symbolic": SYMBOLIC,
    "numeric": {
        "error": {
            "dimension": 16,
            "length": 128,
            "trials": 3,
            "terms": [1, 2, 3, 4, 5, 6],
            "logit_stds": [0.5, 1.0, 2.0],
        },
        # L = 16 .. 46341 in steps of sqrt(2), softmax up to 16384 (1 GiB of scores); slopes
        # fitted from 8192 on, where every working set is past the CPU caches. A median is of
        # three calls at least, and of more (up to 150) until 0.3 s are spent: a busy machine
        # disturbs short calls most, and long ones are costly to repeat.
        "timing": {
            "dimension": TIMING_DIMENSION,
            "terms": 3,
            "threads": 1,
            "warmup": 1,
            "repeats": 3,
            "min_seconds": 0.3,
            "lengths": [round(2 ** (i / 2)) for i in range(8, 32)],
            "softmax_max_length": 16384,
            "fit_from": 8192,
        },
    },
    "seed": 0,
}

PROFILES = derive(
    HOMEWORK,
    quick={},
    smoke={
        "symbolic": {
            "identity_dimensions": [1, 2],
            "identity_terms": [1, 2, 3],
            "count_dimensions": [1, 2, 3],
            "count_terms": [1, 2, 3, 4],
            "tensor_dimensions": [1, 2],
            "tensor_terms": [1, 2, 3],
            "construct_up_to": 3_000,
            "kernel_lengths": [2],
            "kernel_dimensions": [1, 2],
        },
        "numeric": {
            "error": {
                "dimension": 4,
                "length": 32,
                "trials": 1,
                "terms": [1, 2, 3, 4],
                "logit_stds": [1.0],
            },
            "timing": {
                "repeats": 3,
                "min_seconds": 0.02,
                "lengths": [2**i for i in range(4, 12)],
                "softmax_max_length": 2048,
                "fit_from": 512,
            },
        },
    },
)


def steps(profile: str, options: dict) -> list[Step]:
    p = PROFILES[profile]
    return [
        Step("q1.symbolic", symbolic.run, params=p["symbolic"], libraries=("sympy",)),
        Step(
            "q1.numeric",
            numeric.run,
            params=p["numeric"],
            needs=("q1.symbolic",),
            libraries=("torch", "numpy"),
            seed=p["seed"],
            uses_device=False,
            resources=Resources(memory_gb=8),
        ),  # softmax attention up to L = 16,384: 1 GiB of scores
        Step(
            "q1.figures",
            figures.run,
            needs=("q1.numeric",),
            libraries=("numpy", "matplotlib"),
            presents=True,
        ),
    ]
