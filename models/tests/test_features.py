import torch

from cadenza_model.features import FeatureState, ticks_before, token_features
from cadenza_model.model import ModelConfig, MusicTransformer
from cadenza_model.vocab import Vocab, notes_to_tokens


def test_held_keys_and_phase_follow_the_tokens():
    v = Vocab()
    # C4 for a beat, E4 from half a beat for a beat and a half (overlapping), then a rest
    toks = [v.style(0)] + notes_to_tokens([(0, 24, 60), (12, 36, 64)], v)
    held, phase = token_features(torch.tensor([toks]), v, torch.tensor([6]))
    sounding = [sorted(torch.nonzero(h).flatten().tolist()) for h in held[0]]
    # style, on60, shift12, on64, shift12, off60, shift24, off64
    assert sounding == [[], [60], [60], [60, 64], [60, 64], [64], [64], []]
    assert phase[0].tolist() == [6, 6, 18, 18, 6, 6, 6, 6]


def test_a_key_struck_again_and_one_held_from_before():
    v = Vocab()
    toks = [v.note_on_base + 50, v.note_off_base + 50, v.note_on_base + 50, v.note_off_base + 70]
    held0 = torch.zeros(1, 128, dtype=torch.bool)
    held0[0, 70] = True
    held0[0, 40] = True
    held, _ = token_features(torch.tensor([toks]), v, held0=held0)
    on = [sorted(torch.nonzero(h).flatten().tolist()) for h in held[0]]
    assert on == [[40, 50, 70], [40, 70], [40, 50, 70], [40, 50]]


def test_token_by_token_equals_all_at_once():
    v = Vocab()
    g = torch.Generator().manual_seed(3)
    toks = torch.randint(3, v.size, (1, 120), generator=g)
    held, phase = token_features(toks, v, torch.tensor([7]))
    st = FeatureState(v, 7)
    parts = [st.take(toks[0, :10].tolist())] + [st.take([t]) for t in toks[0, 10:].tolist()]
    assert torch.equal(torch.cat([p[0] for p in parts], 1), held)
    assert torch.equal(torch.cat([p[1] for p in parts], 1), phase)
    assert (7 + ticks_before(toks[0].tolist(), v)[-1]) % v.ticks_per_beat == phase[0, -1].item()


def test_features_change_the_prediction_and_the_incremental_path_agrees():
    v = Vocab()
    torch.manual_seed(0)
    m = MusicTransformer(ModelConfig(vocab_size=v.size, d_model=32, n_layer=2, n_head=4, d_ff=64, window=8,
                                     dropout=0.0, features=True)).eval()
    toks = torch.randint(3, v.size, (1, 30))
    feats = token_features(toks, v, torch.tensor([3]))
    with torch.no_grad():
        full = m(toks, feats)
        other = m(toks, (feats[0], (feats[1] + 1) % v.ticks_per_beat))
        assert (full - other).abs().max() > 1e-3
        pk, pv = m.empty_cache()
        outs = []
        lg, pk, pv = m.step(toks[:, :5], pk, pv, (feats[0][:, :5], feats[1][:, :5]))
        outs.append(lg)
        for i in range(5, 30):
            pk, pv = pk[:, :, :, -(m.cfg.window - 1):], pv[:, :, :, -(m.cfg.window - 1):]
            lg, pk, pv = m.step(toks[:, i:i + 1], pk, pv, (feats[0][:, i:i + 1], feats[1][:, i:i + 1]))
            outs.append(lg)
    assert (torch.cat(outs, 1) - full).abs().max() < 1e-5
