import json
import os
import subprocess
from pathlib import Path

import pytest

from cadenza_model.musicianship import cases as mc, figures as mf, reference as mr


def case(mode="duet", player=(), beats=16.0):
    return {"mode": mode, "beats": beats, "beats_per_bar": 4, "player": [list(x) for x in player]}


C_MAJOR = mc.Input("c", "progression", [], 4, [(0.0, 0, "major")])


def test_grid_shares_and_the_longest_run_off_both_grids():
    onsets = [0.0, 0.25, 1 / 3, 0.5, 0.54, 0.58, 1.0, 1.1]
    g = mf.grid_figures(onsets)
    assert g["grid16"] == pytest.approx(4 / 8)
    assert g["triplet"] == pytest.approx(3 / 8)  # 0, 1/3, 1
    assert g["grid16_or_triplet"] == pytest.approx(5 / 8)
    assert g["grid8"] == pytest.approx(3 / 8)
    assert g["longest_off_grid"] == 2


def test_notes_per_bar_count_only_the_bars_cadenza_plays_in():
    take = {"cadenza": [[0, 1, 60, .5], [1, 1, 62, .5], [2, 1, 64, .5], [12, 1, 65, .5]]}
    f = mf.figures(case(), take, C_MAJOR)
    assert f.notes == 4 and f.notes_per_bar == 2.0


def test_in_scale_follows_the_key_of_the_moment_and_chord_tones_what_the_player_holds():
    inp = mc.Input("mod", "progression", [], 8, [(0.0, 0, "major"), (16.0, 3, "major")], modulation_at=16.0)
    # The player holds C E G for the first bar; Cadenza plays E (chord tone), F (scale, not chord),
    # F# (neither); after the move to E-flat (bar 5), from bar 7 on: E-flat (in), E (out).
    player = [(0, 4, 48, .7), (0, 4, 52, .7), (0, 4, 55, .7)]
    cad = [[0, 1, 64, .5], [1, 1, 65, .5], [2, 1, 66, .5], [24, 1, 63, .5], [25, 1, 64, .5]]
    f = mf.figures(case(player=player, beats=32.0), {"cadenza": cad}, inp)
    assert f.in_scale == pytest.approx(3 / 5)  # E, F, E-flat
    assert f.in_scale_chance == pytest.approx(7 / 12)
    assert f.chord_tone == pytest.approx(1 / 3)
    assert f.chord_tone_chance == pytest.approx(3 / 12)
    assert f.new_key == pytest.approx(1 / 2)


def test_call_and_response_delay_and_overlap_with_the_next_call():
    player = [(0, 1, 60, .7), (1, 1, 62, .7), (2, 1, 64, .7), (16, 1, 60, .7)]
    # The call ends at 3; the answer starts at 4 (delay 1) and one note still sounds at 16.
    cad = [[4, 2, 67, .5], [14, 3, 65, .5]]
    f = mf.figures(case("call", player, 20.0), {"cadenza": cad}, C_MAJOR)
    assert f.answer_delay == pytest.approx(1.0)
    assert f.overlap == 1


def test_humanized_input_stays_within_30_ms_and_half_to_full_length():
    inp = mc.inputs()[5]
    h = mc.humanized(inp.notes, inp.tempo, 7)
    jitter = 0.030 * inp.tempo / 60
    for (b, l, k, _), (hb, hl, hk, hv) in zip(sorted(inp.notes), h):
        assert k == hk and abs(hb - b) <= jitter + 1e-9 and 0.5 * l - 1e-9 <= hl <= l + 1e-9 and 0 < hv < 1


def test_every_case_has_its_mode_and_the_call_and_response_player_leaves_room_to_answer():
    cases = mc.cases()
    assert {c["mode"] for c in cases} == set(mc.MODES)
    assert {c["style"] for c in cases} == set(mc.STYLES)
    call = next(c for c in cases if c["mode"] == "call")
    assert all((b % 16) + l <= 7.0 + 1e-9 for b, l, _, _ in call["player"])
    # The host takes CLAP values: 2 answer bars are 1 step from the minimum, a half-beat gap is near
    # the bottom of its 0.25-8 beat range (as plain values the plugin heard 3 bars and 4.25 beats).
    assert call["params"]["ansbar"] == 1 and abs(call["params"]["gap"] - 0.25 / 7.75) < 1e-9
    assert any(c["realtime"] and c["block"] == 4096 for c in cases)
    alone = [c for c in cases if c["input"] == mc.ALONE]
    assert {c["seed"] for c in alone} == set(mc.ALONE_SEEDS) and all(not c["player"] for c in alone)
    assert {c["params"]["seed"] for c in alone} == set(mc.ALONE_SEEDS)


