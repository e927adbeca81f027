"""Q1 measured: how close the K-term feature map gets to softmax attention, and the wall time
of softmax attention against right-to-left linear attention as L grows."""

from __future__ import annotations

import math
import statistics
import time
from itertools import combinations_with_replacement

import numpy as np
import torch

from compute.q1.series import truncated_exp
from compute.torchtools import torch_threads


class FeatureMap:
    """phi: R^D -> R^M, the monomials x^a / sqrt(a!) with |a| <= K - 1, degree by degree.

    Within a degree the monomials are in colex order, so those whose highest variable is x_i
    are x_i times a prefix of the degree below: every block is one product into the output,
    with no gathered copies (on a CPU the temporaries, not the flops, would dominate).
    """

    def __init__(self, dimension: int, terms: int, dtype=torch.float32):
        self.input_dimension, self.terms = dimension, terms
        self.dimension = math.comb(dimension + terms - 1, terms - 1)
        # x^a / sqrt(a!) = x^(a - e_i) / sqrt((a - e_i)!) * x_i / sqrt(a_i), i the highest index
        self.scales = [
            torch.tensor([1 / math.sqrt(a.count(a[-1])) for a in colex(dimension, n)], dtype=dtype)[
                :, None
            ]
            for n in range(1, terms)
        ]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: (L, D) -> (L, M)"""
        x = x.T.contiguous()  # built as (M, L): each block is a run of whole rows
        phi = x.new_empty(self.dimension, x.shape[1])
        phi[0] = 1
        if self.terms > 1:
            phi[1 : 1 + self.input_dimension] = x  # degree 1: the coordinates themselves
        below, start = 1, 1 + self.input_dimension
        for degree, scale in enumerate(self.scales[1:], 2):
            end = start
            for i in range(self.input_dimension):
                count = math.comb(i + degree - 1, degree - 1)  # degree - 1, in x_1..x_{i+1}
                torch.mul(phi[below : below + count], x[i], out=phi[end : end + count])
                end += count
            phi[start:end] *= scale
            below, start = start, end
        return phi.T


def colex(dimension: int, degree: int) -> list[tuple[int, ...]]:
    """Multisets of `degree` indices, ordered by their highest index first (colex)."""
    return sorted(combinations_with_replacement(range(dimension), degree), key=lambda a: a[::-1])


def softmax_attention(q, k, v):
    """q, k, v: (L, D) -> (L, D), through the L x L score matrix."""
    return torch.softmax(q @ k.T, dim=-1) @ v


def kernel_sums(phi_q, phi_k, v):
    """Right to left: Phi(Q) (Phi(K)^T V) and Phi(Q) (Phi(K)^T 1), never an L x L matrix."""
    return phi_q @ (phi_k.T @ v), phi_q @ phi_k.sum(0)


def linear_attention(q, k, v, phi: FeatureMap):
    """q, k, v: (L, D) -> (L, D), D^-1 Phi(Q) Phi(K)^T V evaluated right to left."""
    numerators, normaliser = kernel_sums(phi(q), phi(k), v)
    return numerators / normaliser[:, None]


# --- approximation error ------------------------------------------------------------------


def compare_with_softmax(q, k, v, phi: FeatureMap, terms: int) -> dict:
    """Per-row errors of the approximation on one draw; rows with normaliser <= 0 left out."""
    exact_weights = torch.softmax(q @ k.T, dim=-1)
    exact = exact_weights @ v
    phi_q, phi_k = phi(q), phi(k)
    numerators, normaliser = kernel_sums(phi_q, phi_k, v)
    kernel = truncated_exp(q @ k.T, terms)
    usable = normaliser > 0
    approx = numerators[usable] / normaliser[usable, None]
    weights = kernel[usable] / normaliser[usable, None]
    return {
        "output": (approx - exact[usable]).norm(dim=1) / exact[usable].norm(dim=1),
        "weights": (weights - exact_weights[usable]).abs().sum(dim=1),
        "excluded": int((~usable).sum()),
        "negative_kernel_fraction": (kernel < 0).double().mean().item(),
        "feature_map_gap": (phi_q @ phi_k.T - kernel).abs().max().item(),
    }


def approximation_error(p: dict, seed: int) -> dict:
    """The K-term approximation against softmax attention, in float64.

    Q and K entries have standard deviation logit_std^(1/2) D^(-1/4), so q^T k has standard
    deviation logit_std; V entries are N(0, 1).
    """
    generator = torch.Generator().manual_seed(seed)
    d, length = p["dimension"], p["length"]
    maps = {terms: FeatureMap(d, terms, torch.float64) for terms in p["terms"]}
    curves = []
    for logit_std in p["logit_stds"]:
        scale = math.sqrt(logit_std) * d**-0.25
        draws = [
            [
                torch.randn(length, d, generator=generator, dtype=torch.float64) * s
                for s in (scale, scale, 1.0)
            ]
            for _ in range(p["trials"])
        ]
        points = []
        for terms, phi in maps.items():
            found = [compare_with_softmax(q, k, v, phi, terms) for q, k, v in draws]
            output = torch.cat([f["output"] for f in found])
            weights = torch.cat([f["weights"] for f in found])
            points.append(
                {
                    "K": terms,
                    "M": phi.dimension,
                    "mean_relative_error": output.mean().item(),
                    "max_relative_error": output.max().item(),
                    "mean_weights_l1": weights.mean().item(),
                    "rows": length * len(draws),
                    "rows_nonpositive_normaliser": sum(f["excluded"] for f in found),
                    "negative_kernel_fraction": statistics.mean(
                        f["negative_kernel_fraction"] for f in found
                    ),
                    "feature_map_max_abs_gap": max(f["feature_map_gap"] for f in found),
                }
            )
        curves.append({"logit_std": logit_std, "points": points})
    return {
        "dimension": d,
        "length": length,
        "trials": p["trials"],
        "dtype": "float64",
        "curves": curves,
    }


# --- wall time ------------------------------------------------------------------------------


def median_time(fn, warmup: int, repeats: int, min_seconds: float) -> float:
    """Median of at least `repeats` calls, more (up to 50x) until min_seconds are spent:
    short calls are the ones a busy machine disturbs most."""
    for _ in range(warmup):
        fn()
    times = []
    while len(times) < repeats or (sum(times) < min_seconds and len(times) < 50 * repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def loglog_fit(lengths, seconds, fit_from: int) -> tuple[float, float]:
    """Slope and intercept of log(seconds) against log(L) over L >= fit_from."""
    keep = [(n, s) for n, s in zip(lengths, seconds) if n >= fit_from]
    slope, intercept = np.polyfit(np.log([n for n, _ in keep]), np.log([s for _, s in keep]), 1)
    return float(slope), float(intercept)


def measured_crossover(lengths, softmax_times, linear_times):
    """First L where linear gets faster, log-log interpolated; None outside the measured range."""
    ratio = np.log(np.array(softmax_times) / np.array(linear_times))  # > 0: linear is faster
    if ratio[0] > 0:
        return None
    for i in range(len(ratio) - 1):
        if ratio[i] <= 0 < ratio[i + 1]:
            w = -ratio[i] / (ratio[i + 1] - ratio[i])
            return float(math.exp(math.log(lengths[i]) + w * math.log(lengths[i + 1] / lengths[i])))
    return None


def timing(p: dict, seed: int, progress) -> dict:
    """Median wall time, float32 on the CPU with a fixed thread count, feature maps included.

    Softmax stops at softmax_max_length (its L x L scores take 1 GiB at L = 16384); linear
    attention goes on, so that its slope is fitted over as wide a range.
    """
    generator = torch.Generator().manual_seed(seed)
    d = p["dimension"]
    phi = FeatureMap(d, p["terms"])
    measured = {"softmax": ([], []), "linear": ([], [])}
    with torch_threads(p["threads"]), torch.inference_mode():
        for length in progress(p["lengths"], total=len(p["lengths"]), desc="timing"):
            q, k, v = (torch.randn(length, d, generator=generator) * d**-0.25 for _ in range(3))
            calls = {"linear": lambda: linear_attention(q, k, v, phi)}
            if length <= p["softmax_max_length"]:
                calls["softmax"] = lambda: softmax_attention(q, k, v)
            for name, call in calls.items():
                measured[name][0].append(length)
                measured[name][1].append(
                    median_time(call, p["warmup"], p["repeats"], p["min_seconds"])
                )
    result = {
        "dimension": d,
        "terms": p["terms"],
        "feature_dimension": phi.dimension,
        "threads": p["threads"],
        "dtype": "float32",
        "device": "cpu",
        "warmup": p["warmup"],
        "repeats": p["repeats"],
        "min_seconds": p["min_seconds"],
        "fit_from": p["fit_from"],
    }
    for name, (lengths, seconds) in measured.items():
        slope, intercept = loglog_fit(lengths, seconds, p["fit_from"])
        result[name] = {
            "lengths": lengths,
            "seconds": seconds,
            "slope": slope,
            "fit_intercept": intercept,
        }
    shared = len(measured["softmax"][0])
    result["crossover_length"] = measured_crossover(
        measured["softmax"][0], measured["softmax"][1], measured["linear"][1][:shared]
    )
    return result


def run(ctx) -> dict:
    p = ctx.params
    crossover = ctx.needed["q1.symbolic"].data["complexity"]["crossover"]
    if crossover["dimension"] != p["timing"]["dimension"]:
        raise ValueError(
            f"q1.symbolic solved the crossover for D = {crossover['dimension']}, "
            f"the timing uses D = {p['timing']['dimension']}: give both the same D"
        )
    ctx.log("approximation error against softmax attention")
    error = approximation_error(p["error"], ctx.seed)
    ctx.log(f"wall time on {p['timing']['threads']} CPU thread(s)")
    timed = timing(p["timing"], ctx.seed, ctx.progress)
    timed["predicted_crossover_length"] = crossover["value"]
    measured = timed["crossover_length"]
    timed["crossover_over_feature_dimension"] = measured and measured / timed["feature_dimension"]
    timed["crossover_over_predicted"] = measured and measured / crossover["value"]
    return {"error": error, "timing": timed}
