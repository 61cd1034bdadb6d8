import random

import torch

from cadenza_model.model import ModelConfig, MusicTransformer
from cadenza_model.training import TOKEN_KINDS, StyleDataset, heldout_nll, heldout_sums, loss_on, mean_nll
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


def test_heldout_sums_split_the_same_loss_by_kind_of_token():
    torch.manual_seed(0)
    v = Vocab()
    pieces = [notes_to_tokens(p, v) for p in scales(60, n=2)]
    cfg = ModelConfig(vocab_size=v.size, d_model=32, n_layer=1, n_head=2, d_ff=64, window=128, dropout=0.0)
    m = MusicTransformer(cfg)
    assert all(len(p) < 127 for p in pieces)
    sums = heldout_sums(m, pieces, 0, v, 128)
    on, off, shift = (sum(1 for p in pieces for t in p if lo <= t < hi) for lo, hi in
                      ((v.note_on_base, v.note_off_base), (v.note_off_base, v.shift_base), (v.shift_base, v.size)))
    # Each piece fits one window, so every token is predicted once (after the style token).
    assert (sums["note-on"][1], sums["note-off"][1], sums["shift"][1]) == (on, off, shift)
    assert set(sums) == set(TOKEN_KINDS) and all(t > 0 for t, c in sums.values() if c)
    assert abs(mean_nll(sums) - heldout_nll(m, pieces, 0, v, 128)) < 1e-6
    # An untrained model spreads its guess: each kind's loss is near log(vocab), not zero.
    assert 0.5 * torch.log(torch.tensor(float(v.size))) < mean_nll(sums, ["note-on"]) < 2 * torch.log(torch.tensor(float(v.size)))


def _elapsed_in_group(rank, port, lag, out_dir):
    import os
    import time

    from cadenza_model.training import agreed_elapsed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    # Process 1 started its clock `lag` seconds earlier: both must read its (larger) elapsed time.
    t0 = time.time() - (lag if rank == 1 else 0.0)
    el = agreed_elapsed(t0, "cpu", True)
    (out_dir / f"{rank}.txt").write_text(repr(el))
    torch.distributed.destroy_process_group()


def test_processes_under_torchrun_agree_on_the_elapsed_time(tmp_path):
    # DDP averages gradients and each process applies them with its own learning rate, and a process
    # that stops alone leaves the other waiting in its all-reduce: the schedule and the stop must
    # come from one clock.
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_elapsed_in_group, args=(port, 30.0, tmp_path), nprocs=2, join=True)
    e0, e1 = (float((tmp_path / f"{r}.txt").read_text()) for r in (0, 1))
    assert e0 == e1, (e0, e1)
    assert 30.0 <= e0 < 60.0, e0


def test_windows_as_the_plugin_plays_score_every_token_once_with_half_a_window_before_it():
    from cadenza_model.training import eval_windows

    v = Vocab()
    # Note-ons and shifts only: clean_crop keeps every token, so positions are easy to follow.
    piece = [v.note_on_base + 40 + i % 30 if i % 3 else v.shift_base + i % 5 for i in range(301)]
    seq, stride = 64, 31
    starts = list(eval_windows([piece], 2, v, seq))
    plays = list(eval_windows([piece], 2, v, seq, stride=stride))
    assert sum(map(sum, (w[2] for w in starts))) == sum(map(sum, (w[2] for w in plays))) == len(piece)
    # The first window scores all it holds; every later one its last `stride` tokens (the last window
    # fewer, where the piece ends), so each of them has seq-1-stride tokens or more before it.
    assert all(starts[0][2]) and all(plays[0][2]) and len(plays[0][0]) == seq
    for chunk, _, scored in plays[1:]:
        assert chunk[0] == v.style(2)
        first = scored.index(True)
        assert first >= seq - 1 - stride and all(scored[first:]) and sum(scored) <= stride
    # Consecutive windows overlap by seq-1-stride tokens.
    assert plays[1][0][1:seq - stride] == plays[0][0][1 + stride:]


