"""Projections of Q3's steps (see compute/engine/plan.py): the corpus from a few clips spoken, the
features from a sample of clips, the training from a few timed batches of each decoder at the
profile's batch size and padded length, each scaled by the counts of the data and the settings.

The clips' lengths come from the cached features when there are some, else from the wav headers
(LJ Speech: soundfile reads no audio for them), else, for the offline corpus not yet spoken, from
its sentences and the seconds a character took in the clips spoken for the projection.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import soundfile
import torch

from compute import parallel
from compute.engine.plan import Probe, Projection, peak_ram, size, timed
from compute.engine.step import DataError
from compute.q3 import corpus, features, train
from compute.q3.data import read_metadata, split_rows, wav_path
from compute.q3.decode import STEPS
from compute.q3.model import ModelDimensions, SpeechRecognizer
from compute.q3.steps import split_sizes
from compute.q3.text import EOS, INDEX, PAD, VOCAB, normalise
from compute.torchtools import count_trainable_parameters, save_atomic, torch_threads

SPLITS = train.SPLITS
SPOKEN = 16  # clips of the offline corpus spoken for a projection, at most
SAMPLE = 32  # clips whose features are computed for a projection
WRITE_SAMPLE = 128  # clips of features written for a projection


def spoken_sample(probe: Probe) -> dict:
    """The first SPOKEN sentences of the offline corpus spoken as q3.corpus speaks them (its
    thread pool, its voices in turn, the middle speed and pitch) into the scratch folder: their
    paths, characters, seconds of audio, and the wall time."""
    step = probe.steps["q3.corpus"]
    sentences = corpus.make_sentences(min(SPOKEN, step.params["n_clips"]), step.seed)
    folder = probe.scratch / "spoken"
    folder.mkdir(exist_ok=True)
    speed, pitch = sum(corpus.SPEEDS) // 2, sum(corpus.PITCHES) // 2
    paths = [folder / f"{i}.wav" for i in range(len(sentences))]
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        seconds = list(
            pool.map(
                lambda i: corpus.speak(
                    sentences[i][1],
                    corpus.VOICES[i % len(corpus.VOICES)],
                    speed,
                    pitch,
                    paths[i],
                    step.params["sample_rate"],
                    folder,
                ),
                range(len(sentences)),
            )
        )
    return {
        "paths": paths,
        "chars": [len(s[1]) for s in sentences],
        "seconds": seconds,
        "wall": time.perf_counter() - began,
    }


def clip_table(probe: Probe) -> dict:
    """Per clip of the splits, in split order: its seconds of audio and its transcript's
    characters (cut to max_text); the split sizes; a sample of wav files; where it came from."""
    p = probe.steps["q3.features"].params
    if p["source"] == "corpus":
        spoken = probe.shared("spoken", lambda: spoken_sample(probe))
        per_char = sum(spoken["seconds"]) / sum(spoken["chars"])
        texts = [s[1] for s in corpus.make_sentences(p["bounds"][2], probe.steps["q3.corpus"].seed)]
        seconds = np.array([len(t) * per_char for t in texts])
        basis = (
            f"clip lengths from the sentences at {per_char * 1000:.0f} ms a character, "
            f"as {len(spoken['chars'])} clips spoken now took"
        )
        return {
            "seconds": seconds,
            "chars": np.array([len(normalise(t, p["max_text"])) for t in texts]),
            "splits": dict(zip(SPLITS, split_sizes(p["bounds"]))),
            "sample": spoken["paths"],
            "basis": basis,
        }
    root = Path(p["root"])
    splits = split_rows(read_metadata(root), p["bounds"], str(root / "metadata.csv"))
    rows = [row for name in SPLITS for row in splits[name]]
    infos = [header(wav_path(root, row.id)) for row in rows]
    every = max(1, len(rows) // SAMPLE)
    return {
        "seconds": np.array([i.frames / i.samplerate for i in infos]),
        "chars": np.array([len(normalise(row.normalized, p["max_text"])) for row in rows]),
        "splits": {name: len(splits[name]) for name in SPLITS},
        "sample": [wav_path(root, row.id) for row in rows[::every][:SAMPLE]],
        "basis": f"clip lengths from the headers of the {len(rows):,} wav files",
    }


def header(path: Path):
    """soundfile's description of a wav file, read from its header; DataError when unreadable."""
    try:
        return soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as error:
        raise DataError(
            f"{path}: unreadable as audio ({error}). Re-download or re-extract this file; "
            f"--check-data lists every such file."
        ) from None


