"""Exporting a checkpoint: model.onnx (one step graph with an explicit KV cache) + model.json (the
contract), the int8 graph and its checks, and reading an export back into PyTorch. A library: the
scripts (cli/export.py, cli/finetune.py, bench.py) import it. The graph's inputs are described in cli/export.py.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from . import chords
from .features import features_of, packed_feats, sliced
from .model import ModelConfig, MusicTransformer, RingStepGraph, ring_inputs
from .vocab import Vocab

from .ring import RingDecoder

# The shipped model's folder, and the opening of a real chorale (the golden fixtures' excerpt): real
# music for the int8 check.
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "default"
CHORALE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bwv66.6_opening.json"

INPUTS = {"tokens": "tokens", "past_keys": "past_keys", "past_values": "past_values",
          "rel_index": "rel_index", "mask": "mask"}
FEATURE_INPUTS = {"features": "features"}
OUTPUTS = {"logits": "logits", "new_keys": "new_keys", "new_values": "new_values"}


def format_version(cfg: ModelConfig) -> int:
    if getattr(cfg, "chords", False):
        return 5
    if getattr(cfg, "two_streams", False):
        return 4
    return 3 if cfg.features else 2


# The role slots of format 4 a model trained before roles uses (features.py): free alone. A model
# trained with them lists its own (train.py writes them into the checkpoint's train_info).
ROLES = ["free"]


def roles_by_style(roles, styles) -> dict:
    """The styles that play fewer than all of `roles`: single tunes have no bass or inner part to learn
    from (`duet.SINGLE_LINE_ROLES`)."""
    from .data import SINGLE_LINE_STYLES
    from .duet import SINGLE_LINE_ROLES
    single = [r for r in roles if r in SINGLE_LINE_ROLES]
    return {s: single for s in styles if s in SINGLE_LINE_STYLES and single != list(roles)}


def feature_layout(cfg: ModelConfig) -> dict:
    """Where each feature sits in a row of the `features` input, [start, end) (format 4; format 5 adds
    the chord now and next, chords.py)."""
    tpb = cfg.ticks_per_beat
    r = 257 + tpb + cfg.role_slots
    out = {"held": [0, 128], "player_held": [128, 256], "phase": [256, 256 + tpb],
           "player": [256 + tpb, 257 + tpb], "role": [257 + tpb, r]}
    if getattr(cfg, "chords", False):
        out.update({"chord_root": [r, r + 12], "chord": [r + 12, r + 24], "next_chord_root": [r + 24, r + 36],
                    "next_chord": [r + 36, r + 48], "beats_to_next_chord": [r + 48, r + 48 + chords.UNTIL_BUCKETS]})
    return out


def roles_json(cfg: ModelConfig, styles, roles, by_style: Optional[dict] = None) -> dict:
    """model.json's role fields (format 4): the slots, the roles in slot order, and the styles that
    play fewer (left out when none does): `by_style` when given (a fine-tune's), else the corpus's."""
    out = {"feature_layout": feature_layout(cfg), "role_slots": cfg.role_slots, "roles": list(roles)}
    if getattr(cfg, "alone", False):
        # No role slot set on the style token: Cadenza alone (duet.ALONE).
        out["alone"] = True
    narrowed = roles_by_style(roles, styles) if by_style is None else by_style
    return {**out, "roles_by_style": narrowed} if narrowed else out


def input_names(cfg: ModelConfig) -> dict:
    return {**INPUTS, **FEATURE_INPUTS} if cfg.features else dict(INPUTS)


def model_json(cfg: ModelConfig, vocab: Vocab, styles, name: str, extra: dict) -> dict:
    return {
        "format_version": format_version(cfg),
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
        "inputs": input_names(cfg),
        "outputs": OUTPUTS,
        **(roles_json(cfg, styles, extra.get("roles") or ROLES, extra.get("roles_by_style"))
           if format_version(cfg) >= 4 else {}),
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
    slots = cfg.window - 1
    # Trace with sizes that are neither 0 nor 1, so nothing specializes on them.
    t = 3
    tokens = torch.randint(3, cfg.vocab_size, (1, t))
    pk = torch.randn(cfg.n_layer, cfg.n_head, slots, cfg.head_dim)
    pv = torch.randn_like(pk)
    index, mask = ring_inputs([None] * slots, list(range(t)), cfg.window, cfg.n_head)
    args = (tokens, pk, pv, index, mask)
    axes = {
        "tokens": {1: "new"}, "rel_index": {1: "new", 2: "keys"}, "mask": {0: "new", 1: "keys"},
        "logits": {0: "new"}, "new_keys": {2: "new"}, "new_values": {2: "new"},
    }
    if cfg.features:
        owners = torch.randint(0, 2, (1, t))
        feats = features_of(cfg, tokens, Vocab(), owners=owners)
        args += (packed_feats(feats, cfg.ticks_per_beat)[0],)
        axes.update(features={0: "new"})
    # The wrapper must be in eval mode: the exporter restores the wrapper's mode afterwards, recursively,
    # and a fresh module is in training mode (that would silently switch the model's dropout back on).
    torch.onnx.export(
        RingStepGraph(model).eval(), args, str(path),
        input_names=list(input_names(cfg).values()), output_names=list(OUTPUTS.values()),
        dynamic_axes=axes,
        # No constant folding: every weight stays an initializer under its PyTorch name, so the
        # exported file is also a checkpoint (`load_onnx_model`, used to fine-tune the shipped model).
        # ONNX Runtime folds the per-head reshapes itself when it loads the graph.
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
        raise SystemExit(f"{model_dir / 'model.json'} has no training.config: re-export it with cadenza_model.cli.export")
    cfg = ModelConfig(**config)
    model = MusicTransformer(cfg)
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(model_dir / "model.onnx")).graph.initializer}
    state = {}
    # named_parameters lists a tied weight (the output head sharing the embedding) once, as ONNX does.
    for name, param in list(model.named_parameters()) + list(model.named_buffers()):
        w = weights.get("model." + name)
        if w is None or tuple(w.shape) != tuple(param.shape):
            raise SystemExit(f"{model_dir / 'model.onnx'} has no weight `{name}` of shape {tuple(param.shape)}: "
                             "it was not exported by cadenza_model.cli.export with named weights")
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
    """Write model.onnx + model.json into `out_dir` (removing a model.int8.onnx of an earlier export),
    refusing (nothing written) when the incremental ONNX graph departs from the PyTorch forward by more
    than 1e-4. Returns the parity."""
    cfg = model.cfg
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    # The plugin prefers a folder's int8 graph: one left from an earlier export would shadow this one.
    (out_dir / "model.int8.onnx").unlink(missing_ok=True)
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
    """Max |logit| difference: ONNX prefill + single steps on a ring cache vs the full PyTorch forward
    (random tokens; for two streams, random owners too)."""
    cfg = model.cfg
    model.eval()
    g = torch.Generator().manual_seed(seed)
    toks = torch.randint(3, cfg.vocab_size, (1, n_tokens), generator=g)
    owners = torch.randint(0, 2, (1, n_tokens), generator=g)
    chord = None
    if getattr(cfg, "chords", False):
        chord = (torch.rand(1, n_tokens, chords.WIDTH, generator=g) < 0.2).float()
    feats = features_of(cfg, toks, Vocab(), torch.tensor([5]), owners, chord=chord)
    with torch.no_grad():
        full = model(toks, feats)[0].numpy()
    dec = RingDecoder(onnx_path, cfg.window)
    tpb = cfg.ticks_per_beat
    prefill = min(16, n_tokens)
    worst = float(np.abs(dec.feed(toks[:, :prefill].numpy(), sliced(feats, 0, prefill), tpb) - full[:prefill]).max())
    for i in range(prefill, n_tokens):
        out = dec.feed(toks[:, i:i + 1].numpy(), sliced(feats, i, i + 1), tpb)
        worst = max(worst, float(np.abs(out[0] - full[i]).max()))
    return worst


def quantize_int8(onnx_path: Path, out_path: Path):
    """Dynamic int8 quantization of the weights (MatMul/Gemm); activations stay float.

    Weights as uint8 (U8U8), not int8: on x86 CPUs with AVX2 but no VNNI (many AMD EPYC and Ryzen,
    older Intel) ONNX Runtime multiplies uint8 activations by int8 weights with VPMADDUBSW, whose
    16-bit sums saturate. Measured on an AMD EPYC (AVX2) with cadenza-base-v7: KL to fp32 on the
    golden chorale excerpt 7.0e-4 and argmax agreement 98.8% as U8S8 (2.4e-4 and 99.7% where it was
    exported), 5.8e-4 with reduce_range, 2.1e-4 and 99.7% as U8U8, which has no such path."""
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
        quantize_dynamic(str(folded), str(out_path), weight_type=QuantType.QUInt8)
    finally:
        folded.unlink(missing_ok=True)


def compare_int8(fp32_path: Path, int8_path: Path, tokens: np.ndarray, window: int, vocab: Vocab = Vocab(),
                 cfg: Optional[ModelConfig] = None, owners: Optional[np.ndarray] = None,
                 role: Optional[int] = None, chord_rows=None) -> dict:
    """Decode the same tokens through both graphs (prefill 16, then single steps on a ring cache):
    mean KL(fp32 || int8) of the next-token distributions, and how often their argmax agrees. `cfg`
    says which features the graphs take (default: format 3's); `owners` whose each token is; `role`
    the role slot Cadenza plays (format 4; default free); `chord_rows` each token's chord (format 5,
    chords.chord_rows; default none known)."""
    from .features import chord_tensor

    cfg = cfg or ModelConfig(vocab_size=vocab.size, features=True)
    toks = torch.from_numpy(np.asarray(tokens, np.int64))
    chord = None if chord_rows is None else chord_tensor(chord_rows, toks.shape[1]).unsqueeze(0)
    feats = features_of(cfg, toks, vocab, owners=None if owners is None else torch.from_numpy(np.asarray(owners)),
                        roles=None if role is None else torch.full((toks.shape[0],), role, dtype=torch.long),
                        chord=chord)

    def run(path):
        dec = RingDecoder(path, window)
        outs = [dec.feed(tokens[:, :16], sliced(feats, 0, 16), cfg.ticks_per_beat)]
        for i in range(16, tokens.shape[1]):
            outs.append(dec.feed(tokens[:, i:i + 1], sliced(feats, i, i + 1), cfg.ticks_per_beat))
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


def write_int8(out_dir: Path, vocab: Vocab, cfg: ModelConfig, styles=None) -> dict:
    """model.int8.onnx beside model.onnx, with its KL and argmax agreement against fp32 in model.json:
    on the golden chorale excerpt and, where the parsed corpus is at hand (data.py's cache), on a
    held-out piece of every style in `styles` (for a two-stream model, with a player: duet.py), and
    for a model that plays roles, the same piece told each role the style plays (`per_role`; "alone":
    the piece as Cadenza's own, for a model that knows alone)."""
    onnx_path = out_dir / "model.onnx"
    int8_path = out_dir / "model.int8.onnx"
    quantize_int8(onnx_path, int8_path)
    n = cfg.window + 64
    # Real music, not random tokens: the golden chorale excerpt, repeated past the window.
    from .vocab import notes_to_tokens
    notes = [tuple(n) for n in json.loads(CHORALE.read_text())]
    toks = [vocab.style(0)] + notes_to_tokens(notes, vocab)
    toks = (toks * (1 + n // len(toks)))[:n]
    report = compare_int8(onnx_path, int8_path, np.array([toks], dtype=np.int64), cfg.window, vocab, cfg)
    print(f"[export] int8: {report}")
    meta = json.loads((out_dir / "model.json").read_text())
    roles = meta.get("roles") or ["free"]
    by_style = meta.get("roles_by_style") or {}
    keys = ("kl_to_fp32", "argmax_agreement", "steps")
    per_style, per_role = {}, {}
    told = getattr(cfg, "chords", False)
    for slot, (style, toks, owners, rows) in enumerate(heldout_samples(styles or [], vocab, n)):
        r = compare_int8(onnx_path, int8_path, np.array([toks], np.int64), cfg.window, vocab, cfg,
                         np.array([owners]))
        per_style[style] = {k: r[k] for k in keys}
        print(f"[export] int8 on held-out {style}: KL {r['kl_to_fp32']:.2e}, argmax agreement {r['argmax_agreement']:.3f}")
        for role in by_style.get(style, roles):
            if role == "free":
                continue  # the row above
            r = compare_int8(onnx_path, int8_path, np.array([toks], np.int64), cfg.window, vocab, cfg,
                             np.array([owners]), roles.index(role))
            per_role.setdefault(style, {})[role] = {k: r[k] for k in keys}
            print(f"[export] int8 on held-out {style} as {role}: KL {r['kl_to_fp32']:.2e}, "
                  f"argmax agreement {r['argmax_agreement']:.3f}")
        if told:
            # Format 5: the same piece told its own chords, free and in each role.
            for role in by_style.get(style, roles):
                r = compare_int8(onnx_path, int8_path, np.array([toks], np.int64), cfg.window, vocab, cfg,
                                 np.array([owners]), roles.index(role), rows)
                per_role.setdefault(style, {})[f"{role} with its chords"] = {k: r[k] for k in keys}
                print(f"[export] int8 on held-out {style} as {role}, told its chords: KL {r['kl_to_fp32']:.2e}, "
                      f"argmax agreement {r['argmax_agreement']:.3f}")
        if getattr(cfg, "alone", False):
            # The same piece as Cadenza's alone (every note its own, no role slot: duet.ALONE).
            r = compare_int8(onnx_path, int8_path, np.array([toks], np.int64), cfg.window, vocab, cfg)
            per_role.setdefault(style, {})["alone"] = {k: r[k] for k in keys}
            print(f"[export] int8 on held-out {style} alone: KL {r['kl_to_fp32']:.2e}, "
                  f"argmax agreement {r['argmax_agreement']:.3f}")
    if per_style:
        report["per_style"] = per_style
    if per_role:
        report["per_role"] = per_role
    meta["training"]["int8"] = report
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return report


def heldout_samples(styles, vocab: Vocab, n: int):
    """(style, [STYLE] + tokens, owners, chord rows of the piece's own harmony) of a held-out piece
    per style, with a player (two streams), when the corpus cache holds the style; nothing otherwise."""
    import random

    from . import data, duet
    from .features import ticks_before

    out = []
    for slot, style in enumerate(styles):
        path = data._cache_path(style)
        if not path.exists():
            continue
        held = [p for p in data.load_style(style) if data.is_held_out(p.id) and len(p.notes) >= 64]
        if not held:
            continue
        rng = random.Random(slot)
        for attempt in range(20):  # a crop long enough to wrap the ring
            piece = rng.choice(held)
            toks, owners, _start = duet.example(piece.notes, piece.bar, vocab, n - 1, rng, 0, p_alone=0.0)
            if len(toks) == n - 1:
                break
        tokens = [vocab.style(slot)] + toks
        rows = chords.chord_rows([_start + t for t in ticks_before(tokens, vocab)[1:]],
                                 duet.piece_harmony(piece.notes, piece.bar))
        out.append((style, tokens, [0] + owners, rows))
    return out
