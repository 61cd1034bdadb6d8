"""What a role sounds like in the texture, measured: Cadenza's part against the player's and against the
score it came from (the chords as the composer wrote them). No I/O here: `role_check` (through the
command line) and `musicianship` (through the plugin) use it.

For each role asked (against which of a score's parts, lowest first):
- bass, against the soprano: Cadenza's note is the lowest sounding (target: 90% of its sounding
  time); on strong beats the chord's root or fifth (target 70%);
- melody, against the bass: the highest sounding (target 90%);
- harmony, against the soprano and bass: chord tones (target 70% of its onsets);
- crossings of the player's part: onsets on the wrong side of it, counted;
- consonant with the player: the share of sixteenths on which every interval between Cadenza's
  sounding notes and the player's is a unison, third, fifth or sixth (mod 12), or a fourth between
  upper voices: what a listener hears of the two parts together, whatever chord the composer meant.

The chord of an onset is the triad (major or minor) covering most of the pitch classes sounding then
in the score (all its parts). Chance for a pitch class drawn at random: chord tones 25%, root or fifth
17%; consonant with one note of the player's 50%.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

TPB = 24
Note = Tuple[int, int, int]  # (onset, duration, pitch) in ticks
TRIADS = [(r, q) for r in range(12) for q in ((0, 4, 7), (0, 3, 7))]
CONSONANT = (0, 3, 4, 7, 8, 9)
# The part asked for, and which of the score's parts (lowest first) the player plays against it.
ASKED = {"bass": [-1], "melody": [0], "harmony": [0, -1]}
# Settings measured beside those (name -> the role asked), in which the player plays every part the
# composer did not write for the role. A bass under the upper parts is the bass under a player's
# chords: the chord of each onset sounds, as the composer wrote it, but for the bass note itself.
SETTINGS = {"bass under the upper parts": "bass"}
# Where each figure aims (None: counted, no target).
TARGETS = {"bass": {"lowest": 0.9, "root or fifth on strong beats": 0.7},
           "melody": {"highest": 0.9}, "harmony": {"chord tones": 0.7}}


def written(by_height: Sequence[int], asked: str) -> set:
    """The parts the composer wrote for the role asked: the lowest, the highest, or the inner ones."""
    return {"bass": {by_height[0]}, "melody": {by_height[-1]}, "harmony": set(by_height[1:-1])}[asked]


def role_of(setting: str) -> str:
    """The role asked in `setting` (a role, or a name in SETTINGS)."""
    return SETTINGS.get(setting, setting)


def against(by_height: Sequence[int], asked: str) -> set:
    """The parts the player plays when `asked` (a role, or a name in SETTINGS) is Cadenza's."""
    if asked in SETTINGS:
        return set(by_height) - written(by_height, SETTINGS[asked])
    return {by_height[i] for i in ASKED[asked]}


def sounding(notes: Sequence[Note], t: int) -> List[int]:
    return [p for o, d, p in notes if o <= t < o + d]


def triad(pitches: Sequence[int]) -> Optional[Tuple[int, Tuple[int, ...]]]:
    """The triad (root, intervals) covering most of `pitches`' pitch classes, or None."""
    pcs = [p % 12 for p in pitches]
    if not pcs:
        return None
    return max(TRIADS, key=lambda t: (sum((pc - t[0]) % 12 in t[1] for pc in pcs), -t[0]))


def consonant_pair(a: int, b: int, bass: int) -> bool:
    """Two sounding notes agree: a unison, third, fifth or sixth (mod 12) between them, or a fourth
    between upper voices (a fourth over the bass is the dissonance of common practice)."""
    lo, hi = min(a, b), max(a, b)
    up = (hi - lo) % 12
    return up in CONSONANT or (up == 5 and lo != bass)


