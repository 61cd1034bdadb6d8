import random

import torch

from cadenza_model.model import ModelConfig, MusicTransformer
from cadenza_model.train import StyleDataset, heldout_nll, loss_on
from cadenza_model.vocab import Vocab, notes_to_tokens


def scales(root, n=6):
    return [[(i * 12, 12, root + k * 2 + (i % 7)) for i in range(32)] for k in range(n)]


def test_a_few_steps_lower_the_loss_on_a_tiny_fixture():
    torch.manual_seed(0)
    v = Vocab()
    pieces = {0: [notes_to_tokens(p, v) for p in scales(60)], 1: [notes_to_tokens(p, v) for p in scales(40)]}
    ds = StyleDataset(pieces, v, seq=48)
    cfg = ModelConfig(vocab_size=v.size, d_model=32, n_layer=2, n_head=2, d_ff=64, window=48, dropout=0.0)
    m = MusicTransformer(cfg)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    rng = random.Random(0)
    before = heldout_nll(m, pieces[0], 0, v, 48)
    for _ in range(60):
        loss = loss_on(m, ds.batch(rng, 8), v.pad)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = heldout_nll(m, pieces[0], 0, v, 48)
    assert after < 0.6 * before, (before, after)


def test_examples_start_with_their_style_token():
    v = Vocab()
    ds = StyleDataset({3: [notes_to_tokens(scales(50)[0], v)]}, v, seq=20)
    b = ds.batch(random.Random(1), 4)
    assert (b[:, 0] == v.style(3)).all()
