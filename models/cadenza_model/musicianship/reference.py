"""The held-out corpus's figures per style, of Cadenza's side of the same part splits the model
trained on (duet.py): what the benchmark's figures stand beside. Needs the parsed corpus."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

from .cases import STYLES, TPB, CHORD_PCS
from .figures import grid_figures, per_bar, scale_consistency


REFERENCE = Path(__file__).resolve().parents[2] / "musicianship_reference.json"


# ---------------------------------------------------------------------------------------------------
# The held-out corpus's figures


def corpus_split(notes, bar: int, rng: random.Random):
    """(Cadenza's notes, the player's) of a piece as the corpus has it, nothing made up: some of its
    parts the player's and the rest Cadenza's; a single-line tune traded every two bars; one time in
    five all Cadenza's."""
    n_parts = 1 + max((n[3] for n in notes), default=0)
    if rng.random() < 0.2:
        return [n[:3] for n in notes], []
    if n_parts >= 2:
        player = set(rng.sample(range(n_parts), rng.randint(1, n_parts - 1)))
        return [n[:3] for n in notes if n[3] not in player], [n[:3] for n in notes if n[3] in player]
    span = 2 * max(1, bar)
    return ([n[:3] for n in notes if (n[0] // span) % 2 == 1], [n[:3] for n in notes if (n[0] // span) % 2 == 0])


def reference(styles: Sequence[str] = STYLES, splits: int = 4, max_pieces: int = 400) -> dict:
    """The held-out corpus's figures per style, of Cadenza's side of the corpus's own part splits
    (`corpus_split`, seeded)."""
    from . import data, duet

    out = {"made_by": "python -m cadenza_model.cli.musicianship reference", "splits_per_piece": splits, "styles": {}}
    for style in styles:
        held = [p for p in data.load_style(style) if data.is_held_out(p.id)][:max_pieces]
        bars, onsets, consistency, tones, odds = [], [], [], [], []
        for i, piece in enumerate(held):
            for s in range(splits):
                rng = random.Random(7919 * i + s)
                cad, ply = corpus_split(piece.notes, piece.bar, rng)
                cad = duet.drop_doubled(cad, ply)
                if not cad:
                    continue
                on = [o / TPB for o, _, _ in cad]
                bars += per_bar(on, piece.bar / TPB)
                onsets += on
                if s == 0:
                    c = scale_consistency([(o / TPB, d / TPB, p, 0.7) for o, d, p in cad])
                    if c is not None:
                        consistency.append(c)
                player = [(o / TPB, d / TPB, p, 0.7) for o, d, p in ply]
                if len(player) == 0:
                    continue
                # Chord tones, where the player's side sounds a chord.
                starts = sorted(player)
                for o, _, p in cad:
                    b = o / TPB
                    pcs = {k % 12 for bb, ll, k, _ in starts if bb - 1e-6 <= b < bb + ll - 1e-6}
                    if len(pcs) >= CHORD_PCS:
                        tones.append(p % 12 in pcs)
                        odds.append(len(pcs) / 12)
        bars.sort()
        q = lambda x: bars[min(len(bars) - 1, int(x * len(bars)))] if bars else None  # noqa: E731
        ref = {"pieces": len(held), "bars": len(bars), "notes_per_bar": {"p10": q(0.1), "p50": q(0.5), "p90": q(0.9)},
               **grid_figures(onsets), "scale_consistency": sum(consistency) / max(len(consistency), 1)}
        if tones:
            ref.update(chord_tone=sum(tones) / len(tones), chord_tone_chance=sum(odds) / len(odds))
        out["styles"][style] = ref
        print(f"[musicianship] {style}: {ref}")
    return out
