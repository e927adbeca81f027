import pytest
import torch
from torch import nn

from compute.q3.decode import STEPS, course_greedy_decode, greedy_decode, transcribe
from compute.q3.model import DECODERS, ModelDimensions, SpeechRecognizer
from compute.q3.text import INDEX, decode, until_eos

SHORT = ModelDimensions(n_frames=30)


def random_model(decoder: str, seed: int = 0) -> SpeechRecognizer:
    """Random weights, wider than the default initialisation so that the greedy tokens vary from
    clip to clip and step to step (with the default ones a decoder repeats one character)."""
    torch.manual_seed(seed)
    model = SpeechRecognizer(SHORT, decoder).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.3)
    return model


@pytest.mark.parametrize("decoder", DECODERS)
def test_cached_decoding_gives_the_course_tokens(decoder):
    model = random_model(decoder)
    with torch.inference_mode():
        xa = model.encoder(torch.randn(3, 80, 30))
        course = course_greedy_decode(model.decoder, xa)
        fast = greedy_decode(model.decoder, xa, stop_at_eos=False)
    assert course.shape == (3, STEPS + 1)
    assert torch.equal(course, fast)
    assert len(set(map(tuple, course.tolist()))) == 3  # the clips are decoded differently
    assert all(len(set(row)) >= 5 for row in course.tolist())  # into several different characters


@pytest.mark.parametrize("decoder", DECODERS)
def test_course_decoding_starts_from_sos(decoder):
    with torch.inference_mode():
        tokens = course_greedy_decode(
            random_model(decoder).decoder, torch.randn(2, 15, 200), steps=4
        )
    assert tokens[:, 0].tolist() == [INDEX["<"]] * 2 and tokens.shape == (2, 5)


class ScriptedDecoder(nn.Module):
    """Emits `a` until a clip's scripted step, then `>`, then `b` (a decoder's interface)."""

    def __init__(self, eos_steps: list[int]):
        super().__init__()
        self.eos_steps = eos_steps

    def forward(self, tokens, xa, cache=None):
        if cache is not None:
            cache["seen"] = cache.get("seen", 0) + tokens.shape[1]
            length = cache["seen"]
        else:
            length = tokens.shape[1]
        logits = torch.zeros(len(self.eos_steps), 35, tokens.shape[1])
        for row, eos_step in enumerate(self.eos_steps):
            token = "a" if length < eos_step else ">" if length == eos_step else "b"
            logits[row, INDEX[token], -1] = 1.0
        return logits


def test_early_stop_waits_for_the_last_sequence_to_end():
    decoder = ScriptedDecoder([2, 5])
    tokens = greedy_decode(decoder, torch.zeros(2, 3, 200))
    assert [decode(row) for row in tokens.tolist()] == ["<a>bbb", "<aaaa>"]


def test_early_stop_keeps_the_scored_sequences():
    decoder = ScriptedDecoder([2, 5, 9])
    xa = torch.zeros(3, 3, 200)
    fast = [until_eos(decode(row)) for row in greedy_decode(decoder, xa).tolist()]
    course = [until_eos(decode(row)) for row in course_greedy_decode(decoder, xa).tolist()]
    assert fast == course == ["<a>", "<aaaa>", "<aaaaaaaa>"]


def test_decoding_runs_98_steps_when_no_sequence_ends():
    tokens = greedy_decode(ScriptedDecoder([1000]), torch.zeros(1, 3, 200))
    assert tokens.shape == (1, 99)


@pytest.mark.parametrize("decoder", DECODERS)
def test_transcribe_batches_give_the_same_sequences_as_one_batch(decoder):
    model = random_model(decoder, seed=1)
    features = torch.randn(5, 80, 30)
    assert transcribe(model, features, 2, "cpu") == transcribe(model, features, 5, "cpu")
