"""The commands, each run as `python -m cadenza_model.cli.NAME` from models/ (`--help` says more):

- train, finetune, export: train a model, fine-tune one on your MIDI files, export a checkpoint;
- evaluate, role_eval, style_check, role_check: the model's figures into EVALUATION.md;
- musicianship, knowing: the musicianship benchmark's cases and report (MUSICIANSHIP.md);
- bench, golden, corpus: the benchmark's graphs, the golden fixtures, the parsed corpus cache.

Everything else in cadenza_model is a library: the commands import it, never each other.
"""
