from cadenza_model import knowing, roles


def test_a_progression_is_read_as_the_chord_track_reads_it_and_played_four_times_round():
    assert knowing.bars_of("Eb Bb Cm Ab") == [["Eb"], ["Bb"], ["Cm"], ["Ab"]]
    assert knowing.bars_of("| Cm7 F7 | Bbmaj7 | % |") == [["Cm7", "F7"], ["Bbmaj7"], ["Bbmaj7"]]
    tl = knowing.timeline(knowing.PROGRESSIONS["ii-V-I in Bb"])
    assert tl[0][:3] == (0.0, 2.0, 0) and tl[1][:3] == (2.0, 4.0, 5)
    assert tl[-1][1] == 64.0, "four bars, four times"
    # Cm7's tones: C Eb G Bb.
    assert [pc for pc in range(12) if tl[0][3] >> pc & 1] == [0, 3, 7, 10]
    # Every chord differs from the one before but bar 4's Bbmaj7 -> Gm7 -> (next pass) Cm7 ...: the
    # first chord of the piece is no change.
    ch = knowing.changes(tl, 16.0)
    assert ch[0][0] == 2.0 and {c[1] for c in ch} == {0, 1, 2, 3}
    # The player's block chords sit in the middle register.
    part = knowing.block_chords(tl)
    assert min(n[2] for n in part) >= 52 and max(n[2] for n in part) <= 76


def test_at_the_changes_the_bass_is_counted_on_the_new_roots_and_fifths():
    c = knowing.case("Eb Bb Cm Ab", "bass", 1, "player repeating")
    tl = knowing.timeline(knowing.PROGRESSIONS["Eb Bb Cm Ab"])
    # A bass on every bar's root: right at every change; on the bar before's root: never.
    right = [[s, 1.0, 36 + r, 0.7] for s, _, r, _ in tl]
    late = [[s, 1.0, 36 + tl[i - 1][2], 0.7] for i, (s, _, _, _) in enumerate(tl) if i > 0]
    f = knowing.figures(c, {"cadenza": right})
    assert f["first"] == 1.0 and f["later"] == 1.0 and f["overall"] == 1.0 and f["at changes"] == 15
    g = knowing.figures(c, {"cadenza": late})
    assert g["first"] == 0.0 and g["later"] == 0.0
    # Nothing at the changes: no figure, not 0%.
    h = knowing.figures(c, {"cadenza": [[1.5, 0.5, 39, 0.7]]})
    assert h["first"] is None and h["overall"] == 1.0


def test_cases_carry_the_chord_track_or_the_loop_or_neither():
    by = {c["condition"]: c for c in knowing.cases(quick=True)}
    assert by["chord track typed"]["chords"] == "Eb Bb Cm Ab"
    assert by["host looping"]["loop_beats"] == [0.0, 16.0] and "chords" not in by["host looping"]
    assert by["nothing known"]["params"]["rchord"] == 0 and by["player repeating"]["params"]["rchord"] == 1
    args = knowing.cli_args(by["chord track typed"], "p.mid", "o.mid")
    assert args[args.index("--chords") + 1] == "Eb Bb Cm Ab"
    assert "--forget-chords" in knowing.cli_args(by["nothing known"], "p.mid", "o.mid")


def test_dissonance_and_parallels_are_counted_as_a_teacher_would():
    # A bass a major second under the melody for a beat, then a sixth: half the time dissonant.
    bass = [(0, 24, 60), (24, 24, 60)]
    melody = [(0, 24, 62), (24, 24, 69)]
    assert roles.dissonance(bass, melody, 2) == 0.5
    assert roles.dissonance(bass, [], 2) is None
    # C-G to D-A: parallel fifths; C-G to D-B: not (a fifth to a sixth); contrary motion: not.
    low = roles.line([(0, 24, 48), (24, 24, 50), (48, 24, 52)], top=False)
    high = roles.line([(0, 24, 55), (24, 24, 57), (48, 24, 55)], top=True)
    assert roles.parallels(low, high) == (1, 2)
    # An octave to a fifth is no parallel.
    assert roles.parallels([(0, 48), (24, 50)], [(0, 60), (24, 57)]) == (0, 1)


def test_a_chorales_chords_are_written_four_to_a_bar_and_the_section_replaces_itself():
    notes = [(0, 48, 60), (0, 48, 64), (0, 48, 67), (48, 48, 57), (48, 48, 60), (48, 48, 64)]
    assert knowing.chord_text(notes, 8) == "| C C Am Am | Am Am Am Am |"
    doc = "# Musicianship\n\ntext\n"
    once = knowing.replace_section(doc, [knowing.SECTION_START, "one", knowing.SECTION_END])
    twice = knowing.replace_section(once, [knowing.SECTION_START, "two", knowing.SECTION_END])
    assert "one" not in twice and twice.count(knowing.SECTION_START) == 1 and twice.startswith(doc.rstrip())
    # It goes before MUSICIANSHIP.md's case-by-case listing, and survives a regenerated report.
    report = "# M\n\n## Roles\n\n## Every case\n\nx\n"
    placed = knowing.replace_section(report, [knowing.SECTION_START, "one", knowing.SECTION_END])
    assert placed.index("one") < placed.index("## Every case")
    assert knowing.replace_section(report, knowing.section_of(placed)) == placed


def test_where_the_player_contradicts_the_track_the_chord_heard_is_what_counts():
    c = knowing.case("Eb Bb Cm Ab", "bass", 1, knowing.CONTRADICTED)
    assert c["chords"] == "Eb Bb Cm Ab"
    heard = knowing.heard_timeline(c)
    # Cm is played as F#m (a tritone away: no tone in common).
    assert heard[2][2] == 6 and heard[2][3] & knowing.timeline("Cm")[0][3] == 0
    follows = [[s + 2.0, 1.0, 36 + r, 0.7] for s, _, r, _ in heard]
    typed = [[s + 2.0, 1.0, 36 + r, 0.7] for s, _, r, _ in knowing.timeline(c["chords"])]
    assert knowing.figures(c, {"cadenza": follows})["heard"] == 1.0
    assert knowing.figures(c, {"cadenza": typed})["heard"] == 0.0


def test_the_follow_chords_sweep_sets_the_knob_and_reports_the_plugins_default():
    import re
    from pathlib import Path

    c = knowing.follow_case("Eb Bb Cm Ab", 2, 0.25)
    assert c["params"]["fchord"] == 0.25 and c["role"] == "free" and c["chords"] == "Eb Bb Cm Ab"
    assert not c["id"].endswith("|bounce"), "kept out of the conditions' table"
    # The report names the plugin's own default: the two stay the same.
    settings = (Path(knowing.__file__).resolve().parents[2] / "src" / "settings.rs").read_text()
    assert float(re.search(r"follow_chords: ([0-9.]+),", settings).group(1)) == knowing.FOLLOW_DEFAULT
    assert knowing.FOLLOW_DEFAULT in knowing.FOLLOW_SWEEP
    # A sweep row is reported per setting, the default marked.
    tl = knowing.timeline("Eb Bb Cm Ab")
    on = {"cadenza": [[s, 1.0, 48 + r, 0.7] for s, _, r, _ in tl]}
    cs = [knowing.follow_case("Eb Bb Cm Ab", 1, f) for f in (0.0, knowing.FOLLOW_DEFAULT)]
    lines = knowing.section(cs, [{"id": x["id"], **on} for x in cs])
    rows = [ln for ln in lines if ln.startswith(f"| {knowing.FOLLOW_DEFAULT} (default)") or ln.startswith("| 0.0 ")]
    assert len(rows) == 2 and "100% ✓" in rows[0]
