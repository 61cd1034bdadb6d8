"""The musicianship benchmark's cases: the inputs (progressions, melodies, each also humanized, and
nobody playing), in every mode and style, and the role cases against held-out chorales' parts, in
the format `cadenza-musicianship` plays."""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from .. import duet, roles


STYLES = ["chorale", "renaissance", "classical", "celtic", "folk"]


MODES = {"duet": 0, "call": 1, "improvise": 2, "continue": 3}


MODE_NAMES = {"duet": "Duet", "call": "Call & Response", "continue": "Continue Clip", "improvise": "Improvise"}


TPB = 24


# Held-out chorales' first bars, by part: what Cadenza plays a role against (written by `role-parts`
# from the corpus, kept in the repository so the cases need no corpus).
ROLE_PARTS = Path(__file__).resolve().parents[2] / "musicianship_roles.json"


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
    path = Path(__file__).resolve().parents[2] / "default" / "model.json"
    return json.loads(path.read_text()).get("roles", ["free"]) if path.exists() else None
