"""Baselines for the comparison the style study made (RNN/LSTM vs Transformer), measured on the same
held-out windows: an LSTM of about the Transformer's size, and an interpolated n-gram. No I/O here.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn


@dataclass
class LSTMConfig:
    vocab_size: int
    d_embed: int = 256
    hidden: int = 480
    n_layer: int = 2
    dropout: float = 0.1
    # The Transformer's per-token inputs (features.py), so both compare on the same information.
    features: bool = False
    ticks_per_beat: int = 24

    def to_dict(self) -> dict:
        return asdict(self)


class LSTMModel(nn.Module):
    """Token LSTM with the Transformer's interface: forward(tokens (B,T)) -> logits (B,T,V)."""

    def __init__(self, cfg: LSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_embed)
        self.lstm = nn.LSTM(cfg.d_embed, cfg.hidden, cfg.n_layer, batch_first=True, dropout=cfg.dropout)
        self.proj = nn.Linear(cfg.hidden, cfg.d_embed)
        self.head = nn.Linear(cfg.d_embed, cfg.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied, as in the Transformer
        if cfg.features:
            self.held_proj = nn.Linear(128, cfg.d_embed, bias=False)
            self.phase_emb = nn.Embedding(cfg.ticks_per_beat, cfg.d_embed)

    def forward(self, tokens: torch.Tensor, feats=None) -> torch.Tensor:
        x = self.embed(tokens)
        if self.cfg.features:
            held, phase = feats
            x = x + self.held_proj(held) + self.phase_emb(phase)
        y, _ = self.lstm(x)
        return self.head(self.proj(y))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class NGram:
    """Interpolated absolute-discounting n-gram over tokens (Kneser-Ney style backoff weights, plain
    lower-order counts), with add-one unigrams so no token has zero probability."""

    def __init__(self, vocab_size: int, n: int = 5, discount: float = 0.75):
        self.v = vocab_size
        self.n = n
        self.d = discount
        # order k: context tuple (length k-1) -> {token: count}
        self.counts: List[Dict[Tuple[int, ...], Dict[int, int]]] = [defaultdict(dict) for _ in range(n + 1)]
        self.totals: List[Dict[Tuple[int, ...], int]] = [defaultdict(int) for _ in range(n + 1)]

    def fit(self, sequences: Sequence[Sequence[int]]):
        for seq in sequences:
            for i in range(1, len(seq)):
                tok = seq[i]
                for k in range(1, self.n + 1):
                    if i - (k - 1) < 0:
                        break
                    ctx = tuple(seq[i - (k - 1):i])
                    c = self.counts[k][ctx]
                    c[tok] = c.get(tok, 0) + 1
                    self.totals[k][ctx] += 1
        return self

    def prob(self, ctx: Sequence[int], tok: int) -> float:
        # unigram with add-one
        uni = self.counts[1][()]
        p = (uni.get(tok, 0) + 1) / (self.totals[1][()] + self.v)
        for k in range(2, self.n + 1):
            if len(ctx) < k - 1:
                break
            c = tuple(ctx[len(ctx) - (k - 1):])
            total = self.totals[k].get(c, 0)
            if total == 0:
                break
            seen = self.counts[k][c]
            lam = self.d * len(seen) / total
            p = max(seen.get(tok, 0) - self.d, 0) / total + lam * p
        return p

    def nll(self, seq: Sequence[int]) -> Tuple[float, int]:
        """(summed NLL in nats, tokens predicted) for seq[1:] given what precedes each."""
        return sum(self.nlls(seq)), len(seq) - 1

    def nlls(self, seq: Sequence[int]) -> List[float]:
        """NLL in nats of each of seq[1:] given what precedes it."""
        return [-math.log(self.prob(seq[max(0, i - self.n + 1):i], seq[i])) for i in range(1, len(seq))]
