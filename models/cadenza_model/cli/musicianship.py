"""`python -m cadenza_model.cli.musicianship cases|role-parts|reference|report`: the command line of the
musicianship benchmark (cadenza_model/musicianship/, whose docstring says what it measures)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import musicianship
from ..musicianship.cases import ROLE_PARTS, cases, role_parts
from ..musicianship.reference import REFERENCE, reference
from ..musicianship.report import NOTES, report


def main(argv=None):
    ap = argparse.ArgumentParser(description=musicianship.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cases", help="write the cases")
    c.add_argument("out", type=Path)
    c.add_argument("--quick", action="store_true", help="a few cases (tests)")
    rp = sub.add_parser("role-parts", help="the held-out chorales' parts the role cases play against "
                        "(needs the parsed corpus)")
    rp.add_argument("--out", type=Path, default=ROLE_PARTS)
    r = sub.add_parser("reference", help="the held-out corpus's figures (needs the parsed corpus)")
    r.add_argument("--out", type=Path, default=REFERENCE)
    p = sub.add_parser("report", help="figures and MUSICIANSHIP.md from the takes")
    p.add_argument("cases", type=Path)
    p.add_argument("takes", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--pictures", type=Path, required=True)
    p.add_argument("--command", default="cargo xtask musicianship")
    p.add_argument("--quick-notes-off", action="store_true",
                   help="leave out models/musicianship_notes.md (for takes it was not written about)")
    p.add_argument("--compare", nargs=2, metavar=("TAKES", "NAME"), action="append", default=[],
                   help="takes of the same cases by another model or build, and what to call it (repeatable)")
    a = ap.parse_args(argv)
    if a.cmd == "cases":
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(cases(a.quick)))
        print(f"[musicianship] {len(json.loads(a.out.read_text()))} cases in {a.out}")
    elif a.cmd == "role-parts":
        a.out.write_text(json.dumps(role_parts()) + "\n")
        print(f"[musicianship] wrote {a.out}")
    elif a.cmd == "reference":
        a.out.write_text(json.dumps(reference(), indent=1) + "\n")
        print(f"[musicianship] wrote {a.out}")
    else:
        ref = json.loads(REFERENCE.read_text())
        others = [(json.loads(Path(t).read_text()), name) for t, name in a.compare]
        notes = NOTES.read_text() if NOTES.exists() and not a.quick_notes_off else ""
        report(json.loads(a.cases.read_text()), json.loads(a.takes.read_text()), ref, a.out, a.pictures, a.command,
               others, notes)
        print(f"[musicianship] wrote {a.out} and the pictures in {a.pictures}")


if __name__ == "__main__":
    main()
