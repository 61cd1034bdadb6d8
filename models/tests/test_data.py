from music21 import bar, note, stream

from cadenza_model.data import score_to_notes


def a_tune_with_a_repeat():
    """Two bars, the first between repeat signs: played out, bar 1 sounds twice before bar 2."""
    part = stream.Part()
    for i, pitches in enumerate(([60, 62, 64, 65], [67, 69, 71, 72])):
        m = stream.Measure(number=i + 1)
        for p in pitches:
            m.append(note.Note(p, quarterLength=1))
        if i == 0:
            m.leftBarline = bar.Repeat(direction="start")
            m.rightBarline = bar.Repeat(direction="end")
        part.append(m)
    score = stream.Score()
    score.insert(0, part)
    return score


def test_repeats_are_played_out_only_when_asked():
    as_written = score_to_notes(a_tune_with_a_repeat())
    played_out = score_to_notes(a_tune_with_a_repeat(), expand_repeats=True)
    assert [p for _, _, p in as_written] == [60, 62, 64, 65, 67, 69, 71, 72]
    assert [p for _, _, p in played_out] == [60, 62, 64, 65] * 2 + [67, 69, 71, 72]
    assert [o for o, _, _ in played_out] == [24 * k for k in range(12)]


def test_a_part_that_drifted_off_the_grid_is_left_out_of_training_and_tuplets_are_not():
    from cadenza_model.data import Piece, drifted, without_drifted
    # Two parts in eighths; from bar 3 the top part comes one tick early (its file lost a tick), as
    # Mozart's K458/4 violins do against the viola and cello.
    lower = [(t, 12, 48, 1) for t in range(0, 384, 12)]
    upper = [(t if t < 192 else t - 1, 12, 72, 0) for t in range(0, 384, 12)]
    broken = Piece(sorted(upper + lower), 96, "broken#0")
    assert drifted(broken)
    # A tune in sixteenths with one bar of triplet sixteenths starting on an eighth's second half:
    # 22 and 2 are off the lattice, as music is now and then.
    tune = [(t, 6, 67, 0) for t in range(0, 384, 6) if not 282 <= t < 294]
    tune += [(282, 4, 69, 0), (286, 4, 71, 0), (290, 4, 72, 0)]
    triplets = Piece(sorted(tune), 96, "tune#0")
    assert not drifted(triplets)
    assert [p.id for p in without_drifted([broken, triplets], "test")] == ["tune#0"]
