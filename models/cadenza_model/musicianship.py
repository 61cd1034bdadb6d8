"""The musicianship benchmark: what Cadenza plays with a musician, measured as music.

    python -m cadenza_model.musicianship cases OUT/cases.json            # the inputs, every mode and style
    python -m cadenza_model.musicianship reference                       # held-out corpus figures (parsed corpus)
    python -m cadenza_model.musicianship report OUT/cases.json OUT/takes.json --out ../MUSICIANSHIP.md

`cargo xtask musicianship` runs all of it: the cases are played through the real plugin by the Rust
tool `cadenza-musicianship` (the bundled CLAP in the project's host; offline renders, so the same take
every time, plus a real-time pass at host block sizes from 32 to 4096 frames).

The inputs: chord progressions held a bar each in several keys and feels (pop, minor, ii-V-I, a
blues, a modulation), melodies (straight and triplet), each also humanized (onsets within +-30 ms,
note lengths of 50-100%, any velocities). Each plays in every mode (Duet, Call & Response, Continue
Clip, Improvise) and every style. And nobody playing, in Duet and Improvise, three seeds: the
transport starts and Cadenza is alone (how soon it begins, and whether it sounds like its style).

The figures, of Cadenza's part alone:
- notes per bar, over the bars in which it plays;
- onsets on the eighth, sixteenth and triplet-eighth grids, and the longest run of onsets on neither
  of the last two;
- in scale: onsets whose pitch class is in the input's key (where a modulation is, the key of the
  moment; minor counts the raised seventh, a blues the flat seventh), beside chance (scale size / 12)
  and MusPy's key-free `scale_consistency`;
- chord tones: onsets, while the player holds a chord (three or more pitch classes), whose pitch
  class is one of them, beside chance (held pitch classes / 12);
- after a modulation, the in-key share from two bars after it;
- Call & Response: beats from the end of a call to the answer's first note, and notes still sounding
  when the next call starts;
- the probability the engine's mask took from the model per step (its log line);
- the beat of its first note.

Beside them, the held-out corpus's figures for the style, of Cadenza's side of the same part splits
the model trained on (duet.py): notes per bar (10th-90th percentile), grid shares, MusPy's scale
consistency, chord tones. No I/O below the command line except the writers it calls.
"""
from __future__ import annotations

import argparse
import json
import math
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from . import duet, knowing, roles

STYLES = ["chorale", "renaissance", "classical", "celtic", "folk"]
MODES = {"duet": 0, "call": 1, "improvise": 2, "continue": 3}
MODE_NAMES = {"duet": "Duet", "call": "Call & Response", "continue": "Continue Clip", "improvise": "Improvise"}
TPB = 24
REFERENCE = Path(__file__).resolve().parent.parent / "musicianship_reference.json"
# What the shipped model misses and why, written by hand after a run; the report sets it at the top.
NOTES = Path(__file__).resolve().parent.parent / "musicianship_notes.md"
# Held-out chorales' first bars, by part: what Cadenza plays a role against (written by `role-parts`
# from the corpus, kept in the repository so the cases need no corpus).
ROLE_PARTS = Path(__file__).resolve().parent.parent / "musicianship_roles.json"
ROLE_BEATS = 16
ROLE_PIECES = 8
# The Role parameter's values (src/settings.rs, Role::NAMES).
ROLE_VALUES = {"free": 0, "melody": 1, "bass": 2, "harmony": 3}

