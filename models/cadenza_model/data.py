"""music21's corpus -> style-labelled note lists, parsed once and cached.

A note is (onset, duration, pitch) in ticks of 1/24 beat (quarter note = one beat). The cache keeps each
note's part too, (onset, duration, pitch, part), and each piece's bar length, so that a piece's parts
can be split between "the player" and Cadenza (format 4, `duet.py`). Parsing the whole corpus takes
about a CPU-hour, so each style is cached in models/data/cache/<style>.parts.json.gz, and a cache made
with a file cap is reused by any later run asking for at most that many files.

Held-out split: by piece, from a hash of the piece's id, so it never changes between runs.

Repeats: music21 keeps repeat signs as written; `--expand-repeats` plays them out (a chorale's first
two phrases twice, a tune's AABB), cached apart in <style>.expanded.json.gz.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .vocab import TICKS_PER_BEAT, Note

# A note with the index of the part it belongs to, in the score's part order (0 = the top staff).
PartNote = Tuple[int, int, int, int]
CACHE_VERSION = 2

CACHE_DIR = Path(__file__).resolve().parent.parent / "data" / "cache"

# Style name -> corpus folders. Names are what a musician would pick in the plugin.
STYLES: Dict[str, List[str]] = {
    "chorale": ["bach"],
    "renaissance": ["palestrina", "josquin", "monteverdi", "lusitano", "luca"],
    "classical": ["beethoven", "mozart", "haydn", "schubert", "weber", "handel", "corelli", "cpebach"],
    "celtic": ["ryansMammoth", "oneills1850", "airdsAirs"],
    "folk": ["essenFolksong", "miscFolk"],
}
STYLE_ORDER = list(STYLES)
# Styles whose pieces are single tunes: no bass or inner parts to learn a role from (duet.py gives
# them block chords drawn from the tune's harmony, so they play free, melody and harmony).
SINGLE_LINE_STYLES = ("celtic", "folk")
HELD_OUT_PERCENT = 10


def is_held_out(piece_id: str) -> bool:
    h = int(hashlib.sha1(piece_id.encode()).hexdigest()[:8], 16)
    return h % 100 < HELD_OUT_PERCENT


def corpus_files(style: str) -> List[str]:
    from music21 import corpus

    folders = set(STYLES[style])
    out = []
    for p in corpus.corpora.CoreCorpus().getPaths():
        rel = str(p).split("/corpus/", 1)[-1]
        if rel.split("/", 1)[0] in folders:
            out.append(str(p))
    return sorted(out)


def score_to_notes(score, expand_repeats: bool = False) -> List[Note]:
    """All of a score's notes, parts merged: (onset, duration, pitch), sorted."""
    return sorted(n[:3] for n in score_to_part_notes(score, expand_repeats)[0])


def score_to_part_notes(score, expand_repeats: bool = False) -> Tuple[List[PartNote], int]:
    """A score's notes with their part index, sorted, and its bar length in ticks (from its first
    time signature; 4 beats when it has none)."""
    notes: List[PartNote] = []
    if expand_repeats:
        try:
            score = score.expandRepeats()
        except Exception as e:  # repeat signs music21 cannot follow: the piece as written, said so
            print(f"[data] repeats kept as written: {e}", file=sys.stderr)
    try:
        score = score.stripTies()
    except Exception:
        pass
    parts = list(getattr(score, "parts", [])) or [score]
    for part_index, part in enumerate(parts):
        for el in part.flatten().notes:
            onset = round(float(el.offset) * TICKS_PER_BEAT)
            dur = round(float(el.duration.quarterLength) * TICKS_PER_BEAT)
            if dur <= 0 or onset < 0:
                continue  # grace notes
            for p in getattr(el, "pitches", []):
                notes.append((onset, dur, int(p.midi), part_index))
    notes.sort()
    return notes, bar_ticks(score)


def bar_ticks(score) -> int:
    try:
        ts = next(iter(score.recurse().getElementsByClass("TimeSignature")), None)
        if ts is not None:
            return max(1, round(float(ts.barDuration.quarterLength) * TICKS_PER_BEAT))
    except Exception:
        pass
    return 4 * TICKS_PER_BEAT


def parse_file(path: str, expand_repeats: bool = False) -> List[Tuple[str, List[PartNote], int]]:
    """One corpus file -> [(piece id, notes with parts, bar ticks)]: an opus (abc collections) gives
    several pieces."""
    from music21 import corpus, stream

    try:
        parsed = corpus.parse(path)
    except Exception as e:  # a broken file in the corpus: skip it, say so
        print(f"[data] skip {path}: {e}", file=sys.stderr)
        return []
    rel = path.split("/corpus/", 1)[-1]
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    out = []
    for i, s in enumerate(scores):
        try:
            n, bar = score_to_part_notes(s, expand_repeats)
        except Exception as e:
            print(f"[data] skip {rel}#{i}: {e}", file=sys.stderr)
            continue
        if len(n) >= 8:
            out.append((f"{rel}#{i}", n, bar))
    return out


