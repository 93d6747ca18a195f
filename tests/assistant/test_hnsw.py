"""The HNSW parameters reach Chroma, search ef follows the settings on an existing collection,
recall against an exact scan of the same vectors, and ChunkStore.query's hits are what Chroma's
inline fetch of documents and metadata would have given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.errors import KnowledgeError
from assistant.knowledge.hnsw import HnswParams, search_ef_of
from assistant.knowledge.store import ChunkStore, _chunk
from assistant.services import Services
from assistant.settings import load_settings
from tests.conftest import ServicesFactory

QUESTIONS = [
    "How do I clean the suction strainer?",
    "What is the lockout procedure for the pump?",
    "compressor discharge temperature alarm",
    "bearing grease interval",
    "Who may remove a lockout device?",
    "pump cavitation noise causes",
    "seal leakage limit",
    "motor overcurrent trip",
]


def test_params_reach_the_collection(make_services: ServicesFactory) -> None:
    knowledge = {"hnsw_m": 24, "hnsw_construction_ef": 150, "hnsw_search_ef": 120}
    store = make_services(knowledge=knowledge).store
    collection = store._collection
    metadata = collection.metadata
    assert (metadata["hnsw:M"], metadata["hnsw:construction_ef"]) == (24, 150)
    hnsw = collection.configuration["hnsw"]
    assert (hnsw["max_neighbors"], hnsw["ef_construction"], hnsw["ef_search"]) == (24, 150, 120)
    assert store._units.configuration["hnsw"]["max_neighbors"] == 24


def test_existing_collection_keeps_its_build_and_takes_the_new_search_ef(
    make_services: ServicesFactory, tmp_path: Path
) -> None:
    first = make_services(knowledge={"hnsw_m": 24, "hnsw_search_ef": 120})
    assert search_ef_of(first.store._collection) == 120
    first.close()
    again = make_services(knowledge={"hnsw_m": 8, "hnsw_search_ef": 300})
    hnsw = again.store._collection.configuration["hnsw"]
    assert hnsw["max_neighbors"] == 24  # built with 24: M cannot change
    assert search_ef_of(again.store._collection) == 300


def test_defaults_and_validation(tmp_path: Path) -> None:
    knowledge = load_settings(None, {"data_dir": tmp_path}).knowledge
    assert (knowledge.hnsw_m, knowledge.hnsw_construction_ef, knowledge.hnsw_search_ef) == (
        32,
        400,
        400,
    )
    with pytest.raises(Exception, match="hnsw_m"):
        load_settings(None, {"data_dir": tmp_path, "knowledge": {"hnsw_m": 1}})
    with pytest.raises(Exception, match="hnsw_search_ef"):
        load_settings(None, {"data_dir": tmp_path, "knowledge": {"hnsw_search_ef": 0}})
    with pytest.raises(KnowledgeError, match="HNSW m must be between 2 and 256"):
        HnswParams(m=1)
    assert HnswParams(32, 100, 50).metadata() == {
        "hnsw:M": 32,
        "hnsw:construction_ef": 100,
        "hnsw:search_ef": 50,
    }


def _all_vectors(store: ChunkStore) -> tuple[list[str], np.ndarray]:
    found = store._collection.get(include=["embeddings"])
    return list(found["ids"]), np.asarray(found["embeddings"], np.float32)


def test_recall_against_the_exact_scan(plant_services: Services) -> None:
    store = plant_services.store
    ids, matrix = _all_vectors(store)
    assert len(ids) > 20
    vectors = plant_services.embedder.embed(QUESTIONS)
    recalls = []
    for vector, hits in zip(vectors, store.query(vectors, 5), strict=True):
        exact = {ids[i] for i in np.argsort(-(matrix @ vector))[:5]}
        recalls.append(len(exact & {h.chunk.id for h in hits}) / 5)
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        best = float(np.max(matrix @ vector))
        assert abs(scores[0] - best) < 1e-3
    assert float(np.mean(recalls)) >= 0.95, recalls


def test_query_hits_match_the_inline_fetch(plant_services: Services) -> None:
    store = plant_services.store
    vectors = plant_services.embedder.embed(QUESTIONS)
    hits = store.query(vectors, 20)
    inline = store._collection.query(
        query_embeddings=vectors, n_results=20, include=["documents", "metadatas", "distances"]
    )
    for ours, ids, texts, metas, dists in zip(
        hits,
        inline["ids"],
        inline["documents"],
        inline["metadatas"],
        inline["distances"],
        strict=True,
    ):
        expected = [
            (_chunk(cid, text or "", meta or {}), round(1.0 - float(dist), 4))
            for cid, text, meta, dist in zip(ids, texts, metas, dists, strict=True)
        ]
        assert [(h.chunk, h.score) for h in ours] == expected
        assert all(h.chunk.text and h.chunk.source for h in ours)
