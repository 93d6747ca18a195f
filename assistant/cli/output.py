"""How the CLI writes: results to stdout (a JSON value a line with ``--json``), the rest to
stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO


def print_json(value: Any, out: TextIO | None = None) -> None:
    """Print one compact JSON value on a line."""
    stream = out or sys.stdout
    stream.write(json.dumps(value, ensure_ascii=False) + "\n")
    stream.flush()


def out(line: str) -> None:
    """Print a result line to stdout, flushed at once (the output may be piped)."""
    print(line, flush=True)


def err(line: str) -> None:
    """Print progress, a warning or an error line to stderr."""
    print(line, file=sys.stderr, flush=True)
