"""Train (or fine-tune) the Music Transformer on style-labelled corpus pieces.

    python -m cadenza_model.cli.train --out runs/base.pt --minutes 20
    python -m cadenza_model.cli.train --init runs/base.pt --styles celtic --out runs/celtic.pt --minutes 5

CPU by default, CUDA when present (--device), and multi-GPU under torchrun (DistributedDataParallel,
picked up from the WORLD_SIZE/LOCAL_RANK environment variables).
Every example is [STYLE] + a crop of one piece's tokens, transposed by a random interval: the style
token always sits inside the attention window, in training as in the plugin.
"""
from __future__ import annotations

import argparse
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import duet
from ..model import with_chords, with_two_streams
from ..training import (ARCHS, DuetDataset, FitResult, StyleDataset, add_fit_arguments, build_model, duet_examples,
                       duet_heldout_nll, fit, fit_options, heldout_nll, save_curve, tokenize_pieces)
from ..vocab import Vocab


def arguments() -> argparse.ArgumentParser:
    """The command line: a table of the options."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")
    ap.add_argument("--init", type=Path, help="checkpoint to fine-tune from (transfer learning)")
    ap.add_argument("--styles", nargs="*", default=None, help="styles to train on (default: all known)")
    ap.add_argument("--max-files", type=int, default=None, help="cap on corpus files per style")
    ap.add_argument("--expand-repeats", action="store_true",
                    help="train on the corpus with its repeat signs played out (data.py)")
    add_fit_arguments(ap, lr=1e-3, warmup=100)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--d-ff", type=int, default=1024)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--two-streams", action="store_true",
                    help="format 4: the player's notes and Cadenza's, from the corpus's parts (duet.py)")
    ap.add_argument("--astray", type=float, default=None,
                    help="with --two-streams: how often Cadenza's past goes astray (duet.py; default "
                         "duet.P_ASTRAY)")
    ap.add_argument("--alone", action="store_true",
                    help="with --two-streams: examples of Cadenza alone carry no role slot, so the model "
                         "knows when nobody else will play (ModelConfig.alone; model.json's \"alone\")")
    ap.add_argument("--chords", type=float, default=None, metavar="P",
                    help="format 5, with --two-streams: the chord now and the chord coming as inputs (chords.py); "
                         f"P of the examples are told their piece's own chords, the rest none (duet.P_CHORDS is "
                         f"{duet.P_CHORDS}); a format 4 model starts with a silent chord input (model.with_chords)")
    ap.add_argument("--chords-alone", type=float, default=None, metavar="P",
                    help="with --chords: how often an example of Cadenza alone is told its chords (default: as "
                         "any other); lower keeps the sketches, which are told none, as they were")
    ap.add_argument("--init-model-dir", type=Path,
                    help="start from an exported model folder (model.onnx + model.json, e.g. models/default); "
                         "with --two-streams a format 3 model becomes a format 4 one (model.with_two_streams)")
    ap.add_argument("--no-features", action="store_true",
                    help="tokens only (format 2): no held-keys and beat-phase inputs (features.py)")
    ap.add_argument("--arch", choices=list(ARCHS), default="transformer", help="lstm: the comparison baseline")
    ap.add_argument("--hidden", type=int, default=480, help="LSTM hidden size (480 ≈ the default Transformer's size)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-every", type=float, default=0,
                    help="also write the checkpoint every this many minutes (0: only at the end)")
    return ap


@dataclass
class Processes:
    """Where this process trains: one process, or one of `world` under torchrun (`rank`)."""
    world: int
    distributed: bool
    rank: int
    dev: str


def processes(a) -> Processes:
    """One process, or torchrun's (WORLD_SIZE, RANK, LOCAL_RANK), on the device asked for."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    distributed = world > 1
    rank = int(os.environ.get("RANK", "0"))
    if distributed:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    dev = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    if dev == "cuda" and distributed:
        dev = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(dev)
    return Processes(world, distributed, rank, dev)


