import json

from cadenza_model.cli.golden import GOLDEN, build
from cadenza_model.vocab import Vocab, clean_crop, notes_to_tokens, tokens_to_notes, transpose


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


def test_clean_crop_drops_only_orphan_note_offs():
    v = Vocab()
    toks = notes_to_tokens([(0, 48, 60), (0, 24, 64), (24, 48, 67)], v)
    crop = toks[3:]  # cut after both first onsets and the first shift: 64's and 60's offs are orphans
    cleaned = clean_crop(crop, v)
    assert v.note_off_base + 64 not in cleaned and v.note_off_base + 60 not in cleaned
    assert cleaned.count(v.note_off_base + 67) == 1  # 67 begins inside the crop and keeps its off
    assert [t for t in crop if not v.note_off_base <= t < v.note_off_base + 128] == \
           [t for t in cleaned if not v.note_off_base <= t < v.note_off_base + 128]
    assert clean_crop(toks, v) == toks  # a whole piece has no orphans
