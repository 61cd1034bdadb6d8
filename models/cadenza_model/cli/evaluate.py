"""`python -m cadenza_model.cli.evaluate`: models/EVALUATION.md from the measures in
cadenza_model/evaluation.py (whose docstring says what they are), through its one render."""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

from .. import evaluation
from ..evaluation import (EVAL_NOTES, Measured, measure_beside_player, measure_nll, measure_style, measure_transfer,
                          render, subject)
from ..sections import others_sections


def main(argv=None):
    ap = argparse.ArgumentParser(description=evaluation.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transformer", type=Path, required=True)
    ap.add_argument("--lstm", type=Path)
    ap.add_argument("--out", type=Path, default=evaluation.HERE / "EVALUATION.md")
    ap.add_argument("--samples", type=int, default=10, help="generated samples per style for the style check")
    ap.add_argument("--sample-tokens", type=int, default=400)
    ap.add_argument("--max-chunks", type=int, default=150,
                    help="held-out windows per style and model (rounded up to whole pieces)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--previous", nargs=2, type=Path, metavar=("TRANSFORMER", "LSTM"),
                    help="an earlier Transformer and LSTM, for a table of what changed (format 2: tokens only)")
    ap.add_argument("--before", type=Path, metavar="MODEL_DIR",
                    help="a one-stream model folder (format 3) to compare a two-stream Transformer with, on "
                         "Cadenza's part beside a player")
    ap.add_argument("--notes-off", action="store_true",
                    help="leave out models/evaluation_notes.md (for a model it was not written about)")
    ap.add_argument("--transfer", nargs=3, metavar=("STYLE", "FINETUNED", "ALONE"),
                    help="compare on STYLE: the base model, FINETUNED (base fine-tuned on STYLE) and ALONE "
                         "(trained on STYLE only, same budget as the fine-tune)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    rng = random.Random(a.seed)
    sub = subject(a.transformer, a.lstm, a.previous)
    rows, plays_rows, curves = measure_nll(sub, a.max_chunks)
    two_rows, before_two = measure_beside_player(sub, a.before, a.seed)
    # The samples go beside the table, whose picture links are relative.
    style = measure_style(sub, rng, a.samples, a.sample_tokens, a.seed, a.out.parent / "samples")
    transfer = measure_transfer(sub, a.transfer[0], Path(a.transfer[1]), Path(a.transfer[2]), a.max_chunks) \
        if a.transfer else None
    measured = Measured(rows, plays_rows, curves, two_rows, before_two, style, transfer)
    command = ("cd models && .venv/bin/python -m cadenza_model.cli.evaluate "
               + " ".join(argv if argv is not None else sys.argv[1:]))
    notes = EVAL_NOTES.read_text() if EVAL_NOTES.exists() and not a.notes_off else ""
    lines = render(sub, measured, command, time.time() - t0, a.transformer, a.lstm, a.previous, a.before, notes)
    # role_eval.py's and style_check.py's sections, and the text written around them, stay after ours.
    kept = others_sections(a.out)
    a.out.write_text("\n".join(lines) + "\n" + ("\n" + kept if kept else ""))
    print(f"[eval] wrote {a.out} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
