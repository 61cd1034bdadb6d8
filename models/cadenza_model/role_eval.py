"""What hearing the player is worth, by role: the held-out NLL of Cadenza's note-ons when it plays the
melody, the bass or the inner parts of a score, given the other parts (as the player's) and without
them, for every style whose pieces have parts. Written into models/EVALUATION.md between its
"roles" markers (the rest of the file is evaluation.py's render).

    python -m cadenza_model.cli.role_eval --model runs/v8r.pt --before runs/v7.pt
"""
from __future__ import annotations

from pathlib import Path
from typing import List

import torch

from . import duet
from .training import build_model, note_on_nll, role_examples
from .vocab import Vocab

HERE = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- roles: begin -->", "<!-- roles: end -->"
# Styles whose corpus has parts (celtic and folk are single tunes: melody and free only).
PART_STYLES = ("chorale", "renaissance", "classical")
ROLE_ROWS = (duet.MELODY, duet.BASS, duet.HARMONY)


def duet_parts(piece) -> list:
    """A piece's parts, lowest first, as (onset, duration, pitch) notes."""
    return [[n[:3] for n in piece.notes if n[3] == q] for q in duet.parts_by_height(piece.notes)]


def load(path: Path):
    """(model, whether it was trained with roles)."""
    ck = torch.load(path, map_location="cpu")
    _, model = build_model(ck.get("arch", "transformer"), ck["config"])
    model.load_state_dict(ck["state_dict"])
    return model.eval(), len((ck.get("train_info") or {}).get("roles") or []) > 1


def table(models, held, styles, vocab: Vocab, seq: int, n: int) -> List[str]:
    """Rows per style and role: for each model, NLL with the other parts and without, and the gain."""
    head = "| style | role | examples | " + " | ".join(
        f"{name}: given the other parts | {name}: alone | {name}: gain" for name, _, _ in models) + " |"
    lines = [head, "|" + "---|" * (3 + 3 * len(models))]
    for style in styles:
        slot, pieces = held[style]
        for role in ROLE_ROWS:
            given, alone = role_examples(pieces, slot, vocab, seq, role, n)
            if not given:
                continue
            cells = []
            for _, model, as_role in models:
                a = note_on_nll(model, given, vocab, as_role)
                b = note_on_nll(model, alone, vocab, as_role)
                cells.append(f"{a:.3f} | {b:.3f} | {100 * (b - a) / b:+.1f}%")
            lines.append(f"| {style} | {duet.ROLES[role]} | {len(given)} | " + " | ".join(cells) + " |")
    return lines
