"""Checkpoint -> model.onnx (one step graph with an explicit KV cache) + model.json (the contract).

    python -m cadenza_model.export runs/base.pt models/default

The graph: tokens (1,T) int64, past_keys/past_values (n_layer,1,n_head,P,head_dim) float32
-> logits (1,T,vocab), present_keys/present_values (n_layer,1,n_head,P+T,head_dim). T and P are free, so
the same graph does a prefill (T > 1, P = 0) and single steps (T = 1). The caller keeps at most
window-1 cache entries. model.json names all of it; the Rust side refuses a mismatch.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from .model import ModelConfig, MusicTransformer, StepGraph
from .vocab import Vocab

FORMAT_VERSION = 1
INPUTS = {"tokens": "tokens", "past_keys": "past_keys", "past_values": "past_values"}
OUTPUTS = {"logits": "logits", "present_keys": "present_keys", "present_values": "present_values"}


def model_json(cfg: ModelConfig, vocab: Vocab, styles, name: str, extra: dict) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "name": name,
        "architecture": "music-transformer-relative",
        "ticks_per_beat": vocab.ticks_per_beat,
        "vocab": vocab.to_json(),
        "styles": list(styles),
        "d_model": cfg.d_model,
        "n_layer": cfg.n_layer,
        "n_head": cfg.n_head,
        "head_dim": cfg.head_dim,
        "window": cfg.window,
        "inputs": INPUTS,
        "outputs": OUTPUTS,
        "training": extra,
    }


def load_checkpoint(path: Path):
    ck = torch.load(path, map_location="cpu")
    cfg = ModelConfig(**ck["config"])
    model = MusicTransformer(cfg)
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return ck, cfg, Vocab.from_json(ck["vocab"]), model


def export_onnx(model: MusicTransformer, path: Path):
    cfg = model.cfg
    # Trace with sizes that are neither 0 nor 1, so nothing specializes on them.
    tokens = torch.randint(3, cfg.vocab_size, (1, 3))
    pk = torch.randn(cfg.n_layer, 1, cfg.n_head, 5, cfg.head_dim)
    pv = torch.randn_like(pk)
    # The wrapper must be in eval mode: the exporter restores the wrapper's mode afterwards, recursively,
    # and a fresh module is in training mode (that would silently switch the model's dropout back on).
    torch.onnx.export(
        StepGraph(model).eval(), (tokens, pk, pv), str(path),
        input_names=list(INPUTS.values()), output_names=list(OUTPUTS.values()),
        dynamic_axes={
            "tokens": {1: "new"}, "past_keys": {3: "past"}, "past_values": {3: "past"},
            "logits": {1: "new"}, "present_keys": {3: "total"}, "present_values": {3: "total"},
        },
        # No constant folding: every weight stays an initializer under its PyTorch name, so the
        # exported file is also a checkpoint (`load_onnx_model`, used to fine-tune the shipped model).
        # ONNX Runtime folds the transposes itself when it loads the graph.
        opset_version=17, do_constant_folding=False,
    )


def load_onnx_model(model_dir: Path):
    """An exported model.onnx + model.json back into PyTorch: (model, vocab, styles, meta).

    The exporter stores identical tensors once under one name; trained weights never coincide, but an
    untrained model's zero biases do, and such a file is refused with the missing name."""
    import onnx
    from onnx import numpy_helper

    meta = json.loads((model_dir / "model.json").read_text())
    config = meta.get("training", {}).get("config")
    if not config:
        raise SystemExit(f"{model_dir / 'model.json'} has no training.config: re-export it with cadenza_model.export")
    cfg = ModelConfig(**config)
    model = MusicTransformer(cfg)
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(model_dir / "model.onnx")).graph.initializer}
    state = {}
    # named_parameters lists a tied weight (the output head sharing the embedding) once, as ONNX does.
    for name, param in list(model.named_parameters()) + list(model.named_buffers()):
        w = weights.get("model." + name)
        if w is None or tuple(w.shape) != tuple(param.shape):
            raise SystemExit(f"{model_dir / 'model.onnx'} has no weight `{name}` of shape {tuple(param.shape)}: "
                             "it was not exported by cadenza_model.export with named weights")
        state[name] = torch.from_numpy(w.copy())
    missing = model.load_state_dict(state, strict=False).missing_keys
    aliases = {n for n, p in model.state_dict(keep_vars=True).items()
               if any(p is q for k, q in model.named_parameters() if k != n)}
    if set(missing) - aliases:
        raise SystemExit(f"{model_dir / 'model.onnx'} lacks weights {sorted(set(missing) - aliases)}")
    model.eval()
    return model, Vocab.from_json(meta["vocab"]), list(meta["styles"]), meta


def export_dir(model: MusicTransformer, vocab: Vocab, styles, name: str, info: dict, out_dir: Path,
               parity_tokens: int = 0) -> float:
    """Write model.onnx + model.json into `out_dir`, refusing (nothing written) when the incremental ONNX
    graph departs from the PyTorch forward by more than 1e-4. Returns the parity."""
    cfg = model.cfg
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    export_onnx(model, onnx_path)
    n = parity_tokens or cfg.window + 64
    diff = onnx_parity(model, onnx_path, n)
    print(f"[export] {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB), parity over {n} tokens: {diff:.2e}")
    if diff > 1e-4:
        onnx_path.unlink()
        raise SystemExit(f"parity check failed: {diff} > 1e-4; nothing written")
    info = dict(info)
    info["onnx_parity_max_abs_logit_diff"] = diff
    info["parameters"] = model.num_params()
    info["config"] = cfg.to_dict()
    meta = model_json(cfg, vocab, styles, name, info)
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return diff


