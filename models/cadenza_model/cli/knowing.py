"""`python -m cadenza_model.cli.knowing`: the command line of cadenza_model/knowing.py, whose docstring says what it
does and how it is run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import knowing
from ..knowing import CHORALES, NOTES, attach_pieces, cases, chorale_parts, replace_section, run_cli, section


def main(argv=None):
    ap = argparse.ArgumentParser(description=knowing.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ch = sub.add_parser("chorales", help="the held-out chorales' parts and chords (needs the parsed corpus)")
    ch.add_argument("--out", type=Path, default=CHORALES)
    c = sub.add_parser("cases", help="write the plugin cases")
    c.add_argument("out", type=Path)
    c.add_argument("--quick", action="store_true")
    cl = sub.add_parser("cli", help="play the command-line cases")
    cl.add_argument("out", type=Path)
    cl.add_argument("--cadenza", type=Path, required=True, help="the cadenza program")
    cl.add_argument("--ort", help="CADENZA_ORT_LIB for it")
    cl.add_argument("--model", type=Path, help="a model folder for it (default: the built-in model)")
    r = sub.add_parser("report", help="write the section into MUSICIANSHIP.md")
    r.add_argument("cases", type=Path)
    r.add_argument("takes", type=Path)
    r.add_argument("cli", type=Path, nargs="?")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--model", default="")
    r.add_argument("--notes-off", action="store_true",
                   help="leave out models/knowing_notes.md (for takes it was not written about)")
    a = ap.parse_args(argv)
    if a.cmd == "chorales":
        a.out.write_text(json.dumps(chorale_parts()) + "\n")
        print(f"[knowing] wrote {a.out}")
    elif a.cmd == "cases":
        a.out.parent.mkdir(parents=True, exist_ok=True)
        out = cases(a.quick)
        a.out.write_text(json.dumps(out))
        print(f"[knowing] {len(out)} cases in {a.out}")
    elif a.cmd == "cli":
        takes = run_cli(a.cadenza, a.ort, model=a.model)
        a.out.write_text(json.dumps(takes))
        print(f"[knowing] {len(takes)} command-line takes in {a.out}")
    else:
        cs = json.loads(a.cases.read_text())
        attach_pieces(cs)
        cli = json.loads(a.cli.read_text()) if a.cli else None
        notes = NOTES.read_text() if NOTES.exists() and not a.notes_off else ""
        lines = section(cs, json.loads(a.takes.read_text()), cli, model=a.model, notes=notes)
        doc = a.out.read_text() if a.out.exists() else ""
        a.out.write_text(replace_section(doc, lines))
        print("\n".join(lines))


if __name__ == "__main__":
    main()
