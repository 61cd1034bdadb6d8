import torch

from cadenza_model.model import ModelConfig, MusicTransformer, skew


def tiny(window=8, seed=0):
    torch.manual_seed(seed)
    m = MusicTransformer(ModelConfig(vocab_size=40, d_model=32, n_layer=2, n_head=4, d_ff=64, window=window, dropout=0.0))
    return m.eval()


def test_skew_matches_direct_gather():
    torch.manual_seed(1)
    t = 6
    rel = torch.randn(1, 1, t, t)  # rel[i, r]: distance t-1-r
    s = skew(rel)
    for i in range(t):
        for j in range(i + 1):
            assert torch.allclose(s[0, 0, i, j], rel[0, 0, i, t - 1 - (i - j)])


def test_incremental_equals_full_forward_beyond_window():
    m = tiny(window=8)
    tokens = torch.randint(0, 40, (1, 30))  # far more tokens than the window
    with torch.no_grad():
        full = m(tokens)
        pk, pv = m.empty_cache()
        outs = []
        # a prefill of 5, then single steps, keeping only window-1 cache entries (sliding)
        lg, pk, pv = m.step(tokens[:, :5], pk, pv)
        outs.append(lg)
        for i in range(5, 30):
            pk, pv = pk[:, :, :, -(m.cfg.window - 1):], pv[:, :, :, -(m.cfg.window - 1):]
            lg, pk, pv = m.step(tokens[:, i:i + 1], pk, pv)
            outs.append(lg)
    inc = torch.cat(outs, dim=1)
    assert (inc - full).abs().max().item() < 1e-5


def test_window_limits_attention():
    # A token further back than the window must not change the last logits.
    m = tiny(window=4)
    a = torch.randint(0, 40, (1, 10))
    b = a.clone()
    b[0, 0] = (a[0, 0] + 1) % 40
    with torch.no_grad():
        # distance 9 > window-1 through 2 layers: receptive field 2*(4-1)=6 < 9
        assert torch.allclose(m(a)[0, -1], m(b)[0, -1])
        assert not torch.allclose(m(a)[0, 1], m(b)[0, 1])
