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

Format 4 (two streams, duet.py) splits `held` by owner and adds two more:
- `held` is Cadenza's keys and `player_held` the player's, each counted from the window's start;
- `player` (0/1): the token is the player's;
- `role` (one-hot over the model's role slots): on the leading style token only, the part Cadenza
  plays (model.json's `roles` in slot order; slot 0 is free); zeros on every other token. A model
  trained with `alone` (ModelConfig) reads no slot set as Cadenza alone, nobody else to play.
Packed for the graph as [held 128 | player_held 128 | phase one-hot | player 1 | role slots].

The Rust engine computes the same (src/features.rs), checked by the golden ring fixture. No I/O here.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple

import torch

from . import chords
from .duet import ALONE, FREE
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


class Feats(NamedTuple):
    """A model's per-token inputs beside the ids, (B,T,...) each. Format 3 has `held` and `phase`;
    format 4 the next three; format 5 `chord` too (chords.WIDTH floats: the chord now, the next,
    beats until it; zeros where unknown)."""
    held: torch.Tensor
    phase: torch.Tensor
    player_held: Optional[torch.Tensor] = None
    player: Optional[torch.Tensor] = None
    role: Optional[torch.Tensor] = None
    chord: Optional[torch.Tensor] = None


def two_stream_features(tokens: torch.Tensor, owners: Optional[torch.Tensor], vocab: Vocab,
                        start_ticks: Optional[torch.Tensor] = None, role_slots: int = 4,
                        role=0, chord: Optional[torch.Tensor] = None) -> Feats:
    """Format 4 inputs for tokens (B,T) whose owners (B,T) are 0 (Cadenza) or 1 (the player); None:
    all Cadenza's. The first token is taken as the style token and carries `role`: one slot for the
    whole batch, or a tensor (B,) of slots, one per example; a negative one (duet.ALONE) sets none.
    `chord` (B,T,chords.WIDTH): format 5's chord rows, passed on as they are."""
    if owners is None:
        owners = torch.zeros_like(tokens)
    mine = owners == 0
    held, phase = token_features(torch.where(mine, tokens, vocab.pad), vocab, start_ticks)
    player_held, _ = token_features(torch.where(mine, vocab.pad, tokens), vocab)
    roles = torch.zeros(*tokens.shape, role_slots, device=tokens.device)
    if torch.is_tensor(role):
        role = role.long().to(tokens.device)
        some = role >= 0
        roles[torch.arange(tokens.shape[0], device=tokens.device)[some], 0, role[some]] = 1.0
    elif role >= 0:
        roles[:, 0, role] = 1.0
    return Feats(held, phase, player_held, owners.float(), roles, chord)


def features_of(cfg, tokens: torch.Tensor, vocab: Vocab, start_ticks: Optional[torch.Tensor] = None,
                owners: Optional[torch.Tensor] = None, roles: Optional[torch.Tensor] = None,
                chord: Optional[torch.Tensor] = None):
    """The per-token inputs a model of config `cfg` takes with `tokens` (B,T): None (format 2), (held,
    phase) (format 3) or a `Feats` (format 4; `owners` 1 for the player's tokens, None: all Cadenza's;
    `roles` (B,) the role slot of each example, None: free, or alone where `owners` is None too and the
    model was trained to know it is alone; format 5: `chord` (B,T,chords.WIDTH), None: no chord known)."""
    if not getattr(cfg, "features", False):
        return None
    if getattr(cfg, "two_streams", False):
        if roles is None:
            roles = ALONE if owners is None and getattr(cfg, "alone", False) else FREE
        if getattr(cfg, "chords", False) and chord is None:
            chord = torch.zeros(*tokens.shape, chords.WIDTH, device=tokens.device)
        elif not getattr(cfg, "chords", False):
            chord = None
        return two_stream_features(tokens, owners, vocab, start_ticks, cfg.role_slots, roles, chord)
    return token_features(tokens, vocab, start_ticks)


def chord_tensor(rows, length: int) -> torch.Tensor:
    """Per-token chord rows (chords.chord_rows) of one example, padded with unknown to `length`, as
    (length, chords.WIDTH) floats."""
    out = torch.zeros(length, chords.WIDTH)
    rows = list(rows[:length])
    if not rows:
        return out
    r = torch.tensor(rows, dtype=torch.long)  # (n, 5): now root, now classes, next root, next classes, until
    n = torch.arange(len(rows))
    bits = (r[:, [1, 3]].unsqueeze(-1) >> torch.arange(12)) & 1  # (n, 2, 12)
    out[:len(rows), 12:24] = bits[:, 0].float()
    out[:len(rows), 36:48] = bits[:, 1].float()
    for col, base in ((0, 0), (2, 24), (4, 48)):
        known = r[:, col] >= 0
        out[n[known], base + r[known, col]] = 1.0
    return out


def sliced(feats, a: int, b: int):
    """Tokens a..b of a features tuple (any format; None stays None)."""
    if feats is None:
        return None
    parts = [None if x is None else x[:, a:b] for x in feats]
    return Feats(*parts) if isinstance(feats, Feats) else tuple(parts)


def packed(held: torch.Tensor, phase: torch.Tensor, ticks_per_beat: int) -> torch.Tensor:
    """The exported graph's one `features` input: (..., T, 128 + ticks_per_beat) f32, the held keys then
    the phase one-hot (format 3)."""
    return torch.cat([held.float(), torch.nn.functional.one_hot(phase.long(), ticks_per_beat).float()], -1)


def packed_feats(f, ticks_per_beat: int) -> torch.Tensor:
    """Any format's features ((held, phase) or a `Feats`) as the graph's one `features` input
    (..., T, width)."""
    f = Feats(*f)
    if f.player_held is None:
        return packed(f.held, f.phase, ticks_per_beat)
    parts = [f.held.float(), f.player_held.float(), torch.nn.functional.one_hot(f.phase.long(), ticks_per_beat).float(),
             f.player.float().unsqueeze(-1), f.role.float()]
    if f.chord is not None:
        parts.append(f.chord.float())
    return torch.cat(parts, -1)


def ticks_before(piece: Sequence[int], vocab: Vocab):
    """For every index i of a token list, the ticks elapsed before token i (a list one longer)."""
    out, now = [0], 0
    for tok in piece:
        if vocab.shift_base <= tok < vocab.shift_base + vocab.max_shift:
            now += tok - vocab.shift_base + 1
        out.append(now)
    return out


class FeatureState:
    """The features token by token, as a decoder meets them (one token at a time, or a few). Format 4
    (`role_slots` > 0): the first token taken is the style token and carries `role` (negative: none,
    Cadenza alone)."""

    def __init__(self, vocab: Vocab, start_tick: int = 0, role_slots: int = 0, role: int = 0,
                 chords_known: bool = False):
        self.vocab = vocab
        # Format 5: each batch of features carries chord rows (unknown: zeros), see `take`.
        self.chords_known = chords_known
        self.tick = start_tick
        self.held = torch.zeros(1, PITCHES, dtype=torch.bool)
        self.player_held = torch.zeros(1, PITCHES, dtype=torch.bool)
        self.role_slots = role_slots
        self.role = role
        self.first = True

    def take(self, tokens: Sequence[int], owners: Optional[Sequence[int]] = None, chord_rows=None):
        """Features of `tokens` following those taken before: (held (1,T,128), phase (1,T)), or for
        format 4 a `Feats`. `owners`: 1 for the player's tokens (default: all Cadenza's). Format 5
        (`chords_known`): `chord_rows`, one chords.chord_rows row per token (None: unknown)."""
        x = torch.tensor([list(tokens)], dtype=torch.long)
        own = torch.tensor([list(owners) if owners is not None else [0] * len(tokens)])
        mine = own == 0
        held, phase = token_features(torch.where(mine, x, self.vocab.pad), self.vocab,
                                     torch.tensor([self.tick]), self.held)
        self.held = held[:, -1].bool()
        self.tick += ticks_before(tokens, self.vocab)[-1]
        if not self.role_slots:
            return held, phase
        player_held, _ = token_features(torch.where(mine, self.vocab.pad, x), self.vocab, None, self.player_held)
        self.player_held = player_held[:, -1].bool()
        roles = torch.zeros(1, len(tokens), self.role_slots)
        if self.first and self.role >= 0:
            roles[0, 0, self.role] = 1.0
        self.first = False
        chord = None
        if self.chords_known:
            chord = chord_tensor(chord_rows or [], len(tokens)).unsqueeze(0)
        return Feats(held, phase, player_held, own.float(), roles, chord)
