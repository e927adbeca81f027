"""How Q3's metrics and decoders are named in the text and on figures: one place, imported by the
report and by figure drawing, never by a computing step (so renaming changes no cache key)."""

METRIC_NAMES = {
    "jaccard": "Jaccard",
    "cosine": "cosine",
    "damerau_levenshtein": "Damerau-Levenshtein",
}
DECODER_NAMES = {"lstm": "LSTM decoder", "attention": "attention decoder"}
