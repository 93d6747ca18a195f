"""Incremental ingestion: unchanged files are skipped, changed ones re-indexed, gone ones pruned.

Order of writes for a changed file: new chunks go into the vector store first, then the
lexical index, the unit index and the manifest change in one SQLite transaction, and only then
are the stale chunks deleted from the vector store. Retrieval returns only chunks the manifest
lists, so a crash anywhere leaves either the old chunks or the new ones searchable, never a mix
and never an orphan; the next run finishes the job, because the manifest still holds the old
hash. Orphans a crash leaves in the vector store (new chunks before the commit, stale ones
after it) are found and deleted by ``shiftmate docs check --repair``
(:mod:`assistant.knowledge.consistency`).

Documents are parsed in a memory- and time-limited child process
(:mod:`assistant.knowledge.sandbox`); only the parsed text comes back to this process.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from assistant.clock import now_iso
from assistant.db import Database
from assistant.domain import AnswerUnit, Chunk
from assistant.errors import DocumentError, KnowledgeError
from assistant.knowledge.chunking import chunk_document, embedding_text
from assistant.knowledge.lexical import LexicalIndex
from assistant.knowledge.manifest import Manifest, ManifestEntry
from assistant.knowledge.sandbox import ParseSandbox
from assistant.knowledge.store import ChunkStore
from assistant.knowledge.unit_index import UnitIndex
from assistant.knowledge.units import chunk_units, unit_embedding_text
from assistant.ports import DocumentLoader
from assistant.settings import KnowledgeSettings
from models.embedder import TextEmbedder

Vectors = npt.NDArray[np.float32]
Status = Literal["added", "updated", "unchanged", "failed", "removed"]
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What happened to one file during ingestion."""

    path: str
    status: Status
    chunks: int = 0
    reason: str = ""
    code: str = ""
    """For a refused file, the limit it is over (``DocumentError.code``)."""


