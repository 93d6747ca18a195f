"""Bytes to clean text: size-limited reading, decoding, whitespace cleaning, shared helpers."""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from pathlib import Path

from assistant.domain import TextBlock
from assistant.errors import DocumentError

_UNDECODABLE = "cannot decode as UTF-8 text"
_BINARY = "binary content, not text"

_PLACEHOLDER_TITLES = frozenset({"untitled", "untitled document", "word document", "anonymous"})


def _read_limited(path: Path, max_bytes: int) -> bytes:
    source = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(
                source, f"too large: {_human_size(size)}, limit is {_human_size(max_bytes)}"
            )
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise DocumentError(source, f"cannot read file: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise DocumentError(source, f"too large: over the limit of {_human_size(max_bytes)}")
    return data


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


_CP1252_SYMBOLS = frozenset(
    "°±µ²³¹€£¥¢§¶©®™“”„—…•·÷¼½¾«»¿¡¦¬¯¨ºª†‡‰"
    "\u00a0\u2018\u2019\u201a\u2013\u00d7\u00b4\u00b8\u2039\u203a"
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


def _decode_text(data: bytes, source: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DocumentError(
                source, f"{_UNDECODABLE} (nor as UTF-16, despite its byte order mark)"
            ) from exc
    elif b"\x00" in data:
        raise DocumentError(source, _BINARY)
    else:
        text = _decode_8bit(data, source)
    if len(_CONTROL.findall(text)) > max(2, len(text) // 100):
        raise DocumentError(source, _BINARY)
    return text


def _decode_8bit(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise DocumentError(source, _UNDECODABLE) from exc
    if _plausible_cp1252(text) and text.encode("cp1252") == data:
        return text
    raise DocumentError(source, _UNDECODABLE)


def _plausible_cp1252(text: str) -> bool:
    """Tell whether a cp1252 reading looks like Western text rather than noise."""
    unusual = [ch for ch in text if ord(ch) > 127]
    if len(unusual) > len(text) // 10:
        return False
    return all(ch.isalpha() or ch in _CP1252_SYMBOLS for ch in unusual)


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _stem_title(path: Path) -> str:
    return _collapse(re.sub(r"[_-]+", " ", path.stem)) or path.name


_SPACES = re.compile(r"[^\S\n]+")


def _collapse(text: str) -> str:
    return _SPACES.sub(" ", text.replace("\n", " ")).strip()


def _clean_text(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _clean_blocks(blocks: Sequence[TextBlock]) -> list[TextBlock]:
    cleaned = []
    for block in blocks:
        text = _clean_text(block.text)
        if text:
            path = tuple(part for part in (_collapse(p) for p in block.heading_path) if part)
            cleaned.append(TextBlock(text=text, heading_path=path, page=block.page))
    return cleaned


def _short(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = text.strip().splitlines()
    message = lines[0] if lines else ""
    message = message if len(message) <= 160 else message[:157] + "..."
    return message or type(exc).__name__
