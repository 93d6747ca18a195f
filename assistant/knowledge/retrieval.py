"""Semantic search over the stored chunks."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.domain import SearchHit
from assistant.errors import KnowledgeError
from assistant.knowledge.store import ChunkStore
from models.embedder import Embedder


class Retriever:
    """Embeds questions and returns the nearest passages with their scores."""

    def __init__(self, store: ChunkStore, embedder: Embedder) -> None:
        self._store = store
        self._embedder = embedder

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """Return the top-k passages for one question, best first."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int = 5) -> list[list[SearchHit]]:
        """Return the top-k passages for each question (one batched embedding call)."""
        if k < 1:
            raise KnowledgeError(f"k must be at least 1 (got {k})")
        cleaned = [q.strip() for q in queries]
        if any(not q for q in cleaned):
            raise KnowledgeError("empty search query")
        return self._store.query(self._embedder.embed(cleaned), k)
