"""The persistent vector store: a Chroma collection under the data directory.

Vectors are always computed by our own embedder and passed in; the collection has no embedding
function, so Chroma never tries to fetch one. Product telemetry is switched off.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.domain import AnswerUnit, Chunk, SearchHit
from assistant.errors import KnowledgeError


class ChunkStore:
    """Chunks with their vectors, queried by cosine similarity."""

    def __init__(self, directory: Path, collection: str, dimension: int) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self._dimension = dimension
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(
                path=str(directory),
                settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
            )
            self._collection = self._open(collection)
            # The answer units of every chunk, so a single table row or sentence can find its
            # passage even when the passage's own vector is diluted by the rest of it.
            self._units = self._open(f"{collection[:57]}.units")
        except Exception as exc:  # chromadb raises many unrelated types for a damaged store
            raise KnowledgeError(f"cannot open the vector store in {directory}: {exc}") from exc
        stored = (self._collection.metadata or {}).get("dimension")
        if stored is not None and int(stored) != dimension:
            raise KnowledgeError(
                f"the vector store in {directory} holds {stored}-dimensional vectors but the "
                f"embedder makes {dimension}; re-ingest into a new data directory"
            )
        self._batch = int(self._client.get_max_batch_size())

    def _open(self, name: str) -> Any:
        # A wider search than Chroma's default (ef 10) keeps recall@5 high on large, repetitive
        # corpora (work orders) for a few ms more per query.
        return self._client.get_or_create_collection(
            name=name,
            embedding_function=None,
            metadata={
                "hnsw:space": "cosine",
                "hnsw:construction_ef": 200,
                "hnsw:search_ef": 100,
                "dimension": self._dimension,
            },
        )

    def count(self) -> int:
        """Return how many chunks are stored."""
        return int(self._collection.count())

    def ids(self) -> set[str]:
        """Return the id of every stored chunk."""
        return {str(i) for page in _pages(self._collection, []) for i in page["ids"]}

    def unit_chunk_ids(self) -> set[str]:
        """Return the ids of the chunks that have unit vectors stored."""
        return {
            str((meta or {}).get("chunk_id", ""))
            for page in _pages(self._units, ["metadatas"])
            for meta in page["metadatas"] or []
        }

    def upsert(self, chunks: Sequence[Chunk], vectors: npt.NDArray[np.float32]) -> None:
        """Store chunks with their vectors (replacing any with the same ids)."""
        if len(chunks) != len(vectors):
            raise KnowledgeError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        for start in range(0, len(chunks), self._batch):
            part = chunks[start : start + self._batch]
            self._collection.upsert(
                ids=[c.id for c in part],
                embeddings=vectors[start : start + self._batch],
                documents=[c.text for c in part],
                metadatas=[_metadata(c) for c in part],
            )

    def upsert_units(self, units: Sequence[AnswerUnit], vectors: npt.NDArray[np.float32]) -> None:
        """Store the vectors of answer units (id ``chunk_id#index``), replacing same ids."""
        if len(units) != len(vectors):
            raise KnowledgeError(f"{len(units)} units but {len(vectors)} vectors")
        for start in range(0, len(units), self._batch):
            part = units[start : start + self._batch]
            self._units.upsert(
                ids=[f"{u.chunk_id}#{u.index}" for u in part],
                embeddings=vectors[start : start + self._batch],
                metadatas=[{"chunk_id": u.chunk_id} for u in part],
            )

    def delete_units(self, chunk_ids: Sequence[str]) -> None:
        """Remove the unit vectors of these chunks."""
        ids: list[str | int | float | bool] = list(chunk_ids)
        for start in range(0, len(ids), self._batch):
            where: Any = {"chunk_id": {"$in": ids[start : start + self._batch]}}
            self._units.delete(where=where)

    def query_units(self, vector: npt.NDArray[np.float32], k: int) -> list[tuple[str, float]]:
        """Return (chunk id, cosine similarity) of the k units nearest a query, best first."""
        total = int(self._units.count())
        if total == 0:
            return []
        result = self._units.query(
            query_embeddings=np.asarray([vector], np.float32),
            n_results=min(k, total),
            include=["metadatas", "distances"],
        )
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        return [
            (str((meta or {}).get("chunk_id", "")), round(1.0 - float(dist), 4))
            for meta, dist in zip(metadatas, distances, strict=True)
        ]

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id (unknown ids are ignored)."""
        for start in range(0, len(ids), self._batch):
            self._collection.delete(ids=list(ids[start : start + self._batch]))

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        """Return the stored chunks with these ids, in the order asked."""
        if not ids:
            return []
        found = self._collection.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {
            cid: _chunk(cid, text or "", meta or {})
            for cid, text, meta in zip(
                found["ids"], found["documents"] or [], found["metadatas"] or [], strict=False
            )
        }
        return [by_id[i] for i in ids if i in by_id]

    def get_scored(self, ids: Sequence[str], vector: npt.NDArray[np.float32]) -> list[SearchHit]:
        """Return stored chunks by id with their cosine similarity to a query vector."""
        if not ids:
            return []
        found = self._collection.get(
            ids=list(ids), include=["documents", "metadatas", "embeddings"]
        )
        embeddings = found["embeddings"] if found["embeddings"] is not None else []
        hits = {
            cid: SearchHit(
                _chunk(cid, text or "", meta or {}),
                round(float(np.asarray(emb, dtype=np.float32) @ vector), 4),
            )
            for cid, text, meta, emb in zip(
                found["ids"],
                found["documents"] or [],
                found["metadatas"] or [],
                embeddings,
                strict=False,
            )
        }
        return [hits[i] for i in ids if i in hits]

    def query(self, vectors: npt.NDArray[np.float32], k: int) -> list[list[SearchHit]]:
        """Return the k nearest chunks for each query vector, best first."""
        total = self.count()
        if total == 0 or len(vectors) == 0:
            return [[] for _ in range(len(vectors))]
        result = self._collection.query(
            query_embeddings=vectors,
            n_results=min(k, total),
            include=["documents", "metadatas", "distances"],
        )
        hits: list[list[SearchHit]] = []
        documents = result["documents"] or []
        metadatas = result["metadatas"] or []
        distances = result["distances"] or []
        for ids, texts, metas, dists in zip(
            result["ids"], documents, metadatas, distances, strict=True
        ):
            hits.append(
                [
                    SearchHit(_chunk(cid, text or "", meta or {}), round(1.0 - float(dist), 4))
                    for cid, text, meta, dist in zip(ids, texts, metas, dists, strict=True)
                ]
            )
        return hits


def _pages(collection: Any, include: list[str], size: int = 5000) -> Iterator[Any]:
    """Yield a whole collection's records, a page at a time."""
    offset = 0
    while True:
        page = collection.get(include=include, limit=size, offset=offset)
        if not page["ids"]:
            return
        yield page
        offset += len(page["ids"])


def _metadata(chunk: Chunk) -> dict[str, str | int]:
    return {
        "source": chunk.source,
        "title": chunk.title,
        "section": chunk.section,
        "page": chunk.page if chunk.page is not None else -1,
        "assets": ",".join(chunk.assets),
    }


def _chunk(chunk_id: str, text: str, meta: Mapping[str, Any]) -> Chunk:
    page = int(meta.get("page", -1))
    assets = str(meta.get("assets", ""))
    return Chunk(
        id=chunk_id,
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        section=str(meta.get("section", "")),
        page=page if page >= 0 else None,
        text=text,
        assets=tuple(a for a in assets.split(",") if a),
    )
