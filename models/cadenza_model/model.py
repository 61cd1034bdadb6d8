"""Music Transformer (Huang et al. 2018): decoder-only, relative self-attention, no I/O here.

Two paths share every weight:
- `MusicTransformer.forward(tokens)`: the whole sequence at once, with the memory-efficient "skewing"
  of the relative logits (training, evaluation).
- `MusicTransformer.step(tokens, past_k, past_v)`: new tokens on top of an explicit, concatenated KV
  cache (eager decoding in Python). The same code serves a prefill (many new tokens) and single steps.
- `RingStepGraph`: the graph exported to ONNX, the same weights against a ring cache the caller keeps.

Attention is limited to a window of `window` tokens (distances 0..window-1), and positions are only
relative, so a KV cache that keeps the last `window - 1` entries gives exactly the full forward's result
on sequences of any length.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .chords import WIDTH as CHORD_WIDTH


@dataclass
class ModelConfig:
    vocab_size: int
    d_model: int = 256
    n_layer: int = 4
    n_head: int = 4
    d_ff: int = 1024
    window: int = 256  # attention window in tokens: relative distances 0..window-1
    dropout: float = 0.1
    # Per-token inputs beside the id (features.py): keys held and tick within the beat (format 3).
    features: bool = False
    ticks_per_beat: int = 24
    # Format 4 (duet.py): two streams, the player's and Cadenza's. Adds the player's held keys, a
    # player flag, and the role slots of the style token (features.py).
    two_streams: bool = False
    role_slots: int = 4
    # Format 4: trained with examples in which Cadenza plays alone carrying no role slot (duet.ALONE),
    # so that no slot tells it nobody else will play (model.json's "alone").
    alone: bool = False
    # Format 5 (chords.py): the chord now, the next chord and the beats until it, per token (zeros:
    # unknown).
    chords: bool = False

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def feature_width(self) -> int:
        """Floats per token of the exported graph's `features` input (0: none)."""
        if not self.features:
            return 0
        return 128 + self.ticks_per_beat + (128 + 1 + self.role_slots if self.two_streams else 0) \
            + (CHORD_WIDTH if self.chords else 0)

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_head {self.n_head}")


def skew(rel: torch.Tensor) -> torch.Tensor:
    """(B,H,T,T) logits against distances T-1..0 -> (B,H,T,T) logits against key positions.

    rel[..., i, r] is query i against distance T-1-r. The result's [i, j] is query i against key j,
    i.e. distance i-j, valid for j <= i (the rest is garbage and must be masked).
    """
    b, h, t, _ = rel.shape
    padded = F.pad(rel, (1, 0))  # (B,H,T,T+1)
    padded = padded.reshape(b, h, t + 1, t)
    return padded[:, :, 1:, :]


class RelativeSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        # One embedding per head per distance: rel_emb[h, d] for distance d = 0..window-1.
        self.rel_emb = nn.Parameter(torch.randn(cfg.n_head, cfg.window, cfg.head_dim) * 0.02)
        self.drop = nn.Dropout(cfg.dropout)

    def _split(self, x: torch.Tensor):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        shape = (b, t, self.cfg.n_head, self.cfg.head_dim)
        return (q.view(shape).transpose(1, 2), k.view(shape).transpose(1, 2), v.view(shape).transpose(1, 2))

    def _merge(self, y: torch.Tensor) -> torch.Tensor:
        b, h, t, d = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Full sequence, skewed relative logits."""
        cfg = self.cfg
        q, k, v = self._split(x)
        t = x.shape[1]
        content = q @ k.transpose(-1, -2)
        # Embeddings for distances t-1..0 (zero beyond the window: masked anyway).
        if t <= cfg.window:
            er = self.rel_emb[:, :t].flip(1)
        else:
            pad = torch.zeros(cfg.n_head, t - cfg.window, cfg.head_dim, dtype=x.dtype, device=x.device)
            er = torch.cat([pad, self.rel_emb.flip(1)], dim=1)
        rel = skew(torch.einsum("bhtd,hrd->bhtr", q, er))
        dist = torch.arange(t, device=x.device)[:, None] - torch.arange(t, device=x.device)[None, :]
        allowed = (dist >= 0) & (dist < cfg.window)
        logits = (content + rel) / math.sqrt(cfg.head_dim)
        logits = logits.masked_fill(~allowed, float("-inf"))
        att = self.drop(F.softmax(logits, dim=-1))
        return self._merge(att @ v)

    def step(self, x: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor):
        """New tokens x (B,T,D) after a cache of P entries (B,H,P,Dh). Returns (y, k_all, v_all)."""
        cfg = self.cfg
        q, k, v = self._split(x)
        k_all = torch.cat([past_k, k], dim=2)
        v_all = torch.cat([past_v, v], dim=2)
        t = x.shape[1]
        total = k_all.shape[2]
        past = total - t
        qpos = torch.arange(t, device=x.device) + past
        kpos = torch.arange(total, device=x.device)
        dist = qpos[:, None] - kpos[None, :]  # (T, P+T)
        allowed = (dist >= 0) & (dist < cfg.window)
        idx = dist.clamp(0, cfg.window - 1)
        er = self.rel_emb[:, idx]  # (H, T, P+T, Dh): only the distances in use
        rel = torch.einsum("bhtd,htsd->bhts", q, er)
        logits = (q @ k_all.transpose(-1, -2) + rel) / math.sqrt(cfg.head_dim)
        logits = logits.masked_fill(~allowed, float("-inf"))
        att = F.softmax(logits, dim=-1)
        return self._merge(att @ v_all), k_all, v_all


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = RelativeSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model), nn.Dropout(cfg.dropout)
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.ff(self.ln2(x))

    def step(self, x, past_k, past_v):
        y, k, v = self.attn.step(self.ln1(x), past_k, past_v)
        x = x + y
        return x + self.ff(self.ln2(x)), k, v


class MusicTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied
        if cfg.features:
            self.held_proj = nn.Linear(128, cfg.d_model, bias=False)
            self.phase_emb = nn.Embedding(cfg.ticks_per_beat, cfg.d_model)
        if cfg.two_streams:
            if not cfg.features:
                raise ValueError("two streams (format 4) need the features of format 3")
            self.player_proj = nn.Linear(128, cfg.d_model, bias=False)
            self.player_vec = nn.Parameter(torch.zeros(cfg.d_model))
            self.role_emb = nn.Embedding(cfg.role_slots, cfg.d_model)
        if cfg.chords:
            if not cfg.two_streams:
                raise ValueError("the chord track (format 5) needs the two streams of format 4")
            self.chord_proj = nn.Linear(CHORD_WIDTH, cfg.d_model, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def inputs(self, tokens: torch.Tensor, feats=None) -> torch.Tensor:
        """The input vectors: the token's embedding, plus (format 3) its held keys and beat phase, plus
        (format 4) the player's held keys, whether it is the player's, and the role slots."""
        x = self.embed(tokens)
        if self.cfg.features:
            if feats is None:
                raise ValueError("this model takes per-token features (features.token_features)")
            held, phase = feats[0], feats[1]
            x = x + self.held_proj(held) + self.phase_emb(phase)
            if self.cfg.two_streams:
                if len(feats) < 5 or feats[2] is None:
                    raise ValueError("a format 4 model takes two-stream features (features.two_stream_features)")
                player_held, player, role = feats[2], feats[3], feats[4]
                x = x + self.player_proj(player_held) + player.unsqueeze(-1) * self.player_vec \
                    + role @ self.role_emb.weight
                if self.cfg.chords:
                    if len(feats) < 6 or feats[5] is None:
                        raise ValueError("a format 5 model takes chord rows (features.features_of, chord=)")
                    x = x + self.chord_proj(feats[5])
        return x * math.sqrt(self.cfg.d_model)

    def forward(self, tokens: torch.Tensor, feats=None) -> torch.Tensor:
        """tokens (B,T); feats: (held (B,T,128), phase (B,T)) for a model with features, else None."""
        x = self.drop(self.inputs(tokens, feats))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))

    def step(self, tokens: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor, feats=None):
        """tokens (B,T) int64; past_k/past_v (n_layer,B,H,P,Dh) -> logits (B,T,V), present_k, present_v."""
        x = self.inputs(tokens, feats)
        ks, vs = [], []
        for i, b in enumerate(self.blocks):
            x, k, v = b.step(x, past_k[i], past_v[i])
            ks.append(k)
            vs.append(v)
        return self.head(self.ln_f(x)), torch.stack(ks), torch.stack(vs)

    def empty_cache(self, batch: int = 1, dtype=torch.float32):
        c = self.cfg
        z = torch.zeros(c.n_layer, batch, c.n_head, 0, c.head_dim, dtype=dtype)
        return z, z.clone()

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def with_chords(model: MusicTransformer) -> MusicTransformer:
    """A format 4 model as a format 5 one that plays exactly as it did: the same weights, and a chord
    projection that starts at zero (the chord track says nothing until training teaches it to)."""
    cfg = ModelConfig(**{**model.cfg.to_dict(), "chords": True})
    out = MusicTransformer(cfg)
    missing = out.load_state_dict(model.state_dict(), strict=False).missing_keys
    assert set(missing) <= {"chord_proj.weight"}, missing
    with torch.no_grad():
        out.chord_proj.weight.zero_()
    return out


def with_two_streams(model: MusicTransformer) -> MusicTransformer:
    """A format 3 model as a format 4 one that plays exactly as it did while nobody else plays: the same
    weights; the player's keys start with the weights of its held keys (format 3 counted every key),
    the player flag and the role slots start at zero. Training on two streams (duet.py) goes on from there."""
    cfg = ModelConfig(**{**model.cfg.to_dict(), "two_streams": True})
    out = MusicTransformer(cfg)
    missing = out.load_state_dict(model.state_dict(), strict=False).missing_keys
    assert set(missing) <= {"player_proj.weight", "player_vec", "role_emb.weight"}, missing
    with torch.no_grad():
        out.player_proj.weight.copy_(model.held_proj.weight)
        out.player_vec.zero_()
        out.role_emb.weight.zero_()
    return out


class RingStepGraph(nn.Module):
    """The module exported to ONNX in format 2: one decode/prefill step against a ring KV cache that
    the caller keeps, with the same weights and the same result as `MusicTransformer.step`.

    Format 1 (`step` exported as it is) concatenated the cache inside the graph and returned all of it, so every step
    copies the whole cache twice and gathers a head_dim-wide embedding per distance. Here the caller
    owns `C = window - 1` cache slots in any order and says, per new token and slot, which relative
    distance applies (`rel_index`) and whether the slot may be seen (`mask`); the graph returns only
    the new tokens' keys and values, which the caller writes into slots. Relative logits are one
    (H,T,Dh) x (H,Dh,window) product, then gathered at the distances in use.

    Inputs: tokens (1,T) int64; past_keys, past_values (n_layer, n_head, C, head_dim) f32;
    rel_index (n_head, T, C+T) int64 (distance, clamped to 0..window-1); mask (T, C+T) f32 (0 where
    the key is visible, -inf where not: an empty slot, beyond the window, a later new token). The last
    T columns stand for the new tokens themselves, in order. Format 3 (`cfg.features`) adds features
    (T, 128 + ticks_per_beat) f32: per new token the keys sounding after it (1.0 each), then its tick
    within the beat one-hot; see features.py (`packed`).
    Outputs: logits (T, vocab); new_keys, new_values (n_layer, n_head, T, head_dim).
    """

    def __init__(self, model: MusicTransformer):
        super().__init__()
        self.model = model

    def forward(self, tokens, past_keys, past_values, rel_index, mask, features=None):
        m, cfg = self.model, self.model.cfg
        h, dh, d = cfg.n_head, cfg.head_dim, cfg.d_model
        slots = cfg.window - 1
        scale = 1.0 / math.sqrt(dh)
        x = m.embed(tokens.reshape(-1))  # (T, D)
        if cfg.features:
            # One input for all (ONNX Runtime's Rust binding runs up to six inputs without allocating):
            # held keys then the phase one-hot; a product with the one-hot is the phase embedding.
            tpb = cfg.ticks_per_beat
            if cfg.two_streams:
                p = 256 + tpb
                r = p + 1 + cfg.role_slots
                x = x + features[:, :128] @ m.held_proj.weight.t() + features[:, 128:256] @ m.player_proj.weight.t() \
                    + features[:, 256:p] @ m.phase_emb.weight + features[:, p:p + 1] * m.player_vec \
                    + features[:, p + 1:r] @ m.role_emb.weight
                if cfg.chords:
                    x = x + features[:, r:r + CHORD_WIDTH] @ m.chord_proj.weight.t()
            else:
                x = x + features[:, :128] @ m.held_proj.weight.t() + features[:, 128:] @ m.phase_emb.weight
        x = x * math.sqrt(d)
        ks, vs = [], []
        for i, b in enumerate(m.blocks):
            a = b.attn
            w, bias = a.qkv.weight, a.qkv.bias  # (3D, D), (3D)
            # Per-head projections (H, D, Dh); the query carries the 1/sqrt(Dh) of both logit terms.
            wq = w[:d].reshape(h, dh, d).transpose(1, 2) * scale
            wk = w[d:2 * d].reshape(h, dh, d).transpose(1, 2)
            wv = w[2 * d:].reshape(h, dh, d).transpose(1, 2)
            bq = bias[:d].reshape(h, 1, dh) * scale
            bk = bias[d:2 * d].reshape(h, 1, dh)
            bv = bias[2 * d:].reshape(h, 1, dh)
            y = b.ln1(x)
            q, k, v = y @ wq + bq, y @ wk + bk, y @ wv + bv  # (H, T, Dh)
            content = torch.cat([q @ past_keys[i].transpose(1, 2), q @ k.transpose(1, 2)], dim=2)
            rel = torch.gather(q @ a.rel_emb.transpose(1, 2), 2, rel_index)  # (H, T, C+T)
            att = F.softmax(content + rel + mask, dim=-1)
            ctx = att[:, :, :slots] @ past_values[i] + att[:, :, slots:] @ v  # (H, T, Dh)
            wo = a.out.weight.transpose(0, 1).reshape(h, dh, d)
            x = x + (ctx @ wo).sum(0) + a.out.bias
            x = x + b.ff(b.ln2(x))
            ks.append(k)
            vs.append(v)
        return m.head(m.ln_f(x)), torch.stack(ks), torch.stack(vs)


def ring_inputs(positions, new_positions, window: int, n_head: int):
    """`rel_index` and `mask` for `RingStepGraph`: `positions` are the context positions held by the C
    slots (None for an empty slot), `new_positions` those of the T new tokens. Plain Python lists; the
    Rust engine builds the same two tensors."""
    cols = list(positions) + list(new_positions)
    index, mask = [], []
    for qp in new_positions:
        irow, mrow = [], []
        for j, kp in enumerate(cols):
            dist = None if kp is None else qp - kp
            # A new token sees the new tokens up to itself, and cache slots within the window.
            visible = dist is not None and 0 <= dist < window
            irow.append(min(max(dist or 0, 0), window - 1))
            mrow.append(0.0 if visible else float("-inf"))
        index.append(irow)
        mask.append(mrow)
    idx = torch.tensor(index, dtype=torch.int64).unsqueeze(0).expand(n_head, -1, -1).contiguous()
    return idx, torch.tensor(mask, dtype=torch.float32)
