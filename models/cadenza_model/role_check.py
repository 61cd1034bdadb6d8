"""Roles, heard: the `cadenza` command line plays a role against one part of held-out chorales
(`generate --role R --prompt PART.mid`), and this says how the result sits in the texture, against
the targets of "Roles":

- bass (against the soprano): Cadenza's note is the lowest sounding at least 90% of its sounding
  time; on strong beats the chord's root or fifth at least 70% of the time;
- melody (against the bass): the highest sounding at least 90% of the time;
- harmony (against the soprano and bass): chord tones at least 70% of its onsets;
- crossings of the player's part: onsets on the wrong side of it, counted.

The chord of a beat is the triad (major or minor) that covers most of the pitch classes sounding
then in the chorale as Bach wrote it (all four parts). Free is measured the same way against the same
parts, for comparison.

    python -m cadenza_model.role_check --cli ../target/release/cadenza --model runs/v8r_export
"""
from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from . import duet

TPB = 24
Note = Tuple[int, int, int]  # (onset, duration, pitch) in ticks
TRIADS = [(r, q) for r in range(12) for q in ((0, 4, 7), (0, 3, 7))]
# The part Cadenza is asked for, and which parts (lowest first) the player plays against it.
ASKED = {"bass": ("bass", [-1]), "melody": ("melody", [0]), "harmony": ("harmony", [0, -1])}


def sounding(notes: Sequence[Note], t: int) -> List[int]:
    return [p for o, d, p in notes if o <= t < o + d]


def triad(pitches: Sequence[int]) -> Optional[Tuple[int, Tuple[int, ...]]]:
    """The triad (root, intervals) covering most of `pitches`' pitch classes, or None."""
    pcs = [p % 12 for p in pitches]
    if not pcs:
        return None
    best = max(TRIADS, key=lambda t: (sum((pc - t[0]) % 12 in t[1] for pc in pcs), -t[0]))
    return best


def measure(cadenza: Sequence[Note], player: Sequence[Note], score: Sequence[Note], role: str,
            beats: int) -> Dict[str, float]:
    """The role figures of Cadenza's part against the player's, the chords from the whole score."""
    lowest = highest = total = 0
    for t in range(0, beats * TPB, TPB // 4):
        mine = sounding(cadenza, t)
        theirs = sounding(player, t)
        if not mine:
            continue
        total += 1
        everything = mine + theirs
        lowest += min(mine) == min(everything)
        highest += max(mine) == max(everything)
    onsets = [(o, p) for o, _, p in cadenza if o < beats * TPB]
    chord_tone = root_fifth = strong = crossings = 0
    for o, p in onsets:
        chord = triad(sounding(score, o))
        theirs = sounding(player, o)
        if chord is not None:
            iv = (p - chord[0]) % 12
            chord_tone += iv in chord[1]
            if o % (2 * TPB) == 0:
                strong += 1
                root_fifth += iv in (0, 7)
        if theirs and ((role == "bass" and p > min(theirs)) or (role == "melody" and p < max(theirs))):
            crossings += 1
    n = max(len(onsets), 1)
    return {"notes": len(onsets), "lowest": lowest / max(total, 1), "highest": highest / max(total, 1),
            "chord tones": chord_tone / n, "root or fifth on strong beats": root_fifth / max(strong, 1),
            "crossings": crossings}


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
         seed: int, tmp: Path) -> Optional[List[Note]]:
    """Cadenza's notes playing `role` against `part`, or None when the model does not play it."""
    clip, out = tmp / "part.mid", tmp / "out.mid"
    write_part(part, clip)
    args = [str(cli), "generate", "--prompt", str(clip), "--role", role, "--style", style,
            "--bars", str(bars), "--seed", str(seed), "--cpu", "--out", str(out)]
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
    a = ap.parse_args(argv)
    held = [p for p in load_pieces(["chorale"])["chorale"][1] if len(duet.parts_by_height(p.notes)) >= 4]
    held = held[:a.pieces]
    beats = a.bars * 4
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for asked, (role, against) in ASKED.items():
            for played_as in (role, "free"):
                sums: Dict[str, float] = {}
                count = 0
                for k, piece in enumerate(held):
                    order = duet.parts_by_height(piece.notes)
                    keep = {order[i] for i in against}
                    score = [n[:3] for n in piece.notes if n[0] < beats * TPB]
                    part = [n[:3] for n in piece.notes if n[3] in keep and n[0] < beats * TPB]
                    notes = play(a.cli, a.model, part, played_as, "chorale", a.bars, k, Path(tmp))
                    if notes is None:
                        break
                    m = measure(notes, part, score, asked, beats)
                    for key, v in m.items():
                        sums[key] = sums.get(key, 0.0) + v
                    count += 1
                if count:
                    rows.append((asked, played_as, count, {k: v / count for k, v in sums.items()}))
    print(f"Roles against held-out chorales ({a.bars} bars each, seed = piece index; "
          f"model {a.model or 'built in'}):")
    print("| asked | played as | pieces | notes | lowest | highest | chord tones | root/fifth on strong beats "
          "| crossings |")
    print("|---|---|---|---|---|---|---|---|---|")
    for asked, played_as, count, m in rows:
        print(f"| {asked} | {played_as} | {count} | {m['notes']:.1f} | {m['lowest']:.0%} | {m['highest']:.0%} "
              f"| {m['chord tones']:.0%} | {m['root or fifth on strong beats']:.0%} | {m['crossings']:.1f} |")


if __name__ == "__main__":
    main()
