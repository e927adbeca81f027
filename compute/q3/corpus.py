"""The offline speech corpus: generated English sentences spoken by espeak-ng, in LJ Speech's
layout.

It stands in for LJ Speech where the real dataset is absent. Sentences come from a small grammar
(statements, questions, lists, numbers spelled out, hyphenated words) that writes only characters
of the 35-symbol vocabulary plus capitals; each clip gets a voice, speed and pitch drawn from the
seed, so the same seed gives byte-identical metadata and audio.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio

from compute.engine.step import DataError
from compute.q3.data import METADATA, WAVS
from compute.q3.text import MAX_TEXT

FOLDER = "LJSpeech-offline"
# Accents (espeak-ng languages) and voice variants (+f = female, +m = male timbres).
VOICES = (
    "en-us",
    "en-us+f3",
    "en-us+m3",
    "en-gb",
    "en-gb+f2",
    "en-gb-x-rp",
    "en-gb-x-rp+f4",
    "en-gb-scotland+m2",
    "en-029+f5",
    "en-us-nyc",
    "en-gb-x-gbclan+f1",
    "en-gb-x-gbcwmd+m5",
)
SPEEDS = (140, 190)  # words per minute, inclusive
PITCHES = (30, 70)  # espeak-ng's 0..99 scale, inclusive
MIN_CHARS = 16
MAX_CHARS = MAX_TEXT  # every transcript fits the model's text length, so no audio outlives its text

# ---------------------------------------------------------------------------------------------
# Words. Nouns are (singular, plural); verbs are (base, past).
NAMES = (
    "Anna",
    "Peter",
    "Maria",
    "John",
    "Lucy",
    "Thomas",
    "Sarah",
    "David",
    "Helen",
    "Oscar",
    "Rita",
    "Victor",
    "Nora",
    "Simon",
    "Clara",
    "Hugo",
    "Grace",
    "Martin",
    "Alice",
    "Edward",
    "Julia",
    "Frank",
    "Irene",
    "Walter",
    "Emma",
    "George",
    "Ruth",
    "Henry",
    "Laura",
    "Samuel",
)
PEOPLE = (
    ("clerk", "clerks"),
    ("doctor", "doctors"),
    ("teacher", "teachers"),
    ("farmer", "farmers"),
    ("soldier", "soldiers"),
    ("sailor", "sailors"),
    ("judge", "judges"),
    ("printer", "printers"),
    ("officer", "officers"),
    ("student", "students"),
    ("child", "children"),
    ("woman", "women"),
    ("man", "men"),
    ("baker", "bakers"),
    ("guard", "guards"),
    ("neighbour", "neighbours"),
    ("driver", "drivers"),
    ("witness", "witnesses"),
    ("prisoner", "prisoners"),
    ("painter", "painters"),
    ("nurse", "nurses"),
    ("captain", "captains"),
    ("merchant", "merchants"),
    ("lawyer", "lawyers"),
    ("engineer", "engineers"),
)
THINGS = (
    ("letter", "letters"),
    ("book", "books"),
    ("map", "maps"),
    ("window", "windows"),
    ("door", "doors"),
    ("table", "tables"),
    ("chair", "chairs"),
    ("coat", "coats"),
    ("lamp", "lamps"),
    ("boat", "boats"),
    ("horse", "horses"),
    ("dog", "dogs"),
    ("apple", "apples"),
    ("basket", "baskets"),
    ("bottle", "bottles"),
    ("box", "boxes"),
    ("key", "keys"),
    ("clock", "clocks"),
    ("ticket", "tickets"),
    ("paper", "papers"),
    ("stone", "stones"),
    ("picture", "pictures"),
    ("parcel", "parcels"),
    ("wagon", "wagons"),
    ("bell", "bells"),
    ("rope", "ropes"),
    ("candle", "candles"),
    ("blanket", "blankets"),
    ("envelope", "envelopes"),
    ("umbrella", "umbrellas"),
    ("bicycle", "bicycles"),
    ("newspaper", "newspapers"),
    ("suitcase", "suitcases"),
    ("ladder", "ladders"),
    ("photograph", "photographs"),
    ("record", "records"),
    ("coin", "coins"),
    ("ring", "rings"),
)
FOOD = (
    "bread",
    "milk",
    "cheese",
    "apples",
    "butter",
    "tea",
    "coffee",
    "sugar",
    "eggs",
    "onions",
    "potatoes",
    "rice",
    "fish",
    "honey",
    "oranges",
    "flour",
    "salt",
    "soup",
    "cherries",
    "beans",
)
PLACES = (
    "garden",
    "river",
    "bridge",
    "station",
    "market",
    "village",
    "church",
    "harbour",
    "library",
    "kitchen",
    "court",
    "prison",
    "office",
    "square",
    "hotel",
    "farm",
    "forest",
    "museum",
    "school",
    "factory",
    "hospital",
    "theatre",
    "castle",
    "tower",
    "valley",
)
ADJECTIVES = (
    "old",
    "young",
    "small",
    "large",
    "quiet",
    "bright",
    "dark",
    "heavy",
    "careful",
    "tired",
    "clever",
    "strange",
    "little",
    "famous",
    "narrow",
    "wooden",
    "silver",
    "ancient",
    "modern",
    "busy",
    "gentle",
    "angry",
    "happy",
    "nervous",
    "honest",
    "red",
    "green",
    "blue",
    "yellow",
    "cold",
    "warm",
    "empty",
    "broken",
    "secret",
    "patient",
    "well-known",
    "old-fashioned",
    "brand-new",
    "half-empty",
    "open-minded",
    "hard-working",
    "long-lost",
    "second-hand",
    "good-natured",
    "far-off",
)
TRANSITIVE = (
    ("open", "opened"),
    ("close", "closed"),
    ("carry", "carried"),
    ("find", "found"),
    ("lose", "lost"),
    ("paint", "painted"),
    ("repair", "repaired"),
    ("sign", "signed"),
    ("read", "read"),
    ("sell", "sold"),
    ("buy", "bought"),
    ("watch", "watched"),
    ("follow", "followed"),
    ("move", "moved"),
    ("clean", "cleaned"),
    ("check", "checked"),
    ("build", "built"),
    ("break", "broke"),
    ("drop", "dropped"),
    ("lift", "lifted"),
    ("push", "pushed"),
    ("pull", "pulled"),
    ("keep", "kept"),
    ("hold", "held"),
    ("hide", "hid"),
    ("send", "sent"),
    ("bring", "brought"),
    ("wash", "washed"),
    ("examine", "examined"),
    ("describe", "described"),
    ("remember", "remembered"),
    ("collect", "collected"),
    ("deliver", "delivered"),
    ("measure", "measured"),
    ("borrow", "borrowed"),
    ("return", "returned"),
    ("notice", "noticed"),
)
INTRANSITIVE = (
    ("arrive", "arrived"),
    ("wait", "waited"),
    ("laugh", "laughed"),
    ("sleep", "slept"),
    ("smile", "smiled"),
    ("leave", "left"),
    ("speak", "spoke"),
    ("listen", "listened"),
    ("work", "worked"),
    ("dance", "danced"),
    ("stop", "stopped"),
    ("sing", "sang"),
    ("run", "ran"),
    ("walk", "walked"),
    ("rest", "rested"),
    ("travel", "travelled"),
    ("hesitate", "hesitated"),
    ("disappear", "disappeared"),
    ("complain", "complained"),
)
ADVERBS = (
    "quickly",
    "slowly",
    "quietly",
    "carefully",
    "suddenly",
    "early",
    "late",
    "again",
    "twice",
    "together",
    "gladly",
    "rarely",
    "happily",
    "silently",
    "at once",
    "once more",
)
TIMES = (
    "yesterday",
    "last night",
    "this morning",
    "at noon",
    "after dinner",
    "before sunrise",
    "in the spring",
    "in the winter",
    "on Monday",
    "on Friday",
    "on Sunday",
    "by evening",
    "the next day",
    "an hour later",
    "last week",
    "at midnight",
    "in the autumn",
    "at dawn",
)
PREPOSITIONS = (
    "in",
    "near",
    "behind",
    "beside",
    "under",
    "outside",
    "across",
    "towards",
    "through",
    "past",
    "inside",
    "opposite",
    "along",
)
UNITS = (
    ("mile", "miles"),
    ("pound", "pounds"),
    ("hour", "hours"),
    ("day", "days"),
    ("minute", "minutes"),
    ("shilling", "shillings"),
    ("yard", "yards"),
    ("week", "weeks"),
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number_words(n: int) -> str:
    """0..999,999 in words, British style: 'two hundred and forty-one'."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("-" + ONES[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + (" and " + number_words(rest) if rest else "")
    rest = n % 1000
    joiner = " and " if 0 < rest < 100 else " "
    return number_words(n // 1000) + " thousand" + (joiner + number_words(rest) if rest else "")


def year_words(year: int) -> str:
    """A year as spoken: 1884 'eighteen eighty-four', 1905 'nineteen oh five', 2010 'twenty ten'."""
    high, low = divmod(year, 100)
    if low == 0:
        return number_words(high) + " hundred"
    if 2000 <= year < 2010:
        return number_words(year)
    return number_words(high) + " " + ("oh " + ONES[low] if low < 10 else number_words(low))


# Numbers are written into the sentence as a marker, so the transcript column can show digits
# (as LJ Speech's does) while the normalized column, and the speech, have them in words.
def _num(n: int) -> str:
    return f"<n{n}>"


def _year(y: int) -> str:
    return f"<y{y}>"


_MARK = re.compile(r"<([ny])(\d+)>")


def render(sentence: str) -> tuple[str, str]:
    """(transcript with digits, normalized transcript with numbers in words)."""
    written = _MARK.sub(lambda m: m.group(2), sentence)
    spoken = _MARK.sub(
        lambda m: (number_words if m.group(1) == "n" else year_words)(int(m.group(2))), sentence
    )
    return written, spoken


class SentenceGrammar:
    """Random English sentences from a few templates; all choices come from one seeded generator."""

    def __init__(self, rng: random.Random):
        self.r = rng

    def pick(self, options):
        return self.r.choice(options)

    def maybe(self, p: float) -> bool:
        return self.r.random() < p

    # noun phrases ------------------------------------------------------------------------
    def article(self, word: str, plural: bool) -> str:
        if plural:
            return self.pick(
                ("the", "some", "my", "our", "their", "those", "these", "two", "three")
            )
        det = self.pick(("the", "the", "a", "this", "that", "my", "her", "his", "our", "every"))
        if det == "a" and word[0] in "aeiou":
            det = "an"
        return det

    def noun_phrase(self, table, plural: bool | None = None) -> tuple[str, bool]:
        plural = self.maybe(0.3) if plural is None else plural
        noun = self.pick(table)[1 if plural else 0]
        words = [noun]
        if self.maybe(0.45):
            words.insert(0, self.pick(ADJECTIVES))
        return self.article(words[0], plural) + " " + " ".join(words), plural

    def person(self) -> tuple[str, bool]:
        if self.maybe(0.35):
            return self.pick(NAMES), False
        return self.noun_phrase(PEOPLE)

    def thing(self) -> str:
        return self.noun_phrase(THINGS)[0]

    def place(self) -> str:
        det = self.pick(("the", "the", "the", "that", "our"))
        adjective = self.pick(ADJECTIVES) + " " if self.maybe(0.3) else ""
        return f"{self.pick(PREPOSITIONS)} {det} {adjective}{self.pick(PLACES)}"

    def adverbial(self) -> str:
        kind = self.r.random()
        if kind < 0.4:
            return self.place()
        if kind < 0.7:
            return self.pick(ADVERBS)
        if kind < 0.9:
            return self.pick(TIMES)
        return f"in {self.pick(MONTHS)} {_year(self.r.randint(1850, 2024))}"

    # sentences ---------------------------------------------------------------------------
    def statement(self) -> str:
        subject, _ = self.person()
        if self.maybe(0.7):
            clause = f"{subject} {self.pick(TRANSITIVE)[1]} {self.thing()}"
        else:
            clause = f"{subject} {self.pick(INTRANSITIVE)[1]}"
        for _ in range(self.r.choice((0, 1, 1, 2))):
            clause += " " + self.adverbial()
        if self.maybe(0.2):
            time_ = self.pick(TIMES)
            clause = f"{time_[0].upper()}{time_[1:]}, {clause}"
        return clause + "."

    @staticmethod
    def mid_sentence(clause: str) -> str:
        """A clause as it reads after a comma: lower-case first word unless it is a name."""
        return clause if clause.split()[0].strip(",") in NAMES else clause[0].lower() + clause[1:]

    def compound(self) -> str:
        first, second = self.statement()[:-1], self.statement()[:-1]
        return f"{first}, {self.pick(('and', 'but', 'so', 'while'))} {self.mid_sentence(second)}."

    def subordinate(self) -> str:
        subject, _ = self.person()
        verb = self.pick(INTRANSITIVE)[1]
        lead = self.pick(("When", "After", "Before", "Because", "Although", "As soon as"))
        return f"{lead} {subject} {verb}, {self.mid_sentence(self.statement())}"

    def question(self) -> str:
        subject, plural = self.person()
        kind = self.r.random()
        if kind < 0.35:
            tail = f" {self.adverbial()}" if self.maybe(0.5) else ""
            return f"Did {subject} {self.pick(TRANSITIVE)[0]} {self.thing()}{tail}?"
        if kind < 0.6:
            wh = self.pick(("Where", "Why", "When", "How"))
            return f"{wh} did {subject} {self.pick(TRANSITIVE)[0]} {self.thing()}?"
        if kind < 0.8:
            noun = self.pick(THINGS)[1]
            return f"How many {noun} did {subject} {self.pick(TRANSITIVE)[0]} {self.pick(TIMES)}?"
        be = "Were" if plural else "Was"
        return f"{be} {subject} {self.pick(ADJECTIVES)} {self.pick(TIMES)}?"

    def listing(self) -> str:
        subject, _ = self.person()
        items = self.r.sample(FOOD, self.r.randint(3, 4))
        if self.maybe(0.5):
            items[-1] = f"{_num(self.r.randint(2, 12))} pounds of {items[-1]}"
        verb = self.pick(("bought", "sold", "carried", "ordered", "packed", "wanted", "forgot"))
        return f"{subject} {verb} {', '.join(items[:-1])}, and {items[-1]}."

    def quantity(self) -> str:
        subject, plural = self.person()
        n = self.r.choice(
            (
                self.r.randint(2, 20),
                self.r.randint(21, 99),
                self.r.randint(100, 999),
                self.r.randint(1000, 20000),
            )
        )
        kind = self.r.random()
        if kind < 0.35:
            unit = self.pick(UNITS)[1]
            verb = self.pick(("walked", "paid", "waited", "travelled", "spent", "counted"))
            return f"{subject} {verb} {_num(n)} {unit} {self.adverbial()}."
        if kind < 0.65:
            noun = self.pick(THINGS + PEOPLE)[1]
            return f"There were {_num(n)} {noun} {self.place()}."
        if kind < 0.85:
            be = "were" if plural else "was"
            return (
                f"{subject} {be} born in {self.pick(MONTHS)} {_year(self.r.randint(1800, 2020))}."
            )
        a, b = self.r.randint(2, 60), self.r.randint(2, 60)
        return f"Add {_num(a)} and {_num(b)}, and you get {_num(a + b)}."

    def sentence(self) -> str:
        kind = self.r.random()
        for share, make in (
            (0.30, self.statement),
            (0.12, self.compound),
            (0.10, self.subordinate),
            (0.20, self.question),
            (0.12, self.listing),
            (1.0, self.quantity),
        ):
            if kind < share:
                text = make()
                break
            kind -= share
        return text[0].upper() + text[1:]


def make_sentences(n: int, seed: int) -> list[tuple[str, str]]:
    """n distinct (transcript, normalized) pairs of MIN_CHARS..MAX_CHARS characters."""
    grammar = SentenceGrammar(random.Random(seed))
    seen: set[str] = set()
    out = []
    while len(out) < n:
        written, spoken = render(grammar.sentence())
        if MIN_CHARS <= len(spoken) <= MAX_CHARS and spoken.lower() not in seen:
            seen.add(spoken.lower())
            out.append((written, spoken))
    return out


# ---------------------------------------------------------------------------------------------
def espeak_voices() -> tuple[set[str], set[str]]:
    """(languages, variants) this espeak-ng knows; unknown ones would silently fall back."""

    def column(args, index):
        lines = subprocess.run(
            ["espeak-ng", *args], capture_output=True, text=True, check=True
        ).stdout
        return {line.split()[index] for line in lines.splitlines()[1:] if len(line.split()) > index}

    languages = column(["--voices"], 1)
    variants = {f.split("/", 1)[1] for f in column(["--voices=variant"], 4) if f.startswith("!v/")}
    return languages, variants


def check_espeak(voices=VOICES) -> str:
    """espeak-ng's version line; DataError when it is absent or lacks one of the voices."""
    if shutil.which("espeak-ng") is None:
        raise DataError(
            "espeak-ng: not found. The offline corpus is spoken by it; install it "
            "(`sudo apt-get install espeak-ng`, or scripts/setup_system.sh)."
        )
    languages, variants = espeak_voices()
    for voice in voices:
        language, _, variant = voice.partition("+")
        if language not in languages or (variant and variant not in variants):
            raise DataError(
                f"espeak-ng: voice {voice} is not installed (it would fall back to the "
                f"default voice). Install the full espeak-ng data (espeak-ng-data)."
            )
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True)
    return version.stdout.split("Data at")[0].strip()


