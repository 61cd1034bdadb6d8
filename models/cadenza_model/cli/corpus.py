"""`python -m cadenza_model.cli.corpus`: the command line of cadenza_model/data.py, whose docstring says what it
does and how it is run."""

from __future__ import annotations

import argparse
import os

from ..data import STYLE_ORDER, load_corpus


def main(argv=None):
    ap = argparse.ArgumentParser(description="Parse music21's corpus into the note cache.")
    ap.add_argument("--styles", nargs="*", default=STYLE_ORDER)
    ap.add_argument("--max-files", type=int, default=None, help="cap per style (quick runs)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--expand-repeats", action="store_true", help="play repeat signs out (cached apart)")
    a = ap.parse_args(argv)
    for s, (tr, ho) in load_corpus(a.styles, a.max_files, a.workers, a.expand_repeats).items():
        print(f"{s}: {len(tr)} train pieces ({sum(map(len, tr))} notes), {len(ho)} held out ({sum(map(len, ho))} notes)")


if __name__ == "__main__":
    main()
