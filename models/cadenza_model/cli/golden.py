"""`python -m cadenza_model.cli.golden`: the command line of cadenza_model/golden.py, whose docstring says what it
does and how it is run."""

from __future__ import annotations

import json

from ..exporting import CHORALE
from ..golden import GOLDEN, RING_LOGITS, build, ring_logits, write_chorale_excerpt


def main():
    if not CHORALE.exists():
        write_chorale_excerpt()
    GOLDEN.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
    RING_LOGITS.write_text(json.dumps(ring_logits()) + "\n")
    print(f"wrote {RING_LOGITS}")


if __name__ == "__main__":
    main()