def test_role_cases_ask_each_role_against_the_other_parts_and_the_same_as_free():
    parts = json.loads(mc.ROLE_PARTS.read_text())
    cases = mc.role_cases(parts, seed=1)
    assert len(cases) == len(parts["pieces"]) * 4 * 2
    assert len({c["id"] for c in cases}) == len(cases)
    for c in cases:
        r = c["role"]
        assert c["params"]["role"] == mc.ROLE_VALUES[r["played_as"]] and r["played_as"] in (r["asked"], "free")
        lowest, highest = r["parts"][0], r["parts"][-1]
        heard = sorted(map(tuple, c["player"]))
        want = {"bass": highest, "melody": lowest, "harmony": lowest + highest,
                "bass under the upper parts": [n for q in r["parts"][1:] for n in q]}[r["setting"]]
        assert heard == sorted(map(tuple, want))
        assert r["asked"] == ("bass" if r["setting"].startswith("bass") else r["setting"])
    # In the full benchmark, beside the other cases; never among the quick ones.
    assert sum(bool(c.get("role")) for c in mc.cases()) == len(cases)
    assert not any(c.get("role") for c in mc.cases(quick=True))


def test_role_figures_of_the_parts_bach_wrote_are_the_corpus_rows():
    parts = json.loads(mc.ROLE_PARTS.read_text())
    cases = [c for c in mc.role_cases(parts, seed=1) if c["role"]["played_as"] != "free"]
    # Takes in which "Cadenza" played exactly the part Bach wrote for the role asked.
    takes = [{"id": c["id"], "cadenza": [n for q in {"bass": [0], "melody": [-1], "harmony": [1, 2]}[c["role"]["asked"]]
                                         for n in c["role"]["parts"][q]]} for c in cases]
    lines = mf.role_figures(cases, takes)
    rows = {tuple(x.strip() for x in ln.split("|")[1:3]): [x.strip(" ✓✗") for x in ln.split("|")[3:]]
            for ln in lines if ln.startswith("| ")}
    for asked in ("bass", "melody", "harmony"):
        assert rows[(asked, asked)] == rows[(asked, "corpus")]
    # Bach's bass is the lowest part throughout and his melody the highest.
    assert rows[("bass", "bass")][3] == "100%" and rows[("melody", "melody")][4] == "100%"
    # Under the upper parts his bass is the same notes on the same chords; only what it hears differs.
    upper = rows[("bass under the upper parts", "bass")]
    assert upper == rows[("bass under the upper parts", "corpus")]
    assert upper[5:7] == rows[("bass", "bass")][5:7] and upper[3] == "100%"


def plugin_tools():
    """The Rust tool that plays cases and the bundles' folder (`cargo xtask test` sets
    CADENZA_MUSICIANSHIP and CADENZA_TEST_BUNDLE_DIR); skips the test without them."""
    tool, bundles = os.environ.get("CADENZA_MUSICIANSHIP"), os.environ.get("CADENZA_TEST_BUNDLE_DIR")
    if not tool or not bundles:
        pytest.skip("CADENZA_MUSICIANSHIP is not set (cargo xtask test sets it): the plugin was not played")
    return tool, bundles


def play(d: Path, cases) -> dict:
    """`cases` played through the bundled plugin, in folder `d`: {id: take}."""
    tool, bundles = plugin_tools()
    (d / "cases.json").write_text(json.dumps(cases))
    subprocess.run([tool, "--plugin", str(Path(bundles) / "Cadenza.clap"), "--cases", str(d / "cases.json"),
                    "--out", str(d / "takes.json")], check=True)
    return {t["id"]: t for t in json.loads((d / "takes.json").read_text())}


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """The quick cases (chorale, celtic) played through the bundled plugin."""
    plugin_tools()
    cases = [c for c in mc.cases(quick=True) if not c["realtime"]
             and c["style"] in ("chorale", "celtic")]
    takes = play(tmp_path_factory.mktemp("musicianship"), cases)
    ins = {i.name: i for i in mc.inputs()}
    return {c["id"]: (c, takes[c["id"]], mf.figures(c, takes[c["id"]], ins[c["input"]])) for c in cases}


