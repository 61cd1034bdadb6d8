"""`python -m cadenza_model.cli.role_check`: the command line of cadenza_model/role_check.py, whose docstring says what it
does and how it is run."""

from __future__ import annotations

import argparse
import tempfile
from typing import Dict
from pathlib import Path

from .. import role_check
from ..roles import TPB, against, mean_rows, measure, table, written
from .. import duet
from ..role_check import play


def main(argv=None):
    from .data import load_pieces

    ap = argparse.ArgumentParser(description=role_check.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", type=Path, required=True, help="the `cadenza` program")
    ap.add_argument("--model", type=Path, help="a model folder (default: the built-in model)")
    ap.add_argument("--pieces", type=int, default=12, help="held-out chorales")
    ap.add_argument("--bars", type=int, default=4)
    ap.add_argument("--temperature", type=float, help="passed to `cadenza generate` (default its own)")
    ap.add_argument("--top-p", type=float, help="passed to `cadenza generate` (default its own)")
    a = ap.parse_args(argv)
    sampling = [*(["--temperature", str(a.temperature)] if a.temperature else []),
                *(["--top-p", str(a.top_p)] if a.top_p else [])]
    held = [p for p in load_pieces(["chorale"])["chorale"][1] if len(duet.parts_by_height(p.notes)) >= 4]
    held = held[:a.pieces]
    beats = a.bars * 4
    results: Dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for asked, role in (("bass", "bass"), ("melody", "melody"), ("harmony", "harmony")):
            for played_as in (role, "free", "corpus"):
                ms = results.setdefault((asked, played_as), [])
                for k, piece in enumerate(held):
                    order = duet.parts_by_height(piece.notes)
                    keep = against(order, asked)
                    score = [n[:3] for n in piece.notes if n[0] < beats * TPB]
                    part = [n[:3] for n in piece.notes if n[3] in keep and n[0] < beats * TPB]
                    if played_as == "corpus":
                        notes = [n[:3] for n in piece.notes if n[3] in written(order, asked) and n[0] < beats * TPB]
                    else:
                        notes = play(a.cli, a.model, part, played_as, "chorale", a.bars, k, Path(tmp), sampling)
                    if notes is None:
                        break
                    ms.append(measure(notes, part, score, asked, beats))
    print(f"Roles against held-out chorales ({a.bars} bars each, seed = piece index; "
          f"model {a.model or 'built in'}):")
    print("\n".join(table(mean_rows(results))))


if __name__ == "__main__":
    main()
