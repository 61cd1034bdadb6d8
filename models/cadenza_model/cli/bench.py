"""`python -m cadenza_model.cli.bench`: the command line of cadenza_model/bench.py, whose docstring says what it
does and how it is run."""

from __future__ import annotations

import argparse
import json
import torch
from pathlib import Path

from .. import bench
from ..exporting import DEFAULT_MODEL, export_dir, load_onnx_model, quantize_int8
from ..model import MusicTransformer
from ..bench import CONTEXTS, LARGE, stretched, time_ort, time_torch


def main(argv=None):
    ap = argparse.ArgumentParser(description=bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--runs", type=int, default=200)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    shipped, vocab, styles, meta = load_onnx_model(DEFAULT_MODEL)
    models = {shipped.cfg.window: (shipped, DEFAULT_MODEL)}
    for window in (512, 1024):
        out = a.out_dir / f"w{window}"
        if not (out / "model.int8.onnx").exists():
            m = stretched(shipped, window)
            export_dir(m, vocab, styles, f"{meta['name']}-w{window} (timing only)", {}, out, parity_tokens=64)
            quantize_int8(out / "model.onnx", out / "model.int8.onnx")
        models[window] = (stretched(shipped, window), out)
    out = a.out_dir / "large"
    torch.manual_seed(0)
    large = MusicTransformer(type(shipped.cfg)(vocab_size=shipped.cfg.vocab_size, features=shipped.cfg.features,
                                               **LARGE)).eval()
    if not (out / "model.int8.onnx").exists():
        export_dir(large, vocab, styles, "large-random (timing only)", {}, out, parity_tokens=64)
        quantize_int8(out / "model.onnx", out / "model.int8.onnx")
    result = {"torch": torch.__version__, "contexts": {}, "large": time_torch(large, 512, a.runs)}
    import onnxruntime as ort
    result["onnxruntime"] = ort.__version__
    for ctx in CONTEXTS:
        window = min(w for w in models if w >= ctx)
        model, folder = models[window]
        result["contexts"][str(ctx)] = {
            "window": window,
            "folder": str(folder),
            "pytorch": time_torch(model, ctx, a.runs),
            "ort_fp32": time_ort(folder / "model.onnx", window, ctx, a.runs),
            "ort_int8": time_ort(folder / "model.int8.onnx", window, ctx, a.runs),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
