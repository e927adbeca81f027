"""The course's speech recogniser: a Transformer encoder over log-mel frames and one of two
character decoders (an LSTM with cross-attention, or a causal self-attention layer with
cross-attention), in the layout of Whisper's model.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compute.q3.text import MAX_TEXT, VOCAB


@dataclass(frozen=True)
class ModelDimensions:
    n_mels: int = 80
    n_frames: int = 2754  # input frames; the stride-2 convolution halves them
    n_state: int = 200
    n_head: int = 2
    n_mlp: int = 400
    n_audio_layer: int = 2
    n_vocab: int = len(VOCAB)
    n_text_ctx: int = (
        MAX_TEXT + 1
    )  # decoder positions: the MAX_TEXT + 2 ids of a sequence minus one (input ids[:-1])
    max_timescale: float = 3000.0

    @property
    def n_audio_ctx(self) -> int:
        return (self.n_frames + 1) // 2


DECODERS = ("lstm", "attention")


def sinusoids(length: int, channels: int, max_timescale: float) -> Tensor:
    """Fixed positions: (length, channels), sines of all timescales, then cosines."""
    inv_timescales = torch.exp(
        -math.log(max_timescale) / (channels // 2 - 1) * torch.arange(channels // 2)
    )
    scaled_time = torch.arange(length)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


def qkv_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """q: (batch, head, t, d/head), k, v: (batch, head, s, d/head), both already scaled,
    mask: (t, s) added to the scores -> (batch, t, d)"""
    # softmax(q k^T + mask) v in one fused kernel; the model runs in float32, so the softmax
    # does too (and the result equals the three-step formula to rounding)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
    return out.transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)


class MultiHeadAttention(nn.Module):
    """Self-attention (xa is None) or cross-attention (keys and values from xa)."""

    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.scale = (n_state // n_head) ** -0.25  # on q and k each, as Whisper
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)
        self.value = nn.Linear(n_state, n_state)
        self.out = nn.Linear(n_state, n_state)

    def heads(self, x: Tensor) -> Tensor:
        """x: (batch, t, d) -> (batch, head, t, d/head)"""
        return x.view(x.shape[0], x.shape[1], self.n_head, -1).transpose(1, 2).contiguous()

    def keys_values(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, s, d) -> scaled keys, values: (batch, head, s, d/head)"""
        return self.heads(self.key(x)) * self.scale, self.heads(self.value(x))

    def forward(
        self,
        x: Tensor,
        xa: Tensor | None = None,
        mask: Tensor | None = None,
        cache: dict | None = None,
    ) -> Tensor:
        """x: (batch, t, d), xa: (batch, s, d) -> (batch, t, d)

        cache, while decoding step by step: keeps the keys/values of xa once projected, or, for
        self-attention, the keys/values of all earlier positions (x then holds the new ones only).
        """
        if xa is None:
            k, v = self.keys_values(x)
            if cache is not None:
                if self in cache:
                    k, v = (
                        torch.cat([cache[self][0], k], dim=2),
                        torch.cat([cache[self][1], v], dim=2),
                    )
                cache[self] = (k, v)
        elif cache is not None and self in cache:
            k, v = cache[self]
        else:
            k, v = self.keys_values(xa)
            if cache is not None:
                cache[self] = (k, v)
        return self.out(qkv_attention(self.heads(self.query(x)) * self.scale, k, v, mask))


class ResidualAttentionBlock(nn.Module):
    """Pre-LN: x += MHA(LN x[, xa]); x += MLP(LN x). Without the MLP when n_mlp is 0."""

    def __init__(self, n_state: int, n_head: int, n_mlp: int):
        super().__init__()
        self.attn_ln = nn.LayerNorm(n_state)
        self.attn = MultiHeadAttention(n_state, n_head)
        self.mlp_ln = nn.LayerNorm(n_state) if n_mlp else None
        self.mlp = (
            nn.Sequential(nn.Linear(n_state, n_mlp), nn.GELU(), nn.Linear(n_mlp, n_state))
            if n_mlp
            else None
        )

    def forward(
        self,
        x: Tensor,
        xa: Tensor | None = None,
        mask: Tensor | None = None,
        cache: dict | None = None,
    ) -> Tensor:
        """x: (batch, t, d), xa: (batch, s, d) -> (batch, t, d)"""
        x = x + self.attn(self.attn_ln(x), xa, mask=mask, cache=cache)
        if self.mlp is not None:
            x = x + self.mlp(self.mlp_ln(x))
        return x


