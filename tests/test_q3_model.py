import math

import pytest
import torch

from compute.q3.model import (
    DECODERS,
    ModelDimensions,
    MultiHeadAttention,
    SpeechRecognizer,
    sinusoids,
)
from compute.torchtools import count_trainable_parameters

HOMEWORK = ModelDimensions()
SHORT = ModelDimensions(n_frames=40)  # the homework model on 40 input frames


@pytest.mark.parametrize(
    "decoder, total, decoder_only",
    [("lstm", 1_471_235, 658_435), ("attention", 1_329_835, 517_035)],
)
def test_parameter_counts_match_the_homework(decoder, total, decoder_only):
    model = SpeechRecognizer(HOMEWORK, decoder)
    assert count_trainable_parameters(model) == total
    assert count_trainable_parameters(model.encoder) == 812_800
    assert count_trainable_parameters(model.decoder) == decoder_only


def test_encoder_parts_have_the_homework_sizes():
    encoder = SpeechRecognizer(HOMEWORK, "lstm").encoder
    sizes = [
        count_trainable_parameters(m)
        for m in (encoder.conv1, encoder.conv2, *encoder.blocks, encoder.ln_post)
    ]
    assert sizes == [48_200, 120_200, 322_000, 322_000, 400]


def test_encoder_halves_2754_frames_to_1377():
    encoder = SpeechRecognizer(HOMEWORK, "lstm").encoder
    with torch.no_grad():
        assert encoder(torch.zeros(1, 80, 2754)).shape == (1, 1377, 200)


@pytest.mark.parametrize("decoder", DECODERS)
def test_logits_put_the_classes_second(decoder):
    model = SpeechRecognizer(SHORT, decoder)
    logits = model(torch.randn(2, 80, 40), torch.zeros(2, 98, dtype=torch.long))
    assert logits.shape == (2, 35, 98)


def test_sinusoids_use_timescales_up_to_3000():
    table = sinusoids(1377, 200, 3000.0)
    assert table.shape == (1377, 200)
    t = 7
    assert table[t, 0].item() == pytest.approx(math.sin(t))  # inverse timescale exp(0) = 1
    assert table[t, 99].item() == pytest.approx(math.sin(t / 3000), abs=1e-7)  # exp(-ln 3000)
    assert table[t, 100].item() == pytest.approx(math.cos(t))  # cosines follow all the sines
    assert table[t, 150].item() == pytest.approx(math.cos(t * math.exp(-50 * math.log(3000) / 99)))


def test_attention_key_has_no_bias_and_the_others_do():
    attn = MultiHeadAttention(200, 2)
    assert attn.key.bias is None
    assert all(m.bias is not None for m in (attn.query, attn.value, attn.out))


def test_attention_scales_the_scores_by_one_over_root_head_dim():
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 2)
    x, xa = torch.randn(1, 3, 8), torch.randn(1, 5, 8)
    q, k, v = attn.query(x), attn.key(xa), attn.value(xa)
    heads = []
    for h in range(2):  # head_dim 4: q and k each scaled by 4^-0.25, scores by 1/2
        part = slice(4 * h, 4 * h + 4)
        weights = torch.softmax(q[0, :, part] @ k[0, :, part].T / 2, dim=-1)
        heads.append(weights @ v[0, :, part])
    expected = attn.out(torch.cat(heads, dim=-1))
    assert torch.allclose(attn(x, xa), expected[None], atol=1e-6)


def test_attention_decoder_positions_start_uniform_in_unit_interval():
    positions = SpeechRecognizer(HOMEWORK, "attention").decoder.positional_embedding
    assert positions.shape == (98, 200)
    assert positions.min() >= 0 and positions.max() < 1 and 0.45 < positions.mean() < 0.55


@pytest.mark.parametrize("decoder", DECODERS)
def test_decoders_do_not_look_at_later_tokens(decoder):
    torch.manual_seed(0)
    model = SpeechRecognizer(SHORT, decoder)
    mel, tokens = torch.randn(1, 80, 40), torch.randint(0, 35, (1, 98))
    changed = tokens.clone()
    changed[0, 50:] = (changed[0, 50:] + 1) % 35
    with torch.no_grad():
        a, b = model(mel, tokens), model(mel, changed)
    assert torch.allclose(a[:, :, :50], b[:, :, :50], atol=1e-5)
    assert not torch.allclose(a[:, :, 50:], b[:, :, 50:], atol=1e-3)


@pytest.mark.parametrize("decoder", DECODERS)
def test_step_by_step_decoding_with_a_cache_matches_the_whole_sequence(decoder):
    torch.manual_seed(0)
    model = SpeechRecognizer(SHORT, decoder)
    mel, tokens = torch.randn(2, 80, 40), torch.randint(0, 35, (2, 12))
    with torch.no_grad():
        xa = model.encoder(mel)
        whole = model.decoder(tokens, xa)
        cache: dict = {}
        steps = torch.cat(
            [model.decoder(tokens[:, i : i + 1], xa, cache=cache) for i in range(12)], dim=2
        )
    assert torch.allclose(whole, steps, atol=1e-5)


def test_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="unknown decoder"):
        SpeechRecognizer(SHORT, "gru")
