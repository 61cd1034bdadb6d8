"""Two streams in one sequence (model format 4): the player's notes and Cadenza's, and what the model
learns from them. No I/O here.

The sequence is the one timeline of format 3 (note-on, note-off, shifts of 1..max_shift ticks); every
token also says whose it is (`owners`: 0 Cadenza, 1 the player; shifts are nobody's and carry 0).

Order at one tick: Cadenza's note-offs and note-ons first, then the player's (each offs before ons, by
pitch). The engine learns of a played note only after it sounded, so Cadenza's notes on a tick are
always planned before the player's notes on that tick are heard; training sees the same order.

What the model learns (`targets`): it predicts only Cadenza's tokens.
- A Cadenza note token: cross-entropy.
- A player token is never predicted. It says that Cadenza has nothing more on this tick (its events
  there came first), so Cadenza's next token is some shift: -log sum_k p(shift k).
- A shift that ends where the player acts is cut short: Cadenza meant to wait at least j ticks, how
  much longer is unknown (censored): -log sum_{k>j} p(shift k). This matches the engine, which
  withdraws what Cadenza planned after a played note and lets it decide again after it. A shift of
  max_shift ticks ("wait the most, then decide again") is an ordinary target.
- Other shifts: cross-entropy.

Training examples come from the corpus's parts (`split_parts`): in a piece of several parts, some
parts are the player's and the rest Cadenza's; single-line tunes trade phrases (a few bars each, the
player first: a window that holds a phrase of Cadenza's holds the player's it answers; else, alone, it
rested for a player's turn that never came), or
play against themselves a bar or two later as a canon (at the unison or the octave below: the only
second voice these styles have), or the player is silent; any piece may be all Cadenza's (playing
alone). A Cadenza note that would start on a key the player holds is left out: those keys are never
Cadenza's to strike.

A player who holds chords a bar at a time is in none of these: so any piece also comes as its melody
(the top part, or the tune) over block chords drawn from its own harmony (`block_chords`: per half
bar, the major or minor triad that covers most of what sounds, held under the melody), the chords the
player's; or the other way round, Cadenza comping with those chords under the player's melody. Most
examples have Cadenza play on through the player's notes: v6, trained with more trading, canons it
followed and late joins, learned to wait for the player to stop, and beside a player who never did it
hardly played.

Cadenza must also begin after a short silence in which nobody plays (a reaction lead, a call and
response answer due after the call's last beat): so some windows open with up to a beat of silence,
and some traded phrases end a beat early, as a call does; a model that never saw it took a silence to
mean waiting for the player, and rested on. Longer silences (up to two bars, as tried first) taught
the opposite: alone, it waited 3 to 16 beats before its first note, or all 8 bars.

Cadenza's own past may be wrong where the player's is right (`astray`): in the corpus both parts
always agree, so a model taught only on the corpus may take its key and chords from either, and took
them from its own notes, the more of them: playing a role, one wrong chord of its own early on and it
stayed in that key against the player's (v8r's harmony against a chorale in C minor: E minor, A
major, F# minor for four bars). So in some examples where both play, Cadenza's notes before a point
are moved by a few semitones, nothing is learned from them, and from that point on it plays its part
as written: what it learns there is to follow the player's key, not its own.

Either may begin a duet: so in some examples Cadenza joins in only after the player has begun, and in
as many the player joins in after Cadenza began (`example`). Without the first, the only examples in
which the player plays while Cadenza has not yet are the traded phrases, and a model trained so waits
for the player's turn to end, in a duet forever; with only the first, a model alone waits for a
player who does not come.
"""
from __future__ import annotations

import bisect
import random
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import chords
from .vocab import PITCHES, Note, Vocab

