"""Hybrid search: vector similarity and BM25, fused by reciprocal rank.

Each retriever ranks a candidate pool; a chunk's fused score is the sum of 1 / (60 + rank) over
the rankings it appears in (Cormack et al., 2009). The score shown and filtered on is still the
cosine similarity to the question, so ``chat.min_score`` keeps its meaning.

Only chunks the ingestion manifest lists are returned: a vector written before a crash
interrupted its manifest write (an orphan) is never an answer (see ``assistant.knowledge.ingest``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from assistant.domain import SearchHit
from assistant.errors import KnowledgeError
from assistant.knowledge.lexical import LexicalIndex
from assistant.knowledge.manifest import Manifest
from assistant.knowledge.store import ChunkStore
from models.embedder import TextEmbedder

RRF_K = 60
POOL_FACTOR = 4
MIN_POOL = 20
UNIT_POOL_FACTOR = 4


def fuse(rankings: Sequence[Sequence[str]]) -> list[str]:
    """Return ids ordered by reciprocal-rank fusion of several best-first rankings."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores, key=lambda item: -scores[item])


class Retriever:
    """Embeds questions and returns the best passages with their cosine scores."""

    def __init__(
        self, store: ChunkStore, lexical: LexicalIndex, embedder: TextEmbedder, manifest: Manifest
    ) -> None:
        self._store = store
        self._lexical = lexical
        self._embedder = embedder
        self._manifest = manifest

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """Return the top-k passages for one question, best first."""
        return self.search_many([query], k)[0]

    def search_with_vector(
        self, query: str, k: int = 5
    ) -> tuple[list[SearchHit], npt.NDArray[np.float32]]:
        """Return the top-k passages and the question's embedding (for ranking units)."""
        hits, vectors = self._search([query], k)
        return hits[0], vectors[0]

    def unit_passages(
        self, vector: npt.NDArray[np.float32], k: int, exclude: Sequence[str] = ()
    ) -> list[SearchHit]:
        """Return the passages of the answer units nearest a query vector (best unit first),
        scored by that unit's similarity, leaving out the ids in ``exclude``."""
        seen = set(exclude)
        order: dict[str, float] = {}
        nearest = self._store.query_units(vector, k * UNIT_POOL_FACTOR)
        listed = self._manifest.listed(chunk_id for chunk_id, _ in nearest)
        for chunk_id, score in nearest:
            if chunk_id in listed and chunk_id not in seen and chunk_id not in order:
                order[chunk_id] = score
            if len(order) >= k:
                break
        chunks = {c.id: c for c in self._store.get(list(order))}
        return [SearchHit(chunks[i], order[i]) for i in order if i in chunks]

    def search_many(self, queries: Sequence[str], k: int = 5) -> list[list[SearchHit]]:
        """Return the top-k passages for each question (one batched embedding call)."""
        return self._search(queries, k)[0]

    def _search(
        self, queries: Sequence[str], k: int
    ) -> tuple[list[list[SearchHit]], npt.NDArray[np.float32]]:
        if k < 1:
            raise KnowledgeError(f"k must be at least 1 (got {k})")
        cleaned = [q.strip() for q in queries]
        if any(not q for q in cleaned):
            raise KnowledgeError("empty search query")
        pool = max(k * POOL_FACTOR, MIN_POOL)
        vectors = self._embedder.embed(cleaned)
        semantic = self._store.query(vectors, pool)
        results = []
        for query, vector, vector_hits in zip(cleaned, vectors, semantic, strict=True):
            lexical_ids = self._lexical.search(query, pool)
            listed = self._manifest.listed([*(h.chunk.id for h in vector_hits), *lexical_ids])
            by_id = {h.chunk.id: h for h in vector_hits if h.chunk.id in listed}
            lexical_ids = [i for i in lexical_ids if i in listed]
            order = fuse([list(by_id), lexical_ids])[:k]
            missing = [i for i in order if i not in by_id]
            by_id.update({h.chunk.id: h for h in self._store.get_scored(missing, vector)})
            results.append([by_id[i] for i in order if i in by_id])
        return results, vectors