@dataclass(slots=True)
class IngestReport:
    """The outcome of one ingestion run."""

    outcomes: list[FileOutcome] = field(default_factory=list)

    def count(self, status: Status) -> int:
        """Return how many files ended with this status."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[FileOutcome]:
        """Return the files that could not be ingested."""
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def chunks_written(self) -> int:
        """Return how many chunks were embedded and stored in this run."""
        return sum(o.chunks for o in self.outcomes if o.status in ("added", "updated"))


def doc_key(path: str) -> str:
    """Return the stable short key of a document path, used in chunk ids."""
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:10]


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def expand_paths(
    paths: Iterable[Path], suffixes: frozenset[str]
) -> tuple[list[Path], list[FileOutcome]]:
    """Expand files and folders into the files to ingest; missing paths become failures.

    In a folder, only files with one of ``suffixes`` are taken; a file named directly is taken
    whatever its suffix, so its failure says why it cannot be read.
    """
    files: list[Path] = []
    missing: list[FileOutcome] = []
    for given in paths:
        path = given.expanduser()
        if path.is_dir():
            found = sorted(
                p.resolve()
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in suffixes and not _is_hidden(p, path)
            )
            files.extend(found)
        elif path.is_file():
            files.append(path.resolve())
        else:
            missing.append(FileOutcome(str(given), "failed", reason="no such file or folder"))
    unique = list(dict.fromkeys(files))
    return unique, missing


class Ingestor:
    """Turns files into stored, searchable chunks, incrementally."""

    def __init__(
        self,
        settings: KnowledgeSettings,
        store: ChunkStore,
        db: Database,
        embedder: TextEmbedder,
        loader: DocumentLoader,
    ) -> None:
        self._settings = settings
        self._loader = loader
        self._parser = ParseSandbox(
            loader, memory_mb=settings.parse_memory_mb, timeout_s=settings.parse_timeout_s
        )
        # Uploads are checked in their own child, so a check never waits behind a long parse.
        self._checker = ParseSandbox(
            loader, memory_mb=settings.parse_memory_mb, timeout_s=settings.parse_timeout_s
        )
        self._store = store
        self._db = db
        self._manifest = Manifest(db)
        self._embedder = embedder
        self._asset_pattern = re.compile(settings.asset_pattern)

    @property
    def suffixes(self) -> frozenset[str]:
        """Return the file suffixes a document may have (lower case, with the dot)."""
        return self._loader.suffixes

    def ingest(
        self, paths: Sequence[Path], *, prune: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        """Ingest files and folders; with prune, forget indexed files under them that are gone."""
        files, missing = expand_paths(paths, self._loader.suffixes)
        report = IngestReport(outcomes=list(missing))
        for index, path in enumerate(files):
            if progress is not None:
                progress(index, len(files), path.name)
            report.outcomes.append(self._ingest_file(path))
        if progress is not None:
            progress(len(files), len(files), "")
        if prune:
            report.outcomes.extend(self._prune(paths))
        return report

    def check(self, path: Path) -> None:
        """Raise DocumentError when a file is over a size, page or unpacking limit.

        Only the file's size and its container's tables are read, in a limited child process;
        a file that passes may still fail to parse when it is ingested.
        """
        try:
            self._check_size(path, str(path))
        except OSError as exc:
            raise DocumentError(str(path), f"cannot read: {exc.strerror or exc}") from exc
        self._checker.check(path, self._max_bytes)

    def reindex(self, path: Path) -> FileOutcome:
        """Parse, embed and store one file again even when its content hash is unchanged."""
        return self._ingest_file(path.expanduser().resolve(), force=True)

    def close(self) -> None:
        """Stop the parsing processes (a later ingestion starts them again)."""
        self._parser.close()
        self._checker.close()

    @property
    def _max_bytes(self) -> int:
        return int(self._settings.max_file_mb * 1024 * 1024)

    def _check_size(self, path: Path, source: str) -> None:
        size = path.stat().st_size
        if size > self._max_bytes:
            raise DocumentError(
                source,
                f"too large: {size / 1048576:.1f} MB, limit is "
                f"{self._settings.max_file_mb:.1f} MB (knowledge.max_file_mb)",
                code="too_large",
            )

    def _ingest_file(self, path: Path, *, force: bool = False) -> FileOutcome:
        source = str(path)
        try:
            self._check_size(path, source)
            content = path.read_bytes()
        except OSError as exc:
            return FileOutcome(source, "failed", reason=f"cannot read: {exc.strerror or exc}")
        except DocumentError as exc:
            return FileOutcome(source, "failed", reason=exc.reason, code=exc.code)
        digest = hashlib.sha256(content).hexdigest()
        previous = self._manifest.get(source)
        if previous is not None and previous.sha256 == digest and not force:
            return FileOutcome(source, "unchanged", chunks=len(previous.chunk_ids))
        try:
            document = self._parser.load(path, self._max_bytes)
        except DocumentError as exc:
            return FileOutcome(source, "failed", reason=exc.reason, code=exc.code)
        key = doc_key(source)
        chunks = chunk_document(
            document, key, digest, self._settings.chunk_chars, self._asset_pattern
        )
        if not chunks:
            return FileOutcome(source, "failed", reason="empty: no text to index")
        self._store_chunks(chunks)
        units = [unit for chunk in chunks for unit in chunk_units(chunk)]
        unit_vectors = self._embed_units(chunks, units)
        self._store.upsert_units(units, unit_vectors)
        old_ids = previous.chunk_ids if previous is not None else ()
        stale = sorted(set(old_ids) - {c.id for c in chunks})
        entry = ManifestEntry(
            path=source,
            doc_key=key,
            sha256=digest,
            size=len(content),
            title=document.title,
            chunk_ids=tuple(c.id for c in chunks),
            ingested_at=now_iso(),
        )
        with self._db.transaction() as conn:
            LexicalIndex.replace(conn, old_ids, [(c.id, embedding_text(c)) for c in chunks])
            UnitIndex.replace(conn, {*old_ids, *(c.id for c in chunks)}, units, unit_vectors)
            Manifest.put(conn, entry)
        self._store.delete(stale)  # after the commit: a crash before it keeps the old ones
        self._store.delete_units(stale)
        return FileOutcome(source, "updated" if previous else "added", chunks=len(chunks))

    def _store_chunks(self, chunks: Sequence[Chunk]) -> None:
        batch = self._settings.embed_batch
        for start in range(0, len(chunks), batch):
            part = chunks[start : start + batch]
            vectors = self._embedder.embed([embedding_text(c) for c in part])
            self._store.upsert(part, vectors)

    def _embed_units(self, chunks: Sequence[Chunk], units: Sequence[AnswerUnit]) -> Vectors:
        by_id = {chunk.id: chunk for chunk in chunks}
        texts = [unit_embedding_text(by_id[u.chunk_id], u) for u in units]
        batch = self._settings.embed_batch
        parts = [self._embedder.embed(texts[i : i + batch]) for i in range(0, len(texts), batch)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def _prune(self, roots: Sequence[Path]) -> list[FileOutcome]:
        resolved = [r.expanduser().resolve() for r in roots]
        outcomes = []
        for entry in self._manifest.entries():
            path = Path(entry.path)
            under = any(path == root or root in path.parents for root in resolved)
            if under and not path.exists():
                self.remove(entry.path)
                outcomes.append(FileOutcome(entry.path, "removed", chunks=len(entry.chunk_ids)))
        return outcomes

    def remove(self, path: str) -> ManifestEntry:
        """Remove an indexed file's chunks and manifest entry; raise if it is not indexed."""
        key = str(Path(path).expanduser().resolve()) if not self._manifest.get(path) else path
        entry = self._manifest.get(key)
        if entry is None:
            raise KnowledgeError(f"not in the knowledge base: {path} (see 'shiftmate docs list')")
        with self._db.transaction() as conn:
            LexicalIndex.replace(conn, entry.chunk_ids, [])
            UnitIndex.replace(conn, entry.chunk_ids, [], None)
            Manifest.remove(conn, entry.path)
        # After the commit: a crash here leaves orphan vectors, which retrieval never returns.
        self._store.delete(list(entry.chunk_ids))
        self._store.delete_units(list(entry.chunk_ids))
        return entry
