"""Greedy transcription from `<`: the course's decoding, which recomputes the decoder at each of
its 98 steps, and a cached one that gives the same tokens many times faster."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from compute.q3.model import ModelDimensions, RecurrentDecoder
from compute.q3.text import EOS, INDEX, SOS, decode

STEPS = (
    ModelDimensions.n_text_ctx
)  # the course decodes exactly as many tokens as the decoder has positions


def course_greedy_decode(decoder: nn.Module, xa: Tensor, steps: int = STEPS) -> Tensor:
    """xa: (batch, frames/2, d) encoder output -> token ids (batch, steps + 1) from `<`

    At every step the encoder output is projected again into cross-attention keys/values; the
    LSTM carries only its state, the attention decoder re-reads the whole prefix.
    """
    tokens = torch.full((xa.shape[0], 1), INDEX[SOS], dtype=torch.long, device=xa.device)
    state: dict = {}
    for _ in range(steps):
        if isinstance(decoder, RecurrentDecoder):
            state = {decoder.lstm: state[decoder.lstm]} if state else {}
            logits = decoder(tokens[:, -1:], xa, cache=state)
        else:
            logits = decoder(tokens, xa)
        tokens = torch.cat([tokens, logits[:, :, -1].argmax(dim=1, keepdim=True)], dim=1)
    return tokens


def greedy_decode(
    decoder: nn.Module, xa: Tensor, steps: int = STEPS, stop_at_eos: bool = True
) -> Tensor:
    """xa: (batch, frames/2, d) encoder output -> token ids (batch, at most steps + 1) from `<`

    Cross-attention keys/values are projected once, self-attention keys/values and the LSTM
    state are carried, one new token per step. With stop_at_eos the loop ends once every
    sequence holds a `>`; scoring cuts there, so the scored tokens equal the course's.
    """
    tokens = torch.full((xa.shape[0], 1), INDEX[SOS], dtype=torch.long, device=xa.device)
    finished = torch.zeros(xa.shape[0], dtype=torch.bool, device=xa.device)
    cache: dict = {}
    for _ in range(steps):
        logits = decoder(tokens[:, -1:], xa, cache=cache)
        next_token = logits[:, :, -1].argmax(dim=1, keepdim=True)
        tokens = torch.cat([tokens, next_token], dim=1)
        finished |= next_token[:, 0] == INDEX[EOS]
        if stop_at_eos and bool(finished.all()):
            break
    return tokens


@torch.inference_mode()
def transcribe(
    model: nn.Module, features: Tensor, batch_size: int, device: str | torch.device
) -> list[str]:
    """features: (n, n_mels, frames) -> n character sequences from `<` (cut them with
    text.until_eos)"""
    model.eval()
    outputs = []
    for start in range(0, len(features), batch_size):
        xa = model.encoder(features[start : start + batch_size].to(device))
        outputs += [decode(ids) for ids in greedy_decode(model.decoder, xa).tolist()]
    return outputs
