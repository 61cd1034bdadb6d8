"""Roles, heard: the `cadenza` command line plays a role against one part of held-out chorales
(`generate --role R --prompt PART.mid`), and `roles.measure` says how the result sits in the texture,
against the targets of "Roles" (see roles.py for the figures). Free is measured the same way against
the same parts, for comparison, and so is the part Bach wrote for the role ("corpus": what the figures
give a chorale's own bass, melody or inner voices).

    python -m cadenza_model.role_check --cli ../target/release/cadenza --model runs/v8r_export
"""
from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import duet
from .roles import TPB, Note, against, mean_rows, measure, table, written


def write_part(part: Sequence[Note], path: Path, tempo: float = 100.0):
    import pretty_midi
    m = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    inst = pretty_midi.Instrument(0, name="part")
    spb = 60.0 / tempo
    inst.notes = [pretty_midi.Note(90, p, o / TPB * spb, (o + d) / TPB * spb) for o, d, p in part]
    m.instruments.append(inst)
    m.write(str(path))


def read_track(path: Path, name: str) -> List[Note]:
    import pretty_midi
    m = pretty_midi.PrettyMIDI(str(path))
    tick = lambda s: int(round(m.time_to_tick(s) * TPB / m.resolution))  # noqa: E731
    return [(tick(n.start), max(1, tick(n.end) - tick(n.start)), n.pitch)
            for inst in m.instruments if inst.name == name for n in inst.notes]


def play(cli: Path, model: Optional[Path], part: Sequence[Note], role: str, style: str, bars: int,
         seed: int, tmp: Path, sampling: Sequence[str] = ()) -> Optional[List[Note]]:
    """Cadenza's notes playing `role` against `part`, or None when the model does not play it."""
    clip, out = tmp / "part.mid", tmp / "out.mid"
    write_part(part, clip)
    args = [str(cli), "generate", "--prompt", str(clip), "--role", role, "--style", style,
            "--bars", str(bars), "--seed", str(seed), "--cpu", "--out", str(out), *sampling]
    if model:
        args += ["--model", str(model)]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        if "does not play" in done.stderr:
            return None
        raise SystemExit(done.stderr)
    return read_track(out, "Cadenza")


def main(argv=None):
    from .data import load_pieces

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