def corpus_projection(step, probe: Probe) -> Projection:
    n, rate = step.params["n_clips"], step.params["sample_rate"]
    writes = f"{n:,} wav files and metadata.csv"
    if not probe.measure:
        return Projection(None, "not measured", writes=writes)
    spoken = probe.shared("spoken", lambda: spoken_sample(probe))
    k, audio = len(spoken["seconds"]), sum(spoken["seconds"]) / len(spoken["seconds"])
    return Projection(
        spoken["wall"] / k * n,
        f"{k} clips spoken by espeak-ng now ({spoken['wall']:.1f} s, "
        f"{audio:.1f} s of audio a clip), times {n:,} clips",
        reads="espeak-ng",
        writes=writes,
        ram=peak_ram(),
        disk=int(n * (audio * rate * 2 + 44)),
    )


def feature_bytes(p: dict, clips: int) -> int:
    """One split's features as written: float32 log-mels, int64 tokens and frame counts."""
    return clips * (p["n_mels"] * p["frames"] * 4 + (p["max_text"] + 2) * 8 + 8)


def features_projection(step, probe: Probe) -> Projection:
    p = step.params
    counts = dict(zip(SPLITS, split_sizes(p["bounds"])))
    written = {name: feature_bytes(p, n) for name, n in counts.items()}
    writes = (
        f"train.pt, val.pt, test.pt: {sum(counts.values()):,} clips "
        f"of {p['n_mels']} x {p['frames']:,} float32 log-mel frames"
    )
    largest = max(written.values())
    if not probe.measure:
        return Projection(
            None, "not measured", writes=writes, disk=sum(written.values()), scratch=largest
        )
    clips = probe.shared("clips", lambda: clip_table(probe))
    compute, sampled, audio = features_rate(p, clips["sample"])
    write = write_rate(p, probe.scratch)
    total_audio = float(clips["seconds"].sum())
    seconds = total_audio * compute + sum(written.values()) * write
    basis = (
        f"log-mel features of {sampled} clips ({audio:.0f} s of audio) computed now, times "
        f"{total_audio / 3600:.2f} h; "
        f"{size(WRITE_SAMPLE * feature_bytes(p, 1))} saved now, "
        f"times {size(sum(written.values()))}; " + clips["basis"]
    )
    reads = f"{sum(counts.values()):,} wav files, {total_audio / 3600:.2f} h of audio"
    return Projection(
        seconds,
        basis,
        reads=reads,
        writes=writes,
        ram=peak_ram(),
        mapped=largest,
        disk=sum(written.values()),
        scratch=largest,
    )


def features_rate(p: dict, sample: list[Path]) -> tuple[float, int, float]:
    """Seconds of computing per second of audio, on the step's thread pool (one torch thread a
    clip); the clips and the seconds of audio it was measured on."""
    bank = features.mel_filterbank(p["n_fft"], p["n_mels"], p["mel_sample_rate"])
    work = partial(
        features.clip_features,
        sample_rate=p["sample_rate"],
        filterbank=bank,
        n_fft=p["n_fft"],
        hop=p["hop"],
    )
    with torch_threads(1), ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        list(pool.map(work, sample[:2]))  # warm-up
        began = time.perf_counter()
        samples = sum(out[1] for out in pool.map(work, sample))
        wall = time.perf_counter() - began
    audio = samples / p["sample_rate"]
    return wall / audio, len(sample), audio


