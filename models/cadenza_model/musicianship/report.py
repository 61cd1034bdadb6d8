"""The musicianship benchmark's one render: MUSICIANSHIP.md and its piano rolls from the cases, the
takes and the corpus's figures."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from .. import knowing
from .cases import STYLES, MODES, MODE_NAMES, ALONE, inputs, label, shipped_roles
from .figures import role_figures, TARGETS, humanized_drop, measured, mean_of


# What the shipped model misses and why, written by hand after a run; the report sets it at the top.
NOTES = Path(__file__).resolve().parents[2] / "musicianship_notes.md"


# ---------------------------------------------------------------------------------------------------
# The report


def pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def num(x: Optional[float], digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def piano_rolls(rows, title: str, path: Path):
    """One picture, a row per case: the player in blue, Cadenza in orange, bar lines in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(11, 0.9 * len(rows) + 0.4), squeeze=False)
    for ax, (row_label, case, take) in zip(axes[:, 0], rows):
        beats = case["beats"]
        for b in range(0, int(beats) + 1, case["beats_per_bar"]):
            ax.axvline(b, color="#cccccc", lw=0.6, zorder=0)
        for b, l, k, _ in case["player"]:
            ax.add_patch(plt.Rectangle((b, k - 0.4), l, 0.8, color="#3b6fb6", lw=0))
        for b, l, k, _ in case.get("prompt", []):
            ax.add_patch(plt.Rectangle((b - case.get("offset", 0.0), k - 0.4), l, 0.8, color="#9bb4d6", lw=0))
        for b, l, k, _ in take["cadenza"]:
            ax.add_patch(plt.Rectangle((b, k - 0.4), l, 0.8, color="#e07b24", lw=0))
        keys = [x[2] for x in case["player"]] + [x[2] for x in take["cadenza"]] or [60]
        ax.set_ylim(min(keys) - 2, max(keys) + 2)
        ax.set_xlim(-case.get("offset", 0.0), beats)
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_ylabel(row_label, rotation=0, ha="right", va="center", fontsize=7)
    fig.suptitle(title + "  (blue: the player; pale blue: the clip; orange: Cadenza)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)


def comparison(rows, other_rows, other_name: str) -> List[str]:
    """Per style and mode, this take set beside another (the same cases, another model)."""
    lines = ["", f"## Against {other_name}", "",
             f"The same cases played by {other_name}. Means over the style and mode's cases (refused: per step, over",
             "all its steps; a build that does not log it shows 0).", "",
             "| style | mode | refused per step | steps over 20% (player's keys) | notes/bar | 16th/triplet | in scale | chord tones |",
             "|---|---|---|---|---|---|---|---|"]
    def agg(rs, style, mode):
        sel = [(c, t, f) for c, t, f in rs if c["style"] == style and c["mode"] == mode and not c.get("realtime")]
        ms = [t["mask"] for _, t, _ in sel if t.get("mask")]
        steps = sum(m["steps"] for m in ms)
        return {"refused": sum(m["mean"] * m["steps"] for m in ms) / max(steps, 1),
                "over": sum(m["over_fifth"] for m in ms), "keys": sum(m["player_keys"] for m in ms),
                "npb": mean_of(f.notes_per_bar for _, _, f in sel if f.notes),
                "grid": mean_of(f.grid16_or_triplet for _, _, f in sel if f.notes),
                "scale": mean_of(f.in_scale for _, _, f in sel), "chord": mean_of(f.chord_tone for _, _, f in sel)}
    for style in STYLES:
        for mode in MODES:
            a, b = agg(rows, style, mode), agg(other_rows, style, mode)
            if a["npb"] is None and b["npb"] is None:
                continue
            lines.append(f"| {style} | {MODE_NAMES[mode]} | {100 * a['refused']:.1f}% ({100 * b['refused']:.1f}%) | "
                         f"{a['over']:.0f} ({b['over']:.0f}); {a['keys']:.0f} ({b['keys']:.0f}) | "
                         f"{num(a['npb'])} ({num(b['npb'])}) | {pct(a['grid'])} ({pct(b['grid'])}) | "
                         f"{pct(a['scale'])} ({pct(b['scale'])}) | {pct(a['chord'])} ({pct(b['chord'])}) |")
    lines.append(f"\nIn brackets: {other_name}.")
    return lines


def targets_section(offline, ref: dict, ins: dict) -> List[str]:
    """The targets per style and mode, met or missed."""
    lines = ["## Targets, per style and mode", "",
              "Notes per bar: the share of cases (inputs × feels) inside the corpus's 10th–90th percentile for the",
              "style, and the range of the cases' means. Grid: the lowest share of onsets on the sixteenth or",
              "triplet-eighth grid over the cases (target ≥ 90%). In scale and chord tones: the lowest over the",
              "progressions (targets ≥ 90% and ≥ 55%). New key: from two bars after the modulation (≥ 85%).",
              "Humanized: the largest drop, in points, over grid, in scale and chord tones, from the mean over the",
              "quantized inputs to the mean over the same inputs humanized (≤ 5). ✓ met, ✗ missed.", "",
              "| style | mode | notes/bar (corpus p10–p90) | inside | grid min | in scale min | chord tones min | new key | humanized drop |",
              "|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    for style in STYLES:
        r = ref["styles"].get(style, {})
        npb = r.get("notes_per_bar", {})
        for mode in MODES:
            sel = [x for x in offline if x[0]["style"] == style and x[0]["mode"] == mode]
            if not sel:
                continue
            lo, hi = npb.get("p10"), npb.get("p90")
            inside = [lo is not None and lo <= f.notes_per_bar <= hi for _, _, f in sel if f.notes]
            grid = min(f.grid16_or_triplet for _, _, f in sel if f.notes) if any(f.notes for _, _, f in sel) else None
            prog = [f for c, _, f in sel if ins[c["input"]].kind == "progression" and f.notes]
            scale = min((f.in_scale for f in prog if f.in_scale is not None), default=None)
            chord = min((f.chord_tone for f in prog if f.chord_tone is not None), default=None)
            newkey = [f.new_key for _, _, f in sel if f.new_key is not None]
            drop = humanized_drop(sel)
            means = [f.notes_per_bar for _, _, f in sel if f.notes]
            summary[(style, mode)] = dict(inside=inside, grid=grid, scale=scale, chord=chord, newkey=newkey, drop=drop)
            harmony_applies = mode != "improvise"
            lines.append(
                f"| {style} | {MODE_NAMES[mode]} | {num(min(means) if means else None)}–{num(max(means) if means else None)} "
                f"({num(lo, 0)}–{num(hi, 0)}) | {sum(inside)}/{len(inside)} {mark(inside and all(inside))} | "
                f"{pct(grid)} {mark(grid is not None and grid >= TARGETS['grid'])} | "
                + (f"{pct(scale)} {mark(scale is not None and scale >= TARGETS['in_scale'])} | "
                   f"{pct(chord)} {mark(chord is not None and chord >= TARGETS['chord_tone'])} | "
                   if harmony_applies else f"{pct(scale)} (alone) | {pct(chord)} (alone) | ")
                + (f"{pct(min(newkey))} {mark(min(newkey) >= TARGETS['new_key'])}" if newkey else "–") + " | "
                + (f"{100 * drop:.0f} {mark(drop <= TARGETS['humanized_drop'])}" if drop is not None else "–") + " |")
    lines += ["", "Improvise plays alone by design (the player's notes do not enter its context), so its harmony",
              "against the player is reported, not held to the targets.", ""]
    return lines


def corpus_section(ref: dict) -> List[str]:
    """The held-out corpus's figures per style."""
    lines = ["## The held-out corpus, per style", "",
              "Cadenza's side of the corpus's own part splits (some parts the player's, the rest Cadenza's; a tune traded every two bars; one in five Cadenza alone; held-out pieces, " +
              f"{ref.get('splits_per_piece', '?')} seeded splits each): notes per bar while it plays, grid shares, MusPy's",
              "scale consistency, and chord tones where the player's side sounds a chord (three or more pitch",
              "classes; a part of a chord the player's voices leave out is not a miss then).", "",
              "| style | pieces | notes/bar p10 / p50 / p90 | 16th or triplet | 8th | scale consistency | chord tones (chance) |",
              "|---|---|---|---|---|---|---|"]
    for style in STYLES:
        r = ref["styles"].get(style)
        if not r:
            continue
        n = r["notes_per_bar"]
        lines.append(f"| {style} | {r['pieces']} | {n['p10']} / {n['p50']} / {n['p90']} | {pct(r['grid16_or_triplet'])} | "
                     f"{pct(r['grid8'])} | {pct(r['scale_consistency'])} | "
                     f"{pct(r.get('chord_tone'))} ({pct(r.get('chord_tone_chance'))}) |")
    return lines


def mask_section(offline) -> List[str]:
    """What the mask took from the model, per style and mode."""
    lines = ["", "## What the mask takes away", "",
              "Per step, the probability the engine's sampler mask refused (at temperature 1), averaged over a",
              "style and mode's cases; steps that lost more than a fifth; of those, how many the likeliest refused",
              "token was a note of a key the player holds (the model and the engine disagreeing about whose notes",
              "are whose), and how many fell in a lead (nothing may be placed yet: the reaction lead, a",
              "transport start, an answer's wait).", "",
              "| style | mode | steps | refused per step | steps over 20% | player's keys | leads |", "|---|---|---|---|---|---|---|"]
    for style in STYLES:
        for mode in MODES:
            ms = [t["mask"] for c, t, _ in offline if c["style"] == style and c["mode"] == mode and t.get("mask")]
            if not ms:
                continue
            steps = sum(m["steps"] for m in ms)
            mean = sum(m["mean"] * m["steps"] for m in ms) / max(steps, 1)
            lines.append(f"| {style} | {MODE_NAMES[mode]} | {steps:.0f} | {100 * mean:.1f}% | "
                         f"{sum(m['over_fifth'] for m in ms):.0f} | {sum(m['player_keys'] for m in ms):.0f} | "
                         f"{sum(m['leads'] for m in ms):.0f} |")
    return lines


def alone_section(offline, ref: dict) -> List[str]:
    """Nobody playing: how soon Cadenza begins alone, and how it plays."""
    lines: List[str] = []
    alone = [(c, f) for c, _, f in offline if c["input"] == ALONE]
    if alone:
        lines += ["", "## Nobody playing", "",
                  "The transport starts and nobody plays (120 BPM, 8 bars, seeds 1–3): the beat of Cadenza's first",
                  f"note for each seed (target: within the first bar, ≤ {TARGETS['first_note']:.0f} beats; – for none), its",
                  "notes per bar (the corpus's p10–p90), grid, and MusPy's scale consistency (the corpus's).", "",
                  "| style | mode | first note (beats) | notes/bar (corpus) | 16th/triplet | scale consistency (corpus) |",
                  "|---|---|---|---|---|---|"]
        for style in STYLES:
            r = ref["styles"].get(style, {})
            npb = r.get("notes_per_bar", {})
            for mode in MODES:
                sel = sorted([(c.get("seed", 1), f) for c, f in alone if c["style"] == style and c["mode"] == mode],
                             key=lambda x: x[0])
                if not sel:
                    continue
                firsts = [f.first_note for _, f in sel]
                ok = all(x is not None and x <= TARGETS["first_note"] for x in firsts)
                lines.append(
                    f"| {style} | {MODE_NAMES[mode]} | {', '.join(num(x, 2) for x in firsts)} {mark(ok)} | "
                    f"{num(mean_of(f.notes_per_bar for _, f in sel if f.notes))} ({num(npb.get('p10'), 0)}–"
                    f"{num(npb.get('p90'), 0)}) | {pct(mean_of(f.grid16_or_triplet for _, f in sel if f.notes))} | "
                    f"{pct(mean_of(f.scale_consistency for _, f in sel))} ({pct(r.get('scale_consistency'))}) |")
    return lines


def realtime_section(realtime) -> List[str]:
    """On the grid in real time, at every block size."""
    lines: List[str] = []
    if realtime:
        lines += ["", "## On the grid in real time, at any block size", "",
                  "Duet, chorale, 120 BPM, blocks paced to the wall clock as an audio interface calls them. A note is on",
                  "the grid when its sample is within one sample of a 1/24-beat tick.", "",
                  "| input | host blocks | Cadenza's notes | on the 1/24-beat grid | furthest off (samples) | 16th or triplet |",
                  "|---|---|---|---|---|---|"]
        for c, t, f in realtime:
            off = t.get("off_grid_samples", [])
            ok = sum(1 for x in off if x <= 1.0)
            lines.append(f"| {c['input']} | {c.get('block_label', c['block'])} | {len(off)} | {ok}/{len(off)} | "
                         f"{max(off) if off else 0:.1f} | {pct(f.grid16_or_triplet)} |")
    return lines


def call_section(offline) -> List[str]:
    """Call & Response's delay and overlap, per style."""
    lines: List[str] = []
    cr = [(c, f) for c, _, f in offline if c["mode"] == "call"]
    if cr:
        lines += ["", "## Call & Response", "",
                  "Calls of two bars with their last beat free, two bars' rest after each; Answer Length 2 bars, Listen",
                  "Gap half a beat, answers from the next bar. Delay: beats from the end of a call to the answer's",
                  "first note (mean). Overlap: Cadenza's notes still sounding when the next call starts.", "",
                  "| style | delay (beats) | overlap (notes, all cases) |", "|---|---|---|"]
        for style in STYLES:
            sel = [f for c, f in cr if c["style"] == style]
            delays = [f.answer_delay for f in sel if f.answer_delay is not None]
            lines.append(f"| {style} | {num(sum(delays) / len(delays) if delays else None, 2)} | "
                         f"{sum(f.overlap or 0 for f in sel)} |")
    return lines


def cases_section(offline, pictures: Path) -> List[str]:
    """Every case, per style, with its piano rolls (written into `pictures`)."""
    lines = ["", "## Every case", ""]
    for style in STYLES:
        lines += [f"### {style}", "",
                  "| mode | input | feel | notes | notes/bar | 16th/triplet | 8th | longest off | in scale (chance) | scale cons. | chord tones (chance) | new key | refused/step |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for c, t, f in offline:
            if c["style"] != style:
                continue
            m = t.get("mask") or {}
            lines.append(
                f"| {MODE_NAMES[c['mode']]} | {c['input']} | {label(c)} | {f.notes} | {num(f.notes_per_bar)} | "
                f"{pct(f.grid16_or_triplet)} | {pct(f.grid8)} | {f.longest_off_grid} | {pct(f.in_scale)} "
                f"({pct(f.in_scale_chance)}) | {pct(f.scale_consistency)} | {pct(f.chord_tone)} "
                f"({pct(f.chord_tone_chance)}) | {pct(f.new_key)} | {num(100 * m['mean'] if m else None)}% |")
        lines.append("")
        for mode in MODES:
            sel = [(c["input"] + ("" if label(c) == "quantized" else f" ({label(c)})"), c, t) for c, t, _ in offline
                   if c["style"] == style and c["mode"] == mode]
            if sel:
                pic = pictures / f"{style}-{mode}.png"
                piano_rolls(sel, f"{style}, {MODE_NAMES[mode]}", pic)
                rel = Path("musicianship") / pic.name
                lines.append(f"![{style}, {MODE_NAMES[mode]}]({rel.as_posix()})")
        lines.append("")
    return lines


def mark(ok) -> str:
    """A target met (✓) or missed (✗)."""
    return "✓" if ok else "✗"


def report(cases_list: List[dict], takes: List[dict], ref: dict, out: Path, pictures: Path, command: str,
           others: Sequence[Tuple[List[dict], str]] = (), notes: str = "") -> str:
    """MUSICIANSHIP.md from the takes, its sections in order. `notes`: what the figures miss and why,
    as written by hand (NOTES), set under the introduction."""
    ins = {i.name: i for i in inputs()}
    rows = measured(cases_list, takes)
    offline = [r for r in rows if not r[0].get("realtime")]
    realtime = [r for r in rows if r[0].get("realtime")]
    lines = ["# Musicianship", "",
             "What Cadenza plays with a musician, measured as music, beside the held-out corpus and chance.",
             "Made by `" + command + "` (every case played through the bundled CLAP in the project's host,",
             "offline renders at 512-frame blocks, seed 1; then a real-time pass). The figures are of",
             "Cadenza's part alone. See `models/cadenza_model/musicianship/` for the definitions.", ""]
    if notes:
        lines += [notes.strip(), ""]
    lines += targets_section(offline, ref, ins)
    lines += corpus_section(ref)
    lines += mask_section(offline)
    for other_takes, other_name in others:
        lines += comparison(rows, measured(cases_list, other_takes), other_name)
    lines += alone_section(offline, ref)
    if realtime:
        lines += realtime_section(realtime)
    lines += call_section(offline)
    lines += ["", *role_figures(cases_list, takes, shipped_roles())]
    lines += cases_section(offline, pictures)
    text = "\n".join(lines) + "\n"
    # The Knowing the song section comes from its own run (knowing.py): kept as it was.
    kept = knowing.section_of(out.read_text()) if out.exists() else None
    if kept:
        text = knowing.replace_section(text, kept)
    out.write_text(text)
    return text
