import json

from cadenza_model.golden import GOLDEN, build
from cadenza_model.vocab import Vocab, notes_to_tokens, tokens_to_notes, transpose


def test_golden_fixture_is_current():
    # The Rust tokenizer checks itself against this file; it must match what Python does now.
    assert json.loads(GOLDEN.read_text()) == json.loads(json.dumps(build()))


def test_round_trip_keeps_notes():
    v = Vocab()
    notes = [(0, 24, 60), (0, 48, 64), (24, 24, 67), (100, 3, 30)]
    assert tokens_to_notes(notes_to_tokens(notes, v), v) == sorted(notes)


def test_layout_and_json_agree():
    v = Vocab()
    assert v.size == 3 + v.style_slots + 128 + 128 + v.max_shift
    assert Vocab.from_json(v.to_json()) == v


def test_transpose_drops_out_of_range():
    assert transpose([(0, 1, 126), (0, 1, 60)], 3) == [(0, 1, 63)]