@pytest.fixture(scope="module")
def more_seeds(tmp_path_factory):
    """The pop progression's Duet cases (chorale, celtic) at POP_SEEDS and their alone cases at
    ALONE_POOL_SEEDS, played as `played` plays the quick cases: {id: (case, figures)}."""
    plugin_tools()
    base = [c for c in mc.cases(quick=True) if not c["realtime"] and c["style"] in ("chorale", "celtic")]
    pop = [c for c in base if c["mode"] == "duet" and c["input"] == "pop in C"]
    alone = {c["style"]: c for c in base if c["input"] == mc.ALONE}
    cases = []
    for seeds, group in ((POP_SEEDS, pop), (ALONE_POOL_SEEDS, alone.values())):
        for seed in seeds:
            for c in group:
                d = json.loads(json.dumps(c))
                d["params"]["seed"] = seed
                d["id"] = f"{c['style']}|{c['mode']}|{c['input']}|{c.get('feel', '')}|seed {seed}"
                cases.append(d)
    takes = play(tmp_path_factory.mktemp("seeds"), cases)
    ins = {i.name: i for i in mc.inputs()}
    return {c["id"]: (c, mf.figures(c, takes[c["id"]], ins[c["input"]])) for c in cases}


REF = json.loads(mr.REFERENCE.read_text())
# Pooled checks over more seeds than the quick cases' one: a pool of four takes (the pop
# progression) or three (alone) at fixed seeds is one draw of the model, and one draw can sit on a
# margin either way. With cadenza-base-v9, the pop progression's chord tones pooled over chorale and
# celtic were 44.9%, 48.9%, 58.8%, 48.0% and 48.9% at seeds 1-5 (the start on the beat, a0bf71e, drew
# seed 1's celtic takes anew: 46% before); celtic alone plays a sixteenth-note reel at seeds 1 and 2
# of 12 (v7 and v8 also in 2 of 12, other seeds).
POP_SEEDS = (1, 2, 3)
ALONE_POOL_SEEDS = tuple(range(1, 13))


# Margins on the quick cases (chorale and celtic, seed 1), set from cadenza-base-v6's and v7's takes with
# room for a retrained model's chance; the benchmark's targets (MUSICIANSHIP.md) are stricter, and v7 misses some
# (see the note there). Pooled over a style's cases, since one 8-bar take of a few notes says little.


def duets(played, style=None):
    return [(cid, c, t, f) for cid, (c, t, f) in played.items()
            if c["mode"] == "duet" and c["input"] != mc.ALONE and (style is None or c["style"] == style)]


def pooled(rows, attr):
    """The share over every note of the rows (each row's share weighted by its notes)."""
    pairs = [(getattr(f, attr), f.notes) for *_, f in rows if getattr(f, attr) is not None and f.notes]
    return sum(a * n for a, n in pairs) / sum(n for _, n in pairs) if pairs else None


def test_beside_a_player_cadenza_plays_and_stays_on_the_grid(played):
    for style in ("chorale", "celtic"):
        rows = duets(played, style)
        assert len(rows) == 4
        playing = [cid for cid, c, t, f in rows if f.notes > 0]
        assert len(playing) == 4, f"{style}: Cadenza played in {playing} only"
    for cid, c, t, f in duets(played):
        if f.notes:
            assert f.grid16_or_triplet >= 0.85, f"{cid}: {f.grid16_or_triplet:.0%} on the sixteenth/triplet grid"


