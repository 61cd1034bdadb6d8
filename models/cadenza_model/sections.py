"""A file's marked section, rewritten in place: what role_eval.py and style_check.py keep in
EVALUATION.md beside evaluation.py's render. No I/O but the one file."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional


def replace_section(path: Path, begin: str, end: str, lines: List[str]) -> None:
    """Put `lines` (which start with `begin` and end with `end`) where the file has its section between
    those markers, or at its end when it has none."""
    path.write_text(replaced(path.read_text() if path.exists() else "", begin, end, lines))


def replaced(text: str, begin: str, end: str, lines: List[str], before: Optional[str] = None) -> str:
    """`text` with `lines` (which start with `begin` and end with `end`) where it has its section between
    those markers; where it has none, before the line `before` (when given and there), else at its end."""
    body = "\n".join(lines)
    if begin in text and end in text:
        return text[:text.index(begin)] + body + text[text.index(end) + len(end):]
    if before and before in text:
        at = text.index(before)
        return text[:at] + body + "\n\n" + text[at:]
    return (text.rstrip() + "\n\n" if text.strip() else "") + body + "\n"


def others_sections(path: Path) -> str:
    """What the file holds from its first marked section on (the other scripts' sections and what is
    written around them), for a script that rewrites the text before them; "" when none."""
    text = path.read_text() if path.exists() else ""
    at = text.find("<!-- ")
    return text[at:] if at >= 0 else ""
