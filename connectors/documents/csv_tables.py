"""CSV files: each data row as ``column: value`` pairs, a few rows per block.

The separator is chosen as for historian exports (``connectors.textfiles``); a file that no
separator splits is one column wide, read with ``,``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from assistant.domain import TextBlock
from assistant.errors import DocumentError
from connectors.documents.reading import _collapse, _decode_text, _short, _stem_title
from connectors.textfiles import sniff_separator

_CSV_ROWS_PER_BLOCK = 10


def _load_csv(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    source = str(path)
    text = _decode_text(data, source)
    title = _stem_title(path)
    delimiter = sniff_separator(text.splitlines()) or ","
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise DocumentError(source, f"malformed CSV: {_short(exc)}") from exc
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        return title, []
    header = [_collapse(name) for name in rows[0]]
    rendered = [line for line in (_csv_row(header, row) for row in rows[1:]) if line]
    blocks = [
        TextBlock("\n".join(rendered[start : start + _CSV_ROWS_PER_BLOCK]), (title,))
        for start in range(0, len(rendered), _CSV_ROWS_PER_BLOCK)
    ]
    return title, blocks


def _csv_row(header: Sequence[str], row: Sequence[str]) -> str:
    pairs = []
    for index, raw in enumerate(row):
        value = _collapse(raw)
        if not value:
            continue
        name = header[index] if index < len(header) and header[index] else f"column {index + 1}"
        pairs.append(f"{name}: {value}")
    return "; ".join(pairs)