def onnx_parity(model: MusicTransformer, onnx_path: Path, n_tokens: int, seed: int = 0) -> float:
    """Max |logit| difference: ONNX prefill + single steps with a sliding cache vs the full PyTorch forward."""
    import onnxruntime as ort

    cfg = model.cfg
    model.eval()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(seed)
    toks = torch.randint(3, cfg.vocab_size, (1, n_tokens), generator=g)
    with torch.no_grad():
        full = model(toks)[0].numpy()
    pk = np.zeros((cfg.n_layer, 1, cfg.n_head, 0, cfg.head_dim), np.float32)
    pv = pk.copy()
    prefill = min(16, n_tokens)
    lg, pk, pv = sess.run(None, {"tokens": toks[:, :prefill].numpy(), "past_keys": pk, "past_values": pv})
    worst = float(np.abs(lg[0] - full[:prefill]).max())
    keep = cfg.window - 1
    for i in range(prefill, n_tokens):
        pk, pv = pk[:, :, :, -keep:], pv[:, :, :, -keep:]
        lg, pk, pv = sess.run(None, {"tokens": toks[:, i:i + 1].numpy(), "past_keys": pk, "past_values": pv})
        worst = max(worst, float(np.abs(lg[0, 0] - full[i]).max()))
    return worst


def quantize_int8(onnx_path: Path, out_path: Path):
    """Dynamic int8 quantization of the weights (MatMul/Gemm); activations stay float."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The export keeps weights under their names behind Transpose nodes; fold those first, so the
    # quantizer sees MatMuls with constant weights (else it leaves them in float).
    folded = out_path.with_suffix(".folded.onnx")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    try:
        quantize_dynamic(str(folded), str(out_path), weight_type=QuantType.QInt8)
    finally:
        folded.unlink(missing_ok=True)


def compare_int8(fp32_path: Path, int8_path: Path, tokens: np.ndarray, window: int) -> dict:
    """Decode the same tokens through both graphs (prefill 16, then single steps with a sliding cache):
    mean KL(fp32 || int8) of the next-token distributions, and how often their argmax agrees."""
    import onnxruntime as ort

    def run(path):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        shape = [int(d) if isinstance(d, int) else 0 for d in sess.get_inputs()[1].shape]
        pk = np.zeros(shape, np.float32)
        pv = pk.copy()
        outs = []
        lg, pk, pv = sess.run(None, {"tokens": tokens[:, :16], "past_keys": pk, "past_values": pv})
        outs.append(lg[0])
        for i in range(16, tokens.shape[1]):
            pk, pv = pk[:, :, :, -(window - 1):], pv[:, :, :, -(window - 1):]
            lg, pk, pv = sess.run(None, {"tokens": tokens[:, i:i + 1], "past_keys": pk, "past_values": pv})
            outs.append(lg[0])
        return np.concatenate(outs)

    a, b = run(fp32_path), run(int8_path)
    la = a - a.max(-1, keepdims=True)
    la = la - np.log(np.exp(la).sum(-1, keepdims=True))
    lb = b - b.max(-1, keepdims=True)
    lb = lb - np.log(np.exp(lb).sum(-1, keepdims=True))
    kl = float((np.exp(la) * (la - lb)).sum(-1).mean())
    agree = float((a.argmax(-1) == b.argmax(-1)).mean())
    return {"kl_to_fp32": kl, "argmax_agreement": agree, "steps": int(a.shape[0]),
            "bytes": int(int8_path.stat().st_size)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--name", default="cadenza-default")
    ap.add_argument("--parity-tokens", type=int, default=0, help="check parity over this many tokens (0: window+64)")
    ap.add_argument("--int8", action="store_true", help="also write model.int8.onnx and report its KL/argmax vs fp32")
    a = ap.parse_args(argv)

    ck, cfg, vocab, model = load_checkpoint(a.checkpoint)
    info = dict(ck.get("train_info", {}))
    export_dir(model, vocab, ck["styles"], a.name, info, a.out_dir, a.parity_tokens)
    if a.int8:
        onnx_path = a.out_dir / "model.onnx"
        int8_path = a.out_dir / "model.int8.onnx"
        quantize_int8(onnx_path, int8_path)
        # Real music, not random tokens: the golden chorale excerpt, repeated past the window.
        from .golden import CHORALE
        from .vocab import notes_to_tokens
        notes = [tuple(n) for n in json.loads(CHORALE.read_text())]
        toks = [vocab.style(0)] + notes_to_tokens(notes, vocab)
        toks = (toks * (1 + (cfg.window + 64) // len(toks)))[:cfg.window + 64]
        report = compare_int8(onnx_path, int8_path, np.array([toks], dtype=np.int64), cfg.window)
        print(f"[export] int8: {report}")
        meta = json.loads((a.out_dir / "model.json").read_text())
        meta["training"]["int8"] = report
        (a.out_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")

if __name__ == "__main__":
    main()
