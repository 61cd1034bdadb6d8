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
