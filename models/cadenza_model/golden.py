"""Golden tokenizer fixtures: note lists -> tokens, written by Python, checked by the Rust tokenizer.

    python -m cadenza_model.golden            # rewrite models/tests/fixtures/golden_tokens.json

Cases: hand-made edge cases (chords, overlaps, re-struck keys, long gaps, zero lengths) and the
opening of a real chorale as music21 parses it (from a committed excerpt, so no corpus is needed).
"""
from __future__ import annotations

import json
from pathlib import Path

from .vocab import Vocab, notes_to_tokens, tokens_to_notes

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
GOLDEN = FIXTURES / "golden_tokens.json"
CHORALE = FIXTURES / "bwv66.6_opening.json"

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


def main():
    if not CHORALE.exists():
        write_chorale_excerpt()
    GOLDEN.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