def test_context_curve_scores_the_same_tokens_at_every_length_of_context():
    from cadenza_model.evaluation import context_curve

    class Unigram(torch.nn.Module):
        """The same guess whatever came before: the same targets must give the same NLL."""

        def __init__(self, size):
            super().__init__()
            torch.manual_seed(3)
            self.logits = torch.nn.Parameter(torch.randn(size))

        def forward(self, tokens, feats=None):
            return self.logits.expand(*tokens.shape, -1)

    v = Vocab()
    # A drone under a melody: the drone's note-off comes long after its note-on, so a short context
    # cuts it (clean_crop) where a long one keeps it; it must be scored under neither.
    notes = [(i * 240, 144, 40 + i % 5) for i in range(10)] + [(i * 12, 12, 60 + i % 12) for i in range(200)]
    piece = notes_to_tokens(notes, v)
    curve, n = context_curve({"m": Unigram(v.size)}, [piece], 0, v, seq=256, every=40)
    values = list(curve["m"].values())
    assert n > 3 and len(values) == 5
    assert max(values) - min(values) < 1e-9, curve


def test_training_a_two_stream_model_from_the_command_line_writes_a_format_4_checkpoint(tmp_path, monkeypatch):
    import gzip
    import json

    from cadenza_model import data
    from cadenza_model.cli import train

    # A tiny part-labelled corpus in the cache's format: four-part "chorales", one held out.
    pieces = []
    for n in range(12):
        notes = [[t * 24, 24, 60 + 4 * part + (t + n) % 3, part] for t in range(32) for part in range(4)]
        pieces.append([f"bach/tiny{n}.xml#0", notes, 96])
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path)
    with gzip.open(tmp_path / "chorale.parts.json.gz", "wt") as f:
        json.dump({"version": data.CACHE_VERSION, "max_files": None, "files": [p[0].split("#")[0] for p in pieces],
                   "pieces": pieces}, f)
    out = tmp_path / "two.pt"
    train.main(["--two-streams", "--styles", "chorale", "--out", str(out), "--steps", "6", "--batch", "2",
                "--d-model", "32", "--layers", "1", "--heads", "2", "--d-ff", "64", "--window", "32",
                "--threads", "1", "--eval-every", "3"])
    ck = torch.load(out)
    assert ck["config"]["two_streams"] and ck["train_info"]["two_streams"]
    assert ck["train_info"]["steps"] == 6
    assert set(ck["train_info"]["heldout_nll_beside_player"]) == {"chorale"}


def test_the_one_schedule_warms_up_then_falls_by_a_cosine_to_a_tenth():
    from cadenza_model.training import lr_at

    assert lr_at(1.0, 0, 0, 0.0) == 1.0  # no warm-up: the full rate at once
    assert abs(lr_at(1.0, 0, 10, 0.0) - 0.1) < 1e-12 and abs(lr_at(1.0, 9, 10, 0.0) - 1.0) < 1e-12
    assert abs(lr_at(1.0, 50, 10, 0.5) - 0.55) < 1e-12
    assert abs(lr_at(2e-3, 50, 10, 1.0) - 2e-4) < 1e-12


def test_fit_stops_at_its_steps_counts_tokens_and_evaluates_on_schedule():
    from cadenza_model.training import FitOptions, fit

    torch.manual_seed(0)
    v = Vocab()
    pieces = {0: [notes_to_tokens(p, v) for p in scales(60)]}
    ds = StyleDataset(pieces, v, seq=48)
    m = MusicTransformer(ModelConfig(vocab_size=v.size, d_model=32, n_layer=1, n_head=2, d_ff=64, window=48,
                                     dropout=0.0))
    seen, saved = [], []
    res = fit(m, ds, v, FitOptions(minutes=5, steps=7, batch=2, lr=3e-3, eval_every=3, save_every=1e-9),
              random.Random(0), evaluate=lambda s: seen.append(s) or 1.5, save=lambda r: saved.append(r.steps))
    assert res.steps == 7 and seen == [3, 6]
    assert 0 < res.tokens <= 7 * 2 * 48 and saved == list(range(1, 8))
    assert [h[2] for h in res.history] == [None, None, 1.5, None, None, 1.5, None]


