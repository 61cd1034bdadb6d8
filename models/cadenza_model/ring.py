"""The ONNX ring decoder: drives an exported step graph as the Rust engine does (a library; the
golden fixtures, the export checks and the tests use it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .features import packed_feats
from .model import ring_inputs


class RingDecoder:
    """Drives an exported graph as the Rust engine does: a ring of window-1 cache slots, the slot of
    context position p being p mod (window-1)."""

    def __init__(self, path: Path, window: int):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        shape = self.sess.get_inputs()[1].shape  # (n_layer, n_head, slots, head_dim)
        self.n_head, self.slots, self.window = int(shape[1]), window - 1, window
        self.k = np.zeros([int(d) for d in shape], np.float32)
        self.v = np.zeros_like(self.k)
        self.positions = [None] * self.slots
        self.next = 0
        self.features = any(i.name == "features" for i in self.sess.get_inputs())

    def feed(self, tokens: np.ndarray, feats=None, ticks_per_beat: int = 24) -> np.ndarray:
        """tokens (1,T) int64 after the context so far -> their logits (T, vocab). A graph of format 3
        or 4 also takes `feats`, as `features.features_of` gives them for these tokens."""
        new = list(range(self.next, self.next + tokens.shape[1]))
        index, mask = ring_inputs(self.positions, new, self.window, self.n_head)
        inputs = {"tokens": tokens, "past_keys": self.k, "past_values": self.v,
                  "rel_index": index.numpy(), "mask": mask.numpy()}
        if self.features:
            inputs["features"] = packed_feats(feats, ticks_per_beat)[0].numpy()
        logits, nk, nv = self.sess.run(None, inputs)
        for i, p in enumerate(new):
            s = p % self.slots
            self.k[:, :, s], self.v[:, :, s], self.positions[s] = nk[:, :, i], nv[:, :, i], p
        self.next += len(new)
        return logits
