"""The chord track a model of format 5 hears: the chord now and the chord coming, per token. No I/O here.

A musician who knows the song knows which chord comes on the next beat before it sounds; a partner
that decides each note before it hears the beat's chord cannot (models/EVALUATION.md, "The chord's
lead"). Format 5 tells the model what a chart, or a progression remembered from an earlier pass, says:

- the chord at each token's time (the time after the token, as the beat phase is): its root, one-hot,
  and its pitch classes;
- the next chord that differs from it: root and pitch classes, and how many whole beats until it
  begins (0..UNTIL_BUCKETS-1, the last bucket for that many or more);
- all zeros where nothing is known (no chord track, and no progression learned): the model then plays
  as a format 4 model does, from what it hears.

In training the chords come from each piece's own harmony (`piece_chords`): per beat, the major or
minor triad covering the most sounding time of all its parts (the triad of roles.py, weighted by how
long each pitch class sounds in the beat), equal neighbours merged; a single tune's are the half-bar
diatonic triads its block chords are drawn from (duet.block_chords), and so are those of an example
whose player holds block chords. A share of examples is given none, so the model still plays without a
chord track. The Rust engine writes the same rows (src/features.rs, `ChordFeature`).

Packed for the graph as [now root 12 | now classes 12 | next root 12 | next classes 12 | until 8].
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence, Tuple

TPB = 24
# Beats until the next chord, one-hot: 0, 1, ... 7 or more.
UNTIL_BUCKETS = 8
WIDTH = 12 * 4 + UNTIL_BUCKETS
MAJOR, MINOR = (0, 4, 7), (0, 3, 7)
TRIADS = [(r, q) for r in range(12) for q in (MAJOR, MINOR)]


class Chord(NamedTuple):
    """A chord: its root (pitch class) and its pitch classes (bit pc set)."""
    root: int
    classes: int


class Segment(NamedTuple):
    """A stretch of one chord from tick `start` on (None: nothing sounds there)."""
    start: int
    chord: Optional[Chord]


def triad_chord(root: int, quality: Sequence[int]) -> Chord:
    return Chord(root % 12, sum(1 << ((root + i) % 12) for i in quality))


def best_triad(weights: Sequence[float]) -> Optional[Chord]:
    """The major or minor triad covering the most of `weights` (12, per pitch class); on a tie the
    lower root, major before minor; None when nothing sounds."""
    if not any(w > 0 for w in weights):
        return None
    root, quality = max(TRIADS, key=lambda t: (sum(weights[(t[0] + i) % 12] for i in t[1]), -t[0], t[1] == MAJOR))
    return triad_chord(root, quality)


def merge(segments: Sequence[Segment]) -> List[Segment]:
    """Equal neighbours as one segment."""
    out: List[Segment] = []
    for s in segments:
        if not out or out[-1].chord != s.chord:
            out.append(s)
    return out


def beat_chords(notes: Sequence[Tuple[int, int, int]], span: int = TPB) -> List[Segment]:
    """Per `span` ticks, the triad covering the most sounding time of `notes` (onset, duration, pitch),
    merged."""
    weights = {}
    for o, d, p in notes:
        for k in range(o // span, (o + d - 1) // span + 1):
            overlap = min(o + d, (k + 1) * span) - max(o, k * span)
            if overlap > 0:
                weights.setdefault(k, [0.0] * 12)[p % 12] += overlap
    if not weights:
        return []
    last = max(weights)
    return merge([Segment(k * span, best_triad(weights.get(k, [0.0] * 12))) for k in range(last + 1)])


def transposed(segments: Sequence[Segment], k: int) -> List[Segment]:
    def move(c: Optional[Chord]) -> Optional[Chord]:
        if c is None:
            return None
        classes = sum(1 << ((pc + k) % 12) for pc in range(12) if c.classes >> pc & 1)
        return Chord((c.root + k) % 12, classes)
    return [Segment(s.start, move(s.chord)) for s in segments]


def chord_rows(token_ticks: Sequence[int], segments: Sequence[Segment]) -> List[Tuple[int, int, int, int, int]]:
    """Per token (the tick after it): (now root, now classes, next root, next classes, until bucket),
    with root -1 and classes 0 where unknown, and until -1 where no next chord is known."""
    starts = [s.start for s in segments]
    out = []
    import bisect
    for t in token_ticks:
        i = bisect.bisect_right(starts, t) - 1
        now = segments[i].chord if i >= 0 else None
        nxt, until = None, -1
        for s in segments[max(i + 1, 0):]:
            if s.chord is not None and s.chord != now:
                nxt, until = s.chord, min(UNTIL_BUCKETS - 1, (s.start - t) // TPB)
                break
        out.append((now.root if now else -1, now.classes if now else 0,
                     nxt.root if nxt else -1, nxt.classes if nxt else 0, until))
    return out


def row_floats(row: Tuple[int, int, int, int, int]) -> List[float]:
    """One chord row as the graph's WIDTH floats."""
    now_root, now_classes, next_root, next_classes, until = row
    out = [0.0] * WIDTH
    if now_root >= 0:
        out[now_root] = 1.0
    for pc in range(12):
        if now_classes >> pc & 1:
            out[12 + pc] = 1.0
        if next_classes >> pc & 1:
            out[36 + pc] = 1.0
    if next_root >= 0:
        out[24 + next_root] = 1.0
    if until >= 0:
        out[48 + until] = 1.0
    return out
