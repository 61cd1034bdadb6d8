"""Your own style: fine-tune the shipped model on a folder of your MIDI files, export a new model.

    python -m cadenza_model.cli.finetune --midi-dir ~/my-tunes --style "my tunes" --out ~/cadenza-my-tunes

Transfer learning, as in the style study this project grew from: the model that already knows the
corpus styles learns yours under a new style token, in minutes on a CPU. The export (model.onnx +
model.json) has your style beside the old ones; point the plugin or `cadenza --model DIR` at it.
One file in ten (at least one) is held out; the report gives its NLL before and after.

A model that knows whose notes are whose (format 4) learns your style as it learned the corpus's:
in duets cut from your files (duet.py), and with roles by track. Each track (part) of a multi-track
file is a part of the texture: the lowest is the bass, the highest the melody, the ones between the
harmony, and Cadenza learns to play each against the others, as far as the model plays roles. Your
style offers the bass and the harmony only when some file has more than one track (a single line
has no part under it); model.json says which roles it plays.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path
from typing import List, Tuple

import torch

from .. import duet
from ..data import Piece
from ..exporting import DEFAULT_MODEL, export_dir, load_onnx_model, write_int8
from ..training import (DuetDataset, StyleDataset, add_fit_arguments, duet_examples, duet_heldout_nll, fit, fit_options,
                       heldout_nll,
                       tokenize_pieces)

MIN_NOTES = 200
MIDI_SUFFIXES = {".mid", ".midi", ".smf"}


def read_midi_folder(folder: Path) -> Tuple[List[Tuple[str, Piece]], List[str]]:
    """Every MIDI file under `folder` -> [(name, piece)] (its notes by track, its bar), and the
    problems met (unreadable files)."""
    from music21 import converter

    from ..data import score_to_part_notes

    pieces, problems = [], []
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
    for p in files:
        try:
            notes, bar = score_to_part_notes(converter.parse(str(p)))
        except Exception as e:  # a broken file: say which and why, keep the others
            problems.append(f"{p.name}: {e}")
            continue
        if notes:
            pieces.append((str(p.relative_to(folder)), Piece(tracks_in_use(notes), bar, p.name)))
        else:
            problems.append(f"{p.name}: no pitched notes")
    return pieces, problems


def tracks_in_use(notes):
    """Part indices renumbered 0.. over the tracks that have notes (an empty conductor track is none)."""
    used = sorted({n[3] for n in notes})
    index = {k: i for i, k in enumerate(used)}
    return [(o, d, p, index[k]) for o, d, p, k in notes]


def style_roles(base_roles: List[str], pieces: List[Piece]) -> List[str]:
    """The roles the new style plays: the model's, but the bass and the harmony only when some file
    has tracks to learn them from (`duet.SINGLE_LINE_ROLES`)."""
    several = any(p.n_parts >= 2 for p in pieces)
    return [r for r in base_roles if several or r in duet.SINGLE_LINE_ROLES]


def merged(piece: Piece):
    """A piece's notes with its tracks merged (onset, duration, pitch), for a model of one stream."""
    return sorted(n[:3] for n in piece.notes)


def split(pieces):
    """Hold out one file in ten by a hash of its name (at least one, when there are two or more)."""
    def h(name):
        return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
    held = [p for p in pieces if h(p[0]) % 10 == 0]
    if not held and len(pieces) >= 2:
        held = [min(pieces, key=lambda p: h(p[0]))]
    train = [p for p in pieces if p not in held]
    return train, held


def music_in(folder: Path, min_notes: int):
    """The readable MIDI files under `folder` (the others named on stderr), and their notes; too
    little music is refused, saying how much there is. -> ([(name, piece)], notes)"""
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder")
    pieces, problems = read_midi_folder(folder)
    for p in problems:
        print(f"[finetune] skipped {p}", file=sys.stderr)
    total = sum(len(p.notes) for _, p in pieces)
    if total < min_notes or len(pieces) < 2:
        raise SystemExit(
            f"too little usable music in {folder}: {len(pieces)} readable MIDI files with {total} notes; "
            f"need at least 2 files and {min_notes} notes (a few minutes of music) to learn a style")
    return pieces, total


