"""The training pieces the scripts share (cli/train.py, cli/finetune.py, cli/evaluate.py): datasets of style
crops and duet examples, the losses, the held-out evaluation, the model registry, and the one
training loop (`fit`). No I/O but the
loss-curve picture; the scripts import it, never each other.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from . import chords, duet
from .baselines import LSTMConfig, LSTMModel
from .features import chord_tensor, features_of, ticks_before
from .model import ModelConfig, MusicTransformer
from .vocab import PITCHES, Vocab, clean_crop, clean_crop_indices, notes_to_tokens

ARCHS = {"transformer": (ModelConfig, MusicTransformer), "lstm": (LSTMConfig, LSTMModel)}


def build_model(arch: str, config: dict):
    cfg_cls, model_cls = ARCHS[arch]
    cfg = cfg_cls(**config)
    return cfg, model_cls(cfg)


class StyleDataset:
    """Tokenized pieces by style slot; samples balanced across styles."""

    def __init__(self, pieces_by_slot: Dict[int, List[List[int]]], vocab: Vocab, seq: int, transpose: int = 5):
        self.vocab = vocab
        self.seq = seq
        self.transpose = transpose
        self.by_slot = {s: [p for p in ps if len(p) > 4] for s, ps in pieces_by_slot.items()}
        self.by_slot = {s: ps for s, ps in self.by_slot.items() if ps}
        self.weights = {s: [len(p) for p in ps] for s, ps in self.by_slot.items()}
        # Ticks before each token of each piece: the beat phase of a crop's start.
        self.ticks = {s: [ticks_before(p, vocab) for p in ps] for s, ps in self.by_slot.items()}

    def _shift(self, toks: Sequence[int], k: int) -> Optional[List[int]]:
        v, out = self.vocab, []
        for t in toks:
            for base in (v.note_on_base, v.note_off_base):
                if base <= t < base + PITCHES:
                    p = t - base + k
                    if not 0 <= p < PITCHES:
                        return None
                    t = base + p
                    break
            out.append(t)
        return out

    def sample(self, rng: random.Random) -> List[int]:
        return self.sample_with_tick(rng)[0]

    def sample_with_tick(self, rng: random.Random):
        """([STYLE] + a transposed clean crop, padded to seq; ticks before the crop's first token)."""
        slot = rng.choice(list(self.by_slot))
        i = rng.choices(range(len(self.by_slot[slot])), weights=self.weights[slot])[0]
        piece = self.by_slot[slot][i]
        n = self.seq - 1
        start = 0 if len(piece) <= n or rng.random() < 0.1 else rng.randrange(0, len(piece) - n)
        crop = clean_crop(piece[start:start + n], self.vocab)
        for _ in range(4):
            shifted = self._shift(crop, rng.randint(-self.transpose, self.transpose))
            if shifted is not None:
                crop = shifted
                break
        ex = [self.vocab.style(slot)] + crop
        return ex + [self.vocab.pad] * (self.seq - len(ex)), self.ticks[slot][i][start]

    def batch(self, rng: random.Random, n: int) -> torch.Tensor:
        return self.batch_with_ticks(rng, n)[0]

    def batch_with_ticks(self, rng: random.Random, n: int):
        """(tokens (n, seq), ticks before each crop (n,))."""
        ex = [self.sample_with_tick(rng) for _ in range(n)]
        return (torch.tensor([e[0] for e in ex], dtype=torch.long),
                torch.tensor([e[1] for e in ex], dtype=torch.long))


def tokenize_pieces(pieces, vocab: Vocab) -> List[List[int]]:
    return [notes_to_tokens(p, vocab) for p in pieces]


def features_for(model, tokens: torch.Tensor, vocab: Vocab, start_ticks=None, owners=None, roles=None,
                 chord=None):
    """The per-token inputs `model` takes with `tokens` (None for a tokens-only model). A format 4 model
    takes `owners` (1 for the player's tokens; None: all Cadenza's, playing alone) and `roles` (B,),
    the part Cadenza plays in each example (duet.ROLES; None: free); a format 5 model `chord` (B,T,
    chords.WIDTH; None: no chord known)."""
    return features_of(getattr(model, "cfg", None), tokens, vocab, start_ticks, owners, roles, chord)


class DuetBatch:
    """Two-stream examples (duet.py): tokens, owners (n, seq), ticks before each crop (n,), how each
    position's prediction is scored: kinds, js (n, seq-1), the role Cadenza plays (n,), and (format 5)
    each token's chord row (n, seq, chords.WIDTH; None: no example is told a chord)."""

    def __init__(self, tokens, owners, start_ticks, kinds, js, roles, chords=None):
        self.tokens, self.owners, self.start_ticks, self.kinds, self.js = tokens, owners, start_ticks, kinds, js
        self.roles, self.chords = roles, chords

    def to(self, dev):
        moved = [t.to(dev) for t in (self.tokens, self.owners, self.start_ticks, self.kinds, self.js, self.roles)]
        return DuetBatch(*moved, None if self.chords is None else self.chords.to(dev))


class DuetDataset:
    """[STYLE] + a crop of two streams from one piece's parts (duet.split_parts), styles sampled evenly,
    pieces by their length."""

    def __init__(self, pieces_by_slot: Dict[int, list], vocab: Vocab, seq: int, transpose: int = 5,
                 p_alone: float = duet.P_ALONE, roles: Optional[set] = None, p_astray: float = duet.P_ASTRAY,
                 alone: bool = False, p_chords: float = 0.0, p_chords_alone: Optional[float] = None):
        """`roles`: the role indices (duet.ROLES) examples may be labelled with; any other is free (a
        model that plays no roles learns every split as free). `p_astray`: how often Cadenza's past goes
        astray (duet.role_example). `alone`: Cadenza alone carries no role slot (duet.ALONE), else free.
        `p_chords` (format 5): how often an example is told its chord track (`p_chords_alone`, when
        given, for an example of Cadenza alone)."""
        self.vocab, self.seq, self.transpose, self.p_alone, self.roles = vocab, seq, transpose, p_alone, roles
        self.p_astray, self.alone, self.p_chords, self.p_chords_alone = p_astray, alone, p_chords, p_chords_alone
        self.by_slot = {s: [p for p in ps if len(p.notes) >= 8] for s, ps in pieces_by_slot.items()}
        self.by_slot = {s: ps for s, ps in self.by_slot.items() if ps}
        self.weights = {s: [len(p.notes) for p in ps] for s, ps in self.by_slot.items()}

    def sample(self, rng: random.Random):
        """(tokens, owners, start tick, role, learn from, chord rows) of one example, padded to seq (the
        chord rows, chords.chord_rows per token, are None when the example is told no chord)."""
        slot = rng.choice(list(self.by_slot))
        piece = rng.choices(self.by_slot[slot], weights=self.weights[slot])[0]
        ex = duet.role_example(piece.notes, piece.bar, self.vocab, self.seq - 1, rng, self.transpose,
                               self.p_alone, self.p_astray, self.p_chords, self.p_chords_alone)
        toks, owners, start, role, learn_from = ex[:5]
        if role == duet.ALONE:
            role = duet.ALONE if self.alone else duet.FREE
        elif self.roles is not None and role not in self.roles:
            role = duet.FREE
        pad = self.seq - 1 - len(toks)
        tokens = [self.vocab.style(slot)] + toks + [self.vocab.pad] * pad
        rows = None
        if ex.chords is not None:
            # The tick after each token (the style token's: the crop's start), as the phase counts.
            rows = chords.chord_rows([start + t for t in ticks_before(tokens, self.vocab)[1:]], ex.chords)
        return (tokens, [duet.CADENZA] + owners + [duet.CADENZA] * pad, start, role, 1 + learn_from, rows)

    def batch(self, rng: random.Random, n: int) -> DuetBatch:
        ex = [self.sample(rng) for _ in range(n)]
        return duet_batch(ex, self.vocab, with_chords=self.p_chords > 0)


def duet_batch(examples, vocab: Vocab, with_chords: bool = False) -> DuetBatch:
    """A batch of (tokens, owners, start tick[, role[, learn from[, chord rows]]]) examples of equal
    length (no role: free; nothing is learned from predicting a token before `learn from`; no chord
    rows: nothing known). `with_chords`: the batch carries chord rows (format 5), zeros where unknown."""
    kinds, js = zip(*(duet.targets(e[0], e[1], vocab) for e in examples))
    kinds = [k if len(e) < 5 else [duet.IGNORED] * max(0, e[4] - 1) + k[max(0, e[4] - 1):]
             for k, e in zip(kinds, examples)]
    roles = [e[3] if len(e) > 3 else duet.FREE for e in examples]
    chord = None
    if with_chords or any(len(e) > 5 and e[5] is not None for e in examples):
        seq = len(examples[0][0])
        chord = torch.stack([chord_tensor(e[5] if len(e) > 5 and e[5] is not None else [], seq)
                             for e in examples])
    return DuetBatch(torch.tensor([e[0] for e in examples]), torch.tensor([e[1] for e in examples]),
                     torch.tensor([e[2] for e in examples]), torch.tensor(kinds), torch.tensor(js),
                     torch.tensor(roles), chord)


def duet_logits(model, b: DuetBatch, vocab: Vocab, with_features: bool = False):
    """The model's logits (n, seq-1, vocab) for each next token of the batch (and the features it read,
    `with_features`)."""
    core = model.module if hasattr(model, "module") else model
    x = b.tokens[:, :-1]
    feats = features_for(core, x, vocab, b.start_ticks, b.owners[:, :-1], b.roles,
                         None if b.chords is None else b.chords[:, :-1])
    logits = model(x, feats)
    return (logits, feats) if with_features else logits


def held_key_penalty(logits: torch.Tensor, player_held: torch.Tensor, vocab: Vocab) -> torch.Tensor:
    """Per position (n, seq-1): -log(1 - p), p the probability the model puts on beginning a key the
    player holds there (unlikelihood, Welleck et al. 2019). The corpus never shows such a note
    (duet.py leaves them out), so the model learns it only as an absence; this says it outright."""
    on = torch.softmax(logits.float(), -1)[..., vocab.note_on_base:vocab.note_on_base + PITCHES]
    p = (on * player_held.float()).sum(-1).clamp(max=1 - 1e-6)
    return -torch.log1p(-p)


def duet_nll(model, b: DuetBatch, vocab: Vocab, held_weight: float = 0.0):
    """Per-position NLL (n, seq-1) as duet.targets scores it (0 where ignored), and the kinds. With
    `held_weight`, each scored position adds that much of `held_key_penalty`."""
    logits, feats = duet_logits(model, b, vocab, with_features=True)
    logz = torch.logsumexp(logits, -1)
    ce = logz - logits.gather(-1, b.tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
    shifts = logits[..., vocab.shift_base:vocab.shift_base + vocab.max_shift]
    tail = torch.logcumsumexp(shifts.flip(-1), -1).flip(-1)  # tail[..., m]: shifts of more than m ticks
    censored = logz - tail.gather(-1, b.js.unsqueeze(-1)).squeeze(-1)
    nll = torch.where(b.kinds == duet.CROSS_ENTROPY, ce,
                      torch.where(b.kinds == duet.CENSORED, censored, torch.zeros_like(ce)))
    if held_weight > 0:
        penalty = held_key_penalty(logits, feats.player_held, vocab)
        nll = nll + held_weight * torch.where(b.kinds == duet.IGNORED, torch.zeros_like(penalty), penalty)
    return nll, b.kinds


@torch.no_grad()
def own_past(model, b: DuetBatch, vocab: Vocab, rate: float, rng: random.Random) -> DuetBatch:
    """Scheduled sampling (Bengio et al. 2015), in one parallel pass: in the examples where the player
    plays, each of Cadenza's note-ons is, with probability `rate`, replaced by a pitch the model draws
    there itself (from its distribution given the true past), its note-off with it. Nothing is learned
    from the drawn note; every later token is scored as before, the part as written. So Cadenza's past
    holds the model's own mistakes, as it does when it plays, and what it learns after them is to
    follow the player rather than its own wrong notes (measured: free-running, its harmony drifts
    from the player's; models/EVALUATION.md).

    A drawn pitch keeps the stream well formed: never one that sounds (either owner's) when it
    begins, or that either owner strikes or ends before it ends; Cadenza's note-ons on one tick stay
    in rising order."""
    core = model.module if hasattr(model, "module") else model
    was_training = core.training
    logits = duet_logits(core.eval(), b, vocab)
    core.train(was_training)
    on, off = vocab.note_on_base, vocab.note_off_base
    probs = torch.softmax(logits[..., on:on + PITCHES].float(), -1).cpu()
    tokens, kinds = b.tokens.clone(), b.kinds.clone()
    for r in range(tokens.shape[0]):
        row, own = tokens[r].tolist(), b.owners[r].tolist()
        if duet.PLAYER not in own:
            continue
        sounding = [set(), set()]
        for i, t in enumerate(row):
            if on <= t < off and own[i] == duet.CADENZA and i > 0 and int(kinds[r, i - 1]) == duet.CROSS_ENTROPY \
                    and rng.random() < rate:
                p = t - on
                j = next((k for k in range(i + 1, len(row)) if row[k] == off + p and own[k] == duet.CADENZA), None)
                banned = sounding[0] | sounding[1]
                banned |= {(u - on) % PITCHES for u in row[i + 1:(len(row) if j is None else j + 1)]
                           if on <= u < off + PITCHES}
                lo = row[i - 1] - on if on <= row[i - 1] < off and own[i - 1] == duet.CADENZA else -1
                hi = (row[i + 1] - on if i + 1 < len(row) and on <= row[i + 1] < off and own[i + 1] == duet.CADENZA
                      else PITCHES)
                w = [float(probs[r, i - 1, q]) if lo < q < hi and q not in banned else 0.0 for q in range(PITCHES)]
                w[p] = float(probs[r, i - 1, p])
                if sum(w) > 0:
                    q = rng.choices(range(PITCHES), weights=w)[0]
                    if q != p:
                        row[i] = on + q
                        if j is not None:
                            row[j] = off + q
                        kinds[r, i - 1] = duet.IGNORED
            t = row[i]
            if on <= t < off:
                sounding[own[i]].add(t - on)
            elif off <= t < off + PITCHES:
                sounding[own[i]].discard(t - off)
        tokens[r] = torch.tensor(row)
    return DuetBatch(tokens.to(b.tokens.device), b.owners, b.start_ticks, kinds.to(b.kinds.device), b.js, b.roles)


def duet_loss(model, b: DuetBatch, vocab: Vocab, held_weight: float = 0.0) -> torch.Tensor:
    nll, kinds = duet_nll(model, b, vocab, held_weight)
    return nll[kinds != duet.IGNORED].mean()


def duet_examples(pieces, slot: int, vocab: Vocab, seq: int, n: int, seed: int = 0, with_chords: bool = False):
    """`n` fixed held-out two-stream examples of a style (the same ones for every model), none of them
    Cadenza alone: what the model is scored on while a player plays. `with_chords`: each also carries
    the chord rows of its piece's own harmony (duet.piece_harmony; format 5), as (.., free, 1, rows)."""
    rng = random.Random(seed)
    out = []
    usable = [p for p in pieces if len(p.notes) >= 8]
    tries = 0
    while usable and len(out) < n and tries < 50 * n:  # pieces that never make a duet end it
        tries += 1
        p = usable[len(out) % len(usable)]
        toks, owners, start = duet.example(p.notes, p.bar, vocab, seq - 1, rng, transpose=0, p_alone=0.0)
        if duet.PLAYER in owners and duet.CADENZA in owners:
            pad = seq - 1 - len(toks)
            tokens = [vocab.style(slot)] + toks + [vocab.pad] * pad
            ex = (tokens, [0] + owners + [0] * pad, start)
            if with_chords:
                ticks = [start + t for t in ticks_before(tokens, vocab)[1:]]
                ex += (duet.FREE, 1, chords.chord_rows(ticks, duet.piece_harmony(p.notes, p.bar)))
            out.append(ex)
    return out


def role_examples(pieces, slot: int, vocab: Vocab, seq: int, role: int, n: int, beats: int = 8):
    """Up to `n` pairs of fixed held-out examples of Cadenza playing `role` (duet.MELODY, BASS or
    HARMONY: the top part, the lowest, the inner ones) in `beats`-beat stretches of pieces with enough
    parts: (given, alone), the piece's other parts the player's in the first and nobody's in the
    second. The same stretches either way, so the NLL of Cadenza's notes in the two says what hearing
    the other parts is worth."""
    given, alone = [], []
    span = beats * vocab.ticks_per_beat
    need = 3 if role == duet.HARMONY else 2
    for p in pieces:
        order = duet.parts_by_height(p.notes)
        if len(order) < need:
            continue
        if role == duet.MELODY:
            cad_parts = {order[-1]}
        elif role == duet.BASS:
            cad_parts = {order[0]}
        else:
            cad_parts = set(order[1:-1])
        end = max(nt[0] for nt in p.notes)
        for start in range(0, max(1, end - span), 4 * span):
            window = [nt for nt in p.notes if start <= nt[0] < start + span]
            cad = [nt[:3] for nt in window if nt[3] in cad_parts]
            ply = [nt[:3] for nt in window if nt[3] not in cad_parts]
            if len(cad) < 4 or not ply:
                continue
            pair = []
            for other in (ply, []):
                toks, owners = duet.duet_tokens(cad, other, vocab, start)
                pad = seq - 1 - len(toks)
                pair.append(([vocab.style(slot)] + toks + [vocab.pad] * pad, [0] + owners + [0] * pad, start, role))
            if len(pair[0][0]) > seq:
                continue
            given.append(pair[0])
            alone.append(pair[1])
            if len(given) >= n:
                return given, alone
    return given, alone


@torch.no_grad()
def note_on_nll(model, examples, vocab: Vocab, as_role=None, batch: int = 16) -> float:
    """Mean NLL of Cadenza's note-ons in `examples` (which pitch, at the tick it comes: the part's
    choice), with each example's role or, given, `as_role` on the style token."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(examples), batch):
        chunk = [e[:3] + ((e[3] if as_role is None else as_role),) for e in examples[i:i + batch]]
        b = duet_batch(chunk, vocab)
        nll, kinds = duet_nll(model, b, vocab)
        target = b.tokens[:, 1:]
        ons = (target >= vocab.note_on_base) & (target < vocab.note_off_base) & (b.owners[:, 1:] == duet.CADENZA)
        keep = ons & (kinds == duet.CROSS_ENTROPY)
        total += float(nll[keep].double().sum())
        count += int(keep.sum())
    return total / max(count, 1)


@torch.no_grad()
def duet_heldout_nll(model, examples, vocab: Vocab, batch: int = 16) -> float:
    """Mean NLL of Cadenza's tokens (cross-entropy positions only) while the player plays."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(examples), batch):
        nll, kinds = duet_nll(model, duet_batch(examples[i:i + batch], vocab), vocab)
        keep = kinds == duet.CROSS_ENTROPY
        total += float(nll[keep].double().sum())
        count += int(keep.sum())
    return total / max(count, 1)


def loss_on(model, batch: torch.Tensor, pad: int, vocab: Optional[Vocab] = None, start_ticks=None) -> torch.Tensor:
    x = batch[:, :-1]
    core = model.module if hasattr(model, "module") else model
    logits = model(x, features_for(core, x, vocab or Vocab(), start_ticks))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), ignore_index=pad)