CADENZA, PLAYER = 0, 1
# The part Cadenza plays (format 4's role slots, in this order; model.json lists the roles a model
# was trained for). Free: any part, or all of them.
FREE, MELODY, BASS, HARMONY = 0, 1, 2, 3
ROLES = ("free", "melody", "bass", "harmony")
# The roles a single line (a tune with nothing under it) teaches: no bass is written under it, and
# its only harmony is the block chords drawn from it (`block_chords`), no part anybody wrote; so a
# style of single tunes offers free and the melody.
SINGLE_LINE_ROLES = ("free", "melody")
# An example in which Cadenza plays alone, nobody else ever: no role slot on the style token. A model
# trained so (ModelConfig.alone) knows it must sound every part itself; others read it as free. (Free
# alone and free beside a player who has not come in yet look the same to a model without it: v8's
# 16-bar chorale sketches kept three voices of four at every point of the sketch, v5, trained alone
# only, nearly four.)
ALONE = -1
# How often a piece of several parts is split by a role (Cadenza the top part, the lowest, or inner
# ones, against some of the others), and how often an example whose split is a role says free
# instead (free stays what it always was: whatever part Cadenza has).
P_ROLE_MULTI = 0.35
P_ROLE_AS_FREE = 0.25
# How often a tune over the player's block chords (a single tune's, or a score's top part) says free:
# a free Cadenza beside someone holding chords plays a tune over them. These examples are where Free
# learns to follow a player's chords, and the role models that said melody over them most of the
# time followed the pop progression's chords less than v7, in which all of them said free: v8r (a
# single tune's always melody) 51% of its notes in celtic against v7's 57%; v8 after 11 minutes of
# that data (a single tune's half the time, a score's a quarter) 43% in chorale and 42% in celtic at seed 1
# against v7's 58% and 58%.
P_OVER_CHORDS_AS_FREE = 0.75
# How often a role split gives the player all the other parts (else only the outer part opposite):
# the harmony a bass or an inner part must fit is in the other parts. At one half, v8r's bass found
# the key but not the chords (roots or fifths on strong beats 18%).
P_ALL_OTHER_PARTS = 0.7
# What `targets` asks of each position's prediction.
CROSS_ENTROPY, CENSORED, IGNORED = 0, 1, 2

# How often an example is Cadenza alone, and how often a piece of several parts trades bars instead of
# splitting its parts.
P_ALONE = 0.2
P_TRADE_MULTI = 0.05
TRADE_BARS = (1, 2, 4)
# Single-line tunes: how often they play as a canon (else they trade phrases), and how often Cadenza
# leads it. (v6 learned to wait from the examples where Cadenza waits for the player, trading, a canon
# it follows, a late join: beside a player who never stops it hardly played. Cadenza keeps playing
# through the player's notes in most examples now.)
P_CANON = 0.6
P_CANON_CADENZA_LEADS = 0.65
CANON_BARS = (1, 2)
# How often one side holds block chords under the other's melody (multi-part pieces, single-line
# tunes), and how often the chords are Cadenza's (it comps under the player's melody).
P_CHORDS_MULTI = 0.25
P_CHORDS_SINGLE = 0.45
P_CHORDS_UNDER = 0.4
MAJOR, MINOR = (0, 4, 7), (0, 3, 7)
# The diatonic triads of a major and a minor key, (degree in semitones, quality), the likeliest first.
DIATONIC = {
    "major": [(0, MAJOR), (7, MAJOR), (5, MAJOR), (9, MINOR), (2, MINOR), (4, MINOR)],
    "minor": [(0, MINOR), (7, MAJOR), (5, MINOR), (8, MAJOR), (3, MAJOR), (10, MAJOR), (7, MINOR)],
}
SCALE = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10, 11)}
# How often a window opens with a silence, and how long (beats); how often a traded phrase of the
# player's leaves its last beat free.
P_LEAD_SILENCE = 0.1
LEAD_SILENCE_BEATS = (0.25, 1.0)
P_SHORT_CALL = 0.5
# How often one joins in after the other began, when both play, how often that one is Cadenza, and how
# late (beats). Beside a player Cadenza always begins after the player's first note (it cannot know it
# before it hears it): so it joins soon, as in the plugin, where a model that saw long waits (0.5-8
# beats, as the player's) sat silent beside held chords.
P_JOIN = 0.35
# How often Cadenza's past has gone astray (moved by ASTRAY_SEMITONES) where both play, and how late in
# Cadenza's notes in the window it comes back (a share of them).
P_ASTRAY = 0.3
ASTRAY_SEMITONES = (-6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6)
ASTRAY_UNTIL = (0.25, 0.75)
P_CADENZA_LATE = 0.5
JOIN_BEATS = (0.5, 8.0)
CADENZA_JOIN_BEATS = (0.25, 2.0)
# Format 5: how often an example whose chord track is known and that is a role leaves the player out
# (Cadenza plays its part from the chart alone: `cadenza generate --chords` without a prompt).
P_CHART_ONLY = 0.15
# Format 5: how often an example is told its chord track (the rest are told none, so the model plays
# without one as a format 4 model does).
P_CHORDS = 0.65


