"""The Python side of `cargo xtask bench`: the shipped weights' decode step in PyTorch eager and in
Python onnxruntime, and the longer-window variants the Rust side measures too.

    python -m cadenza_model.cli.bench OUT_DIR [--runs N]

Writes OUT_DIR/w{512,1024}/ (model.onnx, model.int8.onnx, model.json): the shipped weights with the
attention window stretched (the relative embeddings of distances past 255 repeat the last one; for
timing only, never shipped), and OUT_DIR/large/: a larger config (d=512, 8 layers, 8 heads, window 512)
with random weights, for timing on each execution provider. Prints one JSON object: for each context
(64, 256, 512, 1024) the median and p99 step time in microseconds of PyTorch eager
(`MusicTransformer.step`, its concatenating cache) and of onnxruntime (the exported ring graph, fp32
and int8), on one thread; and PyTorch eager's step for the larger config at context 512.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .features import features_of
from .model import MusicTransformer, ring_inputs
from .vocab import Vocab

CONTEXTS = (64, 256, 512, 1024)
LARGE = dict(d_model=512, n_layer=8, n_head=8, d_ff=2048, window=512, dropout=0.0)


def stretched(model: MusicTransformer, window: int) -> MusicTransformer:
    """The same weights with a longer attention window: distances past the trained ones reuse the last."""
    cfg = type(model.cfg)(**{**model.cfg.to_dict(), "window": window})
    m = MusicTransformer(cfg)
    state = model.state_dict()
    for k, w in list(state.items()):
        if k.endswith("rel_emb"):
            extra = w[:, -1:].expand(-1, window - w.shape[1], -1)
            state[k] = torch.cat([w, extra], dim=1)
    m.load_state_dict(state)
    return m.eval()


def stats(times) -> dict:
    t = np.array(times) * 1e6
    return {"median": float(np.median(t)), "p99": float(np.percentile(t, 99)), "runs": len(times)}


def time_torch(model: MusicTransformer, ctx: int, runs: int) -> dict:
    cfg = model.cfg
    g = torch.Generator().manual_seed(0)
    pk = torch.randn(cfg.n_layer, 1, cfg.n_head, ctx - 1, cfg.head_dim, generator=g)
    pv = torch.randn_like(pk)
    tok = torch.tensor([[40]])
    feats = features_of(cfg, tok, Vocab())  # whatever inputs the model's format takes
    times = []
    with torch.inference_mode():
        for i in range(runs + 10):
            t = time.perf_counter()
            model.step(tok, pk, pv, feats)
            if i >= 10:
                times.append(time.perf_counter() - t)
    return stats(times)


def time_ort(path: Path, window: int, ctx: int, runs: int) -> dict:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    shape = [int(d) for d in sess.get_inputs()[1].shape]
    slots, heads = shape[2], shape[1]
    rng = np.random.default_rng(0)
    k = rng.standard_normal(shape).astype(np.float32)
    positions = [p if p < ctx - 1 else None for p in range(slots)]
    index, mask = ring_inputs(positions, [ctx - 1], window, heads)
    feeds = {"tokens": np.array([[40]], np.int64), "past_keys": k, "past_values": k.copy(),
             "rel_index": index.numpy(), "mask": mask.numpy()}
    for i in sess.get_inputs():
        if i.name == "features":
            feeds["features"] = np.zeros((1, int(i.shape[1])), np.float32)
    times = []
    for i in range(runs + 10):
        t = time.perf_counter()
        sess.run(None, feeds)
        if i >= 10:
            times.append(time.perf_counter() - t)
    return stats(times)