def _cache_path(style: str, expand_repeats: bool = False) -> Path:
    return CACHE_DIR / f"{style}{'.expanded' if expand_repeats else ''}.parts.json.gz"


@dataclass
class Piece:
    """One piece: its notes with their parts (PartNote), its bar length in ticks, and its id."""
    notes: List[PartNote]
    bar: int
    id: str = ""

    @property
    def n_parts(self) -> int:
        return 1 + max((n[3] for n in self.notes), default=0)


def load_style(style: str, max_files: Optional[int] = None, workers: int = 2,
               expand_repeats: bool = False) -> List[Piece]:
    """Pieces of one style, from the cache when it covers the request, else parsed and cached."""
    path = _cache_path(style, expand_repeats)
    if path.exists():
        with gzip.open(path, "rt") as f:
            cached = json.load(f)
        if cached.get("version") == CACHE_VERSION and (
                cached["max_files"] is None or (max_files is not None and max_files <= cached["max_files"])):
            files = set(cached["files"][:max_files] if max_files else cached["files"])
            return [Piece([tuple(n) for n in notes], bar, pid) for pid, notes, bar in cached["pieces"]
                    if pid.split("#")[0] in files]
    files = corpus_files(style)
    if max_files is not None:
        # Spread the cap over the style's folders, not just the first one.
        step = max(1, len(files) // max_files)
        files = files[::step][:max_files]
    t0 = time.time()
    pieces: List[Tuple[str, List[PartNote], int]] = []
    with mp.Pool(workers) as pool:
        for i, res in enumerate(pool.imap(functools.partial(parse_file, expand_repeats=expand_repeats), files,
                                          chunksize=4)):
            pieces.extend(res)
            if (i + 1) % 20 == 0 or i + 1 == len(files):
                print(f"[data] {style}: {i + 1}/{len(files)} files, {len(pieces)} pieces, {time.time() - t0:.0f}s", flush=True)
    rel_files = [f.split("/corpus/", 1)[-1] for f in files]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        json.dump({"version": CACHE_VERSION, "max_files": max_files, "files": rel_files, "pieces": pieces}, f)
    return [Piece(list(n), bar, pid) for pid, n, bar in pieces]


def load_pieces(styles: List[str], max_files: Optional[int] = None, workers: int = 2, expand_repeats: bool = False):
    """{style: (train pieces, held-out pieces)} as `Piece`s, parts kept."""
    out = {}
    for s in styles:
        pieces = load_style(s, max_files, workers, expand_repeats)
        out[s] = ([p for p in pieces if not is_held_out(p.id)], [p for p in pieces if is_held_out(p.id)])
    return out


# A part whose onsets fall off the lattice of 32nds and sextuplets (a multiple of 3 or 4 ticks) more
# than this share of the time has drifted: its file's durations come up a tick or two short in some
# bar, and every note after it sits off the grid of the other parts. Measured on the cache: Mozart's
# K458/4 violins a tick before the viola and cello from bar 101 on, after a rest a tick short (1,174
# onsets one tick before a sixteenth, the phase the renaissance answer drifted to), a Beethoven and
# three Haydn movements, four O'Neill tunes; no part in chorale, renaissance and folk. Tuplets and
# ornaments the music has stay far under it (a celtic tune's triplet sixteenths: 6 onsets of 96).
DRIFT_SHARE = 0.2


def drifted(piece: Piece) -> bool:
    """Whether any of the piece's parts has drifted off the grid (`DRIFT_SHARE`)."""
    onsets: Dict[int, int] = {}
    off: Dict[int, int] = {}
    for onset, _, _, part in piece.notes:
        onsets[part] = onsets.get(part, 0) + 1
        if onset % 3 and onset % 4:
            off[part] = off.get(part, 0) + 1
    return any(off.get(part, 0) > DRIFT_SHARE * n for part, n in onsets.items())


def without_drifted(pieces: List[Piece], style: str = "") -> List[Piece]:
    """The pieces to learn from: those with a drifted part left out, and said so."""
    kept, left = [], []
    for p in pieces:
        (left if drifted(p) else kept).append(p)
    if left:
        print(f"[data] {style}: {len(left)} pieces left out, a part drifted off the grid: "
              f"{', '.join(p.id for p in left)}", file=sys.stderr)
    return kept


def load_corpus(styles: List[str], max_files: Optional[int] = None, workers: int = 2, expand_repeats: bool = False):
    """{style: (train pieces, held-out pieces)}; each piece is a note list, its parts merged."""
    return {s: ([merged(p) for p in tr], [merged(p) for p in ho])
            for s, (tr, ho) in load_pieces(styles, max_files, workers, expand_repeats).items()}


def merged(piece: Piece) -> List[Note]:
    """A piece's notes with the parts merged, as formats 1-3 learned them."""
    return sorted(n[:3] for n in piece.notes)
