"""Roles, heard: the `cadenza` command line plays a role against one part of held-out chorales
(`generate --role R --prompt PART.mid`), and `roles.measure` says how the result sits in the texture,
against the targets of "Roles" (see roles.py for the figures). Free is measured the same way against
the same parts, for comparison, and so is the part Bach wrote for the role ("corpus": what the figures
give a chorale's own bass, melody or inner voices).

    python -m cadenza_model.cli.role_check --cli ../target/release/cadenza --model runs/v8r_export
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List, Optional, Sequence

from .roles import TPB, Note


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