class AudioEncoder(nn.Module):
    def __init__(self, dims: ModelDimensions):
        super().__init__()
        self.conv1 = nn.Conv1d(dims.n_mels, dims.n_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(dims.n_state, dims.n_state, kernel_size=3, stride=2, padding=1)
        self.register_buffer(
            "positional_embedding",
            sinusoids(dims.n_audio_ctx, dims.n_state, dims.max_timescale),
            persistent=False,
        )
        self.blocks = nn.ModuleList(
            ResidualAttentionBlock(dims.n_state, dims.n_head, dims.n_mlp)
            for _ in range(dims.n_audio_layer)
        )
        self.ln_post = nn.LayerNorm(dims.n_state)

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, n_mels, frames) -> (batch, frames/2, d)"""
        x = F.gelu(self.conv1(x))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        x = x + self.positional_embedding[: x.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x)


class RecurrentDecoder(nn.Module):
    """Embedding, LN, LSTM, a cross-attention block, LN, linear."""

    def __init__(self, dims: ModelDimensions):
        super().__init__()
        self.token_embedding = nn.Embedding(dims.n_vocab, dims.n_state)
        self.ln_in = nn.LayerNorm(dims.n_state)
        self.lstm = nn.LSTM(dims.n_state, dims.n_state, batch_first=True)
        self.cross = ResidualAttentionBlock(dims.n_state, dims.n_head, dims.n_mlp)
        self.ln = nn.LayerNorm(dims.n_state)
        self.head = nn.Linear(dims.n_state, dims.n_vocab)

    def forward(self, tokens: Tensor, xa: Tensor, cache: dict | None = None) -> Tensor:
        """tokens: (batch, t), xa: (batch, frames/2, d) -> logits (batch, n_vocab, t)

        cache, while decoding step by step: carries the LSTM state (and see MultiHeadAttention).
        """
        h, state = self.lstm(
            self.ln_in(self.token_embedding(tokens)),
            None if cache is None else cache.get(self.lstm),
        )
        if cache is not None:
            cache[self.lstm] = state
        h = self.cross(h, xa, cache=cache)
        return self.head(self.ln(h)).transpose(1, 2)


class AttentionDecoder(nn.Module):
    """Embedding + learned positions, causal self-attention (no MLP), a cross-attention block,
    LN, linear."""

    def __init__(self, dims: ModelDimensions):
        super().__init__()
        self.token_embedding = nn.Embedding(dims.n_vocab, dims.n_state)
        self.positional_embedding = nn.Parameter(torch.rand(dims.n_text_ctx, dims.n_state))
        self.self_attn = ResidualAttentionBlock(dims.n_state, dims.n_head, 0)
        self.cross = ResidualAttentionBlock(dims.n_state, dims.n_head, dims.n_mlp)
        self.ln = nn.LayerNorm(dims.n_state)
        self.head = nn.Linear(dims.n_state, dims.n_vocab)
        mask = torch.full((dims.n_text_ctx, dims.n_text_ctx), -math.inf).triu(1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, tokens: Tensor, xa: Tensor, cache: dict | None = None) -> Tensor:
        """tokens: (batch, t), xa: (batch, frames/2, d) -> logits (batch, n_vocab, t)

        cache, while decoding step by step: tokens are the new positions only; the earlier ones'
        self-attention keys/values are in the cache.
        """
        past = (
            cache[self.self_attn.attn][0].shape[2] if cache and self.self_attn.attn in cache else 0
        )
        t = tokens.shape[1]
        x = self.token_embedding(tokens) + self.positional_embedding[past : past + t]
        x = self.self_attn(x, mask=self.mask[past : past + t, : past + t], cache=cache)
        x = self.cross(x, xa, cache=cache)
        return self.head(self.ln(x)).transpose(1, 2)


class SpeechRecognizer(nn.Module):
    def __init__(self, dims: ModelDimensions, decoder: str):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; valid: {', '.join(DECODERS)}")
        self.dims = dims
        self.encoder = AudioEncoder(dims)
        self.decoder = RecurrentDecoder(dims) if decoder == "lstm" else AttentionDecoder(dims)

    def forward(self, mel: Tensor, tokens: Tensor) -> Tensor:
        """mel: (batch, n_mels, frames), tokens: (batch, t) -> logits (batch, n_vocab, t)"""
        return self.decoder(tokens, self.encoder(mel))
