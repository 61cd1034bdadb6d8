"""Cadenza's token vocabulary: beat-relative performance events (Music Transformer style).

This module is the single Python definition of the vocabulary. The Rust tokenizer (src/tokenizer.rs)
mirrors it from the `vocab` block of model.json and is checked against golden fixtures written here
(models/tests/fixtures/golden_tokens.json).

Layout (ids ascending):
    PAD, BOS, EOS                       special
    STYLE_0 .. STYLE_{style_slots-1}    one per style slot (unused slots are free for fine-tuning)
    NOTE_ON_0 .. NOTE_ON_127            a key goes down
    NOTE_OFF_0 .. NOTE_OFF_127          a key goes up
    SHIFT_1 .. SHIFT_{max_shift}        time moves forward by k ticks (1/ticks_per_beat of a beat)

Time is in ticks of a beat, never seconds, so what the model writes follows the host's tempo.
At one instant, note-offs come before note-ons, each in ascending pitch: a canonical order, so one
note list has exactly one token sequence. A gap longer than max_shift ticks is several shifts.
There are no velocity tokens: the corpus has no dynamics; the plugin takes velocities from the
player (or a fixed knob).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, List, Sequence, Tuple

TICKS_PER_BEAT = 24
PITCHES = 128


@dataclass(frozen=True)
class Vocab:
    style_slots: int = 16
    max_shift: int = 48  # two beats per shift token
    ticks_per_beat: int = TICKS_PER_BEAT

    pad: int = 0
    bos: int = 1
    eos: int = 2

    @property
    def style_base(self) -> int:
        return 3

    @property
    def note_on_base(self) -> int:
        return self.style_base + self.style_slots

    @property
    def note_off_base(self) -> int:
        return self.note_on_base + PITCHES

    @property
    def shift_base(self) -> int:
        return self.note_off_base + PITCHES

    @property
    def size(self) -> int:
        return self.shift_base + self.max_shift

    def style(self, slot: int) -> int:
        if not 0 <= slot < self.style_slots:
            raise ValueError(f"style slot {slot} outside 0..{self.style_slots}")
        return self.style_base + slot

    def to_json(self) -> dict:
        """The `vocab` block of model.json. Rust reads exactly these keys."""
        return {
            "size": self.size,
            "pad": self.pad,
            "bos": self.bos,
            "eos": self.eos,
            "style_base": self.style_base,
            "style_slots": self.style_slots,
            "note_on_base": self.note_on_base,
            "note_off_base": self.note_off_base,
            "shift_base": self.shift_base,
            "max_shift": self.max_shift,
            "pitches": PITCHES,
        }

    @staticmethod
    def from_json(d: dict) -> "Vocab":
        v = Vocab(style_slots=d["style_slots"], max_shift=d["max_shift"])
        if v.to_json() != d:
            raise ValueError(f"vocab block does not match this layout: {d} != {v.to_json()}")
        return v


# A note: (onset in ticks, duration in ticks, MIDI pitch).
Note = Tuple[int, int, int]


def notes_to_tokens(notes: Iterable[Note], vocab: Vocab) -> List[int]:
    """Note list -> event tokens (no BOS/style/EOS). Zero or negative durations are dropped."""
    events = []  # (tick, order, pitch): order 0 = off, 1 = on
    for onset, dur, pitch in notes:
        if dur <= 0 or not 0 <= pitch < PITCHES or onset < 0:
            continue
        events.append((onset + dur, 0, pitch))
        events.append((onset, 1, pitch))
    events.sort()
    out: List[int] = []
    now = 0
    sounding = {}
    for tick, order, pitch in events:
        gap = tick - now
        while gap > 0:
            k = min(gap, vocab.max_shift)
            out.append(vocab.shift_base + k - 1)
            gap -= k
        now = tick
        if order == 1:
            # A re-struck key that is still sounding: end the old note first.
            if sounding.get(pitch, 0) > 0:
                out.append(vocab.note_off_base + pitch)
                sounding[pitch] -= 1
            out.append(vocab.note_on_base + pitch)
            sounding[pitch] = sounding.get(pitch, 0) + 1
        else:
            if sounding.get(pitch, 0) > 0:
                out.append(vocab.note_off_base + pitch)
                sounding[pitch] -= 1
    return out


def tokens_to_notes(tokens: Sequence[int], vocab: Vocab) -> List[Note]:
    """Event tokens -> note list. Unmatched offs are ignored; notes still sounding end at the end."""
    now = 0
    open_notes = {}
    notes: List[Note] = []
    for t in tokens:
        if vocab.note_on_base <= t < vocab.note_on_base + PITCHES:
            p = t - vocab.note_on_base
            if p in open_notes:
                notes.append((open_notes[p], now - open_notes[p], p))
            open_notes[p] = now
        elif vocab.note_off_base <= t < vocab.note_off_base + PITCHES:
            p = t - vocab.note_off_base
            if p in open_notes:
                start = open_notes.pop(p)
                notes.append((start, now - start, p))
        elif vocab.shift_base <= t < vocab.shift_base + vocab.max_shift:
            now += t - vocab.shift_base + 1
    for p, start in open_notes.items():
        notes.append((start, now - start, p))
    notes = [n for n in notes if n[1] > 0]
    notes.sort()
    return notes


def transpose(notes: Iterable[Note], semitones: int) -> List[Note]:
    return [(o, d, p + semitones) for o, d, p in notes if 0 <= p + semitones < PITCHES]


def vocab_dict(v: Vocab) -> dict:
    return asdict(v)


def clean_crop(tokens: Sequence[int], vocab: Vocab) -> List[int]:
    """A window cut from a piece, without the note-offs of notes that began before the cut.

    A crop taken mid-piece starts with notes already sounding; their note-offs would teach the model
    to end notes it never heard begin. The plugin's context is cut the same way (re-anchoring keeps a
    style token and the newest half window), so training, evaluation and playing all see clean windows.
    """
    return [tokens[i] for i in clean_crop_indices(tokens, vocab)]


def clean_crop_indices(tokens: Sequence[int], vocab: Vocab) -> List[int]:
    """The positions in `tokens` of the tokens `clean_crop` keeps."""
    sounding = [0] * PITCHES
    out: List[int] = []
    for i, t in enumerate(tokens):
        if vocab.note_on_base <= t < vocab.note_on_base + PITCHES:
            sounding[t - vocab.note_on_base] += 1
        elif vocab.note_off_base <= t < vocab.note_off_base + PITCHES:
            p = t - vocab.note_off_base
            if sounding[p] == 0:
                continue
            sounding[p] -= 1
        out.append(i)
    return out
