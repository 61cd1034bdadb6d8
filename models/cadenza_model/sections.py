"""A file's marked section, rewritten in place: what role_eval.py and style_check.py keep in
EVALUATION.md beside evaluate.py's text. No I/O but the one file."""
from __future__ import annotations

from pathlib import Path
from typing import List


def replace_section(path: Path, begin: str, end: str, lines: List[str]) -> None:
    """Put `lines` (which start with `begin` and end with `end`) where the file has its section between
    those markers, or at its end when it has none."""
    text = path.read_text() if path.exists() else ""
    body = "\n".join(lines)
    if begin in text and end in text:
        text = text[:text.index(begin)] + body + text[text.index(end) + len(end):]
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + body + "\n"
    path.write_text(text)


def others_sections(path: Path) -> str:
    """What the file holds from its first marked section on (the other scripts' sections and what is
    written around them), for a script that rewrites the text before them; "" when none."""
    text = path.read_text() if path.exists() else ""
    at = text.find("<!-- ")
    return text[at:] if at >= 0 else ""
