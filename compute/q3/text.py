"""The course's 35-symbol character vocabulary and the transcript <-> token-id mapping."""

from __future__ import annotations

from collections import Counter

SOS, EOS, PAD, UNK = "<", ">", "@", "#"
VOCAB: tuple[str, ...] = (SOS, EOS, PAD, UNK, " ", ",", ".", "?", "-") + tuple(
    "abcdefghijklmnopqrstuvwxyz"
)
INDEX = {ch: i for i, ch in enumerate(VOCAB)}
MAX_TEXT = 97  # characters kept from a transcript; with < and > a sequence is 99 ids


def normalise(transcript: str, max_text: int = MAX_TEXT) -> str:
    """The text the model learns: lower-cased and cut to max_text characters."""
    return transcript.lower()[:max_text]


def unknown_characters(transcript: str) -> Counter[str]:
    """Characters of a transcript that map to the unknown token `#`, with their counts."""
    return Counter(ch for ch in transcript.lower() if ch not in INDEX)


def encode(transcript: str, max_text: int = MAX_TEXT) -> list[int]:
    """`<` text `>` padded with `@` to max_text + 2 ids; characters outside VOCAB become `#`."""
    chars = SOS + normalise(transcript, max_text) + EOS
    chars += PAD * (max_text + 2 - len(chars))
    return [INDEX.get(ch, INDEX[UNK]) for ch in chars]


def decode(ids) -> str:
    """Token ids back to characters (no cutting; see `until_eos`)."""
    return "".join(VOCAB[int(i)] for i in ids)


def until_eos(chars: str) -> str:
    """The scored sequence: cut at the first `>`; one without `>` gets it as its last token."""
    end = chars.find(EOS)
    return chars[: end + 1] if end >= 0 else chars[:-1] + EOS