def write_rate(p: dict, scratch: Path) -> float:
    """Seconds a byte of features takes to save as q3.features saves a split: from its memory-mapped
    file into the split's tensor file (filling the mapped file goes on while clips are computed)."""
    shape = (WRITE_SAMPLE, p["n_mels"], p["frames"])
    backing = np.memmap(scratch / "features.f32", dtype=np.float32, mode="w+", shape=shape)
    backing[:] = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    backing.flush()
    began = time.perf_counter()
    with open(
        scratch / "features.pt", "wb"
    ) as f:  # to the disk: a split is larger than what memory holds back
        torch.save({"features": torch.from_numpy(np.asarray(backing))}, f)
        os.fsync(f.fileno())
    seconds = time.perf_counter() - began
    del backing
    return seconds / (WRITE_SAMPLE * feature_bytes(p, 1))


def cached_splits(probe: Probe) -> dict[str, dict]:
    """The cached features of every split, loaded once per projection."""
    folder = probe.results["q3.features"].dir
    return probe.shared("splits", lambda: {n: train.load_split(folder, n) for n in SPLITS})


def split_shapes(probe: Probe) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per split: every clip's frames used and transcript ids (with `<` and `>`), from the cached
    features when there are some, else from the clip table."""
    if "q3.features" in probe.results:
        splits = cached_splits(probe)
        return {
            name: (s["frames_used"], (s["tokens"] != INDEX[PAD]).sum(1))
            for name, s in splits.items()
        }
    p, clips = probe.steps["q3.features"].params, probe.shared("clips", lambda: clip_table(probe))
    frames = torch.from_numpy(
        np.minimum(clips["seconds"] * p["sample_rate"] // p["hop"] + 1, p["frames"])
    ).long()
    ids = torch.from_numpy(clips["chars"] + 2).long()
    bounds = np.cumsum([0] + [clips["splits"][name] for name in SPLITS])
    return {name: (frames[a:b], ids[a:b]) for name, a, b in zip(SPLITS, bounds[:-1], bounds[1:])}


def batch_shapes(
    p: dict, f: dict, shapes: tuple, training: bool, seed: int
) -> list[tuple[int, int, int]]:
    """(clips, frames, ids) of every batch of an epoch of one split, as q3.train forms them from
    the features of settings f."""
    used, ids = shapes
    split = {"tokens": torch.empty(len(used), 0), "frames_used": used}
    if training:
        batches = train.training_batches(
            split, p["batch_size"], torch.Generator().manual_seed(seed), p["padding"]
        )
    else:
        batches = train.evaluation_batches(split, p["eval_batch_size"], p["padding"])
    if p["padding"] == train.FIXED:
        return [(len(b), f["frames"], f["max_text"] + 2) for b in batches]
    return [(len(b), int(used[b].max()), int(ids[b].max())) for b in batches]


def representative(
    shapes: list[tuple[int, int, int]], thorough: bool
) -> list[tuple[int, int, int]]:
    """Shapes of full batches to time: the 10th, 50th and 90th percentile by frames (thorough), or
    the median; each shape once."""
    full = sorted(s for s in shapes if s[0] == max(x[0] for x in shapes))
    chosen = [full[int(q * (len(full) - 1))] for q in ((0.1, 0.5, 0.9) if thorough else (0.5,))]
    return sorted(set(chosen))


def measure(
    decoder: str,
    p: dict,
    n_frames: int,
    device: str,
    seed: int,
    shapes: dict,
    thorough: bool,
    scratch: Path,
) -> dict:
    """Seconds of a training batch and of an evaluation batch (encoder, greedy decoding, loss) of
    each shape, on random features and transcripts, with q3.train's own functions; of making the
    model and its optimiser, and of writing a checkpoint; the peak memory. The model never writes
    `>`, so its decoding runs all its steps, as a model that has not learnt to stop."""
    began = time.perf_counter()
    torch.manual_seed(seed)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    on = torch.device(device)
    sync = partial(train.synchronize, on)
    out: dict = {"train": [], "eval": [], "repeats": []}
    with train.full_float32():
        model = SpeechRecognizer(ModelDimensions(**p["model"], n_frames=n_frames), decoder).to(
            device
        )
        optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=p["lr"],
            weight_decay=p["weight_decay"],
            fused=p["fused_adamw"] or None,
        )
        out["setup"] = time.perf_counter() - began
        with torch.no_grad():
            model.decoder.head.bias[INDEX[EOS]] = -1e9
        for kind in ("train", "eval"):
            for shape in shapes[kind]:
                run = random_batch(kind, shape, model, optimizer, p, on)
                seconds, repeats = timed(run, thorough, sync)
                out[kind].append(seconds)
                out["repeats"].append(repeats)
    saving = time.perf_counter()
    save_atomic(
        scratch / f"checkpoint_{decoder}.pt",
        {"model": model.state_dict(), "optimizer": optimizer.state_dict()},
    )
    out["save"] = time.perf_counter() - saving
    out["ram"] = peak_ram()
    out["gpu"] = torch.cuda.max_memory_allocated() if device == "cuda" else 0
    out["seconds"] = time.perf_counter() - began
    return out


def random_batch(kind: str, shape: tuple, model, optimizer, p: dict, on: torch.device):
    """q3.train's training step ("train") or evaluation ("eval") of a batch of random features and
    transcripts of `shape` (clips, frames, ids), as a function of no arguments to time."""
    clips, frames, ids = shape
    split = {
        "features": torch.randn(clips, p["model"]["n_mels"], frames),
        "tokens": torch.randint(len(VOCAB), (clips, ids)),
    }
    if kind == "train":
        return partial(
            train.train_batch,
            model,
            optimizer,
            split,
            torch.arange(clips),
            on,
            p["label_smoothing"],
        )
    return partial(train.evaluate, model, split, clips, on, p["label_smoothing"])


def fitted(points: list[tuple[int, float]]) -> np.ndarray:
    """A line through (frames, seconds): least squares, a constant for a single width."""
    widths, seconds = np.array(points, dtype=float).T
    if len(set(widths)) < 2:
        return np.array([0.0, seconds.mean()])
    return np.polyfit(widths, seconds, 1)


def train_projection(step, probe: Probe) -> Projection:
    p, f = step.params, probe.steps["q3.features"].params
    dims = ModelDimensions(**p["model"], n_frames=f["frames"])
    weights = sum(count_trainable_parameters(SpeechRecognizer(dims, d)) for d in p["decoders"]) * 4
    shapes = split_shapes(probe) if probe.measure else None
    counts = (
        {name: len(shapes[name][0]) for name in SPLITS}
        if shapes
        else dict(zip(SPLITS, split_sizes(f["bounds"])))
    )
    reads = (
        "q3.features: "
        + ", ".join(f"{name} {n:,}" for name, n in counts.items())
        + " clips, memory-mapped"
    )
    writes = (
        f"model_{{{','.join(p['decoders'])}}}.pt ({size(weights)}), "
        "test transcriptions; checkpoints in work/"
    )
    disk, scratch = weights + counts["test"] * len(p["decoders"]) * 300, 3 * weights
    mapped = sum(feature_bytes(f, n) for n in counts.values())
    if not probe.measure:
        return Projection(
            None, "not measured", reads=reads, writes=writes, disk=disk, scratch=scratch
        )
    epoch = {name: batch_shapes(p, f, shapes[name], name == "train", step.seed) for name in SPLITS}
    chosen = {
        kind: representative(shapes, probe.thorough)
        for kind, shapes in (("train", epoch["train"]), ("eval", epoch["val"] + epoch["test"]))
    }
    processes = parallel.process_count(p["workers"], len(p["decoders"]), probe.device)
    measured, start = measure_decoders(step, probe, chosen, processes)
    start += baseline_seconds(p, probe)
    per_decoder = [decoder_seconds(m, chosen, epoch, p["epochs"]) for m in measured]
    seconds = start + (max(per_decoder) if processes > 1 else sum(per_decoder))
    return Projection(
        seconds,
        train_basis(p, chosen, measured, epoch, processes),
        reads=reads,
        writes=writes,
        ram=sum(m["ram"] for m in measured) if processes > 1 else max(m["ram"] for m in measured),
        mapped=mapped,
        gpu=max(m["gpu"] for m in measured),
        disk=disk,
        scratch=scratch,
    )


def measure_decoders(step, probe: Probe, chosen: dict, processes: int) -> tuple[list[dict], float]:
    """measure's results for each decoder, at once in processes of their own when `processes` > 1,
    else one after the other in this process; and the seconds the processes took to start and
    stop, beyond the longest measurement (0 in this process)."""
    p, frames = step.params, probe.steps["q3.features"].params["frames"]
    began = time.perf_counter()
    calls = [
        (d, p, frames, probe.device, step.seed, chosen, probe.thorough, probe.scratch)
        for d in p["decoders"]
    ]
    if processes > 1:
        names = [f"{step.name} {d} (plan)" for d in p["decoders"]]
        measured = parallel.in_processes(measure, calls, p["cpu_threads"], names)
        return measured, time.perf_counter() - began - max(m["seconds"] for m in measured)
    # in this process, as the build's: the first optimiser's imports are paid here, not timed
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)], fused=p["fused_adamw"] or None)
    with torch_threads(p["cpu_threads"] if probe.device == "cpu" else None):
        return [measure(*call) for call in calls], 0.0


def baseline_seconds(p: dict, probe: Probe) -> float:
    """The constant-output baseline q3.train scores before training, timed on the cached
    features' transcripts; 0 without them (seconds beside a training)."""
    if "q3.features" not in probe.results:
        return 0.0
    split = cached_splits(probe)
    began = time.perf_counter()
    train.constant_baseline(
        [t[1:-1] for t in train.targets(split["train"])],
        train.targets(split["val"]),
        train.targets(split["test"]),
        p["baseline_candidates"],
    )
    return time.perf_counter() - began


