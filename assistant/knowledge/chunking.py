"""Cut loaded documents into passages of about a target size, never across a heading or page.

A chunk holds consecutive blocks that share one heading path and one page. A block longer
than the target is split at line and sentence boundaries, then at whitespace, so that no
chunk is longer than 1.5 times the target.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import groupby

from assistant.domain import Chunk, LoadedDocument, TextBlock
from assistant.knowledge.sentences import split_sentences

_HARD_FACTOR = 1.5
_BLOCK_SEPARATOR = "\n\n"


def find_assets(text: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Return the distinct matches of ``pattern`` in ``text`` in order of first appearance."""
    return tuple(dict.fromkeys(m.group(0) for m in pattern.finditer(text) if m.group(0)))


def chunk_document(
    doc: LoadedDocument,
    doc_key: str,
    content_hash: str,
    target_chars: int,
    asset_pattern: re.Pattern[str],
) -> list[Chunk]:
    """Pack a document's blocks into chunks of about ``target_chars`` characters."""
    if target_chars < 1:
        raise ValueError(f"target_chars must be positive, got {target_chars}")
    chunks: list[Chunk] = []
    for (heading_path, page), group in groupby(doc.blocks, key=_section_key):
        section = " > ".join(heading_path)
        for text in _pack((block.text for block in group), target_chars):
            chunks.append(
                Chunk(
                    id=f"{doc_key}:{content_hash[:12]}:{len(chunks)}",
                    source=doc.source,
                    title=doc.title,
                    section=section,
                    page=page,
                    text=text,
                    assets=find_assets(f"{section}\n{text}", asset_pattern),
                )
            )
    return chunks


def embedding_text(chunk: Chunk) -> str:
    """Return the string to embed for a chunk: "title — section", a blank line, then the text."""
    header = " — ".join(part for part in (chunk.title, chunk.section) if part)
    return "\n\n".join(part for part in (header, chunk.text) if part)


def _section_key(block: TextBlock) -> tuple[tuple[str, ...], int | None]:
    return block.heading_path, block.page


def _pack(texts: Iterable[str], target: int) -> Iterator[str]:
    """Yield passages of whole blocks up to ``target`` characters, splitting long blocks."""
    current = ""
    for text in texts:
        for part in _split_block(text.strip(), target):
            if not current:
                current = part
            elif len(current) + len(_BLOCK_SEPARATOR) + len(part) <= target:
                current = f"{current}{_BLOCK_SEPARATOR}{part}"
            else:
                yield current
                current = part
    if current:
        yield current


def _split_block(text: str, target: int) -> list[str]:
    """Split one block into parts of at most ``target`` characters (one unit may reach 1.5x)."""
    if len(text) <= target:
        return [text] if text else []
    if _is_table(text):
        return _split_table(text, target)
    parts: list[str] = []
    current = ""
    for separator, unit in _units(text, target):
        if not current:
            current = unit
        elif len(current) + len(separator) + len(unit) <= target:
            current = f"{current}{separator}{unit}"
        else:
            parts.append(current)
            current = unit
    if current:
        parts.append(current)
    return parts


def _is_table(text: str) -> bool:
    lines = text.split("\n")
    return len(lines) >= 3 and all("|" in line for line in lines)


def _split_table(text: str, target: int) -> list[str]:
    """Split a table between rows; every part repeats the header row, so each row keeps it."""
    header, *rows = text.split("\n")
    parts: list[str] = []
    current = ""
    for row in rows:
        if current and len(current) + 1 + len(row) > target:
            parts.append(current)
            current = ""
        current = f"{current}\n{row}" if current else f"{header}\n{row}"
    if current:
        parts.append(current)
    return parts


def _units(text: str, target: int) -> Iterator[tuple[str, str]]:
    """Yield (separator before, unit): lines, then sentences, then word runs, then slices."""
    hard = int(target * _HARD_FACTOR)
    for line_index, line in enumerate(text.split("\n")):
        separator = "\n" if line_index else ""
        for sentence in split_sentences(line.strip()):
            pieces = [sentence] if len(sentence) <= hard else _word_runs(sentence, target)
            for piece in pieces:
                yield separator, piece
                separator = " "


def _word_runs(text: str, target: int) -> list[str]:
    """Split text at whitespace into runs of at most ``target`` characters."""
    runs: list[str] = []
    current = ""
    for word in text.split():
        for piece in (word[i : i + target] for i in range(0, len(word), target)):
            if not current:
                current = piece
            elif len(current) + 1 + len(piece) <= target:
                current = f"{current} {piece}"
            else:
                runs.append(current)
                current = piece
    if current:
        runs.append(current)
    return runs
