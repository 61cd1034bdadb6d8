"""roles.measure on parts written by hand: each figure moves when the music does."""
from cadenza_model import roles

Q = roles.TPB  # a quarter note

# C major then G major, a bar each: soprano E..D, alto/tenor inner, bass C..G (onset, length, pitch).
SOPRANO = [(0, 4 * Q, 76), (4 * Q, 4 * Q, 74)]
INNER = [(0, 4 * Q, 67), (4 * Q, 4 * Q, 71)]
BASS = [(0, 4 * Q, 48), (4 * Q, 4 * Q, 43)]
SCORE = SOPRANO + INNER + BASS


def test_the_written_bass_is_lowest_on_roots_and_consonant():
    m = roles.measure(BASS, SOPRANO, SCORE, "bass", 8)
    assert m["lowest"] == 1.0 and m["highest"] == 0.0
    assert m["root or fifth on strong beats"] == 1.0 and m["chord tones"] == 1.0
    assert m["consonant with the player"] == 1.0 and m["crossings"] == 0


def test_a_bass_a_second_off_is_neither_root_nor_consonant():
    wrong = [(o, d, p + 2) for o, d, p in BASS]  # D under C major, A under G major
    m = roles.measure(wrong, SOPRANO, SCORE, "bass", 8)
    assert m["root or fifth on strong beats"] == 0.0 and m["chord tones"] == 0.0
    # D under E is a ninth, A under D a fourth over the bass: both dissonant.
    assert m["consonant with the player"] == 0.0


def test_a_bass_over_the_soprano_crosses_and_is_not_lowest():
    high = [(o, d, p + 36) for o, d, p in BASS]  # C6 over E5, G5 over D5
    m = roles.measure(high, SOPRANO, SCORE, "bass", 8)
    assert m["lowest"] == 0.0 and m["crossings"] == 2


def test_a_fourth_between_upper_voices_is_consonant_and_over_the_bass_is_not():
    assert roles.consonant_pair(67, 72, bass=48)  # G4-C5 over a C3 bass
    assert not roles.consonant_pair(55, 60, bass=55)  # G3-C4 with the G the bass


def test_the_table_marks_targets_only_for_the_role_asked():
    m = roles.measure(BASS, SOPRANO, SCORE, "bass", 8)
    rows = roles.mean_rows({("bass", "bass"): [m], ("bass", "free"): [m]})
    lines = roles.table(rows)
    assert "100% ✓" in lines[2] and "✓" not in lines[3]
    # A setting of the bass (under the upper parts) is held to the bass's targets.
    upper = roles.table(roles.mean_rows({("bass under the upper parts", "bass"): [m]}))
    assert "100% ✓" in upper[2] and upper[2].startswith("| bass under the upper parts | bass |")


def test_under_the_upper_parts_the_player_plays_every_part_but_the_bass():
    four = [0, 1, 2, 3]
    assert roles.against(four, "bass under the upper parts") == {1, 2, 3}
    assert roles.against(four, "bass") == {3} and roles.against(four, "harmony") == {0, 3}
    assert roles.role_of("bass under the upper parts") == "bass" and roles.role_of("melody") == "melody"


def test_a_silent_part_has_no_shares_and_is_counted_silent():
    m = roles.measure([], SOPRANO, SCORE, "bass", 8)
    assert m["notes"] == 0 and m["lowest"] is None and m["chord tones"] is None
    rows = roles.mean_rows({("bass", "bass"): [m, roles.measure(BASS, SOPRANO, SCORE, "bass", 8)]})
    assert rows[0][3]["silent"] == 1 and rows[0][3]["lowest"] == 1.0  # the share of the piece it played
    assert "| 1 |" in roles.table(rows)[2]


def test_before_the_beat_a_bass_hears_the_chord_of_the_bar_before():
    # C major, then G major from the bar line; strong beats at 2, 4 (the change) and 6 quarters.
    # Just before the bar line the upper parts still sound C major: its root C is neither G's root
    # nor its fifth, its fifth G is G's root. By beat 6 G major has been heard.
    score = [BASS, INNER, [(0, 4 * Q, 64), (4 * Q, 4 * Q, 62)], SOPRANO]
    f = roles.before_the_beat([score])
    assert f["bass against the upper parts: the heard root"] == 2 / 3
    assert f["bass against the upper parts: the heard root or fifth, the right one"] == 1.0
    assert f["bass: the composer's"] == 1.0
    # The inner voices begin on the two chords; the first (at 0) has nothing heard before it; on the
    # second, soprano and bass have sounded C and E (C major heard), which shares G, one tone of three,
    # with G major.
    assert f["inner voices: the heard triad is the chord"] == 0.0
    assert abs(f["inner voices: a tone of the heard triad, at random"] - 1 / 3) < 1e-9
    assert f["inner voices: the heard triad's best tone"] == 1.0
