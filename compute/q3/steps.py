"""Q3's steps and the settings of each profile: the offline corpus (quick and smoke), the log-mel
features, one training step for both decoders, one step drawing their figures and one recording
the settings table of the text."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from compute.engine.profiles import derive
from compute.engine.step import DataError, Resources, Step
from compute.q3 import check, corpus, data, features, figures, settings, train
from compute.q3.download import download_ljspeech
from compute.q3.model import DECODERS, ModelDimensions
from compute.q3.text import MAX_TEXT

DATA_DIR = Path(__file__).resolve().parents[2] / "data"  # where `make data` puts LJ Speech
NOT_FOUND = (
    "LJ Speech 1.1: not found. Pass --ljspeech PATH (the LJSpeech-1.1 folder), "
    f"set {data.ENV_VAR}, or download it into {DATA_DIR} with `make data`."
)

COURSE_MODEL = ModelDimensions()
SAMPLE_RATE = 22050  # LJ Speech's; the offline corpus is spoken at the same rate
# One group per step (compute/engine/profiles.py); at the top level where the data comes from
# (LJ Speech 1.1, the course split by row order, or the offline corpus), how strictly
# `--check-data` judges it, and the seed
HOMEWORK = {
    "source": "ljspeech",
    "require_complete": True,
    "seed": 42,
    "corpus": {"n_clips": None, "sample_rate": SAMPLE_RATE},
    # audio and text (the 16 kHz mel bank on 22,050 Hz audio is the reference's quirk)
    "features": {
        "bounds": list(data.COURSE_BOUNDS),
        "sample_rate": SAMPLE_RATE,
        "mel_sample_rate": 16000,
        "n_fft": 400,
        "hop": 160,
        "n_mels": COURSE_MODEL.n_mels,
        "frames": COURSE_MODEL.n_frames,
        "max_text": MAX_TEXT,
    },
    "train": {
        "decoders": list(DECODERS),
        # the course's dimensions (compute/q3/model.py), the frame count given apart
        "model": {k: v for k, v in asdict(COURSE_MODEL).items() if k != "n_frames"},
        "epochs": 15,
        "batch_size": 64,
        "eval_batch_size": 16,
        "lr": 1e-3,
        "weight_decay": 0.01,
        "label_smoothing": 0.1,
        "warmup_epochs": 2,
        "decay_epochs": 12,
        "lr_floor": 0.01,
        "fused_adamw": False,  # PyTorch's default AdamW step, as the course
        "padding": train.FIXED,
        # on a CPU the two decoders train at once, one process and one torch thread each
        "workers": 2,
        "cpu_threads": 1,
        "baseline_candidates": 100,  # the constant transcriptions the baseline is chosen from
    },
}
PROFILES = derive(
    HOMEWORK,
    # The espeak-ng corpus: its clips last at most about 7 s where LJ Speech's last up to 10 s
    # inside 20 s of padding. Hop 320 (14.5 ms, twice the course's) halves the frames the encoder
    # sees, and with them much of a training step's cost: 400 hold the same audio as 800 at hop
    # 160 (98% of the clips whole). Clips of similar length are batched together, each batch cut
    # to its longest clip and its longest transcript, so that a step computes little padding; the
    # LSTM decoder's loss then counts no padding past the transcript, which makes it learn faster,
    # in fewer epochs. The fused AdamW step updates each weight tensor in one operation, not in a
    # series of small ones. Batches of 4 give the attention the updates it needs to align with the
    # audio. 1,200 training clips keep the training to minutes on two CPU cores, one decoder on
    # each. README.md's "Benchmarks" gives what each of these saves, as measured.
    quick={
        "source": "corpus",
        "require_complete": False,
        "corpus": {"n_clips": 1600},
        "features": {"bounds": [1200, 1350, 1600], "hop": 320, "frames": 400},
        "train": {
            "epochs": 12,
            "batch_size": 4,
            "warmup_epochs": 1,
            "decay_epochs": 10,
            "padding": train.BY_LENGTH,
            "fused_adamw": True,
        },
    },
    smoke={
        "source": "corpus",
        "require_complete": False,
        "corpus": {"n_clips": 12},
        "features": {"bounds": [8, 10, 12], "frames": 120},
        "train": {
            "epochs": 2,
            "batch_size": 4,
            "warmup_epochs": 1,
            "decay_epochs": 1,
            "baseline_candidates": 5,
            "fused_adamw": True,
            "padding": train.BY_LENGTH,
            # one process: starting a second costs more than this training
            "workers": 1,
        },
    },
)
AUDIO_LIBRARIES = ("numpy", "soundfile", "torch", "torchaudio")
TRAIN_LIBRARIES = ("torch", "torchaudio", "rapidfuzz")
# what a job asks for (--executor local or slurm): the homework profile's features of 13,100
# clips take 11.5 GB; the hours leave room for its training on a GPU, and a training on CPUs
# only needs more (`build.py --profile homework --plan` projects it on the machine at hand;
# README.md, "Running the homework on a cluster or a notebook GPU")
FEATURE_RESOURCES = Resources(cpus=4, memory_gb=16, hours=3)
TRAIN_RESOURCES = Resources(cpus=4, memory_gb=32, hours=12)


def flat(settings: dict) -> dict:
    """{setting: value} of the top level and of every step's group (the top level's dicts)."""
    out = {}
    for name, value in settings.items():
        out |= value if isinstance(value, dict) else {name: value}
    return out


def differences_from_homework(profile: str) -> dict:
    """{setting: {"homework": value, "profile": value}} for every setting the profile changes."""
    course, chosen = flat(HOMEWORK), flat(PROFILES[profile])
    return {k: {"homework": v, "profile": chosen[k]} for k, v in course.items() if chosen[k] != v}


def ljspeech_root(options: dict) -> Path | None:
    return check.find_ljspeech(options.get("ljspeech"), defaults=(DATA_DIR,))


def steps(profile: str, options: dict) -> list[Step]:
    p = PROFILES[profile]
    out, reads = audio_source(p, options)
    out.append(
        Step(
            "q3.features",
            features.run,
            **reads,
            libraries=AUDIO_LIBRARIES,
            resources=FEATURE_RESOURCES,
        )
    )
    out.append(
        Step(
            "q3.train",
            train.run,
            params=p["train"],
            needs=("q3.features",),
            libraries=TRAIN_LIBRARIES,
            seed=p["seed"],
            uses_device=True,
            resources=TRAIN_RESOURCES,
        )
    )
    out.append(
        Step(
            "q3.figures", figures.run, needs=("q3.train",), libraries=("matplotlib",), presents=True
        )
    )
    # the text's table of the settings the profile changes, a step of its own: a course's setting
    # that this profile overrides is in the table's key, never in a training step's
    table = {"differences": differences_from_homework(profile)}
    out.append(Step("q3.settings", settings.run, params=table))
    return out


def audio_source(p: dict, options: dict) -> tuple[list[Step], dict]:
    """Where the clips come from: the step speaking the offline corpus (none for LJ Speech), and
    what q3.features reads (its parameters, and the corpus step or LJ Speech's files)."""
    if p["source"] == "corpus":
        speak = Step(
            "q3.corpus",
            corpus.run,
            params=p["corpus"],
            libraries=AUDIO_LIBRARIES,
            programs=("espeak-ng",),
            seed=p["seed"],
        )
        reads = {
            "params": {"source": "corpus", "root": None, **p["features"]},
            "needs": ("q3.corpus",),
        }
        return [speak], reads
    root = ljspeech_root(options)
    if root is None:
        if not options.get("download_missing"):
            raise DataError(NOT_FOUND)
        # the homework profile fetches the real data when none is given
        root = download_ljspeech(DATA_DIR)
    reads = {
        "params": {"source": "ljspeech", "root": str(root), **p["features"]},
        "input_files": present_input_files(root),
        "locations": ("root",),
    }
    return [], reads


def present_input_files(root: Path) -> tuple[Path, ...]:
    """metadata.csv and every wav it lists; DataError naming the absent ones when any is missing."""
    files = check.input_files(root)
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        more = f" and {len(missing) - 3:,} more" if len(missing) > 3 else ""
        raise DataError(
            f"{root}: {len(missing):,} of the {len(files) - 1:,} wav files metadata.csv lists are "
            f"missing from {data.WAVS}/ ({', '.join(missing[:3])}{more}). Re-extract the complete "
            f"LJ Speech 1.1 (`make data`); `--check-data` describes the folder."
        )
    return files


def check_data(profile: str, options: dict) -> list[str]:
    """Lines describing the data the profile uses; DataError when it is unusable."""
    p = PROFILES[profile]
    f = p["features"]
    if p["source"] == "corpus":
        return [
            f"LJ Speech layout generated offline: {p['corpus']['n_clips']} clips spoken by "
            f"{corpus.check_espeak()}",
            "splits: "
            + ", ".join(
                f"{name} {n}" for name, n in zip(("train", "val", "test"), split_sizes(f["bounds"]))
            ),
        ]
    root = ljspeech_root(options)
    if root is None:
        raise DataError(NOT_FOUND)
    return check.check_data(root, f["bounds"], f["sample_rate"], p["require_complete"])


def split_sizes(bounds: list[int]) -> list[int]:
    return [bounds[0], bounds[1] - bounds[0], bounds[2] - bounds[1]]


def download(options: dict) -> Path:
    """The LJ Speech 1.1 folder, downloaded into data/ unless one is given or already there."""
    return ljspeech_root(options) or download_ljspeech(DATA_DIR)