def measure(cadenza: Sequence[Note], player: Sequence[Note], score: Sequence[Note], asked: str,
            beats: int) -> Dict[str, float]:
    """The role figures of Cadenza's part against the player's over `beats` beats, the chords from
    the whole score."""
    lowest = highest = total = both = consonant = 0
    for t in range(0, beats * TPB, TPB // 4):
        mine = sounding(cadenza, t)
        theirs = sounding(player, t)
        if not mine:
            continue
        total += 1
        everything = mine + theirs
        lowest += min(mine) == min(everything)
        highest += max(mine) == max(everything)
        if theirs:
            both += 1
            consonant += all(consonant_pair(a, b, min(everything)) for a in mine for b in theirs)
    onsets = [(o, p) for o, _, p in cadenza if o < beats * TPB]
    chord_tone = root_fifth = strong = crossings = 0
    for o, p in onsets:
        chord = triad(sounding(score, o))
        theirs = sounding(player, o)
        if chord is not None:
            iv = (p - chord[0]) % 12
            chord_tone += iv in chord[1]
            if o % (2 * TPB) == 0:
                strong += 1
                root_fifth += iv in (0, 7)
        if theirs and ((asked == "bass" and p > min(theirs)) or (asked == "melody" and p < max(theirs))):
            crossings += 1
    share = lambda a, b: a / b if b else None  # noqa: E731  (nothing to measure: no figure)
    return {"notes": len(onsets), "lowest": share(lowest, total), "highest": share(highest, total),
            "chord tones": share(chord_tone, len(onsets)), "root or fifth on strong beats": share(root_fifth, strong),
            "consonant with the player": share(consonant, both), "crossings": crossings}


# A second, a seventh or a tritone (mod 12): what `dissonance` counts.
DISSONANT = (1, 2, 6, 10, 11)


def dissonance(cadenza: Sequence[Note], player: Sequence[Note], beats: int) -> Optional[float]:
    """The share of sixteenths on which Cadenza's notes and the player's both sound and some pair of
    them makes a second, a seventh or a tritone (mod 12); None where they never sound together."""
    both = clash = 0
    for t in range(0, beats * TPB, TPB // 4):
        mine, theirs = sounding(cadenza, t), sounding(player, t)
        if mine and theirs:
            both += 1
            clash += any((a - b) % 12 in DISSONANT for a in mine for b in theirs)
    return clash / both if both else None


def line(notes: Sequence[Note], top: bool) -> List[Tuple[int, int]]:
    """A part's line: at each onset, its highest (`top`) or lowest note sounding then, as (tick, key),
    a note held on counted once."""
    out: List[Tuple[int, int]] = []
    for t in sorted({o for o, _, _ in notes}):
        now = sounding(notes, t)
        if now:
            key = max(now) if top else min(now)
            if not out or out[-1][1] != key:
                out.append((t, key))
    return out


def parallels(lower: Sequence[Tuple[int, int]], upper: Sequence[Tuple[int, int]]) -> Tuple[int, int]:
    """(parallel fifths and octaves, shared moves) between two lines (`line`): a shared move is both
    lines moving to a new key at the same tick; it is parallel when both move the same way and the
    interval between them is the same fifth or octave (mod 12, unison included) before and after."""
    moves = {t: k for t, k in upper}
    before_upper = {}
    prev = None
    for t, k in upper:
        before_upper[t] = prev
        prev = k
    shared = parallel = 0
    prev_low = None
    for t, k in lower:
        if prev_low is not None and t in moves and before_upper.get(t) is not None:
            a0, a1, b0, b1 = prev_low, k, before_upper[t], moves[t]
            shared += 1
            same_way = (a1 - a0) * (b1 - b0) > 0
            parallel += same_way and (b0 - a0) % 12 in (0, 7) and (b0 - a0) % 12 == (b1 - a1) % 12
        prev_low = k
    return parallel, shared


FIGURES = ("lowest", "highest", "chord tones", "root or fifth on strong beats", "consonant with the player")


def table(rows: Sequence[Tuple[str, str, int, Dict[str, Optional[float]]]]) -> List[str]:
    """Markdown rows of (asked: a role or a setting, played as, pieces, mean figures); ✓/✗ where a figure
    has a target and Cadenza played the role asked. "silent": pieces in which Cadenza played nothing (its shares are
    of the others)."""
    lines = ["| asked | played as | pieces | silent | notes | lowest | highest | chord tones "
             "| root/fifth on strong beats | consonant with the player | crossings |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for asked, played_as, count, m in rows:
        cells = []
        for key in FIGURES:
            goal = TARGETS.get(role_of(asked), {}).get(key)
            if m[key] is None:
                cells.append("–")
                continue
            mark = "" if goal is None or played_as != role_of(asked) else (" ✓" if m[key] >= goal else " ✗")
            cells.append(f"{m[key]:.0%}{mark}")
        lines.append(f"| {asked} | {played_as} | {count} | {m['silent']:.0f} | {m['notes']:.1f} | "
                     + " | ".join(cells) + f" | {m['crossings']:.1f} |")
    return lines


def mean_rows(results: Dict[Tuple[str, str], List[Dict[str, Optional[float]]]]):
    """(asked, played as) -> figures per piece, as table rows: counts averaged over every piece,
    shares over the pieces that have them, and how many pieces were silent."""
    def mean(ms, k):
        v = [m[k] for m in ms if m[k] is not None]
        return sum(v) / len(v) if v else None
    return [(asked, played, len(ms), {**{k: mean(ms, k) for k in ms[0]},
                                      "silent": sum(m["notes"] == 0 for m in ms)})
            for (asked, played), ms in results.items() if ms]


def heard_chord(player: Sequence[Note], t: int) -> Optional[Tuple[int, Tuple[int, ...]]]:
    """The chord a partner who decides before tick `t` has heard of the player's part: the triad
    covering most of the keys sounding just before `t` (counted twice) and the player's last 12
    notes begun before it, as the engine's lead takes it (Follow::chord)."""
    held = sounding(player, t - 1)
    recent = [p for o, _, p in sorted(player) if o < t][-12:]
    return triad(held + held + recent)


def before_the_beat(scores: Sequence[Sequence[Sequence[Note]]]) -> Dict[str, float]:
    """What a part that chooses its note before it hears the beat's chord can reach, over `scores`
    (each a list of parts, lowest first, of four or more parts): the chord of an onset is the triad of
    all the parts there, as `measure` takes it; the player's part is the soprano (bass against it),
    the upper parts (bass under them), or soprano and bass (the inner voices).
    - bass, strong beats (every half bar of 4/4) after the first: the heard chord's root is the
      onset chord's root or fifth; the heard chord's root or fifth, whichever is right (the best a
      bass choosing between the two can do); and the composer's bass.
    - inner voices' onsets: the heard triad is the chord; a tone drawn from it is a chord tone (the
      mean over its three); its best tone is; and the composer's inner voices."""
    tally: Dict[str, List[float]] = {}

    def add(key: str, value: float):
        tally.setdefault(key, []).append(value)

    pcs = lambda t: {(t[0] + i) % 12 for i in t[1]}  # noqa: E731
    for parts in scores:
        if len(parts) < 4:
            continue
        score = [n for q in parts for n in q]
        end = max(o + d for o, d, _ in score)
        for name, player in (("soprano", parts[-1]), ("upper parts", [n for q in parts[1:] for n in q])):
            for t in range(2 * TPB, end, 2 * TPB):
                chord = triad(sounding(score, t))
                heard = heard_chord(player, t)
                if chord is None or heard is None:
                    continue
                right = lambda pc: (pc - chord[0]) % 12 in (0, 7)  # noqa: E731
                add(f"bass against the {name}: the heard root", right(heard[0]))
                add(f"bass against the {name}: the heard root or fifth, the right one",
                    right(heard[0]) or right((heard[0] + 7) % 12))
                if name == "soprano":
                    written_bass = sounding(parts[0], t)
                    if written_bass:
                        add("bass: the composer's", right(written_bass[0]))
        outer = parts[0] + parts[-1]
        for o, _, p in (n for q in parts[1:-1] for n in q):
            chord, heard = triad(sounding(score, o)), heard_chord(outer, o)
            if chord is None or heard is None or o == 0:
                continue
            good, tones = pcs(chord), pcs(heard)
            add("inner voices: the heard triad is the chord", heard == chord)
            add("inner voices: a tone of the heard triad, at random", len(tones & good) / 3)
            add("inner voices: the heard triad's best tone", bool(tones & good))
            add("inner voices: the composer's", p % 12 in good)
    return {k: sum(v) / len(v) for k, v in tally.items()}
