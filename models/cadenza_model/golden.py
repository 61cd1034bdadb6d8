"""Golden tokenizer fixtures: note lists -> tokens, written by Python, checked by the Rust tokenizer.

    python -m cadenza_model.cli.golden            # rewrite models/tests/fixtures/golden_tokens.json

Cases: hand-made edge cases (chords, overlaps, re-struck keys, long gaps, zero lengths) and the
opening of a real chorale as music21 parses it (from a committed excerpt, so no corpus is needed).
"""
from __future__ import annotations

import json
from pathlib import Path

from .exporting import CHORALE, DEFAULT_MODEL
from .vocab import Vocab, notes_to_tokens, tokens_to_notes

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
GOLDEN = FIXTURES / "golden_tokens.json"
RING_LOGITS = FIXTURES / "ring_logits.json"
# Where the ring fixture records the logits: inside the first window, as it fills, and after it wrapped.
RING_STEPS = (16, 100, 255, 256, 299)

EDGE_CASES = {
    "empty": [],
    "single": [(0, 24, 60)],
    "chord_then_melody": [(0, 48, 60), (0, 48, 64), (0, 48, 67), (48, 12, 72), (60, 12, 71)],
    "overlapping_same_key": [(0, 48, 60), (24, 48, 60)],
    "long_gap": [(0, 6, 40), (500, 6, 41)],
    "zero_length_dropped": [(0, 0, 50), (10, 5, 51)],
    "extremes": [(3, 1, 0), (3, 97, 127)],
}


def build() -> dict:
    v = Vocab()
    cases = dict(EDGE_CASES)
    cases["bwv66.6_opening"] = [tuple(n) for n in json.loads(CHORALE.read_text())]
    out = {"vocab": v.to_json(), "ticks_per_beat": v.ticks_per_beat, "cases": []}
    for name, notes in cases.items():
        toks = notes_to_tokens(notes, v)
        out["cases"].append({
            "name": name,
            "notes": [list(n) for n in notes],
            "tokens": toks,
            "decoded": [list(n) for n in tokens_to_notes(toks, v)],
        })
    return out


def write_chorale_excerpt():
    """One-off: the first 60 notes of bach/bwv66.6 as music21 parses it (needs music21)."""
    from music21 import corpus

    from .data import score_to_notes

    notes = score_to_notes(corpus.parse("bach/bwv66.6"))[:60]
    CHORALE.write_text(json.dumps(notes) + "\n")


def ring_logits(model_dir: Path = DEFAULT_MODEL) -> dict:
    """The shipped fp32 graph decoded as the engine does (prefill 16, then single steps on the ring
    cache) over 300 tokens of the chorale: the logits after the tokens counted in RING_STEPS. The Rust
    session must give the same (tests/model_session.rs). The per-token features (held keys and beat
    phase, from tick 0) are written too, so the Rust side checks its own against them. For a format 4
    model the chorale's top voice is the player's (owners 1) and the rest Cadenza's (duet.py); a
    format 5 model is told the chorale's own chords (a triad a beat), and the rows are written for the
    Rust side to feed as it labels them (src/features.rs writes them into the graph's input)."""
    import numpy as np
    import torch

    from .duet import duet_tokens
    from .ring import RingDecoder
    from .features import Feats, sliced, token_features, two_stream_features

    meta = json.loads((model_dir / "model.json").read_text())
    v = Vocab.from_json(meta["vocab"])
    notes = [tuple(n) for n in json.loads(CHORALE.read_text())]
    if meta["format_version"] >= 4:
        top = {}
        for o, _, p in notes:
            top[o] = max(top.get(o, -1), p)
        piece, owners = duet_tokens([n for n in notes if n[2] != top[n[0]]],
                                    [n for n in notes if n[2] == top[n[0]]], v)
    else:
        piece, owners = notes_to_tokens(notes, v), None
    reps = 1 + 300 // len(piece)
    toks = [v.style(0)] + (piece * reps)[:299]
    own = [0] + ((owners or [0] * len(piece)) * reps)[:299]
    x = torch.tensor([toks])
    rows = None
    if meta["format_version"] >= 5:
        # The chorale told its own chords (a triad a beat), as the engine labels each token.
        from .chords import beat_chords, chord_rows
        from .features import chord_tensor, ticks_before

        rows = chord_rows(ticks_before(toks, v)[1:], beat_chords(tokens_to_notes(toks[1:], v)))
    if owners is not None:
        chord = None if rows is None else chord_tensor(rows, len(toks)).unsqueeze(0)
        feats = two_stream_features(x, torch.tensor([own]), v, role_slots=meta["role_slots"], chord=chord)
    else:
        feats = Feats(*token_features(x, v))
    dec = RingDecoder(model_dir / "model.onnx", meta["window"])
    keys = lambda t: [torch.nonzero(h).flatten().tolist() for h in t[0]]  # noqa: E731
    out = {"tokens": toks, "phase": feats.phase[0].tolist(), "held": keys(feats.held), "steps": {}}
    if owners is not None:
        out.update(owners=own, player_held=keys(feats.player_held))
    if rows is not None:
        out["chords"] = [list(r) for r in rows]
    one_stream = owners is None

    def feed(a, b):
        f = sliced(feats, a, b)
        return dec.feed(np.array([toks[a:b]], np.int64), f[:2] if one_stream else f, v.ticks_per_beat)[-1]

    last = feed(0, 16)
    for i in range(16, len(toks) + 1):
        if i in RING_STEPS:
            out["steps"][str(i)] = [round(float(x), 5) for x in last]
        if i < len(toks):
            last = feed(i, i + 1)
    return out