def test_fine_tuning_takes_the_training_options_own_past_and_the_held_key_penalty(tmp_path):
    """The options train.py has, through the one loop: a two-stream model fine-tuned with scheduled
    sampling, the held-key penalty and a warm-up."""
    import json

    from cadenza_model.cli import finetune
    from cadenza_model.evaluation import write_midi
    from cadenza_model.exporting import export_dir

    torch.manual_seed(0)
    v = Vocab()
    m = MusicTransformer(ModelConfig(vocab_size=v.size, d_model=32, n_layer=1, n_head=2, d_ff=64, window=32,
                                     features=True, two_streams=True, dropout=0.0))
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.01 * torch.randn_like(p))
    export_dir(m.eval(), v, ["chorale"], "tiny", {"roles": ["free"]}, tmp_path / "base")
    rng = random.Random(0)
    (tmp_path / "mine").mkdir()
    for f in range(3):
        write_midi([(i * 12, 12, 60 + rng.choice([0, 2, 4, 7])) for i in range(40)], tmp_path / "mine" / f"t{f}.mid")
    finetune.main(["--midi-dir", str(tmp_path / "mine"), "--style", "mine", "--out", str(tmp_path / "out"),
                   "--model", str(tmp_path / "base"), "--steps", "3", "--batch", "2", "--min-notes", "50",
                   "--threads", "1", "--warmup", "2", "--own-past", "0.5", "--held-penalty", "2"])
    assert json.loads((tmp_path / "out" / "model.json").read_text())["training"]["steps"] == 3


def test_the_evaluation_measures_and_renders_a_two_stream_model_on_a_tiny_corpus(tmp_path, monkeypatch):
    """cli.evaluate end to end (evaluation.py's measures and its one render) on a tiny two-style
    corpus: the report holds every section, with a row per style, and the hand-written notes."""
    import gzip
    import json

    from cadenza_model import data, evaluation
    from cadenza_model.cli import evaluate, train

    monkeypatch.setattr(data, "CACHE_DIR", tmp_path)
    for style, base in (("chorale", 60), ("folk", 48)):
        pieces = []
        for n in range(12):
            notes = [[t * 24, 24, base + 4 * part + (t * (part + 1) + n) % 5, part] for t in range(48)
                     for part in range(2)]
            pieces.append([f"{style}/tiny{n}.xml#0", notes, 96])
        with gzip.open(tmp_path / f"{style}.parts.json.gz", "wt") as f:
            json.dump({"version": data.CACHE_VERSION, "max_files": None,
                       "files": [p[0].split("#")[0] for p in pieces], "pieces": pieces}, f)
    ck = tmp_path / "two.pt"
    train.main(["--two-streams", "--styles", "chorale", "folk", "--out", str(ck), "--steps", "4", "--batch", "2",
                "--d-model", "32", "--layers", "1", "--heads", "2", "--d-ff", "64", "--window", "32",
                "--threads", "1", "--eval-every", "100"])
    notes = tmp_path / "notes.md"
    notes.write_text("## Where it stands\n\nA tiny model.\n")
    monkeypatch.setattr(evaluation, "EVAL_NOTES", notes)
    monkeypatch.setattr(evaluate, "EVAL_NOTES", notes)
    out = tmp_path / "EVALUATION.md"
    evaluate.main(["--transformer", str(ck), "--out", str(out), "--samples", "2", "--sample-tokens", "40",
                   "--max-chunks", "4", "--threads", "1"])
    text = out.read_text()
    for heading in ("# Evaluation", "## Where it stands", "## Held-out NLL (nats", "## Held-out NLL as the plugin plays",
                    "## Beside a player", "## Style check", "## Samples"):
        assert heading in text, heading
    assert text.index("## Where it stands") < text.index("## Held-out NLL (nats")
    for style in ("chorale", "folk"):
        assert f"| {style} |" in text
        assert (tmp_path / "samples" / f"{style}_1.png").exists()
