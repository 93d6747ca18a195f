"""The persistent vector store: a Chroma collection under the data directory, or in a Chroma
server (``knowledge.chroma_url``, see ``assistant.knowledge.chroma_client``).

The collection's metadata records the embedder (``embedder``, ``dimension``) and, in a server,
the data directory that owns it (``owner``); a store opened with another is refused. Vectors are
always computed by our own embedder and passed in; the collection has no embedding function,
so Chroma never tries to fetch one. Product telemetry is switched off.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.domain import AnswerUnit, Chunk, SearchHit
from assistant.errors import KnowledgeError
from assistant.knowledge.chroma_client import ChromaConnection, connect_embedded
from assistant.knowledge.hnsw import HnswParams, apply_search_ef


class ChunkStore:
    """Chunks with their vectors, queried by cosine similarity."""

    def __init__(
        self,
        directory: Path,
        collection: str,
        dimension: int,
        *,
        embedder: str | None = None,
        connection: ChromaConnection | None = None,
        owner: str | None = None,
        hnsw: HnswParams | None = None,
    ) -> None:
        """Open (creating them if needed) the collection and its units collection.

        ``connection`` is the Chroma to use (default: embedded in ``directory``). ``embedder``
        names the embedder whose ``dimension``-long vectors go in: both are recorded in the
        collection's metadata and an embedder that differs from the recorded one is refused.
        ``owner`` (given for a shared Chroma server) ties the collection to one data directory:
        a collection recorded with another owner is refused. ``hnsw`` sets the index parameters
        of a new collection and the search ef of an existing one (see ``assistant.knowledge.hnsw``).
        """
        self._dimension = dimension
        self._hnsw = hnsw or HnswParams()
        if connection is None:
            connection = connect_embedded(directory)
        where = connection.where
        try:
            self._client = connection.client
            self._collection = self._open(collection)
            # The answer units of every chunk, so a single table row or sentence can find its
            # passage even when the passage's own vector is diluted by the rest of it.
            self._units = self._open(f"{collection[:57]}.units")
            self._batch = int(self._client.get_max_batch_size())
        except KnowledgeError:
            raise
        except Exception as exc:  # chromadb raises many unrelated types for a damaged store
            raise KnowledgeError(f"cannot open {where}: {exc}") from exc
        self._check_identity(collection, where, embedder, owner)

    def _check_identity(
        self, collection: str, where: str, embedder: str | None, owner: str | None
    ) -> None:
        """Refuse a collection of other vectors or of another data directory; record ours."""
        stored = dict(self._collection.metadata or {})
        made_by = stored.get("embedder")
        from_whom = f" from {made_by}" if made_by else ""
        by_whom = f" ({embedder})" if embedder else ""
        dimension = stored.get("dimension")
        if (dimension is not None and int(dimension) != self._dimension) or (
            embedder is not None and made_by is not None and made_by != embedder
        ):
            raise KnowledgeError(
                f"the collection {collection} in {where} holds {dimension}-dimensional vectors"
                f"{from_whom} but the embedder{by_whom} makes {self._dimension}; re-ingest into "
                "a new collection (knowledge.collection) or data directory"
            )
        recorded = stored.get("owner")
        if owner is not None and recorded is not None and recorded != owner:
            raise KnowledgeError(
                f"the collection {collection} in {where} belongs to another Shiftmate data "
                f"directory (owner {recorded}, this one is {owner}); sharing it would break both "
                "manifests: set knowledge.collection to a name of this data directory's own"
            )
        wanted: dict[str, str | int] = {"dimension": self._dimension}
        if embedder is not None:
            wanted["embedder"] = embedder
        if owner is not None:
            wanted["owner"] = owner
        if all(stored.get(key) == value for key, value in wanted.items()):
            return
        # Chroma 1.x replaces the whole metadata on modify and refuses hnsw:space there (the
        # space stays in the collection's configuration): keep every other key as it was.
        kept = {key: value for key, value in stored.items() if key != "hnsw:space"}
        try:
            self._collection.modify(metadata={**kept, **wanted})
            fresh = dict(self._client.get_collection(collection).metadata or {})
        except KnowledgeError:
            raise
        except Exception as exc:  # chromadb raises many unrelated types
            raise KnowledgeError(f"cannot record the collection's owner in {where}: {exc}") from exc
        if owner is not None and fresh.get("owner") != owner:  # another data dir raced us
            raise KnowledgeError(
                f"the collection {collection} in {where} was just claimed by another Shiftmate "
                f"data directory (owner {fresh.get('owner')}): set knowledge.collection to a "
                "name of this data directory's own"
            )

    def _open(self, name: str) -> Any:
        # A wider search than Chroma's default (ef 10) keeps recall@5 high on large, repetitive
        # corpora (work orders) for a few ms more per query. M and construction ef only apply
        # to a new collection; an existing one gets the search ef (Chroma can change that one).
        collection = self._client.get_or_create_collection(
            name=name,
            embedding_function=None,
            metadata={
                "hnsw:space": "cosine",
                **self._hnsw.metadata(),
                "dimension": self._dimension,
            },
        )
        apply_search_ef(collection, self._hnsw.search_ef)
        return collection

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
        if len(vectors) == 0:
            return []
        # No count() first: Chroma 1.x returns fewer hits (none when empty) for a k above the
        # collection's size, and the count cost ~2 ms of a ~5 ms query (benchmarks/
        # search_latency.py). Text and metadata come inline: measured against distances-only
        # plus one batched get of the hits, inline was as fast or faster (p95 12 vs 15 ms, 30k).
        result = self._collection.query(
            query_embeddings=vectors,
            n_results=k,
            include=["documents", "metadatas", "distances"],
        )
        hits: list[list[SearchHit]] = []
        documents = result["documents"] or [[] for _ in result["ids"]]
        metadatas = result["metadatas"] or [[] for _ in result["ids"]]
        distances = result["distances"] or [[] for _ in result["ids"]]
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