def decoder_seconds(m: dict, chosen: dict, epoch: dict, epochs: int) -> float:
    """One decoder's training: making it, every epoch's batches, validation and checkpoint, then
    the test decoding and the saved model; each batch at the time the measured line through its
    frames gives, scaled by its clips."""

    def total(kind: str, batches: list[tuple[int, int, int]]) -> float:
        line = fitted([(s[1], t) for s, t in zip(chosen[kind], m[kind])])
        full = chosen[kind][0][0]
        return sum(
            max(0.0, float(np.polyval(line, frames))) * clips / full for clips, frames, _ in batches
        )

    return (
        m["setup"]
        + epochs * (total("train", epoch["train"]) + total("eval", epoch["val"]) + m["save"])
        + total("eval", epoch["test"])
        + m["save"]
    )


def train_basis(p: dict, chosen: dict, measured: list[dict], epoch: dict, processes: int) -> str:
    def shapes(kind: str) -> str:
        return " / ".join(f"{c} x {fr:,} frames x {i} ids" for c, fr, i in chosen[kind])

    repeats = min(r for m in measured for r in m["repeats"])
    train_s = ", ".join(
        f"{d} {m['train'][len(chosen['train']) // 2]:.2f} s"
        for d, m in zip(p["decoders"], measured)
    )
    eval_s = ", ".join(
        f"{d} {m['eval'][len(chosen['eval']) // 2]:.2f} s" for d, m in zip(p["decoders"], measured)
    )
    layout = (
        f"the {len(p['decoders'])} decoders at once, "
        f"one process of {p['cpu_threads']} thread(s) each"
        if processes > 1
        else "the decoders one after the other"
    )
    return (
        f"at least {repeats} timed batch{'es' if repeats > 1 else ''} a shape, random tensors, "
        f"{layout}: training {shapes('train')} ({train_s} a batch), "
        f"evaluation {shapes('eval')} with greedy decoding of all {STEPS} steps ({eval_s}); "
        f"times {p['epochs']} epochs of {len(epoch['train'])} training "
        f"and {len(epoch['val'])} validation batches "
        f"and {len(epoch['test'])} test batches a decoder"
    )


PROJECTIONS = {
    "q3.corpus": corpus_projection,
    "q3.features": features_projection,
    "q3.train": train_projection,
}
