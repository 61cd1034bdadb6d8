import math

import torch

from cadenza_model.baselines import LSTMConfig, LSTMModel, NGram
from cadenza_model.evaluation import StyleClassifier, features, generate
from cadenza_model.model import ModelConfig, MusicTransformer
from cadenza_model.vocab import PITCHES, Vocab, tokens_to_notes

import numpy as np


def test_ngram_is_a_distribution_and_learns_repetition():
    seqs = [[1, 2, 3, 4] * 20, [1, 2, 3, 4] * 10]
    ng = NGram(vocab_size=10, n=3).fit(seqs)
    for ctx in ([1, 2], [4], [], [9, 9]):
        total = sum(ng.prob(ctx, t) for t in range(10))
        assert abs(total - 1) < 1e-9, (ctx, total)
    assert ng.prob([1, 2], 3) > 0.9
    nll, n = ng.nll([1, 2, 3, 4, 1, 2, 3])
    assert n == 6 and nll / n < 0.5


def test_lstm_has_the_transformer_interface_and_size():
    v = Vocab()
    lstm = LSTMModel(LSTMConfig(v.size))
    tf = MusicTransformer(ModelConfig(v.size))
    assert lstm(torch.randint(0, v.size, (2, 9))).shape == (2, 9, v.size)
    assert abs(lstm.num_params() - tf.num_params()) / tf.num_params() < 0.05


def test_generation_obeys_the_grammar_masks():
    # events only, and never a note-on on a key that is already sounding
    torch.manual_seed(0)
    v = Vocab()
    m = MusicTransformer(ModelConfig(v.size, d_model=32, n_layer=1, n_head=2, d_ff=32, window=24, dropout=0.0)).eval()
    toks = generate(m, v, slot=1, n_tokens=120, temperature=1.5, top_p=1.0, seed=3)
    open_keys = set()
    for t in toks:
        assert v.note_on_base <= t < v.shift_base + v.max_shift, "only events"
        if t < v.note_off_base:
            assert t - v.note_on_base not in open_keys
            open_keys.add(t - v.note_on_base)
        elif t < v.shift_base:
            open_keys.discard(t - v.note_off_base)  # ending a key never started is allowed, as in the plugin
    assert tokens_to_notes(toks, v) is not None


def test_classifier_separates_obviously_different_styles():
    rng = np.random.default_rng(0)
    fast = [[(i * 6, 6, 60 + int(rng.integers(-2, 3))) for i in range(40)] for _ in range(30)]
    chords = [[(i * 48 + 0, 48, p) for i in range(8) for p in (48, 55, 64, 67 + int(rng.integers(0, 3)))] for _ in range(30)]
    X = np.array([features(e) for e in fast + chords])
    y = np.array([0] * 30 + [1] * 30)
    clf = StyleClassifier().fit(X, y, 2, steps=500)
    assert (clf.predict(X) == y).mean() > 0.95