TOKEN_KINDS = ("note-on", "note-off", "shift", "other")


def token_kinds(tokens: torch.Tensor, vocab: Vocab) -> torch.Tensor:
    """Each token's index in TOKEN_KINDS."""
    kinds = torch.full_like(tokens, 3)
    kinds[(tokens >= vocab.note_on_base) & (tokens < vocab.note_off_base)] = 0
    kinds[(tokens >= vocab.note_off_base) & (tokens < vocab.shift_base)] = 1
    kinds[tokens >= vocab.shift_base] = 2
    return kinds


def eval_windows(pieces: List[List[int]], slot: int, vocab: Vocab, seq: int, max_chunks: int = 200,
                 stride: Optional[int] = None):
    """The held-out windows every model is scored on: ([STYLE] + clean crop, ticks before the crop,
    which of the crop's tokens are scored).

    Without `stride`: non-overlapping windows of seq-1 piece tokens, every token scored once, each
    window's first tokens with little context. With `stride`: a window starts every `stride` tokens
    and scores only its last `stride` tokens (the first window scores all of its own), so each token is
    still scored once but, past a piece's opening, with seq-1-stride to seq-2 tokens before it. At
    stride = seq-1 - seq//2 that is the plugin's context as it plays: it keeps the newest half window
    when it restarts one and fills it up to the full window again (generate() in evaluation.py does the
    same).
    """
    n = seq - 1
    step = stride or n
    chunks = 0
    for p in pieces:
        ticks = ticks_before(p, vocab)
        s = 0
        while s == 0 or s - step + n < len(p):
            first = s + n - step if s > 0 else s  # the first piece position this window scores
            raw = p[s:s + n]
            keep = clean_crop_indices(raw, vocab)
            scored = [s + i >= first for i in keep]
            if keep and any(scored):
                yield [vocab.style(slot)] + [raw[i] for i in keep], ticks[s], scored
                chunks += 1
                if chunks >= max_chunks:
                    return
            s += step


