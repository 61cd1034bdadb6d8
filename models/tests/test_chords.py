import random

import torch

from cadenza_model import chords, duet
from cadenza_model.features import chord_tensor, features_of
from cadenza_model.model import ModelConfig, MusicTransformer, with_chords
from cadenza_model.training import DuetDataset, duet_batch, duet_logits
from cadenza_model.vocab import Vocab, notes_to_tokens

V = Vocab()
C_MAJOR = chords.triad_chord(0, chords.MAJOR)
A_MINOR = chords.triad_chord(9, chords.MINOR)
G_MAJOR = chords.triad_chord(7, chords.MAJOR)


def test_a_beat_is_heard_as_the_triad_covering_most_of_what_sounds_in_it():
    # Beat 0: C E G; beat 1: A C E (A held longest); beat 2: the same; beat 3 silent; beat 4: G B D.
    notes = [(0, 24, 60), (0, 24, 64), (0, 24, 67),
             (24, 48, 57), (24, 48, 60), (24, 12, 64), (36, 36, 64),
             (96, 24, 55), (96, 24, 59), (96, 24, 62)]
    segs = chords.beat_chords(notes)
    assert segs == [chords.Segment(0, C_MAJOR), chords.Segment(24, A_MINOR), chords.Segment(72, None),
                    chords.Segment(96, G_MAJOR)]
    assert chords.best_triad([0.0] * 12) is None


def test_each_token_is_told_the_chord_at_its_time_the_next_one_and_the_beats_until_it():
    segs = [chords.Segment(0, C_MAJOR), chords.Segment(48, None), chords.Segment(72, A_MINOR),
            chords.Segment(300, C_MAJOR)]
    rows = chords.chord_rows([0, 47, 48, 60, 72, 100], segs)
    assert rows[0] == (0, C_MAJOR.classes, 9, A_MINOR.classes, 3)  # A minor 72 ticks on: beat 3
    assert rows[1][4] == 1  # 25 ticks: one whole beat
    # A silence knows no chord now, but the one coming.
    assert rows[2] == (-1, 0, 9, A_MINOR.classes, 1)
    assert rows[3][:2] == (-1, 0) and rows[3][4] == 0
    # Far ahead: the last bucket.
    assert rows[4] == (9, A_MINOR.classes, 0, C_MAJOR.classes, chords.UNTIL_BUCKETS - 1)
    # Before anything is known, nothing.
    assert chords.chord_rows([5], [chords.Segment(24, C_MAJOR)]) == [(-1, 0, 0, C_MAJOR.classes, 0)]
    floats = chords.row_floats(rows[0])
    assert len(floats) == chords.WIDTH and sum(floats) == 1 + 3 + 1 + 3 + 1
    assert chord_tensor(rows, 8)[:6].tolist() == [chords.row_floats(r) for r in rows]
    assert chord_tensor(rows, 8)[6:].abs().sum() == 0


def test_a_transposed_example_is_told_its_chords_transposed():
    moved = chords.transposed([chords.Segment(0, C_MAJOR), chords.Segment(24, None)], 2)
    assert moved == [chords.Segment(0, chords.triad_chord(2, chords.MAJOR)), chords.Segment(24, None)]