def split_parts(notes: Sequence[Tuple[int, int, int, int]], bar: int, rng: random.Random,
                p_alone: float = P_ALONE) -> Tuple[List[Note], List[Note]]:
    """(Cadenza's notes, the player's notes) of a piece's part-labelled notes (onset, dur, pitch, part)."""
    cad, ply, _, _, _ = _split(notes, bar, rng, p_alone)
    return cad, ply


def parts_by_height(notes: Sequence[Tuple[int, int, int, int]]) -> List[int]:
    """The piece's parts that have notes, lowest first (by mean pitch)."""
    parts = sorted({n[3] for n in notes})
    return sorted(parts, key=lambda k: _mean([n[2] for n in notes if n[3] == k]))


def role_of(cadenza_parts: set, by_height: Sequence[int]) -> int:
    """The role of a split in which Cadenza has `cadenza_parts` (the player the rest): the top part
    alone is the melody, the lowest alone the bass, inner parts alone harmony; anything else free."""
    if len(by_height) < 2 or not cadenza_parts:
        return FREE
    top, bottom = by_height[-1], by_height[0]
    if cadenza_parts == {top}:
        return MELODY
    if cadenza_parts == {bottom}:
        return BASS
    if top not in cadenza_parts and bottom not in cadenza_parts:
        return HARMONY
    return FREE


def role_split(notes: Sequence[Tuple[int, int, int, int]], by_height: Sequence[int], role: int,
               rng: random.Random) -> Tuple[List[Note], List[Note]]:
    """Cadenza's notes in `role` (the top part, the lowest, or the inner ones: all of them or one),
    against the player's: all the other parts (`P_ALL_OTHER_PARTS`), or the outer part opposite (the
    soprano given and the bass asked for, the bass given and the melody asked for; the melody given
    and the inner parts asked for)."""
    top, bottom, inner = by_height[-1], by_height[0], list(by_height[1:-1])
    if role == MELODY:
        cad = {top}
    elif role == BASS:
        cad = {bottom}
    else:
        cad = set(inner) if rng.random() < 0.5 else {rng.choice(inner)}
    rest = [k for k in by_height if k not in cad]
    if rng.random() < P_ALL_OTHER_PARTS:
        ply = set(rest)
    else:
        ply = {bottom} if role == MELODY else {top}
    return ([n[:3] for n in notes if n[3] in cad], [n[:3] for n in notes if n[3] in ply])


def _split(notes: Sequence[Tuple[int, int, int, int]], bar: int, rng: random.Random,
           p_alone: float) -> Tuple[List[Note], List[Note], Optional[int], int, bool]:
    """`split_parts`, the length of a traded phrase in ticks where the sides trade (else None), the
    role Cadenza's part plays (`role_of`; free when it is not one part of a score's texture), and
    whether it is a tune over the player's block chords."""
    return _split_blocks(notes, bar, rng, p_alone)[:5]


