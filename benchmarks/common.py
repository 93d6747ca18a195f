"""Helpers shared by the benchmark scripts: temp services, percentiles and a table printer."""

from __future__ import annotations

import atexit
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.offline import enforce_offline

enforce_offline()

from assistant.services import Services, build_services  # noqa: E402
from assistant.settings import load_settings  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (PROJECT_ROOT / ".." / "shared" / "data").resolve()
SAMPLE_PLANT = PROJECT_ROOT / "assistant" / "sample_plant"


def temp_services(**overrides: Any) -> Services:
    """Build services over a fresh temporary data directory, removed when the benchmark exits."""
    data_dir = Path(tempfile.mkdtemp(prefix="shiftmate-bench-"))
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    return build_services(load_settings(None, {"data_dir": data_dir, **overrides}))


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """Return the median."""
    return float(statistics.median(values))


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a Markdown table (pasted as is into docs/benchmarks.md)."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n### {title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)