def test_a_piece_is_told_its_own_harmony_a_tune_its_block_chords():
    four = [(t, 24, p, part) for t in range(0, 192, 24) for part, p in enumerate((48, 55, 64, 72))]
    assert duet.piece_harmony(four, 96) == [chords.Segment(0, C_MAJOR)]
    # A C major tune: its block chords, half a bar each, from the key's triads.
    tune = [(t, 12, (60, 64, 67, 72, 65, 69, 72, 77)[(t // 12) % 8], 0) for t in range(0, 192, 12)]
    harmony = duet.piece_harmony(tune, 96)
    assert [s.start % 48 for s in harmony] == [0] * len(harmony)
    assert {s.chord.root for s in harmony} <= {0, 5, 7, 9, 2, 4}
    assert len(harmony) >= 2


def test_some_examples_are_told_their_chords_and_a_role_sometimes_plays_from_the_chart_alone():
    four = [(t, 24, 48 + 7 * part, part) for t in range(0, 960, 24) for part in range(4)]
    told = chart_only = 0
    for seed in range(300):
        ex = duet.role_example(four, 96, V, 127, random.Random(seed), 0, 0.0, 0.0, p_chords=0.6)
        if ex.chords is not None:
            told += 1
            chart_only += ex.role != duet.FREE and duet.PLAYER not in ex.owners
        # Without p_chords nothing is told, and the example is the one drawn before (same stream).
        plain = duet.role_example(four, 96, V, 127, random.Random(seed), 0, 0.0, 0.0)
        assert plain.chords is None
    assert 120 < told < 240, told
    assert chart_only > 3, chart_only


def test_a_format_5_model_starts_as_its_format_4_self_and_hears_the_chords_once_trained():
    cfg = ModelConfig(vocab_size=V.size, d_model=32, n_layer=1, n_head=2, d_ff=64, window=64, features=True,
                      two_streams=True)
    torch.manual_seed(0)
    four = MusicTransformer(cfg).eval()
    five = with_chords(four).eval()
    toks = torch.tensor([[V.style(0)] + notes_to_tokens([(0, 24, 60), (24, 24, 64)], V)])
    rows = chords.chord_rows(list(range(toks.shape[1])), [chords.Segment(0, C_MAJOR)])
    chord = chord_tensor(rows, toks.shape[1]).unsqueeze(0)
    with torch.no_grad():
        a = four(toks, features_of(four.cfg, toks, V))
        b = five(toks, features_of(five.cfg, toks, V, chord=chord))
        assert torch.allclose(a, b)
        five.chord_proj.weight.normal_()
        c = five(toks, features_of(five.cfg, toks, V, chord=chord))
        d = five(toks, features_of(five.cfg, toks, V))  # nothing known: as format 4
    assert not torch.allclose(b, c) and torch.allclose(a, d)
    assert five.cfg.feature_width == four.cfg.feature_width + chords.WIDTH


def test_a_batch_carries_its_chord_rows_into_the_models_features():
    four = [(t, 24, 48 + 7 * part, part) for t in range(0, 960, 24) for part in range(4)]

    class P:
        notes, bar = four, 96
    ds = DuetDataset({0: [P()]}, V, 64, transpose=0, p_chords=1.0)
    b = ds.batch(random.Random(1), 4)
    assert b.chords is not None and b.chords.shape == (4, 64, chords.WIDTH)
    # Every token of a piece that sounds C major throughout is told C major now.
    real = b.tokens[:, 1:] != V.pad
    assert bool((b.chords[:, 1:, 0][real] == 1).all())
    cfg = ModelConfig(vocab_size=V.size, d_model=32, n_layer=1, n_head=2, d_ff=64, window=64, features=True,
                      two_streams=True, chords=True)
    model = MusicTransformer(cfg)
    _, feats = duet_logits(model, b, V, with_features=True)
    assert torch.equal(feats.chord, b.chords[:, :-1])
    # A batch of examples told nothing, for a format 5 model: zeros.
    plain = duet_batch([e[:5] for e in (ds.sample(random.Random(2)),)], V, with_chords=True)
    assert plain.chords.abs().sum() == 0


def test_a_row_sits_where_the_rust_engine_writes_it():
    # The same case as src/features.rs's format 5 test: A minor now, F major next, 11 beats away.
    row = chords.row_floats((9, A_MINOR.classes, 5, chords.triad_chord(5, chords.MAJOR).classes,
                             min(11, chords.UNTIL_BUCKETS - 1)))
    assert [i for i, x in enumerate(row) if x == 1.0] == [9, 12, 16, 21, 29, 36, 41, 45, 55]
