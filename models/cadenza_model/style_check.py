"""An independent style check of the `cadenza` command line's 16-bar sketches.

Independent of the project's own check (evaluation.py: softmax regression on intervals, durations,
onset gaps and beat phases): MusPy's metrics (pitch range, pitch classes used, polyphony, scale
consistency, pitch and pitch-class entropy, empty beats, groove consistency) and a few texture
figures (notes per beat, note length, longest rest, register), judged by a nearest-neighbour vote
(k = 7, standardised features). It is first scored on real held-out 16-bar excerpts of every style,
then on the sketches, and says per style which features the sketches miss the corpus on most (in
standard deviations of the corpus).

    python -m cadenza_model.cli.style_check --cli ../target/release/cadenza --sketches 20
"""
from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np


TPB = 24
FEATURES = ["pitch range", "pitch classes used", "polyphony", "polyphony rate", "scale consistency",
            "pitch entropy", "pitch-class entropy", "empty-beat rate", "groove consistency",
            "notes per beat", "mean note length (beats)", "short notes (< 1/2 beat)",
            "long notes (>= 2 beats)", "longest rest (beats)", "mean pitch", "pitch spread"]
K = 7
# Excerpts per style: the vote's reference (from up to PIECES training pieces) and the check on
# up to HELD_PIECES held-out pieces. Equal per style: a nearest-neighbour vote over unequal classes leans to the
# larger (with two excerpts a piece, classical's 50 pieces gave it 100 against 800 for the others,
# and 4 of its 6 held-out excerpts read as chorale).
PIECES, TRAIN_EXCERPTS, HELD_PIECES, HELD_EXCERPTS = 400, 800, 60, 60
# A style with fewer held-out pieces than this has its training pieces read too (`by_piece_folds`).
FEW_HELD_PIECES = 20
BEGIN, END = "<!-- style check: begin -->", "<!-- style check: end -->"


def describe(notes: Sequence[Tuple[int, int, int]], bar: int) -> np.ndarray:
    """The features of an excerpt of (onset, duration, pitch) notes in ticks of 1/24 beat."""
    import muspy

    music = muspy.Music(resolution=TPB, tracks=[muspy.Track(notes=[
        muspy.Note(time=int(o), pitch=int(p), duration=max(1, int(d))) for o, d, p in notes])])
    if not notes:
        return np.zeros(len(FEATURES))
    on = np.array([o for o, _, _ in notes], float)
    dur = np.array([d for _, d, _ in notes], float) / TPB
    pitch = np.array([p for _, _, p in notes], float)
    span = max((o + d for o, d, _ in notes)) - min(on)
    rest = 0.0
    reach = min(on)
    for o, d, _ in sorted(notes):
        rest = max(rest, (o - reach) / TPB)
        reach = max(reach, o + d)

    def safe(f, *a):
        try:
            v = float(f(*a))
            return v if np.isfinite(v) else 0.0
        except Exception:
            return 0.0
    return np.array([
        safe(muspy.pitch_range, music), safe(muspy.n_pitch_classes_used, music),
        safe(muspy.polyphony, music), safe(muspy.polyphony_rate, music),
        safe(muspy.scale_consistency, music), safe(muspy.pitch_entropy, music),
        safe(muspy.pitch_class_entropy, music), safe(muspy.empty_beat_rate, music),
        safe(muspy.groove_consistency, music, max(1, bar)),
        len(notes) / max(span / TPB, 1.0), dur.mean(), np.mean(dur < 0.5), np.mean(dur >= 2.0), rest,
        pitch.mean(), pitch.std(),
    ])


class Neighbours:
    """k-nearest-neighbour vote on standardised features."""

    def fit(self, X: np.ndarray, y: np.ndarray):
        self.mu, self.sd = X.mean(0), X.std(0) + 1e-6
        self.Z, self.y = (X - self.mu) / self.sd, y
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self.mu) / self.sd
        d = ((Z[:, None, :] - self.Z[None, :, :]) ** 2).sum(-1)
        near = np.argsort(d, 1)[:, :K]
        votes = self.y[near]
        return np.array([np.bincount(v, minlength=self.y.max() + 1).argmax() for v in votes])


def excerpts(pieces, bars: int, per_piece: int, rng: random.Random):
    """(notes, bar) excerpts of `bars` bars, onsets rebased to 0, parts merged."""
    out = []
    for p in pieces:
        notes = [(o, d, q) for o, d, q, _ in p.notes]
        if not notes:
            continue
        span = bars * p.bar
        end = max(o for o, _, _ in notes)
        for _ in range(per_piece):
            start = rng.randrange(0, max(1, end - span)) // max(1, p.bar) * max(1, p.bar)
            ex = [(o - start, d, q) for o, d, q in notes if start <= o < start + span]
            if len(ex) >= 8:
                out.append((ex, p.bar))
    return out


def balanced(pieces, bars: int, count: int, rng: random.Random):
    """`count` excerpts from `pieces`, as many from each piece as it takes: every style the same
    weight in the vote, however few pieces it has."""
    per_piece = max(1, -(-count // max(1, len(pieces))))
    out = excerpts(pieces, bars, per_piece, rng)
    rng.shuffle(out)
    return out[:count]


def sketch(cli: Path, style: str, seed: int, bars: int, out: Path, model=None) -> List[Tuple[int, int, int]]:
    subprocess.run([str(cli), "generate", "--style", style, "--bars", str(bars), "--seed", str(seed),
                    "--cpu", "--out", str(out)] + (["--model", str(model)] if model else []),
                   check=True, capture_output=True)
    import pretty_midi
    m = pretty_midi.PrettyMIDI(str(out))
    return [(int(round(m.time_to_tick(n.start) * TPB / m.resolution)),
             int(round((m.time_to_tick(n.end) - m.time_to_tick(n.start)) * TPB / m.resolution)), n.pitch)
            for inst in m.instruments for n in inst.notes]


def by_piece_folds(X_other: np.ndarray, y_other: np.ndarray, label: int, pieces, bars: int, folds: int,
                   rng: random.Random, per_piece: int = 20, judged_per_piece: int = 10) -> Tuple[int, int]:
    """A style's real music judged by votes that never saw the piece: its `pieces` split into `folds`
    groups, each group's excerpts judged by a vote whose reference for the style is the other
    groups' excerpts (TRAIN_EXCERPTS of them, as every style has) beside the other styles'
    (`X_other`, `y_other`). For a style with few held-out pieces (classical: 6) this reads its
    training pieces too. -> (excerpts read as the style, excerpts judged)."""
    feats = []
    for p in pieces:
        ex = excerpts([p], bars, per_piece, rng)
        feats.append(np.array([describe(n, b) for n, b in ex]).reshape(len(ex), len(FEATURES)))
    order = list(range(len(pieces)))
    rng.shuffle(order)
    hits = total = 0
    for f in range(folds):
        judged = set(order[f::folds])
        ref = np.concatenate([feats[j] for j in order if j not in judged])
        ref = ref[rng.sample(range(len(ref)), min(len(ref), TRAIN_EXCERPTS))]
        test = np.concatenate([feats[j][:judged_per_piece] for j in judged])
        clf = Neighbours().fit(np.concatenate([X_other, ref]),
                               np.concatenate([y_other, np.full(len(ref), label)]))
        hits += int((clf.predict(test) == label).sum())
        total += len(test)
    return hits, total