def starting_model(a):
    """The model to train: a checkpoint (--init), an exported folder (--init-model-dir) or a new one,
    made a two-stream (format 4) or chord-hearing (format 5) one as asked. -> (arch, model, vocab,
    styles)"""
    from ..data import STYLE_ORDER

    if a.init:
        ck = torch.load(a.init, map_location="cpu")
        arch = ck.get("arch", "transformer")
        _, model = build_model(arch, ck["config"])
        model.load_state_dict(ck["state_dict"])
        vocab = Vocab.from_json(ck["vocab"])
        styles = list(ck["styles"])
    elif a.init_model_dir:
        from ..exporting import load_onnx_model

        arch = "transformer"
        model, vocab, styles, _ = load_onnx_model(a.init_model_dir)
        model.train()
    else:
        arch = a.arch
        vocab = Vocab()
        styles = list(STYLE_ORDER)
        if arch == "transformer":
            config = dict(vocab_size=vocab.size, d_model=a.d_model, n_layer=a.layers, n_head=a.heads,
                          d_ff=a.d_ff, window=a.window, dropout=a.dropout, two_streams=a.two_streams)
        else:
            config = dict(vocab_size=vocab.size, d_embed=a.d_model, hidden=a.hidden, n_layer=2, dropout=a.dropout)
        config.update(features=not a.no_features, ticks_per_beat=vocab.ticks_per_beat)
        _, model = build_model(arch, config)
    if a.two_streams and not getattr(model.cfg, "two_streams", False):
        if arch != "transformer" or not model.cfg.features:
            raise SystemExit("--two-streams needs a Transformer with features (format 3) to start from")
        model = with_two_streams(model)
    if a.chords is not None:
        if not getattr(model.cfg, "two_streams", False):
            raise SystemExit("--chords needs --two-streams (format 4) to start from")
        if not getattr(model.cfg, "chords", False):
            model = with_chords(model)
    if a.alone:
        if not getattr(model.cfg, "two_streams", False):
            raise SystemExit("--alone needs --two-streams")
        model.cfg.alone = True
    return arch, model, vocab, styles


@dataclass
class Data:
    """The training set and the held-out examples the run is measured on, by style slot."""
    ds: object
    train: dict
    held: dict
    held_duet: dict = field(default_factory=dict)
    held_chords: dict = field(default_factory=dict)


def data_for(a, cfg, vocab, styles, train_styles, seq) -> Data:
    """The corpus's pieces of `train_styles` (none of a drifted file's notes learned from; the held-out
    pieces as every earlier model met them), as crops of one stream, or as duets cut from their parts
    for a two-stream model (duet.py)."""
    from ..data import load_pieces, merged, without_drifted

    corpus = load_pieces(train_styles, a.max_files, expand_repeats=a.expand_repeats)
    corpus = {s: (without_drifted(tr, s), ho) for s, (tr, ho) in corpus.items()}
    train = {styles.index(s): tokenize_pieces([merged(p) for p in tr], vocab) for s, (tr, _) in corpus.items()}
    held = {styles.index(s): tokenize_pieces([merged(p) for p in ho], vocab) for s, (_, ho) in corpus.items()}
    if not getattr(cfg, "two_streams", False):
        return Data(StyleDataset(train, vocab, seq), train, held)
    ds = DuetDataset({styles.index(s): tr for s, (tr, _) in corpus.items()}, vocab, seq,
                     p_astray=duet.P_ASTRAY if a.astray is None else a.astray, alone=cfg.alone,
                     p_chords=(a.chords if a.chords is not None else duet.P_CHORDS) if cfg.chords else 0.0,
                     p_chords_alone=a.chords_alone)
    data = Data(ds, train, held)
    data.held_duet = {styles.index(s): duet_examples(ho, styles.index(s), vocab, seq, 48)
                      for s, (_, ho) in corpus.items()}
    if getattr(cfg, "chords", False):
        # The same examples told their piece's own chords: what the chord track is worth.
        data.held_chords = {styles.index(s): duet_examples(ho, styles.index(s), vocab, seq, 48, with_chords=True)
                            for s, (_, ho) in corpus.items()}
    return data


