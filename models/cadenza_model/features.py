"""Per-token inputs beside the token id (format 3 models): what a transformer cannot cheaply work out.

Measured on the held-out chorales and renaissance pieces, the Transformer's NLL gap to the LSTM sat
almost wholly on note-on and note-off tokens (which keys sound now, which may end), and on folk songs
on time shifts (where in the beat we are). An LSTM carries both in its state; attention over relative
token distances has to reconstruct them every step. So each token comes with:

- `held` (128 bools): the keys sounding after the token, counted from the start of the window (a note
  begun before the window's first token is not known, exactly as `clean_crop` leaves training crops);
- `phase` (0..ticks_per_beat-1): the tick within the beat after the token, on the true beat grid (the
  piece's in training, the host's in the plugin). The leading style token carries the phase before the
  window's first token, and no keys.

The Rust engine computes the same two (src/engine/generator.rs, `features`), checked by the golden
ring fixture. No I/O here.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch

from .vocab import PITCHES, Vocab


def token_features(tokens: torch.Tensor, vocab: Vocab, start_ticks: Optional[torch.Tensor] = None,
                   held0: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """tokens (B,T) int64 -> held (B,T,128) float32, phase (B,T) int64: the state after each token.

    `start_ticks` (B,): the time before the first token, in ticks (default 0); `held0` (B,128) bool: keys
    sounding before it (default none). Style, pad and other tokens change nothing, so a leading style
    token carries the phase of `start_ticks`.
    """
    b, t = tokens.shape
    pitches = torch.arange(PITCHES, device=tokens.device)
    order = torch.arange(1, t + 1, device=tokens.device).view(1, t, 1)
    is_on = tokens.unsqueeze(-1) == (vocab.note_on_base + pitches)
    is_off = tokens.unsqueeze(-1) == (vocab.note_off_base + pitches)
    last_on = torch.where(is_on, order, 0).cummax(1).values
    last_off = torch.where(is_off, order, 0).cummax(1).values
    held = last_on > last_off
    if held0 is not None:
        held = held | (held0.unsqueeze(1).bool() & (last_off == 0))
    is_shift = (tokens >= vocab.shift_base) & (tokens < vocab.shift_base + vocab.max_shift)
    ticks = torch.where(is_shift, tokens - vocab.shift_base + 1, 0).cumsum(1)
    if start_ticks is not None:
        ticks = ticks + start_ticks.view(b, 1).to(ticks)
    return held.float(), ticks % vocab.ticks_per_beat


def packed(held: torch.Tensor, phase: torch.Tensor, ticks_per_beat: int) -> torch.Tensor:
    """The exported graph's one `features` input: (..., T, 128 + ticks_per_beat) f32, the held keys then
    the phase one-hot (format 3)."""
    return torch.cat([held.float(), torch.nn.functional.one_hot(phase.long(), ticks_per_beat).float()], -1)


def ticks_before(piece: Sequence[int], vocab: Vocab):
    """For every index i of a token list, the ticks elapsed before token i (a list one longer)."""
    out, now = [0], 0
    for tok in piece:
        if vocab.shift_base <= tok < vocab.shift_base + vocab.max_shift:
            now += tok - vocab.shift_base + 1
        out.append(now)
    return out


class FeatureState:
    """The features token by token, as a decoder meets them (one token at a time, or a few)."""

    def __init__(self, vocab: Vocab, start_tick: int = 0):
        self.vocab = vocab
        self.tick = start_tick
        self.held = torch.zeros(1, PITCHES, dtype=torch.bool)

    def take(self, tokens: Sequence[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Features of `tokens` (held (1,T,128), phase (1,T)) following those taken before."""
        x = torch.tensor([list(tokens)], dtype=torch.long)
        held, phase = token_features(x, self.vocab, torch.tensor([self.tick]), self.held)
        self.held = held[:, -1].bool()
        self.tick += ticks_before(tokens, self.vocab)[-1]
        return held, phase
