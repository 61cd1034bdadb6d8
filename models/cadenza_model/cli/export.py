"""Checkpoint -> model.onnx (one step graph with an explicit KV cache) + model.json (the contract).

    python -m cadenza_model.cli.export runs/base.pt models/default [--int8]
    python -m cadenza_model.cli.export --from-model-dir old_model_dir new_model_dir [--int8]

Format 2 (`RingStepGraph`): tokens (1,T) int64; past_keys/past_values (n_layer,n_head,C,head_dim) f32,
C = window-1 ring slots the caller keeps; rel_index (n_head,T,C+T) int64 and mask (T,C+T) f32, which say
per new token and key which relative distance applies and whether it is visible -> logits (T,vocab),
new_keys/new_values (n_layer,n_head,T,head_dim), which the caller writes into slots. T is free, so the
same graph does a prefill and single steps. model.json names all of it; the Rust side refuses a
mismatch. `--from-model-dir` re-exports an earlier export (format 1 included: its weights are named).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..exporting import export_dir, load_checkpoint, load_onnx_model, write_int8


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="a training checkpoint (.pt), or with --from-model-dir a model folder")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--from-model-dir", action="store_true",
                    help="the source is an exported model folder (model.onnx + model.json, any format)")
    ap.add_argument("--name", default=None, help="model name (default: cadenza-default, or the source's)")
    ap.add_argument("--parity-tokens", type=int, default=0, help="check parity over this many tokens (0: window+64)")
    ap.add_argument("--int8", action="store_true", help="also write model.int8.onnx and report its KL/argmax vs fp32")
    ap.add_argument("--roles", default=None,
                    help="the roles a format 4 model was trained for, in slot order, e.g. free,melody,bass,harmony "
                         "(default: what its checkpoint says, else free)")
    a = ap.parse_args(argv)

    if a.from_model_dir:
        model, vocab, styles, meta = load_onnx_model(a.source)
        cfg = model.cfg
        info = {k: v for k, v in meta.get("training", {}).items() if k != "int8"}
        info.setdefault("roles", meta.get("roles"))
        name = a.name or meta["name"]
    else:
        ck, cfg, vocab, model = load_checkpoint(a.source)
        info, styles = dict(ck.get("train_info", {})), ck["styles"]
        name = a.name or "cadenza-default"
    if a.roles:
        info["roles"] = a.roles.split(",")
    export_dir(model, vocab, styles, name, info, a.out_dir, a.parity_tokens)
    if a.int8:
        write_int8(a.out_dir, vocab, cfg, styles)


if __name__ == "__main__":
    main()
