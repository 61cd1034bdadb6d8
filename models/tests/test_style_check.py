"""The independent style check's reference: every style the same weight in the vote."""
import random
from types import SimpleNamespace

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
