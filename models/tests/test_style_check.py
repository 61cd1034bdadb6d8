"""The independent style check's reference: every style the same weight in the vote."""
import random
from types import SimpleNamespace

import numpy as np

from cadenza_model import style_check as sc


def piece(name: int, bars: int = 64, bar: int = 96):
    # A note every beat, its pitch naming the piece.
    return SimpleNamespace(bar=bar, notes=[(t * 24, 24, name, 0) for t in range(bars * bar // 24)])


def test_balanced_takes_as_many_excerpts_from_few_pieces_as_from_many():
    rng = random.Random(0)
    few = sc.balanced([piece(i) for i in range(5)], 16, 40, rng)
    many = sc.balanced([piece(i) for i in range(100)], 16, 40, rng)
    assert len(few) == len(many) == 40
    # From few pieces, every piece gives its share; from many, no piece gives more than one.
    pitches = lambda ex: [n[0][2] for n, _ in ex]  # noqa: E731
    assert sorted(set(pitches(few))) == list(range(5)) and all(pitches(few).count(i) == 8 for i in range(5))
    assert len(set(pitches(many))) == 40
    # Each excerpt is 16 bars from a bar line, rebased to 0.
    for notes, bar in few + many:
        assert notes[0][0] == 0 and max(o for o, _, _ in notes) < 16 * bar


def test_pieces_read_by_folds_are_judged_by_a_vote_that_never_saw_them():
    rng = random.Random(1)

    def tune(k, low):
        # A style of low steps, or one of high leaps; each piece its own transposition.
        base = 40 + k % 5 if low else 72 + k % 5
        steps = [0, 2, 4, 5] if low else [0, 7, 12, 4]
        return SimpleNamespace(bar=96, notes=[(t * 12, 12, base + steps[t % 4], 0) for t in range(256)])

    other = [sc.describe(n, b) for n, b in sc.excerpts([tune(k, False) for k in range(10)], 16, 4, rng)]
    X_other, y_other = np.array(other), np.zeros(len(other), int)
    hits, total = sc.by_piece_folds(X_other, y_other, 1, [tune(k, True) for k in range(10)], 16, 5, rng,
                                    per_piece=4, judged_per_piece=2)
    assert (hits, total) == (20, 20)
    # Each piece in a register of its own, between two of the other style's: a vote that had seen a
    # piece would find its own excerpts nearest; one built without it finds the other style's.
    def line(base):
        return SimpleNamespace(bar=96, notes=[(t * 12, 12, base + [0, 2, 4, 5][t % 4], 0) for t in range(256)])

    other = [sc.describe(n, b) for n, b in sc.excerpts([line(33 + 6 * k) for k in range(10)], 16, 4, rng)]
    hits, total = sc.by_piece_folds(np.array(other), np.zeros(len(other), int), 1,
                                    [line(30 + 6 * k) for k in range(1, 10)], 16, 3, rng,
                                    per_piece=4, judged_per_piece=2)
    assert total == 18 and hits == 0
