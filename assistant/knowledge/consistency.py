"""``shiftmate docs check``: do the vector store, the full-text index and the unit index hold
exactly the chunks the manifest lists?

An *orphan* is a chunk an index holds that no manifest entry lists: left by a crash between
the vector-store write and the manifest commit (or between the commit and the deletion of
stale chunks). Retrieval never returns one; repairing deletes it. An *incomplete* document is
one whose listed chunks are missing from the vector store or the full-text index; repairing
re-ingests it from its file. Answer units are not required: chunks stored before units existed
have none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.db import Database
from assistant.knowledge.ingest import Ingestor
from assistant.knowledge.lexical import LexicalIndex
from assistant.knowledge.manifest import Manifest
from assistant.knowledge.store import ChunkStore
from assistant.knowledge.unit_index import UnitIndex


@dataclass(frozen=True, slots=True)
class IndexCheck:
    """What a check found; every tuple is sorted."""

    documents: int
    chunks: int
    orphan_vectors: tuple[str, ...] = ()
    orphan_unit_vectors: tuple[str, ...] = ()
    orphan_text: tuple[str, ...] = ()
    orphan_units: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()
    """Paths of documents with listed chunks missing from the vectors or the full text."""

    @property
    def consistent(self) -> bool:
        """Return True when nothing is orphaned or missing."""
        return not (
            self.orphan_vectors
            or self.orphan_unit_vectors
            or self.orphan_text
            or self.orphan_units
            or self.incomplete
        )

    def lines(self) -> list[str]:
        """Return the findings as lines for a person."""
        found = [
            (self.orphan_vectors, "orphan chunk(s) in the vector store"),
            (self.orphan_unit_vectors, "chunk(s) with orphan unit vectors in the vector store"),
            (self.orphan_text, "orphan chunk(s) in the full-text index"),
            (self.orphan_units, "chunk(s) with orphan answer units in the journal"),
        ]
        lines = [f"{len(ids)} {what}: {_sample(ids)}" for ids, what in found if ids]
        lines += [f"incomplete (chunks missing from an index): {path}" for path in self.incomplete]
        return lines

    def as_json(self) -> dict[str, Any]:
        """Return the findings as one JSON object."""
        return {
            "consistent": self.consistent,
            "documents": self.documents,
            "chunks": self.chunks,
            "orphan_vectors": list(self.orphan_vectors),
            "orphan_unit_vectors": list(self.orphan_unit_vectors),
            "orphan_text": list(self.orphan_text),
            "orphan_units": list(self.orphan_units),
            "incomplete": list(self.incomplete),
        }


@dataclass(slots=True)
class Repair:
    """What a repair did, and what it could not do."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def check_index(db: Database, store: ChunkStore) -> IndexCheck:
    """Compare the manifest with the vector store, the full-text index and the unit index."""
    entries = Manifest(db).entries()
    listed = {chunk_id for entry in entries for chunk_id in entry.chunk_ids}
    vectors = store.ids()
    text = LexicalIndex(db).ids()
    incomplete = [
        entry.path
        for entry in entries
        if any(i not in vectors or i not in text for i in entry.chunk_ids)
    ]
    return IndexCheck(
        documents=len(entries),
        chunks=len(listed),
        orphan_vectors=tuple(sorted(vectors - listed)),
        orphan_unit_vectors=tuple(sorted(store.unit_chunk_ids() - listed)),
        orphan_text=tuple(sorted(text - listed)),
        orphan_units=tuple(sorted(UnitIndex(db).chunk_ids() - listed)),
        incomplete=tuple(sorted(incomplete)),
    )


def repair_index(found: IndexCheck, db: Database, store: ChunkStore, ingestor: Ingestor) -> Repair:
    """Delete the orphans a check found and re-ingest its incomplete documents.

    Run it while nothing else ingests into the same data directory: a chunk written by a
    running ingestion, not yet committed to the manifest, looks like an orphan.
    """
    repair = Repair()
    if found.orphan_vectors:
        store.delete(list(found.orphan_vectors))
        repair.done.append(f"deleted {len(found.orphan_vectors)} orphan chunk(s) from the vectors")
    if found.orphan_unit_vectors:
        store.delete_units(list(found.orphan_unit_vectors))
        repair.done.append(
            f"deleted the unit vectors of {len(found.orphan_unit_vectors)} orphan chunk(s)"
        )
    if found.orphan_text or found.orphan_units:
        with db.transaction() as conn:
            LexicalIndex.replace(conn, found.orphan_text, [])
            UnitIndex.replace(conn, found.orphan_units, [], None)
        if found.orphan_text:
            repair.done.append(
                f"deleted {len(found.orphan_text)} orphan chunk(s) from the full-text index"
            )
        if found.orphan_units:
            repair.done.append(f"deleted the answer units of {len(found.orphan_units)} chunk(s)")
    for path in found.incomplete:
        outcome = ingestor.reindex(Path(path))
        if outcome.status == "failed":
            repair.failed.append(
                f"cannot re-ingest {path}: {outcome.reason} (ingest it again, or "
                "'shiftmate docs remove' it)"
            )
        else:
            repair.done.append(f"re-ingested {path} ({outcome.chunks} chunks)")
    return repair


def _sample(ids: tuple[str, ...], shown: int = 3) -> str:
    more = f" (+{len(ids) - shown} more)" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more