def test_cadenza_plays_about_as_many_notes_as_its_style_does(played):
    for cid, (c, t, f) in played.items():
        if not f.notes:
            continue
        npb = REF["styles"][c["style"]]["notes_per_bar"]
        # Alone, a take may be a sixteenth-note reel, as the corpus's tunes in 2/4 are (6-8 notes a
        # two-beat bar): cadenza-base-v7 played one in 2 of 12 celtic seeds (14.0 and 15.5 notes a
        # bar at seeds 11 and 12), v8 in 2 of 12 (seeds 2 and 9). So one take alone is held to twice
        # the 90th percentile (a sixteenth in every beat) and the style's alone takes, pooled, to 1.5x.
        most = (2 if c["input"] == mc.ALONE else 1.5) * npb["p90"]
        assert 0.5 * npb["p10"] <= f.notes_per_bar <= most, \
            f"{cid}: {f.notes_per_bar:.1f} notes a bar, the style's 10th-90th percentile {npb['p10']}-{npb['p90']}"
    for style in ("chorale", "celtic"):
        npb = REF["styles"][style]["notes_per_bar"]
        rows = duets(played, style)
        beats = sum(c["beats"] for _, c, _, _ in rows)
        bars = beats / rows[0][1]["beats_per_bar"]
        assert sum(f.notes for *_, f in rows) / bars >= 0.5 * npb["p10"], f"{style}: too few notes beside a player"


def test_alone_a_style_plays_about_as_many_notes_as_it_does_over_twelve_seeds(more_seeds):
    # Pooled over 12 seeds, so that two reels in three seeds (a draw) do not decide it, while a model
    # that reels at most seeds does.
    for style in ("chorale", "celtic"):
        npb = REF["styles"][style]["notes_per_bar"]
        alone = [f.notes_per_bar for c, f in more_seeds.values()
                 if c["input"] == mc.ALONE and c["style"] == style and f.notes]
        assert len(alone) >= 10, f"{style}: played alone in {len(alone)} of {len(ALONE_POOL_SEEDS)} seeds"
        assert sum(alone) / len(alone) <= 1.5 * npb["p90"], f"{style} alone: {alone} notes a bar"
        assert all(x <= 2 * npb["p90"] for x in alone), f"{style} alone: {alone} notes a bar"


def test_beside_a_player_cadenza_plays_in_the_key_and_on_the_chords(played, more_seeds):
    for style in ("chorale", "celtic"):
        scale = pooled(duets(played, style), "in_scale")
        assert scale is not None and scale >= 0.7, f"{style}: {scale:.0%} in the key (chance 58%)"
    pop = [(cid, c, None, f) for cid, (c, f) in more_seeds.items() if c["input"] == "pop in C"]
    assert len(pop) == 4 * len(POP_SEEDS)
    chord = pooled(pop, "chord_tone")
    assert chord is not None and chord >= 0.45, f"{chord} chord tones on the pop progression (chance 25%)"


def test_the_mask_seldom_overrules_the_model_and_almost_never_over_the_players_keys(played):
    for cid, (c, t, f) in played.items():
        mask = t["mask"]
        assert mask is not None, f"{cid}: no mask line in the plugin's log"
        assert mask["mean"] < 0.08, f"{cid}: the mask took {mask['mean']:.1%} per step"
        # The measure before two streams: 442 of 475 steps of one duet lost over a fifth to the
        # player's keys. cadenza-base-v7 at most 10 of 266 (celtic beside held chords, which it now
        # also comps: the chords the player holds are the tones it reaches for).
        assert mask["player_keys"] <= 0.05 * mask["steps"] + 2, f"{cid}: {mask}"


def test_humanized_playing_gets_musically_the_same_answer(played):
    for style in ("chorale", "celtic"):
        rows = duets(played, style)
        q = [r for r in rows if r[1]["feel"] == "quantized"]
        h = [r for r in rows if r[1]["feel"] == "humanized"]
        assert pooled(h, "grid16_or_triplet") >= pooled(q, "grid16_or_triplet") - 0.1, style
        assert pooled(h, "in_scale") >= pooled(q, "in_scale") - 0.2, style
        # As many notes within a factor of three (one take of a few notes may fall silent).
        nq, nh = sum(r[3].notes for r in q), sum(r[3].notes for r in h)
        assert nq / 3 <= nh <= 3 * nq, f"{style}: {nh} notes humanized, {nq} quantized"


