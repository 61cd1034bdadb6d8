"""The musicianship benchmark: what Cadenza plays with a musician, measured as music.

    python -m cadenza_model.cli.musicianship cases OUT/cases.json        # the inputs, every mode and style
    python -m cadenza_model.cli.musicianship reference                   # held-out corpus figures (parsed corpus)
    python -m cadenza_model.cli.musicianship report OUT/cases.json OUT/takes.json --out ../MUSICIANSHIP.md

`cargo xtask musicianship` runs all of it: the cases are played through the real plugin by the Rust
tool `cadenza-musicianship` (the bundled CLAP in the project's host; offline renders, so the same take
every time, plus a real-time pass at host block sizes from 32 to 4096 frames).

The inputs: chord progressions held a bar each in several keys and feels (pop, minor, ii-V-I, a
blues, a modulation), melodies (straight and triplet), each also humanized (onsets within +-30 ms,
note lengths of 50-100%, any velocities). Each plays in every mode (Duet, Call & Response, Continue
Clip, Improvise) and every style. And nobody playing, in Duet and Improvise, three seeds: the
transport starts and Cadenza is alone (how soon it begins, and whether it sounds like its style).

The figures, of Cadenza's part alone:
- notes per bar, over the bars in which it plays;
- onsets on the eighth, sixteenth and triplet-eighth grids, and the longest run of onsets on neither
  of the last two;
- in scale: onsets whose pitch class is in the input's key (where a modulation is, the key of the
  moment; minor counts the raised seventh, a blues the flat seventh), beside chance (scale size / 12)
  and MusPy's key-free `scale_consistency`;
- chord tones: onsets, while the player holds a chord (three or more pitch classes), whose pitch
  class is one of them, beside chance (held pitch classes / 12);
- after a modulation, the in-key share from two bars after it;
- Call & Response: beats from the end of a call to the answer's first note, and notes still sounding
  when the next call starts;
- the probability the engine's mask took from the model per step (its log line);
- the beat of its first note.

Beside them, the held-out corpus's figures for the style, of Cadenza's side of the same part splits
the model trained on (duet.py): notes per bar (10th-90th percentile), grid shares, MusPy's scale
consistency, chord tones.

The package, by job: `cases` (the inputs and the cases), `figures` (what a take measures, and the
targets), `reference` (the held-out corpus's figures) and `report` (the one render: MUSICIANSHIP.md
and its pictures). The command line is cadenza_model/cli/musicianship.py. No I/O here but the
report's writers.
"""