def _split_blocks(notes: Sequence[Tuple[int, int, int, int]], bar: int, rng: random.Random,
                  p_alone: float) -> Tuple[List[Note], List[Note], Optional[int], int, bool, bool]:
    """`_split`, and whether one side holds block chords (`melody_over_chords`, either way round)."""
    n_parts = 1 + max((n[3] for n in notes), default=0)
    r = rng.random()
    if r < p_alone:
        return [n[:3] for n in notes], [], None, ALONE, False, False
    if rng.random() < (P_CHORDS_MULTI if n_parts >= 2 else P_CHORDS_SINGLE):
        melody, blocks = melody_over_chords(notes, bar)
        if rng.random() < P_CHORDS_UNDER:
            return blocks, melody, None, HARMONY, False, True
        return melody, blocks, None, MELODY, True, True
    by_height = parts_by_height(notes) if n_parts >= 2 else []
    if len(by_height) >= 2 and rng.random() < P_ROLE_MULTI:
        role = rng.choice((MELODY, BASS, HARMONY) if len(by_height) >= 3 else (MELODY, BASS))
        cad, ply = role_split(notes, by_height, role, rng)
        return cad, ply, None, role, False, False
    if n_parts >= 2 and r >= p_alone + P_TRADE_MULTI:
        k = rng.randint(1, n_parts - 1)
        player = set(rng.sample(range(n_parts), k))
        cad = [n[:3] for n in notes if n[3] not in player]
        ply = [n[:3] for n in notes if n[3] in player]
        return cad, ply, None, role_of(set(range(n_parts)) - player, by_height), False, False
    if n_parts == 1 and rng.random() < P_CANON:
        # The tune against itself a bar or two later, at the unison or the octave below; either
        # side may lead.
        delay = max(1, bar) * rng.choice(CANON_BARS)
        octave = rng.choice((0, -12))
        lead = [n[:3] for n in notes]
        follow = [(o + delay, d, p + octave) for o, d, p, _ in notes if 0 <= p + octave < PITCHES]
        return ((lead, follow) if rng.random() < P_CANON_CADENZA_LEADS else (follow, lead)) + (None, FREE, False, False)
    # Trading phrases: `bars` bars each, the player first (a phrase of Cadenza's answers one of the
    # player's; `example` keeps the player's before it in the window); the player's phrases may leave
    # their last beat free, as a call does.
    span = max(1, bar) * rng.choice(TRADE_BARS)
    short = rng.random() < P_SHORT_CALL
    cad, ply = [], []
    for n in notes:
        if (n[0] // span) % 2 == 1:
            cad.append(n[:3])
        elif not short:
            ply.append(n[:3])
        elif n[0] % span < span - 24:
            end = (n[0] // span + 1) * span - 24
            ply.append((n[0], min(n[1], end - n[0]), n[2]))
    return cad, ply, span, FREE, False, False


def _mean(xs) -> float:
    return sum(xs) / len(xs) if xs else -1.0


# A piece's melody and block chords, by the identity of its note list (the same every time it is drawn).
# Per piece: (its notes, bar) -> (the notes object, melody, chords). The notes object is kept so that
# its id is not reused by another list while the entry lives (a key of id alone could then answer
# for a different piece).
_OVER_CHORDS: Dict[Tuple[int, int], Tuple[object, List[Note], List[Note]]] = {}


def melody_over_chords(notes: Sequence[Tuple[int, int, int, int]], bar: int) -> Tuple[List[Note], List[Note]]:
    """(the top part, highest on average, as Cadenza's; block chords of the whole piece per half bar,
    the player's). Remembered per piece."""
    key = (id(notes), bar)
    if key not in _OVER_CHORDS:
        n_parts = 1 + max((n[3] for n in notes), default=0)
        top = max(range(n_parts), key=lambda k: _mean([n[2] for n in notes if n[3] == k]))
        melody = [n[:3] for n in notes if n[3] == top]
        _OVER_CHORDS[key] = (notes, melody, block_chords([n[:3] for n in notes], melody, max(1, bar // 2)))
    _, melody, chords = _OVER_CHORDS[key]
    return list(melody), list(chords)


def block_chords(notes: Sequence[Note], melody: Sequence[Note], span: int) -> List[Note]:
    """Block chords, one per `span` ticks in which something sounds: the chords of `span_triads`, the
    root in the bass (C2-B2) and the three tones close under the melody's lowest note in the span (else
    under middle C)."""
    lowest: Dict[int, int] = {}
    for o, d, p in melody:
        for k in range(o // span, (o + d - 1) // span + 1):
            lowest[k] = min(lowest.get(k, 128), p)
    out = []
    for k, (root, quality) in span_triads(notes, span):
        ceiling = lowest.get(k, 60)
        out.append((k * span, span, 36 + root if root >= 4 else 48 + root))
        for iv in quality:
            pc = (root + iv) % 12
            pitch = ceiling - 1 - (ceiling - 1 - pc) % 12  # the highest of its pitch class below
            if pitch > 36 + 11:
                out.append((k * span, span, pitch))
    return out


def span_triads(notes: Sequence[Note], span: int) -> List[Tuple[int, Tuple[int, int, int]]]:
    """(span index, (root, quality)) for each `span` ticks in which something sounds: of the diatonic
    triads of the piece's key (the major or minor scale covering the most sounding time), the one whose
    pitch classes cover the most sounding time of `notes` there (ties: I, V, IV... first)."""
    if not notes:
        return []
    total = [0.0] * 12
    for o, d, p in notes:
        total[p % 12] += d
    tonic, mode = max(((t, m) for t in range(12) for m in ("major", "minor")),
                      key=lambda k: sum(total[(k[0] + iv) % 12] for iv in SCALE[k[1]]))
    triads = [((tonic + deg) % 12, q) for deg, q in DIATONIC[mode]]
    # Sounding time per span and pitch class: one pass.
    weights: Dict[int, List[float]] = {}
    for o, d, p in notes:
        for k in range(o // span, (o + d - 1) // span + 1):
            overlap = min(o + d, (k + 1) * span) - max(o, k * span)
            if overlap > 0:
                weights.setdefault(k, [0.0] * 12)[p % 12] += overlap
    return [(k, max(triads, key=lambda t: sum(weights[k][(t[0] + iv) % 12] for iv in t[1])))
            for k in sorted(weights)]


def block_harmony(notes: Sequence[Tuple[int, int, int, int]], bar: int) -> List[chords.Segment]:
    """The chord track of a piece's block chords (`melody_over_chords`): its half-bar diatonic
    triads, a span where nothing sounds unknown. Remembered per piece."""
    key = (id(notes), -bar)
    if key not in _HARMONY:
        _HARMONY[key] = (notes, _block_harmony(notes, bar))
    return _HARMONY[key][1]


def _block_harmony(notes: Sequence[Tuple[int, int, int, int]], bar: int) -> List[chords.Segment]:
    span = max(1, bar // 2)
    spans = span_triads([n[:3] for n in notes], span)
    out, last = [], None
    for k, (root, quality) in spans:
        if last is not None and k > last + 1:
            out.append(chords.Segment((last + 1) * span, None))
        out.append(chords.Segment(k * span, chords.triad_chord(root, quality)))
        last = k
    return chords.merge(out)


def piece_harmony(notes: Sequence[Tuple[int, int, int, int]], bar: int) -> List[chords.Segment]:
    """A piece's own chord track (chords.py): per beat, the triad of all its parts; a single tune's
    the diatonic triads of its block chords (one line's notes alone name no chord)."""
    key = (id(notes), bar)
    if key not in _HARMONY:
        n_parts = 1 + max((n[3] for n in notes), default=0)
        harmony = block_harmony(notes, bar) if n_parts == 1 else chords.beat_chords([n[:3] for n in notes])
        _HARMONY[key] = (notes, harmony)
    return _HARMONY[key][1]


# A piece's own chord track, by the identity of its note list (as _OVER_CHORDS).
_HARMONY: Dict[Tuple[int, int], Tuple[object, List[chords.Segment]]] = {}


def drop_doubled(cadenza: Sequence[Note], player: Sequence[Note]) -> List[Note]:
    """Cadenza's notes without those that start while the player holds the same key (the player's notes
    on that very tick come after Cadenza's, so they do not count)."""
    spans: Dict[int, List[Tuple[int, int]]] = {}
    for o, d, p in player:
        spans.setdefault(p, []).append((o, o + d))
    for s in spans.values():
        s.sort()
    starts = {p: [a for a, _ in s] for p, s in spans.items()}
    out = []
    for o, d, p in cadenza:
        s = spans.get(p)
        if s:
            i = bisect.bisect_left(starts[p], o) - 1  # the last player note starting before o
            if i >= 0 and s[i][0] < o < s[i][1]:
                continue
        out.append((o, d, p))
    return out


def duet_tokens(cadenza: Sequence[Note], player: Sequence[Note], vocab: Vocab,
                start: int = 0) -> Tuple[List[int], List[int]]:
    """Both streams -> (tokens, owners), time counted from tick `start` (notes before it are left out).

    At one tick: Cadenza's offs, Cadenza's ons, the player's offs, the player's ons, each by pitch. A
    key struck again by the same owner while it sounds ends first. A stream's notes never end the other
    stream's notes."""
    events = []  # (tick, owner, kind 0 off / 1 on, pitch)
    for owner, notes in ((CADENZA, cadenza), (PLAYER, player)):
        for o, d, p in notes:
            if d <= 0 or not 0 <= p < PITCHES or o < start:
                continue
            events.append((o + d, owner, 0, p))
            events.append((o, owner, 1, p))
    events.sort()
    tokens: List[int] = []
    owners: List[int] = []
    now = start
    sounding = [[0] * PITCHES, [0] * PITCHES]
    for tick, owner, kind, p in events:
        gap = tick - now
        while gap > 0:
            k = min(gap, vocab.max_shift)
            tokens.append(vocab.shift_base + k - 1)
            owners.append(CADENZA)
            gap -= k
        now = tick
        mine = sounding[owner]
        if kind == 1:
            if mine[p] > 0:
                tokens.append(vocab.note_off_base + p)
                owners.append(owner)
                mine[p] -= 1
            tokens.append(vocab.note_on_base + p)
            owners.append(owner)
            mine[p] += 1
        elif mine[p] > 0:
            tokens.append(vocab.note_off_base + p)
            owners.append(owner)
            mine[p] -= 1
    return tokens, owners


def targets(tokens: Sequence[int], owners: Sequence[int], vocab: Vocab) -> Tuple[List[int], List[int]]:
    """For each position i < len-1, how the prediction of token i+1 is scored: (kind, j) with kind
    CROSS_ENTROPY, CENSORED (Cadenza's next token is a shift of more than j ticks) or IGNORED."""
    kinds, js = [], []
    shift_end = vocab.shift_base + vocab.max_shift
    for i in range(len(tokens) - 1):
        nxt = tokens[i + 1]
        is_shift = vocab.shift_base <= nxt < shift_end
        if nxt < vocab.note_on_base:  # pad, BOS, EOS, style: nothing to learn
            kinds.append(IGNORED)
            js.append(0)
        elif not is_shift and owners[i + 1] == PLAYER:
            kinds.append(CENSORED)
            js.append(0)
        elif is_shift and nxt - vocab.shift_base + 1 < vocab.max_shift and i + 2 < len(tokens) \
                and owners[i + 2] == PLAYER and not vocab.shift_base <= tokens[i + 2] < shift_end:
            kinds.append(CENSORED)
            js.append(nxt - vocab.shift_base + 1)
        else:
            kinds.append(CROSS_ENTROPY)
            js.append(0)
    return kinds, js


def transpose_notes(notes: Sequence[Note], k: int) -> List[Note]:
    return [(o, d, p + k) for o, d, p in notes if 0 <= p + k < PITCHES]


def example(notes: Sequence[Tuple[int, int, int, int]], bar: int, vocab: Vocab, n_tokens: int,
            rng: random.Random, transpose: int = 5, p_alone: float = P_ALONE):
    """One example from a piece: (tokens, owners, start tick) of at most `n_tokens` tokens, a random
    crop of the two streams (notes begun before the crop are not in it, as `clean_crop` cuts
    windows), transposed by up to `transpose` semitones; Cadenza's part never astray (every token is
    scored: the held-out examples)."""
    ex = role_example(notes, bar, vocab, n_tokens, rng, transpose, p_alone, p_astray=0.0)
    return ex.tokens, ex.owners, ex.start


class RoleExample(NamedTuple):
    """One example: tokens and owners, the tick before the first token, the role Cadenza plays, the
    first token to learn from, and the chord track the model is told (chords.py; None: none)."""
    tokens: List[int]
    owners: List[int]
    start: int
    role: int
    learn_from: int
    chords: Optional[List[chords.Segment]] = None


def role_example(notes: Sequence[Tuple[int, int, int, int]], bar: int, vocab: Vocab, n_tokens: int,
                 rng: random.Random, transpose: int = 5, p_alone: float = P_ALONE, p_astray: float = P_ASTRAY,
                 p_chords: float = 0.0, p_chords_alone: Optional[float] = None) -> RoleExample:
    """`example`, the role Cadenza plays in it (free, a quarter of the time, for a split of a score's
    parts that is a role: free keeps meaning any part; three times in four for a tune over the
    player's block chords; never for Cadenza's chords under a single tune), the first token to learn
    from (0 but where Cadenza's past went `astray`), and, with probability `p_chords` (`p_chords_alone`
    for an example of Cadenza alone, when given), the chord track (format 5: the piece's own harmony,
    `piece_harmony`, or the block chords where one side holds them); some of those examples that are a
    role keep the chart and leave the player out (`P_CHART_ONLY`: a bass line or a comp for a
    progression, nobody else playing)."""
    cad, ply, trade_span, role, over_chords, blocks = _split_blocks(notes, bar, rng, p_alone)
    harmony = None
    told = p_chords if p_chords_alone is None or role != ALONE else p_chords_alone
    if p_chords > 0 and rng.random() < told:
        harmony = block_harmony(notes, bar) if blocks else piece_harmony(notes, bar)
        if role in (MELODY, BASS, HARMONY) and rng.random() < P_CHART_ONLY:
            ply = []
    n_parts = 1 + max((n[3] for n in notes), default=0)
    # A part of a score's texture may still say free, and so may a tune over the player's chords (most
    # of the time); Cadenza's block chords under a single tune never do: free Cadenza alone in
    # celtic played chords the tunes never have (style_check.py: polyphony 1.31 against 1.00), learned
    # from comping it was never asked for.
    if role not in (FREE, ALONE) and (n_parts >= 2 or over_chords) \
            and rng.random() < (P_OVER_CHORDS_AS_FREE if over_chords else P_ROLE_AS_FREE):
        role = FREE
    k = rng.randint(-transpose, transpose)
    lo = min((n[2] for n in notes), default=60)
    hi = max((n[2] for n in notes), default=60)
    k = max(-lo, min(k, PITCHES - 1 - hi))
    cad, ply = transpose_notes(cad, k), transpose_notes(ply, k)
    cad = drop_doubled(cad, ply)
    joins = bool(cad and ply) and rng.random() < P_JOIN
    onsets = sorted({n[0] for n in cad} | {n[0] for n in ply})
    if not onsets:
        return RoleExample([], [], 0, role, 0)
    # Start on a random onset (the piece's start one time in ten), or a little before it, so a window
    # may open with a rest as the plugin's window may.
    i = 0 if rng.random() < 0.1 else rng.randrange(len(onsets))
    start = onsets[i]
    if trade_span and (start // trade_span) % 2 == 1:
        # A traded phrase of Cadenza's answers the player's before it: so the window holds that one.
        # (A window that opened on Cadenza's phrase, nobody heard before it, taught it to rest for a
        # player's turn when alone: it played 3 notes in 8 bars.)
        start = (start // trade_span - 1) * trade_span
    silent_until = start
    if rng.random() < P_LEAD_SILENCE:
        # Nobody plays for a while, then the music from onsets[i] on.
        lo, hi = LEAD_SILENCE_BEATS
        start -= int(rng.uniform(lo, hi) * 24)
    elif i > 0 and rng.random() < 0.5:
        start -= rng.randrange(0, onsets[i] - onsets[i - 1])
    # Enough notes for the window: a note is two tokens and some shifts.
    j = bisect.bisect_left(onsets, start)
    end = onsets[min(len(onsets) - 1, j + n_tokens // 2)] + 1
    if joins:
        # One joins in a while after the other's first note in the window.
        cadenza_late = rng.random() < P_CADENZA_LATE
        first = min((n[0] for n in (ply if cadenza_late else cad) if n[0] >= start), default=start)
        lo, hi = CADENZA_JOIN_BEATS if cadenza_late else JOIN_BEATS
        join = first + int(rng.uniform(lo, hi) * 24)
        if cadenza_late:
            cad = [n for n in cad if n[0] >= join]
        else:
            ply = [n for n in ply if n[0] >= join]
    window = lambda ns: [n for n in ns if silent_until <= n[0] < end]  # noqa: E731
    cad, ply = window(cad), window(ply)
    toks, owners = duet_tokens(cad, ply, vocab, start)
    toks, owners = toks[:n_tokens], owners[:n_tokens]
    until = None
    if p_astray > 0 and cad and ply and rng.random() < p_astray:
        # Back on its part within the window the model sees.
        until, cad = astray(cad, rng, before=tick_at(toks, vocab, start))
        cad = drop_doubled(cad, ply)
        toks, owners = duet_tokens(cad, ply, vocab, start)
        toks, owners = toks[:n_tokens], owners[:n_tokens]
    learn_from = 0 if until is None else first_at(toks, vocab, start, until)
    return RoleExample(toks, owners, start, role, learn_from,
                       None if harmony is None else chords.transposed(harmony, k))


def astray(cad: Sequence[Note], rng: random.Random, before: Optional[int] = None) -> Tuple[int, List[Note]]:
    """Cadenza's notes that begin before some onset (one before `before`) moved by a few semitones:
    (that onset, the notes)."""
    onsets = sorted({n[0] for n in cad if before is None or n[0] < before}) or sorted({n[0] for n in cad})
    lo, hi = ASTRAY_UNTIL
    until = onsets[min(len(onsets) - 1, int(rng.uniform(lo, hi) * len(onsets)))]
    k = rng.choice(ASTRAY_SEMITONES)
    moved = [(o, d, p + k) if o < until else (o, d, p) for o, d, p in cad]
    return until, [n for n in moved if 0 <= n[2] < PITCHES]


def tick_at(tokens: Sequence[int], vocab: Vocab, start: int) -> int:
    """The tick after the last of `tokens` (time counted from `start`)."""
    return start + sum(t - vocab.shift_base + 1 for t in tokens if vocab.shift_base <= t < vocab.shift_base + vocab.max_shift)


def first_at(tokens: Sequence[int], vocab: Vocab, start: int, tick: int) -> int:
    """The index of the first token at or after `tick` (time counted from `start`)."""
    now = start
    for i, t in enumerate(tokens):
        if now >= tick:
            return i
        if vocab.shift_base <= t < vocab.shift_base + vocab.max_shift:
            now += t - vocab.shift_base + 1
    return len(tokens)