SCALES = {
    "major": {0, 2, 4, 5, 7, 9, 11},
    "minor": {0, 2, 3, 5, 7, 8, 10, 11},  # natural minor and its leading tone
    "blues": {0, 2, 4, 5, 7, 9, 10, 11},  # major and the flat seventh
}
CHORDS = {"maj": (0, 4, 7), "min": (0, 3, 7), "dom7": (0, 4, 7, 10), "min7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11)}
# Chord tones are measured where the player holds at least this many pitch classes: a chord, so that
# completing it is not a miss (a 4-voice texture's player side often holds only part of its chord).
CHORD_PCS = 3
PC = {n: i for i, n in enumerate(["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"])}

# A note: (beat, length, key, velocity 0..1).
Note = Tuple[float, float, int, float]


@dataclass
class Input:
    name: str
    kind: str  # "progression", "melody" or "alone" (nobody playing)
    notes: List[Note]
    bars: int
    # (from beat, tonic pitch class, scale name)
    keys: List[Tuple[float, int, str]]
    tempo: float = 100.0
    beats_per_bar: int = 4
    modulation_at: Optional[float] = None

    @property
    def beats(self) -> float:
        return float(self.bars * self.beats_per_bar)


def chord_notes(symbol: str, beat: float, length: float) -> List[Note]:
    """A chord held from `beat`: the root in the bass (C2-B2), the chord's tones above middle C."""
    root, quality = symbol.split(":")
    r = PC[root]
    out = [(beat, length, 36 + r if r >= 4 else 48 + r, 0.7)]
    for iv in CHORDS[quality]:
        out.append((beat, length, 60 + (r + iv) % 12, 0.7))
    return out


def progression(name: str, symbols: Sequence[str], keys, tempo=100.0, modulation_at=None) -> Input:
    notes = []
    for bar, sym in enumerate(symbols):
        notes += chord_notes(sym, 4.0 * bar, 4.0)
    return Input(name, "progression", notes, len(symbols), list(keys), tempo, 4, modulation_at)


def melody(name: str, tonic_midi: int, scale: Sequence[int], line: Sequence[Tuple[int, float]], keys, tempo=100.0,
           beats_per_bar=4) -> Input:
    """A line of (scale degree: 1 the tonic, -2 a fourth below it, 0 a rest; length in beats), legato."""
    notes, beat = [], 0.0
    for degree, length in line:
        if degree:
            octave, step = divmod(degree - 1, len(scale))
            notes.append((beat, length, tonic_midi + 12 * octave + scale[step], 0.7))
        beat += length
    bars = math.ceil(beat / beats_per_bar - 1e-9)
    return Input(name, "melody", notes, bars, list(keys), tempo, beats_per_bar)


MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


# Nobody playing: the transport starts and Cadenza is alone. Played in these modes with these seeds
# (one take says little about how soon a model begins).
ALONE = "nobody playing"
ALONE_MODES = ("duet", "improvise")
ALONE_SEEDS = (1, 2, 3)


def inputs() -> List[Input]:
    """The fixed set of inputs, quantized."""
    g = [  # 16 bars of quarters and halves in G major
        (1, 1), (2, 1), (3, 2), (5, 2), (3, 1), (1, 1), (2, 1), (3, 1), (4, 1), (2, 1), (1, 2), (-2, 2),
        (1, 1), (3, 1), (5, 2), (6, 1), (5, 1), (4, 1), (3, 1), (2, 2), (5, 2), (3, 2), (1, 2),
        (5, 1), (6, 1), (7, 2), (8, 2), (7, 1), (6, 1), (5, 1), (4, 1), (3, 2), (2, 2), (3, 1), (4, 1), (5, 2),
        (6, 2), (5, 1), (3, 1), (4, 1), (3, 1), (2, 2), (1, 2), (3, 2), (2, 1), (1, 1),
    ]
    d = [  # 8 bars of eighths and quarters in D minor
        (1, .5), (2, .5), (3, .5), (4, .5), (5, 1), (3, 1), (4, .5), (3, .5), (2, .5), (1, .5), (2, 1), (5, 1),
        (6, .5), (5, .5), (4, .5), (3, .5), (4, 1), (2, 1), (3, .5), (2, .5), (1, .5), (0, .5), (1, 2),
        (5, .5), (6, .5), (7, .5), (8, .5), (8, 1), (7, 1), (6, .5), (5, .5), (4, .5), (3, .5), (5, 1), (4, 1),
        (3, .5), (4, .5), (5, .5), (3, .5), (2, 1), (5, 1), (1, 2), (1, 2),
    ]
    t = 1.0 / 3.0
    f = [  # 8 bars in a triplet feel, F major
        (1, 2 * t), (2, t), (3, 2 * t), (4, t), (5, 1), (3, 1), (4, 2 * t), (3, t), (2, 2 * t), (1, t), (2, 2),
        (3, 2 * t), (4, t), (5, 2 * t), (6, t), (5, 1), (4, 1), (3, t), (4, t), (3, t), (2, 1), (1, 2),
        (5, 2 * t), (6, t), (7, 2 * t), (8, t), (8, 1), (6, 1), (5, 2 * t), (4, t), (3, 2 * t), (2, t), (3, 2),
        (4, 2 * t), (3, t), (2, 2 * t), (3, t), (4, 1), (2, 1), (3, 2 * t), (2, t), (1, 2 * t), (0, t), (1, 2),
    ]
    return [
        progression("pop in C", ["C:maj", "G:maj", "A:min", "F:maj"] * 2, [(0.0, PC["C"], "major")]),
        progression("minor in A", ["A:min", "D:min", "E:maj", "A:min"] * 2, [(0.0, PC["A"], "minor")]),
        progression("ii-V-I in F", ["G:min7", "C:dom7", "F:maj7", "F:maj7"] * 2, [(0.0, PC["F"], "major")], tempo=110),
        progression("blues in G", ["G:dom7", "C:dom7", "G:dom7", "G:dom7", "C:dom7", "C:dom7", "G:dom7", "G:dom7",
                                   "D:dom7", "C:dom7", "G:dom7", "D:dom7"], [(0.0, PC["G"], "blues")], tempo=120),
        progression("C to E-flat", ["C:maj", "A:min", "F:maj", "G:maj"] + ["Eb:maj", "C:min", "Ab:maj", "Bb:maj"] * 2,
                    [(0.0, PC["C"], "major"), (16.0, PC["Eb"], "major")], modulation_at=16.0),
        melody("melody in G", 67, MAJOR, g, [(0.0, PC["G"], "major")]),
        melody("melody in D minor", 62, MINOR, d, [(0.0, PC["D"], "minor")], tempo=96),
        melody("triplet melody in F", 65, MAJOR, f, [(0.0, PC["F"], "major")], tempo=90),
        Input(ALONE, "alone", [], 8, [], 120.0),
    ]


def humanized(notes: Sequence[Note], tempo: float, seed: int) -> List[Note]:
    """As a person plays it: onsets within +-30 ms, lengths 50-100%, velocities anywhere 0.25-0.95."""
    rng = random.Random(seed)
    jitter = 0.030 * tempo / 60.0
    out = []
    for beat, length, key, _ in notes:
        b = max(0.0, beat + rng.uniform(-jitter, jitter))
        out.append((b, length * rng.uniform(0.5, 1.0), key, rng.uniform(0.25, 0.95)))
    return sorted(out)


def calls(inp: Input, notes: Sequence[Note]) -> List[Note]:
    """Call & Response: the player plays two bars, leaves the last beat free, and rests two bars."""
    span = 2 * inp.beats_per_bar
    out = []
    for beat, length, key, vel in notes:
        start = (beat // (2 * span)) * 2 * span
        end = start + span - 1.0
        if beat - start < span - 1.0 - 1e-9:
            out.append((beat, min(length, end - beat), key, vel))
    return out


# The host takes CLAP values: a discrete parameter's steps from its minimum, a continuous one's position
# in its range, 0..1 (src/params.rs has the ranges).
ANSWER_BARS_MIN = 1
LISTEN_GAP_RANGE = (0.25, 8.0)


def clap_values(answer_bars: int, listen_gap: float, answer_next_bar: bool) -> dict:
    lo, hi = LISTEN_GAP_RANGE
    return {"ansbar": answer_bars - ANSWER_BARS_MIN, "gap": (listen_gap - lo) / (hi - lo),
            "ansst": int(answer_next_bar)}


def label(case: dict) -> str:
    """What tells a case apart from the others of its style, mode and input: its feel or its seed (the
    end of its id)."""
    return case["id"].rsplit("|", 1)[1]


def cases(quick: bool = False, styles: Sequence[str] = STYLES, seed: int = 1) -> List[dict]:
    """Every input, quantized and humanized, in every mode and style (offline renders), then the
    real-time pass (Duet, chorale, at block sizes from 32 to 4096 frames). `quick`: a few, for tests."""
    out = []
    ins = inputs()
    if quick:
        ins = [i for i in ins if i.name in ("pop in C", "melody in G", ALONE)]

    def offline(style, mode, inp, label, params, player=(), prompt=(), offset=0.0, **extra):
        return {
            "id": f"{style}|{mode}|{inp.name}|{label}", "style": style, "mode": mode, "input": inp.name,
            "feel": extra.pop("feel", label), "tempo": inp.tempo, "beats_per_bar": inp.beats_per_bar,
            "beats": inp.beats - offset, "offset": offset, "player": [list(x) for x in player],
            "prompt": [list(x) for x in prompt], "params": {**params, "style": STYLES.index(style)},
            "block": 512, "realtime": False, **extra,
        }

    for n, inp in enumerate(ins):
        if inp.kind == "alone":
            for mode in (["improvise"] if quick else ALONE_MODES):
                for seed_ in ALONE_SEEDS:
                    params = {"mode": MODES[mode], "seed": seed_, "voice": 0}
                    out += [offline(style, mode, inp, f"seed {seed_}", params, feel="quantized", seed=seed_)
                            for style in styles]
            continue
        for feel in ("quantized", "humanized"):
            notes = inp.notes if feel == "quantized" else humanized(inp.notes, inp.tempo, 1000 + n)
            for mode in (["duet"] if quick else list(MODES)):
                player, prompt, offset = notes, [], 0.0
                params = {"mode": MODES[mode], "seed": seed, "voice": 0}
                if mode == "call":
                    # The call is cut from the written line, then played: humanizing first let a note
                    # from the free last beat slip in 20 ms early, as a blip the quantized call lacks.
                    player = calls(inp, inp.notes)
                    if feel == "humanized":
                        player = humanized(player, inp.tempo, 1000 + n)
                    params.update(clap_values(answer_bars=2, listen_gap=0.5, answer_next_bar=True))
                elif mode == "continue":
                    # The first four bars are the clip; the transport starts where it ends, and the
                    # player plays the rest from there.
                    offset = 4.0 * inp.beats_per_bar
                    prompt = [x for x in notes if x[0] < offset]
                    player = [(b - offset, l, k, v) for b, l, k, v in notes if b >= offset]
                out += [offline(style, mode, inp, feel, params, player, prompt, offset) for style in styles]
    if not quick and ROLE_PARTS.exists():
        out += role_cases(json.loads(ROLE_PARTS.read_text()), seed)
    realtime_inputs = [ins[0]] if quick else [ins[0], ins[5]]
    for inp in realtime_inputs:
        for block, random_blocks in ([(128, False), (2048, True)] if quick else
                                     [(32, False), (128, False), (512, False), (2048, False), (4096, False),
                                      (4096, True)]):
            label = f"random up to {block}" if random_blocks else str(block)
            out.append({
                "id": f"chorale|duet|{inp.name}|real time, blocks {label}", "style": "chorale", "mode": "duet",
                "input": inp.name, "feel": "quantized", "tempo": 120.0, "beats_per_bar": inp.beats_per_bar,
                "beats": min(inp.beats, 32.0), "player": [list(x) for x in inp.notes if x[0] < 32.0], "prompt": [],
                "params": {"mode": 0, "seed": seed, "voice": 0, "style": 0}, "block": block,
                "random_blocks": random_blocks, "realtime": True, "block_label": label,
            })
    return out


def role_parts(n: int = ROLE_PIECES, beats: int = ROLE_BEATS) -> dict:
    """The first `beats` beats of the first `n` held-out chorales in four or more parts, by part
    (lowest first), as notes (beat, length, key, velocity) at the corpus's tempo of 100."""
    from .data import load_pieces

    held = [p for p in load_pieces(["chorale"])["chorale"][1] if len(duet.parts_by_height(p.notes)) >= 4][:n]
    pieces = []
    for k, piece in enumerate(held):
        order = duet.parts_by_height(piece.notes)
        parts = [[[o / TPB, d / TPB, p, 0.7] for o, d, p, part in piece.notes if part == q and o < beats * TPB]
                 for q in order]
        pieces.append({"name": f"held-out chorale {k + 1}", "parts": parts})
    return {"beats": beats, "tempo": 100.0, "pieces": pieces}


def role_cases(parts: dict, seed: int) -> List[dict]:
    """Duet in chorale, Cadenza asked for each role against the other parts of held-out chorales
    (bass against the soprano, melody against the bass, harmony against both; the bass also under
    the upper three parts), and the same as Free."""
    out = []
    for piece in parts["pieces"]:
        by_height = list(range(len(piece["parts"])))
        for setting in (*roles.ASKED, *roles.SETTINGS):
            asked = roles.role_of(setting)
            player = sorted(tuple(n) for q in roles.against(by_height, setting) for n in piece["parts"][q])
            for played_as in (asked, "free"):
                out.append({
                    "id": f"chorale|duet|{piece['name']}|role {setting} as {played_as}", "style": "chorale",
                    "mode": "duet", "input": piece["name"], "feel": "quantized", "tempo": parts["tempo"],
                    "beats_per_bar": 4, "beats": float(parts["beats"]), "offset": 0.0,
                    "player": [list(x) for x in player], "prompt": [],
                    "params": {"mode": MODES["duet"], "seed": seed, "voice": 0, "style": STYLES.index("chorale"),
                               "role": ROLE_VALUES[played_as]},
                    "block": 512, "realtime": False,
                    "role": {"asked": asked, "setting": setting, "played_as": played_as, "parts": piece["parts"]},
                })
    return out


def shipped_roles() -> Optional[List[str]]:
    """The roles the built-in model plays (models/default/model.json), the one the benchmark plays."""
    path = Path(__file__).resolve().parent.parent / "default" / "model.json"
    return json.loads(path.read_text()).get("roles", ["free"]) if path.exists() else None


def ticks(notes) -> List[roles.Note]:
    return [(int(round(b * TPB)), max(1, int(round(l * TPB))), int(k)) for b, l, k, *_ in notes]


def role_figures(cases_list: List[dict], takes: List[dict], played: Optional[Sequence[str]] = None) -> List[str]:
    """The Roles section: each role Cadenza was asked for, as played and as Free, beside the part the
    composer wrote for it, measured by roles.measure. `played`: the roles the model plays (one it
    lacks plays as Free, and its row says so)."""
    by_id = {t["id"]: t for t in takes}
    results: dict = {}
    corpus: dict = {}
    for c in cases_list:
        r = c.get("role")
        if not r or c["id"] not in by_id:
            continue
        beats = int(c["beats"])
        parts = r["parts"]
        by_height = list(range(len(parts)))
        score = ticks([n for q in parts for n in q])
        player = ticks(c["player"])
        cad = ticks(x for x in by_id[c["id"]]["cadenza"] if 0 <= x[0] < c["beats"])
        setting = r.get("setting", r["asked"])
        results.setdefault((setting, r["played_as"]), []).append(
            roles.measure(cad, player, score, r["asked"], beats))
        if r["played_as"] == r["asked"]:
            written = ticks([n for q in roles.written(by_height, r["asked"]) for n in parts[q]])
            corpus.setdefault((setting, "corpus"), []).append(
                roles.measure(written, player, score, r["asked"], beats))
    if not results:
        return []
    rows = [(asked, as_ if played is None or as_ in ("free", "corpus") or as_ in played
             else f"{as_} (the model lacks it: Free)", n, f)
            for asked, as_, n, f in roles.mean_rows({**results, **corpus})]
    order = {a: i for i, a in enumerate(roles.ASKED)}
    order.update({s: order[role] + 0.5 for s, role in roles.SETTINGS.items()})
    rank = lambda as_: 0 if as_ not in ("free", "corpus") else 1 if as_ == "free" else 2  # noqa: E731
    rows.sort(key=lambda r: (order[r[0]], rank(r[1])))
    return ["## Roles", "",
            "Duet in chorale, through the plugin's Role parameter: Cadenza asked for the bass against the "
            "soprano, the melody against the bass, the harmony against both, and the bass under the "
            "upper three parts (a player's chords; its chord sounds but for the bass), of the first four bars of "
            f"{len(results.get(('bass', 'bass'), []))} held-out chorales (models/musicianship_roles.json), "
            "and the same parts played with the role Free; \"corpus\" is the part Bach wrote for the role, "
            "measured the same way. A model that does not play a role plays it as Free. Figures (see "
            "`models/cadenza_model/roles.py`): lowest and highest, shares of Cadenza's sounding sixteenths; "
            "chord tones and roots or fifths on strong beats, of its onsets, against the chord Bach wrote "
            "there (chance 25% and 17%); consonant with the player, of the sixteenths both sound; crossings "
            "of the player's part per piece. Targets: bass lowest ≥ 90% and root or fifth ≥ 70%, melody "
            "highest ≥ 90%, harmony chord tones ≥ 70% (✓ met, ✗ missed, marked where the role was played).",
            "", *roles.table(rows), ""]


# ---------------------------------------------------------------------------------------------------
# Figures


def on_grid(beat: float, step_ticks: int) -> bool:
    t = beat * TPB
    return abs(t - round(t / step_ticks) * step_ticks) < 1e-3


def key_at(keys, beat: float):
    k = keys[0]
    for kk in keys:
        if beat >= kk[0] - 1e-9:
            k = kk
    return k


def held_pcs(player: Sequence[Note], beat: float) -> set:
    """Pitch classes the player holds at `beat` (a note just struck counts)."""
    return {int(k) % 12 for b, l, k, _ in player if b - 1e-6 <= beat < b + l - 1e-6}


@dataclass
class Figures:
    notes: int
    notes_per_bar: float
    grid8: float
    grid16: float
    triplet: float
    grid16_or_triplet: float
    longest_off_grid: int
    in_scale: Optional[float] = None
    in_scale_chance: Optional[float] = None
    scale_consistency: Optional[float] = None
    chord_tone: Optional[float] = None
    chord_tone_chance: Optional[float] = None
    new_key: Optional[float] = None
    answer_delay: Optional[float] = None
    overlap: Optional[int] = None
    first_note: Optional[float] = None  # the beat of Cadenza's first note
    extra: Dict[str, float] = field(default_factory=dict)


def grid_figures(onsets: Sequence[float]) -> dict:
    n = max(len(onsets), 1)
    g16 = [on_grid(b, 6) for b in onsets]
    g3 = [on_grid(b, 8) for b in onsets]
    either = [a or b for a, b in zip(g16, g3)]
    run = best = 0
    for ok in either:
        run = 0 if ok else run + 1
        best = max(best, run)
    return {"grid8": sum(on_grid(b, 12) for b in onsets) / n, "grid16": sum(g16) / n, "triplet": sum(g3) / n,
            "grid16_or_triplet": sum(either) / n, "longest_off_grid": best}


def per_bar(onsets: Sequence[float], bar_beats: float) -> List[int]:
    """Onsets in each bar in which there is one."""
    counts = defaultdict(int)
    for b in onsets:
        counts[int(math.floor(b / bar_beats + 1e-9))] += 1
    return list(counts.values())


def scale_consistency(notes: Sequence[Note]) -> Optional[float]:
    """MusPy's scale consistency: the largest share of notes in one major or minor scale."""
    if not notes:
        return None
    import muspy

    music = muspy.Music(resolution=TPB, tracks=[muspy.Track(notes=[
        muspy.Note(time=int(round(b * TPB)), pitch=int(k), duration=max(1, int(round(l * TPB))))
        for b, l, k, _ in notes])])
    return float(muspy.scale_consistency(music))


def figures(case: dict, take: dict, inp: Input) -> Figures:
    """What Cadenza played in one case (`take["cadenza"]`), against what the player played."""
    cad = [tuple(x) for x in take["cadenza"] if 0 <= x[0] < case["beats"] - 1e-9]
    player = [tuple(x) for x in case["player"]]
    offset = case.get("offset", 0.0)  # the roll's first beat in the input (after a clip)
    onsets = [b for b, _, _, _ in cad]
    counts = per_bar(onsets, case["beats_per_bar"])
    f = Figures(len(cad), sum(counts) / max(len(counts), 1), **grid_figures(onsets))
    f.first_note = min(onsets) if onsets else None
    if cad:
        f.scale_consistency = scale_consistency(cad)
    if cad and inp.keys:
        hits = []
        chance = []
        for b, _, k, _ in cad:
            _, tonic, scale = key_at(inp.keys, b + offset)
            hits.append((int(k) - tonic) % 12 in SCALES[scale])
            chance.append(len(SCALES[scale]) / 12)
        f.in_scale = sum(hits) / len(hits)
        f.in_scale_chance = sum(chance) / len(chance)
        tones, odds = [], []
        for b, _, k, _ in cad:
            pcs = held_pcs(player, b)
            if len(pcs) >= CHORD_PCS:
                tones.append(int(k) % 12 in pcs)
                odds.append(len(pcs) / 12)
        if tones:
            f.chord_tone = sum(tones) / len(tones)
            f.chord_tone_chance = sum(odds) / len(odds)
        if inp.modulation_at is not None:
            after = [((int(k) - key_at(inp.keys, b + offset)[1]) % 12) in SCALES[key_at(inp.keys, b + offset)[2]]
                     for b, _, k, _ in cad if b + offset >= inp.modulation_at + 2 * inp.beats_per_bar]
            f.new_key = sum(after) / len(after) if after else None
    if case["mode"] == "call" and player:
        ends = sorted({round(b + l, 6) for b, l, _, _ in player})
        starts = sorted({b for b, _, _, _ in player})
        # A call ends where the player lets go and nothing follows within a beat.
        call_ends = [e for e in ends if not any(e - 1e-6 < s < e + 1.0 for s in starts)]
        delays, overlap = [], 0
        for e in call_ends:
            first = [b for b in onsets if b >= e - 1e-6]
            if first:
                delays.append(min(first) - e)
            nxt = [s for s in starts if s > e + 1.0]
            if nxt:
                s = min(nxt)
                overlap += sum(1 for b, l, _, _ in cad if b < s - 1e-6 < b + l)
        f.answer_delay = sum(delays) / len(delays) if delays else None
        f.overlap = overlap
    return f


# ---------------------------------------------------------------------------------------------------
# The held-out corpus's figures


def corpus_split(notes, bar: int, rng: random.Random):
    """(Cadenza's notes, the player's) of a piece as the corpus has it, nothing made up: some of its
    parts the player's and the rest Cadenza's; a single-line tune traded every two bars; one time in
    five all Cadenza's."""
    n_parts = 1 + max((n[3] for n in notes), default=0)
    if rng.random() < 0.2:
        return [n[:3] for n in notes], []
    if n_parts >= 2:
        player = set(rng.sample(range(n_parts), rng.randint(1, n_parts - 1)))
        return [n[:3] for n in notes if n[3] not in player], [n[:3] for n in notes if n[3] in player]
    span = 2 * max(1, bar)
    return ([n[:3] for n in notes if (n[0] // span) % 2 == 1], [n[:3] for n in notes if (n[0] // span) % 2 == 0])


def reference(styles: Sequence[str] = STYLES, splits: int = 4, max_pieces: int = 400) -> dict:
    """The held-out corpus's figures per style, of Cadenza's side of the corpus's own part splits
    (`corpus_split`, seeded)."""
    from . import data, duet

    out = {"made_by": "python -m cadenza_model.musicianship reference", "splits_per_piece": splits, "styles": {}}
    for style in styles:
        held = [p for p in data.load_style(style) if data.is_held_out(p.id)][:max_pieces]
        bars, onsets, consistency, tones, odds = [], [], [], [], []
        for i, piece in enumerate(held):
            for s in range(splits):
                rng = random.Random(7919 * i + s)
                cad, ply = corpus_split(piece.notes, piece.bar, rng)
                cad = duet.drop_doubled(cad, ply)
                if not cad:
                    continue
                on = [o / TPB for o, _, _ in cad]
                bars += per_bar(on, piece.bar / TPB)
                onsets += on
                if s == 0:
                    c = scale_consistency([(o / TPB, d / TPB, p, 0.7) for o, d, p in cad])
                    if c is not None:
                        consistency.append(c)
                player = [(o / TPB, d / TPB, p, 0.7) for o, d, p in ply]
                if len(player) == 0:
                    continue
                # Chord tones, where the player's side sounds a chord.
                starts = sorted(player)
                for o, _, p in cad:
                    b = o / TPB
                    pcs = {k % 12 for bb, ll, k, _ in starts if bb - 1e-6 <= b < bb + ll - 1e-6}
                    if len(pcs) >= CHORD_PCS:
                        tones.append(p % 12 in pcs)
                        odds.append(len(pcs) / 12)
        bars.sort()
        q = lambda x: bars[min(len(bars) - 1, int(x * len(bars)))] if bars else None  # noqa: E731
        ref = {"pieces": len(held), "bars": len(bars), "notes_per_bar": {"p10": q(0.1), "p50": q(0.5), "p90": q(0.9)},
               **grid_figures(onsets), "scale_consistency": sum(consistency) / max(len(consistency), 1)}
        if tones:
            ref.update(chord_tone=sum(tones) / len(tones), chord_tone_chance=sum(odds) / len(odds))
        out["styles"][style] = ref
        print(f"[musicianship] {style}: {ref}")
    return out


# ---------------------------------------------------------------------------------------------------
# The report


def pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def num(x: Optional[float], digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def piano_rolls(rows, title: str, path: Path):
    """One picture, a row per case: the player in blue, Cadenza in orange, bar lines in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(11, 0.9 * len(rows) + 0.4), squeeze=False)
    for ax, (label, case, take) in zip(axes[:, 0], rows):
        beats = case["beats"]
        for b in range(0, int(beats) + 1, case["beats_per_bar"]):
            ax.axvline(b, color="#cccccc", lw=0.6, zorder=0)
        for b, l, k, _ in case["player"]:
            ax.add_patch(plt.Rectangle((b, k - 0.4), l, 0.8, color="#3b6fb6", lw=0))
        for b, l, k, _ in case.get("prompt", []):
            ax.add_patch(plt.Rectangle((b - case.get("offset", 0.0), k - 0.4), l, 0.8, color="#9bb4d6", lw=0))
        for b, l, k, _ in take["cadenza"]:
            ax.add_patch(plt.Rectangle((b, k - 0.4), l, 0.8, color="#e07b24", lw=0))
        keys = [x[2] for x in case["player"]] + [x[2] for x in take["cadenza"]] or [60]
        ax.set_ylim(min(keys) - 2, max(keys) + 2)
        ax.set_xlim(-case.get("offset", 0.0), beats)
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    fig.suptitle(title + "  (blue: the player; pale blue: the clip; orange: Cadenza)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)


TARGETS = {
    "grid": 0.90,          # onsets on the sixteenth or triplet-eighth grid
    "in_scale": 0.90,      # on the progressions
    "chord_tone": 0.55,    # on the progressions
    "new_key": 0.85,       # from two bars after a modulation
    "humanized_drop": 0.05,
    "first_note": 4.0,     # beats: nobody playing, Cadenza begins within the first bar
}


def humanized_drop(sel) -> Optional[float]:
    """The largest drop, over grid, in scale and chord tones, from the mean over a style and mode's
    quantized inputs to the mean over the same inputs humanized (one take each: a mean over inputs,
    not one pair, so that a take's own chance does not pass for the feel's effect)."""
    pairs = defaultdict(dict)
    for c, _, f in sel:
        pairs[c["input"]][c["feel"]] = f
    drops = []
    for a in ("grid16_or_triplet", "in_scale", "chord_tone"):
        both = [(p["quantized"], p["humanized"]) for p in pairs.values() if len(p) == 2
                and getattr(p["quantized"], a) is not None and getattr(p["humanized"], a) is not None]
        if both:
            drops.append(sum(getattr(q, a) for q, _ in both) / len(both) - sum(getattr(h, a) for _, h in both) / len(both))
    return max(drops) if drops else None


def measured(cases_list: List[dict], takes: List[dict]):
    """(case, take, Figures) for every case with a take."""
    by_id = {t["id"]: t for t in takes}
    ins = {i.name: i for i in inputs()}
    return [(c, by_id[c["id"]], figures(c, by_id[c["id"]], ins[c["input"]])) for c in cases_list
            if c["id"] in by_id and not c.get("role")]


def mean_of(values) -> Optional[float]:
    v = [x for x in values if x is not None]
    return sum(v) / len(v) if v else None


def comparison(rows, other_rows, other_name: str) -> List[str]:
    """Per style and mode, this take set beside another (the same cases, another model)."""
    lines = ["", f"## Against {other_name}", "",
             f"The same cases played by {other_name}. Means over the style and mode's cases (refused: per step, over",
             "all its steps; a build that does not log it shows 0).", "",
             "| style | mode | refused per step | steps over 20% (player's keys) | notes/bar | 16th/triplet | in scale | chord tones |",
             "|---|---|---|---|---|---|---|---|"]
    def agg(rs, style, mode):
        sel = [(c, t, f) for c, t, f in rs if c["style"] == style and c["mode"] == mode and not c.get("realtime")]
        ms = [t["mask"] for _, t, _ in sel if t.get("mask")]
        steps = sum(m["steps"] for m in ms)
        return {"refused": sum(m["mean"] * m["steps"] for m in ms) / max(steps, 1),
                "over": sum(m["over_fifth"] for m in ms), "keys": sum(m["player_keys"] for m in ms),
                "npb": mean_of(f.notes_per_bar for _, _, f in sel if f.notes),
                "grid": mean_of(f.grid16_or_triplet for _, _, f in sel if f.notes),
                "scale": mean_of(f.in_scale for _, _, f in sel), "chord": mean_of(f.chord_tone for _, _, f in sel)}
    for style in STYLES:
        for mode in MODES:
            a, b = agg(rows, style, mode), agg(other_rows, style, mode)
            if a["npb"] is None and b["npb"] is None:
                continue
            lines.append(f"| {style} | {MODE_NAMES[mode]} | {100 * a['refused']:.1f}% ({100 * b['refused']:.1f}%) | "
                         f"{a['over']:.0f} ({b['over']:.0f}); {a['keys']:.0f} ({b['keys']:.0f}) | "
                         f"{num(a['npb'])} ({num(b['npb'])}) | {pct(a['grid'])} ({pct(b['grid'])}) | "
                         f"{pct(a['scale'])} ({pct(b['scale'])}) | {pct(a['chord'])} ({pct(b['chord'])}) |")
    lines.append(f"\nIn brackets: {other_name}.")
    return lines


def report(cases_list: List[dict], takes: List[dict], ref: dict, out: Path, pictures: Path, command: str,
           others: Sequence[Tuple[List[dict], str]] = (), notes: str = "") -> str:
    """`notes`: what the figures miss and why, as written by hand (NOTES), set under the introduction."""
    ins = {i.name: i for i in inputs()}
    rows = measured(cases_list, takes)
    offline = [r for r in rows if not r[0].get("realtime")]
    realtime = [r for r in rows if r[0].get("realtime")]
    lines = ["# Musicianship", "",
             "What Cadenza plays with a musician, measured as music, beside the held-out corpus and chance.",
             "Made by `" + command + "` (every case played through the bundled CLAP in the project's host,",
             "offline renders at 512-frame blocks, seed 1; then a real-time pass). The figures are of",
             "Cadenza's part alone. See `models/cadenza_model/musicianship.py` for the definitions.", ""]
    if notes:
        lines += [notes.strip(), ""]
    # Targets per style and mode.
    lines += ["## Targets, per style and mode", "",
              "Notes per bar: the share of cases (inputs × feels) inside the corpus's 10th–90th percentile for the",
              "style, and the range of the cases' means. Grid: the lowest share of onsets on the sixteenth or",
              "triplet-eighth grid over the cases (target ≥ 90%). In scale and chord tones: the lowest over the",
              "progressions (targets ≥ 90% and ≥ 55%). New key: from two bars after the modulation (≥ 85%).",
              "Humanized: the largest drop, in points, over grid, in scale and chord tones, from the mean over the",
              "quantized inputs to the mean over the same inputs humanized (≤ 5). ✓ met, ✗ missed.", "",
              "| style | mode | notes/bar (corpus p10–p90) | inside | grid min | in scale min | chord tones min | new key | humanized drop |",
              "|---|---|---|---|---|---|---|---|---|"]
    mark = lambda ok: "✓" if ok else "✗"  # noqa: E731
    summary = {}
    for style in STYLES:
        r = ref["styles"].get(style, {})
        npb = r.get("notes_per_bar", {})
        for mode in MODES:
            sel = [x for x in offline if x[0]["style"] == style and x[0]["mode"] == mode]
            if not sel:
                continue
            lo, hi = npb.get("p10"), npb.get("p90")
            inside = [lo is not None and lo <= f.notes_per_bar <= hi for _, _, f in sel if f.notes]
            grid = min(f.grid16_or_triplet for _, _, f in sel if f.notes) if any(f.notes for _, _, f in sel) else None
            prog = [f for c, _, f in sel if ins[c["input"]].kind == "progression" and f.notes]
            scale = min((f.in_scale for f in prog if f.in_scale is not None), default=None)
            chord = min((f.chord_tone for f in prog if f.chord_tone is not None), default=None)
            newkey = [f.new_key for _, _, f in sel if f.new_key is not None]
            drop = humanized_drop(sel)
            means = [f.notes_per_bar for _, _, f in sel if f.notes]
            summary[(style, mode)] = dict(inside=inside, grid=grid, scale=scale, chord=chord, newkey=newkey, drop=drop)
            harmony_applies = mode != "improvise"
            lines.append(
                f"| {style} | {MODE_NAMES[mode]} | {num(min(means) if means else None)}–{num(max(means) if means else None)} "
                f"({num(lo, 0)}–{num(hi, 0)}) | {sum(inside)}/{len(inside)} {mark(inside and all(inside))} | "
                f"{pct(grid)} {mark(grid is not None and grid >= TARGETS['grid'])} | "
                + (f"{pct(scale)} {mark(scale is not None and scale >= TARGETS['in_scale'])} | "
                   f"{pct(chord)} {mark(chord is not None and chord >= TARGETS['chord_tone'])} | "
                   if harmony_applies else f"{pct(scale)} (alone) | {pct(chord)} (alone) | ")
                + (f"{pct(min(newkey))} {mark(min(newkey) >= TARGETS['new_key'])}" if newkey else "–") + " | "
                + (f"{100 * drop:.0f} {mark(drop <= TARGETS['humanized_drop'])}" if drop is not None else "–") + " |")
    lines += ["", "Improvise plays alone by design (the player's notes do not enter its context), so its harmony",
              "against the player is reported, not held to the targets.", ""]
    # The corpus.
    lines += ["## The held-out corpus, per style", "",
              "Cadenza's side of the corpus's own part splits (some parts the player's, the rest Cadenza's; a tune traded every two bars; one in five Cadenza alone; held-out pieces, " +
              f"{ref.get('splits_per_piece', '?')} seeded splits each): notes per bar while it plays, grid shares, MusPy's",
              "scale consistency, and chord tones where the player's side sounds a chord (three or more pitch",
              "classes; a part of a chord the player's voices leave out is not a miss then).", "",
              "| style | pieces | notes/bar p10 / p50 / p90 | 16th or triplet | 8th | scale consistency | chord tones (chance) |",
              "|---|---|---|---|---|---|---|"]
    for style in STYLES:
        r = ref["styles"].get(style)
        if not r:
            continue
        n = r["notes_per_bar"]
        lines.append(f"| {style} | {r['pieces']} | {n['p10']} / {n['p50']} / {n['p90']} | {pct(r['grid16_or_triplet'])} | "
                     f"{pct(r['grid8'])} | {pct(r['scale_consistency'])} | "
                     f"{pct(r.get('chord_tone'))} ({pct(r.get('chord_tone_chance'))}) |")
    # Masked probability.
    lines += ["", "## What the mask takes away", "",
              "Per step, the probability the engine's sampler mask refused (at temperature 1), averaged over a",
              "style and mode's cases; steps that lost more than a fifth; of those, how many the likeliest refused",
              "token was a note of a key the player holds (the model and the engine disagreeing about whose notes",
              "are whose), and how many fell in a lead (nothing may be placed yet: the reaction lead, a",
              "transport start, an answer's wait).", "",
              "| style | mode | steps | refused per step | steps over 20% | player's keys | leads |", "|---|---|---|---|---|---|---|"]
    for style in STYLES:
        for mode in MODES:
            ms = [t["mask"] for c, t, _ in offline if c["style"] == style and c["mode"] == mode and t.get("mask")]
            if not ms:
                continue
            steps = sum(m["steps"] for m in ms)
            mean = sum(m["mean"] * m["steps"] for m in ms) / max(steps, 1)
            lines.append(f"| {style} | {MODE_NAMES[mode]} | {steps:.0f} | {100 * mean:.1f}% | "
                         f"{sum(m['over_fifth'] for m in ms):.0f} | {sum(m['player_keys'] for m in ms):.0f} | "
                         f"{sum(m['leads'] for m in ms):.0f} |")
    for other_takes, other_name in others:
        lines += comparison(rows, measured(cases_list, other_takes), other_name)
    # Nobody playing.
    alone = [(c, f) for c, _, f in offline if c["input"] == ALONE]
    if alone:
        lines += ["", "## Nobody playing", "",
                  "The transport starts and nobody plays (120 BPM, 8 bars, seeds 1–3): the beat of Cadenza's first",
                  f"note for each seed (target: within the first bar, ≤ {TARGETS['first_note']:.0f} beats; – for none), its",
                  "notes per bar (the corpus's p10–p90), grid, and MusPy's scale consistency (the corpus's).", "",
                  "| style | mode | first note (beats) | notes/bar (corpus) | 16th/triplet | scale consistency (corpus) |",
                  "|---|---|---|---|---|---|"]
        for style in STYLES:
            r = ref["styles"].get(style, {})
            npb = r.get("notes_per_bar", {})
            for mode in MODES:
                sel = sorted([(c.get("seed", 1), f) for c, f in alone if c["style"] == style and c["mode"] == mode],
                             key=lambda x: x[0])
                if not sel:
                    continue
                firsts = [f.first_note for _, f in sel]
                ok = all(x is not None and x <= TARGETS["first_note"] for x in firsts)
                lines.append(
                    f"| {style} | {MODE_NAMES[mode]} | {', '.join(num(x, 2) for x in firsts)} {mark(ok)} | "
                    f"{num(mean_of(f.notes_per_bar for _, f in sel if f.notes))} ({num(npb.get('p10'), 0)}–"
                    f"{num(npb.get('p90'), 0)}) | {pct(mean_of(f.grid16_or_triplet for _, f in sel if f.notes))} | "
                    f"{pct(mean_of(f.scale_consistency for _, f in sel))} ({pct(r.get('scale_consistency'))}) |")
    # Real time.
    if realtime:
        lines += ["", "## On the grid in real time, at any block size", "",
                  "Duet, chorale, 120 BPM, blocks paced to the wall clock as an audio interface calls them. A note is on",
                  "the grid when its sample is within one sample of a 1/24-beat tick.", "",
                  "| input | host blocks | Cadenza's notes | on the 1/24-beat grid | furthest off (samples) | 16th or triplet |",
                  "|---|---|---|---|---|---|"]
        for c, t, f in realtime:
            off = t.get("off_grid_samples", [])
            ok = sum(1 for x in off if x <= 1.0)
            lines.append(f"| {c['input']} | {c.get('block_label', c['block'])} | {len(off)} | {ok}/{len(off)} | "
                         f"{max(off) if off else 0:.1f} | {pct(f.grid16_or_triplet)} |")
    # Call & Response.
    cr = [(c, f) for c, _, f in offline if c["mode"] == "call"]
    if cr:
        lines += ["", "## Call & Response", "",
                  "Calls of two bars with their last beat free, two bars' rest after each; Answer Length 2 bars, Listen",
                  "Gap half a beat, answers from the next bar. Delay: beats from the end of a call to the answer's",
                  "first note (mean). Overlap: Cadenza's notes still sounding when the next call starts.", "",
                  "| style | delay (beats) | overlap (notes, all cases) |", "|---|---|---|"]
        for style in STYLES:
            sel = [f for c, f in cr if c["style"] == style]
            delays = [f.answer_delay for f in sel if f.answer_delay is not None]
            lines.append(f"| {style} | {num(sum(delays) / len(delays) if delays else None, 2)} | "
                         f"{sum(f.overlap or 0 for f in sel)} |")
    lines += ["", *role_figures(cases_list, takes, shipped_roles())]
    # Every case.
    lines += ["", "## Every case", ""]
    for style in STYLES:
        lines += [f"### {style}", "",
                  "| mode | input | feel | notes | notes/bar | 16th/triplet | 8th | longest off | in scale (chance) | scale cons. | chord tones (chance) | new key | refused/step |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for c, t, f in offline:
            if c["style"] != style:
                continue
            m = t.get("mask") or {}
            lines.append(
                f"| {MODE_NAMES[c['mode']]} | {c['input']} | {label(c)} | {f.notes} | {num(f.notes_per_bar)} | "
                f"{pct(f.grid16_or_triplet)} | {pct(f.grid8)} | {f.longest_off_grid} | {pct(f.in_scale)} "
                f"({pct(f.in_scale_chance)}) | {pct(f.scale_consistency)} | {pct(f.chord_tone)} "
                f"({pct(f.chord_tone_chance)}) | {pct(f.new_key)} | {num(100 * m['mean'] if m else None)}% |")
        lines.append("")
        for mode in MODES:
            sel = [(c["input"] + ("" if label(c) == "quantized" else f" ({label(c)})"), c, t) for c, t, _ in offline
                   if c["style"] == style and c["mode"] == mode]
            if sel:
                pic = pictures / f"{style}-{mode}.png"
                piano_rolls(sel, f"{style}, {MODE_NAMES[mode]}", pic)
                rel = Path("musicianship") / pic.name
                lines.append(f"![{style}, {MODE_NAMES[mode]}]({rel.as_posix()})")
        lines.append("")
    text = "\n".join(lines) + "\n"
    # The Knowing the song section comes from its own run (knowing.py): kept as it was.
    kept = knowing.section_of(out.read_text()) if out.exists() else None
    if kept:
        text = knowing.replace_section(text, kept)
    out.write_text(text)
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cases", help="write the cases")
    c.add_argument("out", type=Path)
    c.add_argument("--quick", action="store_true", help="a few cases (tests)")
    rp = sub.add_parser("role-parts", help="the held-out chorales' parts the role cases play against "
                        "(needs the parsed corpus)")
    rp.add_argument("--out", type=Path, default=ROLE_PARTS)
    r = sub.add_parser("reference", help="the held-out corpus's figures (needs the parsed corpus)")
    r.add_argument("--out", type=Path, default=REFERENCE)
    p = sub.add_parser("report", help="figures and MUSICIANSHIP.md from the takes")
    p.add_argument("cases", type=Path)
    p.add_argument("takes", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--pictures", type=Path, required=True)
    p.add_argument("--command", default="cargo xtask musicianship")
    p.add_argument("--quick-notes-off", action="store_true",
                   help="leave out models/musicianship_notes.md (for takes it was not written about)")
    p.add_argument("--compare", nargs=2, metavar=("TAKES", "NAME"), action="append", default=[],
                   help="takes of the same cases by another model or build, and what to call it (repeatable)")
    a = ap.parse_args(argv)
    if a.cmd == "cases":
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(cases(a.quick)))
        print(f"[musicianship] {len(json.loads(a.out.read_text()))} cases in {a.out}")
    elif a.cmd == "role-parts":
        a.out.write_text(json.dumps(role_parts()) + "\n")
        print(f"[musicianship] wrote {a.out}")
    elif a.cmd == "reference":
        a.out.write_text(json.dumps(reference(), indent=1) + "\n")
        print(f"[musicianship] wrote {a.out}")
    else:
        ref = json.loads(REFERENCE.read_text())
        others = [(json.loads(Path(t).read_text()), name) for t, name in a.compare]
        notes = NOTES.read_text() if NOTES.exists() and not a.quick_notes_off else ""
        report(json.loads(a.cases.read_text()), json.loads(a.takes.read_text()), ref, a.out, a.pictures, a.command,
               others, notes)
        print(f"[musicianship] wrote {a.out} and the pictures in {a.pictures}")


if __name__ == "__main__":
    main()