def speak(
    text: str, voice: str, speed: int, pitch: int, wav: Path, sample_rate: int, scratch: Path
) -> float:
    """Writes `text` spoken by espeak-ng to `wav` (16-bit mono at sample_rate); returns its
    duration in seconds."""
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        raw = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw)],
            input=text,
            text=True,
            check=True,
            capture_output=True,
        )
        audio, rate = soundfile.read(str(raw), dtype="int16", always_2d=True)
    audio = audio[:, 0]
    if rate != sample_rate:
        wave = torchaudio.functional.resample(
            torch.from_numpy(audio.astype(np.float32) / 32768), rate, sample_rate
        )
        audio = np.clip(np.round(wave.numpy() * 32768), -32768, 32767).astype(np.int16)
    soundfile.write(str(wav), audio, sample_rate, subtype="PCM_16", format="WAV")
    return len(audio) / sample_rate


def run(ctx) -> dict:
    """Writes ctx.out/LJSpeech-offline/{metadata.csv, wavs/} with params["n_clips"] clips."""
    n, sample_rate = int(ctx.params["n_clips"]), int(ctx.params["sample_rate"])
    espeak = check_espeak()
    rng = random.Random(f"voices-{ctx.seed}")
    sentences = make_sentences(n, ctx.seed)
    clips = [
        (
            f"OFF{i // 1000 + 1:03d}-{i % 1000 + 1:04d}",
            written,
            spoken,
            rng.choice(VOICES),
            rng.randint(*SPEEDS),
            rng.randint(*PITCHES),
        )
        for i, (written, spoken) in enumerate(sentences)
    ]

    root = ctx.out / FOLDER
    (root / WAVS).mkdir(parents=True, exist_ok=True)
    scratch = Path(ctx.work)
    scratch.mkdir(parents=True, exist_ok=True)
    workers = max(1, os.cpu_count() or 1)  # each worker waits on its own espeak-ng process

    def one(clip):
        clip_id, _, spoken, voice, speed, pitch = clip
        return speak(
            spoken, voice, speed, pitch, root / WAVS / f"{clip_id}.wav", sample_rate, scratch
        )

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        durations = list(ctx.progress(pool.map(one, clips), total=n, desc="speaking"))
    seconds = time.monotonic() - start

    with open(root / METADATA, "w", encoding="utf-8", newline="\n") as f:
        for clip_id, written, spoken, *_ in clips:
            f.write(f"{clip_id}|{written}|{spoken}\n")

    ctx.log(
        f"{n} clips in {seconds:.1f} s ({seconds / max(n, 1):.3f} s a clip, {workers} workers), "
        f"{sum(durations) / 3600:.2f} hours of speech"
    )
    return {
        "dir": FOLDER,
        "clips": n,
        "hours": sum(durations) / 3600,
        "voices": sorted({c[3] for c in clips}),
        "mean_chars": float(np.mean([len(c[2]) for c in clips])) if clips else 0.0,
        "sentences_unique": len({c[2].lower() for c in clips}),
        "mean_seconds": float(np.mean(durations)) if durations else 0.0,
        "min_seconds": float(min(durations, default=0.0)),
        "max_seconds": float(max(durations, default=0.0)),
        "seconds": seconds,
        "seconds_per_clip": seconds / max(n, 1),
        "workers": workers,
        "espeak_ng": espeak,
    }
