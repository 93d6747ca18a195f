"""Text files from plants: one decoding rule and one CSV separator rule for every reader.

Decoding (:func:`decode_text`): UTF-16 when the bytes start with its byte order mark; else
UTF-8 (a UTF-8 byte order mark is dropped); else Windows-1252, the encoding of most exports
from Western Windows tools (``°C`` as the single byte ``0xB0``), but only when the result reads
like Western text: every non-ASCII character a letter or a common symbol, at most one in ten,
and the bytes round-trip. NUL bytes outside UTF-16, or more than one control character in a
hundred, mean binary content.

CSV separators (:func:`sniff_separator`): among ``;``, tab, ``|`` and ``,`` the one that splits
the first non-blank lines into the same number of fields, more than one. ``;``, tab and ``|``
win over ``,`` because European exports write decimal commas (``1,5;2``); among those, the
widest split wins, then that order. When no separator splits every line alike (ragged rows),
the first in that order that splits the header line wins.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable
from itertools import islice

__all__ = [
    "BINARY",
    "SEPARATORS",
    "UNDECODABLE",
    "UndecodableText",
    "decode_text",
    "sniff_separator",
]

UNDECODABLE = "cannot decode as UTF-8 text"
BINARY = "binary content, not text"
SEPARATORS: tuple[str, ...] = (";", "\t", "|", ",")
SNIFF_LINES = 20
"""How many non-blank lines the separator is chosen from."""

_CP1252_SYMBOLS = frozenset(
    "°±µ²³¹€£¥¢§¶©®™“”„—…•·÷¼½¾«»¿¡¦¬¯¨ºª†‡‰"
    "\u00a0\u2018\u2019\u201a\u2013\u00d7\u00b4\u00b8\u2039\u203a"
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


class UndecodableText(ValueError):
    """Bytes that are not text in an encoding we read; the message is the reason in words."""


def decode_text(data: bytes) -> str:
    """Return the text of a file's bytes; raise UndecodableText saying why they are not text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UndecodableText(
                f"{UNDECODABLE} (nor as UTF-16, despite its byte order mark)"
            ) from exc
    elif b"\x00" in data:
        raise UndecodableText(BINARY)
    else:
        text = _decode_8bit(data)
    if len(_CONTROL.findall(text)) > max(2, len(text) // 100):
        raise UndecodableText(BINARY)
    return text


def _decode_8bit(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise UndecodableText(UNDECODABLE) from exc
    if _plausible_cp1252(text) and text.encode("cp1252") == data:
        return text
    raise UndecodableText(UNDECODABLE)


def _plausible_cp1252(text: str) -> bool:
    """Tell whether a cp1252 reading looks like Western text rather than noise."""
    unusual = [ch for ch in text if ord(ch) > 127]
    if len(unusual) > len(text) // 10:
        return False
    return all(ch.isalpha() or ch in _CP1252_SYMBOLS for ch in unusual)


def sniff_separator(lines: Iterable[str]) -> str | None:
    """Return the field separator of CSV-like lines, or None when no candidate splits them."""
    sample = list(islice((line for line in lines if line.strip()), SNIFF_LINES))
    if not sample:
        return None
    best: tuple[int, int, str] | None = None
    for rank, separator in enumerate(SEPARATORS):
        counts = {len(row) for row in _rows(sample, separator)}
        if len(counts) == 1 and (width := counts.pop()) > 1:
            candidate = (width if separator != "," else 0, -rank, separator)
            if best is None or candidate > best:
                best = candidate
    if best is not None:
        return best[2]
    for separator in SEPARATORS:  # ragged rows: the first separator that splits the header
        if any(len(row) > 1 for row in _rows(sample[:1], separator)):
            return separator
    return None


def _rows(lines: list[str], separator: str) -> list[list[str]]:
    try:
        return list(csv.reader(lines, delimiter=separator))
    except csv.Error:  # e.g. a field over the csv module's size limit: this one does not fit
        return []