@torch.no_grad()
def heldout_sums(model, pieces: List[List[int]], slot: int, vocab: Vocab, seq: int,
                 max_chunks: int = 200, stride: Optional[int] = None) -> Dict[str, Tuple[float, int]]:
    """Summed NLL (nats) and count of predicted event tokens per kind of token (TOKEN_KINDS), over
    eval_windows: where a model's loss lies, not only how much."""
    model.eval()
    total = torch.zeros(len(TOKEN_KINDS), dtype=torch.float64)
    count = torch.zeros(len(TOKEN_KINDS), dtype=torch.long)
    dev = next(model.parameters()).device
    for chunk, tick, scored in eval_windows(pieces, slot, vocab, seq, max_chunks, stride):
        x = torch.tensor([chunk], device=dev)
        feats = features_for(model, x[:, :-1], vocab, torch.tensor([tick], device=dev))
        logits = model(x[:, :-1], feats)
        keep = torch.tensor(scored)
        nll = F.cross_entropy(logits[0], x[0, 1:], reduction="none").double().cpu()[keep]
        kinds = token_kinds(x[0, 1:], vocab).cpu()[keep]
        total.index_add_(0, kinds, nll)
        count += torch.bincount(kinds, minlength=len(TOKEN_KINDS))
    return {k: (float(total[i]), int(count[i])) for i, k in enumerate(TOKEN_KINDS)}