def style_slot(styles: List[str], vocab, style: str) -> int:
    """The slot `style` trains in: its own when the model has it, else the next free one (added to
    `styles`)."""
    if style in styles:
        slot = styles.index(style)
        print(f"[finetune] style `{style}` exists (slot {slot}): training it further")
        return slot
    if len(styles) >= vocab.style_slots:
        raise SystemExit(f"the model's {vocab.style_slots} style slots are all taken: {', '.join(styles)}")
    styles.append(style)
    return len(styles) - 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--midi-dir", type=Path, required=True, help="folder of your MIDI files (searched recursively)")
    ap.add_argument("--style", required=True, help="name of the new style, as the plugin will show it")
    ap.add_argument("--out", type=Path, required=True, help="folder for the new model.onnx + model.json")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model to start from (default: the shipped one)")
    add_fit_arguments(ap, lr=3e-4, warmup=0)
    ap.add_argument("--min-notes", type=int, default=MIN_NOTES, help="refuse with fewer usable notes than this")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)

    pieces, total = music_in(a.midi_dir, a.min_notes)
    model, vocab, styles, meta = load_onnx_model(a.model)
    slot = style_slot(styles, vocab, a.style)
    train, held = split(pieces)
    seq = model.cfg.window
    two = bool(getattr(model.cfg, "two_streams", False))
    base_roles = list(meta.get("roles") or ["free"])
    roles = style_roles(base_roles, [p for _, p in pieces]) if two else []
    train_toks = tokenize_pieces([merged(p) for _, p in train], vocab)
    held_toks = tokenize_pieces([merged(p) for _, p in held], vocab)
    tracks = sum(p.n_parts >= 2 for _, p in pieces)
    print(f"[finetune] {a.style}: {len(train)} files for training, {len(held)} held out "
          f"({sum(map(len, train_toks))} / {sum(map(len, held_toks))} tokens); starting from {meta['name']}")
    if two:
        print(f"[finetune] {tracks} of {len(pieces)} files have several tracks; Cadenza learns to play "
              f"against the others as {', '.join(roles)}")

    def measure():
        alone = heldout_nll(model, held_toks, slot, vocab, seq)
        beside = duet_heldout_nll(model, held_duets, vocab) if two and held_duets else None
        return alone, beside

    held_duets = duet_examples([p for _, p in held], slot, vocab, seq, 40) if two else []
    before, before_beside = measure()
    print(f"[finetune] held-out NLL before: {before:.3f} nats/token" + (
        f", beside a player {before_beside:.3f}" if before_beside is not None else ""))
    if two:
        allowed = {duet.ROLES.index(r) for r in base_roles if r in duet.ROLES}
        # A model that hears the chords (format 5) learns the new style told its pieces' own chords
        # as often as it was trained so, so it keeps hearing them.
        ds = DuetDataset({slot: [p for _, p in train]}, vocab, seq, roles=allowed,
                         alone=bool(getattr(model.cfg, "alone", False)),
                         p_chords=duet.P_CHORDS if getattr(model.cfg, "chords", False) else 0.0)
    else:
        ds = StyleDataset({slot: train_toks}, vocab, seq)
    opts = fit_options(a, two, log_every=10, label="finetune")
    res = fit(model, ds, vocab, opts, rng)
    step = res.steps
    model.eval()
    after, after_beside = measure()
    print(f"[finetune] held-out NLL after {step} steps: {after:.3f} nats/token (before {before:.3f})" + (
        f", beside a player {after_beside:.3f} (before {before_beside:.3f})" if after_beside is not None else ""))

    info = {"finetuned_from": meta["name"], "style": a.style, "files": len(pieces), "notes": total,
            "steps": step, "minutes": res.minutes,
            "heldout_nll_before": before, "heldout_nll_after": after, "base_training": meta.get("training", {})}
    if two:
        by_style = {k: v for k, v in (meta.get("roles_by_style") or {}).items() if k != a.style}
        if roles != base_roles:
            by_style[a.style] = roles
        info.update({"roles": base_roles, "roles_by_style": by_style, "files_with_tracks": tracks,
                     "heldout_nll_beside_player_before": before_beside,
                     "heldout_nll_beside_player_after": after_beside})
    info["base_training"].pop("config", None)
    name = f"{meta['name']}+{a.style.replace(' ', '-')}"
    export_dir(model, vocab, styles, name, info, a.out)
    # The int8 graph too, as the shipped model has: the plugin loads it from the folder (half the step time).
    write_int8(a.out, vocab, model.cfg)
    print(f"[finetune] wrote {a.out / 'model.onnx'}, model.int8.onnx and model.json: styles {', '.join(styles)}")


if __name__ == "__main__":
    main()
