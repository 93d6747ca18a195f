"""The HNSW index parameters of the Chroma collections, and how they reach Chroma.

``m`` (graph degree) and ``construction_ef`` are fixed when a collection is created; an existing
collection keeps the ones it was built with. ``search_ef`` (the candidate list of a query) can be
changed on an existing collection: Chroma 1.x takes it through ``collection.modify(
configuration={"hnsw": {"ef_search": ...}})``, which :func:`apply_search_ef` does when it differs.
The new ef is recorded at once but used when the index is next loaded (the next process): an
index already loaded in this process keeps searching with the old one (measured: 20k vectors
built at ef 5, recall@5 0.216 in the same process after the change, 0.998 in a new one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant.errors import KnowledgeError


@dataclass(frozen=True)
class HnswParams:
    """HNSW graph degree and candidate-list sizes for building and for searching."""

    m: int = 32
    construction_ef: int = 400
    search_ef: int = 400

    def __post_init__(self) -> None:
        """Refuse values HNSW cannot use."""
        if not 2 <= self.m <= 256:
            raise KnowledgeError(f"HNSW m must be between 2 and 256 (got {self.m})")
        if not 1 <= self.construction_ef <= 10_000:
            raise KnowledgeError(
                f"HNSW construction_ef must be between 1 and 10000 (got {self.construction_ef})"
            )
        if not 1 <= self.search_ef <= 10_000:
            raise KnowledgeError(
                f"HNSW search_ef must be between 1 and 10000 (got {self.search_ef})"
            )

    def metadata(self) -> dict[str, int]:
        """Return the collection metadata keys Chroma reads when it creates the index."""
        return {
            "hnsw:M": self.m,
            "hnsw:construction_ef": self.construction_ef,
            "hnsw:search_ef": self.search_ef,
        }


def search_ef_of(collection: Any) -> int | None:
    """Return the search ef a collection's index uses now (None if Chroma does not say)."""
    configuration = getattr(collection, "configuration", None) or {}
    hnsw = configuration.get("hnsw") if isinstance(configuration, dict) else None
    value = hnsw.get("ef_search") if isinstance(hnsw, dict) else None
    return int(value) if value is not None else None


def apply_search_ef(collection: Any, search_ef: int) -> None:
    """Set an existing collection's search ef if it differs (build parameters stay as built)."""
    if search_ef_of(collection) in (None, search_ef):
        return
    collection.modify(configuration={"hnsw": {"ef_search": search_ef}})