def heldout_nll(model, pieces: List[List[int]], slot: int, vocab: Vocab, seq: int, max_chunks: int = 200,
                stride: Optional[int] = None) -> float:
    """Mean NLL (nats) per predicted event token over eval_windows."""
    return mean_nll(heldout_sums(model, pieces, slot, vocab, seq, max_chunks, stride))


def mean_nll(sums: Dict[str, Tuple[float, int]], kinds: Sequence[str] = TOKEN_KINDS) -> float:
    """Mean NLL per token over `kinds` of a heldout_sums result."""
    total = sum(sums[k][0] for k in kinds)
    return total / max(sum(sums[k][1] for k in kinds), 1)


def save_curve(history, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [h[0] for h in history]
    ax.plot(steps, [h[1] for h in history], label="train loss")
    ev = [(h[0], h[2]) for h in history if h[2] is not None]
    if ev:
        ax.plot([e[0] for e in ev], [e[1] for e in ev], "o-", label="held-out NLL")
    ax.set_xlabel("step")
    ax.set_ylabel("nats / token")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def agreed_elapsed(t0: float, dev: str, distributed: bool) -> float:
    """Seconds since `t0`; under torchrun the largest over the processes, so that every process takes
    the same learning rate each step (DDP averages gradients, each process applies them) and all stop
    after the same step (one that stopped alone would leave the others waiting in their all-reduce)."""
    el = time.time() - t0
    if distributed:
        t = torch.tensor([el], dtype=torch.float64, device=dev)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        el = float(t.item())
    return el


def lr_at(base: float, step: int, warmup: int, frac: float) -> float:
    """The one learning-rate schedule: a linear warm-up over `warmup` steps (0: none), then a cosine
    from `base` down to a tenth of it as `frac` (the share of the budget spent) goes from 0 to 1."""
    return base * min(1.0, (step + 1) / max(warmup, 1)) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


@dataclass
class FitOptions:
    """What one training run may spend and how it learns; cli/train.py and cli/finetune.py fill it from their
    command lines."""
    minutes: float = 10.0
    steps: int = 10**9
    batch: int = 16
    lr: float = 1e-3
    warmup: int = 0
    # Two streams only: scheduled sampling (own_past) and the held-key unlikelihood (held_key_penalty).
    own_past: float = 0.0
    held_penalty: float = 0.0
    # Call `evaluate` every this many steps (0: never), `save` every this many minutes (0: never).
    eval_every: int = 0
    save_every: float = 0.0
    # Print a progress line every this many steps, headed by `label`.
    log_every: int = 20
    label: str = "train"


@dataclass
class FitResult:
    steps: int
    tokens: int
    minutes: float
    history: List[Tuple[int, float, Optional[float]]] = field(default_factory=list)


def add_fit_arguments(ap, lr: float, warmup: int) -> None:
    """The one loop's options on a command line (train's and finetune's; `lr` and `warmup` their
    defaults); `fit_options` reads them back."""
    ap.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget")
    ap.add_argument("--steps", type=int, default=10**9, help="stop after this many steps")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--warmup", type=int, default=warmup, help="learning-rate warm-up steps")
    ap.add_argument("--own-past", type=float, default=0.0,
                    help="a two-stream model: scheduled sampling, how often one of Cadenza's note-ons beside "
                         "a player is the model's own draw (training.own_past)")
    ap.add_argument("--held-penalty", type=float, default=0.0,
                    help="a two-stream model: weight of the unlikelihood of beginning a key the player holds "
                         "(training.held_key_penalty; 0: none)")


def fit_options(a, two: bool, **more) -> FitOptions:
    """FitOptions from the options `add_fit_arguments` added (own-past and the held-key penalty only
    for a two-stream model), and `more` (eval_every, save_every, log_every, label)."""
    return FitOptions(minutes=a.minutes, steps=a.steps, batch=a.batch, lr=a.lr, warmup=a.warmup,
                      own_past=a.own_past if two else 0.0, held_penalty=a.held_penalty if two else 0.0, **more)


def fit(model, ds, vocab: Vocab, opts: FitOptions, rng: random.Random, *, net=None, dev: str = "cpu",
        distributed: bool = False, world: int = 1, rank: int = 0,
        evaluate: Optional[Callable[[int], Optional[float]]] = None,
        save: Optional[Callable[["FitResult"], None]] = None) -> FitResult:
    """The training loop: AdamW, the schedule of `lr_at` over the wall-clock budget, gradients clipped
    at 1, batches from `ds` (a DuetDataset: two streams; a StyleDataset: one). `net` is what the loss
    runs through (DistributedDataParallel under torchrun; the model itself otherwise). `evaluate(step)`
    prints and returns a held-out figure for the curve; `save(result so far)` writes a checkpoint.
    Tokens are counted in this process (times `world` in the lines it prints)."""
    net = net if net is not None else model
    two = isinstance(ds, DuetDataset)
    opt = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=0.01)
    t0 = time.time()
    saved_at = t0
    budget = opts.minutes * 60
    res = FitResult(steps=0, tokens=0, minutes=0.0)
    ema = None
    while True:
        el = agreed_elapsed(t0, dev, distributed)
        if res.steps >= opts.steps or el >= budget:
            break
        lr = lr_at(opts.lr, res.steps, opts.warmup, min(1.0, el / budget))
        for g in opt.param_groups:
            g["lr"] = lr
        net.train()
        if two:
            duet_b = ds.batch(rng, opts.batch).to(dev)
            if opts.own_past > 0:
                duet_b = own_past(model, duet_b, vocab, opts.own_past, rng)
            batch = duet_b.tokens
            loss = duet_loss(net, duet_b, vocab, opts.held_penalty)
        else:
            batch, start_ticks = ds.batch_with_ticks(rng, opts.batch)
            batch, start_ticks = batch.to(dev), start_ticks.to(dev)
            loss = loss_on(net, batch, vocab.pad, vocab, start_ticks)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        res.steps += 1
        res.tokens += int((batch != vocab.pad).sum())
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        res.minutes = (time.time() - t0) / 60
        ev = None
        if rank == 0 and evaluate is not None and opts.eval_every and res.steps % opts.eval_every == 0:
            ev = evaluate(res.steps)
        if rank == 0 and save is not None and opts.save_every and time.time() - saved_at > opts.save_every * 60:
            save(res)
            saved_at = time.time()
        if rank == 0:
            res.history.append((res.steps, ema, ev))
            if res.steps % opts.log_every == 0 or ev is not None:
                el = time.time() - t0
                bar = "#" * int(30 * min(1.0, max(el / budget, res.steps / opts.steps)))
                print(f"[{opts.label}] [{bar:<30}] step {res.steps} loss {ema:.3f} lr {lr:.2e} "
                      f"{world * res.tokens / el:.0f} tok/s {el / 60:.1f}/{opts.minutes:g} min"
                      + (f" held-out {ev:.3f}" if ev is not None else ""), flush=True)
    res.minutes = (time.time() - t0) / 60
    return res

