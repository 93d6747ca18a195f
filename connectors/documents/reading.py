"""Bytes to clean text: size-limited reading, decoding (``connectors.textfiles``), cleaning."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from assistant.domain import TextBlock
from assistant.errors import DocumentError
from connectors.textfiles import UndecodableText, decode_text

_PLACEHOLDER_TITLES = frozenset({"untitled", "untitled document", "word document", "anonymous"})


def _read_limited(path: Path, max_bytes: int) -> bytes:
    source = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(
                source,
                f"too large: {_human_size(size)}, limit is {_human_size(max_bytes)}",
                code="too_large",
            )
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise DocumentError(source, f"cannot read file: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise DocumentError(
            source, f"too large: over the limit of {_human_size(max_bytes)}", code="too_large"
        )
    return data


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


def _decode_text(data: bytes, source: str) -> str:
    try:
        return decode_text(data)
    except UndecodableText as exc:
        raise DocumentError(source, str(exc)) from exc


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