def test_with_nobody_playing_cadenza_begins_soon_and_keeps_playing(played):
    alone = [(cid, c, f) for cid, (c, t, f) in played.items() if c["input"] == mc.ALONE]
    assert len(alone) == 6
    # The transport starts, nobody plays: a partner that waits for someone who does not come is silent
    # (a two-stream model that learned only duets the player began waited 3 to 32 beats). The target is
    # the first bar: cadenza-base-v7 begins there in all six (v6 in five; celtic seed 1: beat 15).
    firsts = [f.first_note for _, _, f in alone]
    assert all(x is not None and x <= mf.TARGETS["first_note"] for x in firsts), firsts
    for cid, c, f in alone:
        bars = {int(b // c["beats_per_bar"]) for b, _, _, _ in played[cid][1]["cadenza"] if b < c["beats"]}
        assert len(bars) >= 4, f"{cid}: played in bars {sorted(bars)} of 8"


ROLE_PIECES_PINNED = 3


@pytest.fixture(scope="module")
def played_roles(tmp_path_factory):
    """The first held-out chorales' role cases played through the bundled plugin (the model it loads),
    as role_figures measures them: {(asked, played as): figures per piece}."""
    from cadenza_model.exporting import DEFAULT_MODEL
    from cadenza_model import roles

    plugin_tools()
    # The model the plugin loads: $CADENZA_MODEL's folder when set, else the built-in one.
    chosen = Path(os.environ.get("CADENZA_MODEL") or DEFAULT_MODEL)
    meta = json.loads(((chosen if chosen.is_dir() else chosen.parent) / "model.json").read_text())
    if not {"melody", "bass"} <= set(meta.get("roles", [])):
        pytest.skip(f"the built-in model plays no roles ({meta.get('roles')})")
    parts = json.loads(mc.ROLE_PARTS.read_text())
    parts["pieces"] = parts["pieces"][:ROLE_PIECES_PINNED]
    cases = [c for c in mc.role_cases(parts, seed=1) if c["role"]["setting"] in ("bass", "melody")]
    takes = play(tmp_path_factory.mktemp("roles"), cases)
    out = {}
    for c in cases:
        r = c["role"]
        parts_ = r["parts"]
        cad = mf.ticks(x for x in takes[c["id"]]["cadenza"] if 0 <= x[0] < c["beats"])
        score = mf.ticks([n for q in parts_ for n in q])
        out.setdefault((r["asked"], r["played_as"]), []).append(
            roles.measure(cad, mf.ticks(c["player"]), score, r["asked"], int(c["beats"])))
    return out


def pooled_role(rows, key):
    """The mean over the pieces in which Cadenza played."""
    v = [r[key] for r in rows if r[key] is not None]
    return sum(v) / len(v)


def test_asked_for_the_bass_or_the_melody_cadenza_plays_under_or_over_the_player(played_roles):
    # Through the plugin's Role parameter, against held-out chorales' soprano (bass) or bass (melody),
    # seed 1. Margins under the benchmark's 90% targets, set from the shipped model's takes.
    bass, melody = played_roles[("bass", "bass")], played_roles[("melody", "melody")]
    assert all(r["notes"] > 0 for r in bass + melody), "a role played nothing"
    assert pooled_role(bass, "lowest") >= 0.85 and pooled_role(melody, "highest") >= 0.85
    # And it is the role that does it: played as Free against the same parts, Cadenza also rises over
    # the soprano or sinks under the bass (v8r: 27% and 26% of its time, as the role 3% and 7%).
    assert pooled_role(bass, "highest") < pooled_role(played_roles[("bass", "free")], "highest")
    assert pooled_role(melody, "lowest") < pooled_role(played_roles[("melody", "free")], "lowest")


def test_asked_for_the_bass_cadenza_lays_roots_and_fifths_on_the_strong_beats(played_roles):
    # The chord's lead (EVALUATION.md "The chord's lead"): on a strong beat the bass begins only the
    # root or the fifth of the chord it heard last. Seed 1, the first three chorales against their
    # soprano: 47% with it (the chorale's own chord changes on the beat, which the bass cannot hear
    # before it plays), 23% without it and 15% played as Free (cadenza-base-v10).
    bass, free = played_roles[("bass", "bass")], played_roles[("bass", "free")]
    key = "root or fifth on strong beats"
    assert pooled_role(bass, key) >= 0.35
    assert pooled_role(bass, key) >= pooled_role(free, key) + 0.1
