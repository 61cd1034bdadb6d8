import json

import numpy as np
import pytest
import torch

from cadenza_model.exporting import export_dir, export_onnx, model_json, onnx_parity
from cadenza_model.model import ModelConfig, MusicTransformer
from cadenza_model.vocab import Vocab


def test_export_parity_beyond_window(tmp_path):
    torch.manual_seed(0)
    v = Vocab()
    # dropout > 0: exporting must leave the model in eval mode, or the check compares against noise
    cfg = ModelConfig(vocab_size=v.size, d_model=32, n_layer=2, n_head=2, d_ff=64, window=16, dropout=0.3)
    m = MusicTransformer(cfg).eval()
    path = tmp_path / "model.onnx"
    export_onnx(m, path)
    assert not any(mod.training for mod in m.modules())
    # 40 tokens: well past the 16-token window, through a prefill from an empty cache and single steps
    assert onnx_parity(m, path, 40) <= 1e-4
    meta = model_json(cfg, v, ["a", "b"], "tiny", {})
    assert meta["head_dim"] == 16 and meta["vocab"]["size"] == v.size
    json.dumps(meta)


def test_a_model_with_features_exports_as_format_3_with_parity(tmp_path):
    from cadenza_model.ring import RingDecoder

    torch.manual_seed(0)
    v = Vocab()
    cfg = ModelConfig(vocab_size=v.size, d_model=32, n_layer=2, n_head=2, d_ff=64, window=16, dropout=0.0,
                      features=True)
    m = MusicTransformer(cfg).eval()
    path = tmp_path / "model.onnx"
    export_onnx(m, path)
    assert onnx_parity(m, path, 40) <= 1e-4
    # Six inputs at most: ort's Rust binding runs up to six without allocating.
    inputs = {i.name: i.shape for i in RingDecoder(path, 16).sess.get_inputs()}
    assert len(inputs) == 6 and inputs["features"][1] == 128 + v.ticks_per_beat
    meta = model_json(cfg, v, ["a"], "tiny", {})
    assert meta["format_version"] == 3 and meta["inputs"]["features"] == "features"


def test_int8_variant_stays_close_to_fp32(tmp_path):
    from cadenza_model.exporting import compare_int8, quantize_int8

    torch.manual_seed(0)
    v = Vocab()
    cfg = ModelConfig(vocab_size=v.size, d_model=64, n_layer=2, n_head=2, d_ff=128, window=16, dropout=0.0)
    m = MusicTransformer(cfg).eval()
    fp32 = tmp_path / "model.onnx"
    export_onnx(m, fp32)
    int8 = tmp_path / "model.int8.onnx"
    quantize_int8(fp32, int8)
    r = compare_int8(fp32, int8, np.random.default_rng(0).integers(3, v.size, (1, 40)), cfg.window)
    assert r["kl_to_fp32"] < 0.05 and r["argmax_agreement"] > 0.8, r
    assert r["bytes"] < fp32.stat().st_size


def test_the_ring_fixture_matches_the_shipped_model():
    # The Rust session is checked against models/tests/fixtures/ring_logits.json; after a re-export of
    # models/default, `python -m cadenza_model.cli.golden` must rewrite it.
    from cadenza_model.cli.golden import RING_LOGITS, ring_logits

    saved, now = json.loads(RING_LOGITS.read_text()), ring_logits()
    assert saved["tokens"] == now["tokens"] and saved["steps"].keys() == now["steps"].keys()
    for step, logits in now["steps"].items():
        assert np.abs(np.array(saved["steps"][step]) - np.array(logits)).max() < 1e-3, step


def test_a_stretched_window_keeps_the_model_within_its_trained_window():
    # The benchmark's 512/1024 variants: the same weights; inside the trained window nothing changes.
    from cadenza_model.cli.bench import stretched

    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=Vocab().size, d_model=32, n_layer=2, n_head=2, d_ff=64, window=16, dropout=0.0)
    m = MusicTransformer(cfg).eval()
    s = stretched(m, 64)
    assert s.cfg.window == 64
    toks = torch.randint(3, cfg.vocab_size, (1, 16))
    with torch.no_grad():
        assert torch.allclose(m(toks), s(toks), atol=1e-5)
        longer = torch.randint(3, cfg.vocab_size, (1, 40))
        assert not torch.allclose(m(longer), s(longer), atol=1e-3), "beyond the window it sees further"


def test_model_json_lists_the_roles_trained_and_which_styles_play_fewer():
    from cadenza_model.exporting import roles_json
    from cadenza_model.model import ModelConfig

    cfg = ModelConfig(vocab_size=Vocab().size, d_model=32, n_layer=1, n_head=2, d_ff=64, window=32,
                      features=True, two_streams=True)
    styles = ["chorale", "renaissance", "classical", "celtic", "folk"]
    four = roles_json(cfg, styles, ["free", "melody", "bass", "harmony"])
    assert four["roles"] == ["free", "melody", "bass", "harmony"] and four["role_slots"] == cfg.role_slots
    # Single tunes have no bass or inner part to learn from.
    assert four["roles_by_style"] == {"celtic": ["free", "melody"], "folk": ["free", "melody"]}
    # A model trained before roles: free alone, and nothing narrowed (its model.json unchanged).
    one = roles_json(cfg, styles, ["free"])
    assert one["roles"] == ["free"] and "roles_by_style" not in one


def test_int8_is_checked_for_every_role_a_style_plays(tmp_path):
    from cadenza_model import data
    from cadenza_model.exporting import write_int8

    if not data._cache_path("chorale").exists() or not data._cache_path("folk").exists():
        pytest.skip("the parsed corpus is not here (models/data): the held-out pieces cannot be read")
    torch.manual_seed(0)
    v = Vocab()
    cfg = ModelConfig(vocab_size=v.size, d_model=32, n_layer=2, n_head=2, d_ff=64, window=32, dropout=0.0,
                      features=True, two_streams=True)
    m = MusicTransformer(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.01 * torch.randn_like(p))
    styles = ["chorale", "renaissance", "classical", "celtic", "folk"]
    export_dir(m, v, styles, "tiny", {"roles": ["free", "melody", "bass", "harmony"]}, tmp_path)
    report = write_int8(tmp_path, v, cfg, styles)
    assert set(report["per_role"]["chorale"]) == {"melody", "bass", "harmony"}
    assert set(report["per_role"]["folk"]) == {"melody"}  # a single line: no bass, no harmony
    for style, by_role in report["per_role"].items():
        for role, r in by_role.items():
            assert r["steps"] > 0 and 0 <= r["kl_to_fp32"] < 0.05, (style, role, r)
