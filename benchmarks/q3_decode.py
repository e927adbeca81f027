"""Greedy decoding speed: the course's decoding against the cached one, same model and clips.

What it measures: the decoding loop only, from the encoder output to the tokens (the encoder runs
once per clip in both and is timed separately), for both decoders at the homework's dimensions
and 2,754 input frames (1,377 encoder frames), one evaluation batch of clips. By default the
weights are random: typically no sequence emits `>`, so all 98 steps run in both (the steps run
are printed) and the speedup comes from caching alone (a lower bound). With --trained, the
weights and test clips (at their profile's frame count) of the newest cached training run are
used instead, where the early stop adds to it.

Both run on one torch thread by default (--threads): the cached decoding's small per-step
operations gain nothing from more, and shared cores make multi-threaded timings erratic.

    python benchmarks/q3_decode.py [--quick] [--trained [--build-dir DIR]] [--clips N]
        [--repeats N] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compute.engine.cache import Cache  # noqa: E402
from compute.q3.decode import course_greedy_decode, greedy_decode  # noqa: E402
from compute.q3.model import DECODERS, ModelDimensions, SpeechRecognizer  # noqa: E402
from compute.q3.train import load_trained  # noqa: E402


def newest(cache: Cache, step: str, name: str) -> Path | None:
    """The file `name` of the step's newest cached entry (by when it finished) that holds one."""
    held = (entry.files / name for entry, _ in cache.history(step))
    return next((path for path in held if path.is_file()), None)


def setting(
    decoder: str, clips: int, trained_in: Path | None
) -> tuple[SpeechRecognizer, torch.Tensor, str]:
    """The model and input features to decode, and a description of them."""
    cache = Cache.of(trained_in) if trained_in else None
    model_file = newest(cache, "q3.train", f"model_{decoder}.pt") if cache else None
    features_file = newest(cache, "q3.features", "test.pt") if cache else None
    if model_file and features_file:
        model = load_trained(model_file)
        test = torch.load(features_file, mmap=True, weights_only=True)
        features = test["features"][:clips].clone()
        if features.shape[-1] == model.dims.n_frames:
            what = f"trained weights ({model_file.name}, {model.dims.n_frames} frames), test clips"
            return model, features, what
    if cache:
        print(
            f"{decoder}: no cached trained model with matching features in {cache.root}; "
            "using random weights"
        )
    torch.manual_seed(0)
    dims = ModelDimensions()
    return (
        SpeechRecognizer(dims, decoder).eval(),
        torch.randn(clips, dims.n_mels, dims.n_frames),
        "random weights",
    )


def best_time(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - began)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="4 clips, one run each (under a minute)"
    )
    parser.add_argument(
        "--trained", action="store_true", help="use the newest trained models in the build cache"
    )
    parser.add_argument(
        "--build-dir", type=Path, default=ROOT / "build", help="the build folder (default build/)"
    )
    parser.add_argument(
        "--clips", type=int, help="clips decoded together (default 16, the eval batch)"
    )
    parser.add_argument(
        "--repeats", type=int, help="runs of each decoding; the fastest counts (default 3)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clips = args.clips or (4 if args.quick else 16)
    repeats = args.repeats or (1 if args.quick else 3)
    print(
        f"q3 decode benchmark: {clips} clips decoded together, fastest of {repeats} run(s), "
        f"{torch.get_num_threads()} torch threads; decoding loop only (encoder output given)"
    )

    total_course = total_cached = 0.0
    identical = True
    with torch.inference_mode():
        for decoder in DECODERS:
            model, features, what = setting(
                decoder, clips, args.build_dir if args.trained else None
            )
            encoder_s, xa = best_time(lambda: model.encoder(features), 1)
            course_s, course = best_time(lambda: course_greedy_decode(model.decoder, xa), repeats)
            cached_s, cached = best_time(lambda: greedy_decode(model.decoder, xa), repeats)
            full = greedy_decode(model.decoder, xa, stop_at_eos=False)
            same = torch.equal(course, full) and torch.equal(course[:, : cached.shape[1]], cached)
            identical &= same
            total_course += course_s
            total_cached += cached_s
            print(
                f"{decoder}: {what}; encoder {encoder_s:.2f} s (once, both); "
                f"course {course_s:.2f} s ({course.shape[1] - 1} steps), "
                f"cached {cached_s:.3f} s ({cached.shape[1] - 1} steps), "
                f"{course_s / cached_s:.1f}x; tokens identical: {'yes' if same else 'NO'}"
            )
    print(
        f"course decoding: {total_course:.2f} s; "
        f"cached decoding: {total_cached:.3f} s (both decoders)"
    )
    print(f"tokens identical: {'yes' if identical else 'NO'}")
    print(f"q3 decode speedup: {total_course / total_cached:.1f}x")


if __name__ == "__main__":
    main()
