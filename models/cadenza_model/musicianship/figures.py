"""The musicianship benchmark's figures of Cadenza's part in a take: notes per bar, the grids, in
scale, chord tones, the new key, Call & Response timing, the mask, the first note; the roles'
figures; and the targets they are held to."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from .. import roles
from .cases import TPB, SCALES, CHORD_PCS, Note, Input, inputs


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