def main(argv=None):
    a = arguments().parse_args(argv)
    procs = processes(a)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed + procs.rank)
    rng = random.Random(a.seed + procs.rank)
    arch, model, vocab, styles = starting_model(a)
    cfg = model.cfg
    two = getattr(cfg, "two_streams", False)
    seq = cfg.window if arch == "transformer" else a.window
    train_styles = a.styles or styles
    for s in train_styles:
        if s not in styles:
            styles.append(s)
    if len(styles) > vocab.style_slots:
        raise SystemExit(f"{len(styles)} styles do not fit in {vocab.style_slots} style slots")
    data = data_for(a, cfg, vocab, styles, train_styles, seq)
    train, held, held_duet, held_chords = data.train, data.held, data.held_duet, data.held_chords
    if procs.rank == 0:
        for s in train_styles:
            slot = styles.index(s)
            print(f"[train] {s}: {len(train[slot])} pieces, {sum(map(len, train[slot]))} tokens; "
                  f"held out {len(held[slot])} pieces, {sum(map(len, held[slot]))} tokens")
    model.to(procs.dev)
    net = torch.nn.parallel.DistributedDataParallel(model) if procs.distributed else model
    if procs.rank == 0:
        print(f"[train] {arch}: {model.num_params() / 1e6:.2f} M parameters on {procs.dev}, examples of {seq} tokens")

    def save(final_nll, final_duet, res: FitResult):
        a.out.parent.mkdir(parents=True, exist_ok=True)
        torch.save({
            "arch": arch, "config": cfg.to_dict(), "vocab": vocab.to_json(), "styles": styles,
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
            "train_info": {"steps": res.steps, "minutes": res.minutes, "tokens": procs.world * res.tokens,
                           "processes": procs.world,
                           "train_styles": train_styles, "heldout_nll": final_nll,
                           "heldout_nll_beside_player": final_duet,
                           "init": str(a.init or a.init_model_dir or "") or None, "max_files": a.max_files,
                           "expand_repeats": a.expand_repeats, "two_streams": two,
                           "roles": list(duet.ROLES) if two else None,
                           "chords": data.ds.p_chords if getattr(cfg, "chords", False) else None,
                           "chords_alone": data.ds.p_chords_alone if getattr(cfg, "chords", False) else None,
                           "parameters": model.num_params(), "seq": seq},
        }, a.out)

    def evaluate(step: int) -> float:
        ev = sum(heldout_nll(model, held[sl], sl, vocab, seq, 20) for sl in held) / max(len(held), 1)
        if two:
            dv = sum(duet_heldout_nll(model, held_duet[sl][:16], vocab) for sl in held_duet) / len(held_duet)
            told = ""
            if getattr(cfg, "chords", False):
                dc = sum(duet_heldout_nll(model, held_chords[sl][:16], vocab) for sl in held_chords) / len(held_chords)
                told = f", told the chords {dc:.3f}"
            print(f"[train] step {step}: held-out NLL alone {ev:.3f}, Cadenza's tokens beside a player {dv:.3f}{told}",
                  flush=True)
        return ev

    opts = fit_options(a, two, eval_every=a.eval_every, save_every=a.save_every, log_every=20, label="train")
    res = fit(model, data.ds, vocab, opts, rng, net=net, dev=procs.dev, distributed=procs.distributed, world=procs.world,
              rank=procs.rank,
              evaluate=evaluate, save=lambda r: save({}, {}, r))
    history = res.history

    if procs.rank == 0:
        final = {s: heldout_nll(model, held[styles.index(s)], styles.index(s), vocab, seq, 60) for s in train_styles}
        print("[train] held-out NLL per style: " + ", ".join(f"{s} {v:.3f}" for s, v in final.items()))
        final_duet = {s: duet_heldout_nll(model, held_duet[styles.index(s)], vocab) for s in train_styles} if two else {}
        if two:
            print("[train] held-out NLL of Cadenza's tokens beside a player: "
                  + ", ".join(f"{s} {v:.3f}" for s, v in final_duet.items()))
        if getattr(cfg, "chords", False):
            final_chords = {s: duet_heldout_nll(model, held_chords[styles.index(s)], vocab) for s in train_styles}
            final_duet = {**final_duet, **{f"{s} with its chords": v for s, v in final_chords.items()}}
            print("[train] ... told the piece's own chords: "
                  + ", ".join(f"{s} {v:.3f}" for s, v in final_chords.items()))
        save(final, final_duet, res)
        save_curve(history, a.out.with_suffix(".loss.png"))
        print(f"[train] wrote {a.out} and {a.out.with_suffix('.loss.png')}")
    if procs.distributed:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
