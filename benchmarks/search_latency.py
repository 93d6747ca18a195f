"""Search latency p50/p95 at 10k, 100k and 1M chunks against an exact NumPy scan in the same run.

Embedding 100k passages on 2 cores would take a quarter of an hour, so the large collections
are built from the real embeddings of the sample plant and OSHA passages plus noisy copies of
them (same distribution, unit-normalised). Queries are real questions embedded for real, once;
query embedding is timed on its own in a second table. For every size three things answer the
same query vectors:

- the HNSW index alone (the Chroma collection queried for ids and distances, k=5);
- the whole ``ChunkStore.query`` (pool of 20 as the retriever asks, hits with text and metadata
  returned inline by the one Chroma query), and for comparison the alternative fetch: ids and
  distances only, then one batched ``get`` of the hits' records;
- the peer: an exact dot-product scan in NumPy over the identical vectors.

recall@5 says how many of the exact top five the HNSW index returns. Build time is the upsert
of all chunks into a fresh store with the configured HNSW parameters (``knowledge.hnsw_*``);
disk is the store's directory, RSS the whole benchmark process after the build.

    .venv/bin/python -m benchmarks.search_latency [--sizes 10000 100000 1000000] [--queries 200]
    SHIFTMATE_KNOWLEDGE__HNSW_SEARCH_EF=400 SHIFTMATE_KNOWLEDGE__HNSW_M=32 ...  # other params
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from assistant.domain import Chunk
from assistant.knowledge.chunking import embedding_text
from benchmarks.common import SAMPLE_PLANT, SHARED_DATA, percentile, print_table, temp_services

QUESTIONS = [
    "How do I clean the suction strainer?",
    "What is the lockout procedure for the pump?",
    "compressor discharge temperature alarm",
    "bearing grease interval",
    "Who may remove a lockout device?",
    "heat exchanger approach temperature fouling",
    "pump cavitation noise causes",
    "annual inspection of energy control procedure",
    "seal leakage limit",
    "motor overcurrent trip",
    "dryer dew point high",
    "verification of isolation before work",
]
POOL = 20  # what Retriever asks the store for at k=5
K = 5


def _questions(count: int) -> list[str]:
    return [
        QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" ({i})")
        for i in range(count)
    ]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _synthetic(
    seeds: list[Chunk], seed_vectors: npt.NDArray[np.float32], size: int, rng: np.random.Generator
) -> tuple[list[Chunk], npt.NDArray[np.float32]]:
    """Noisy unit-length copies of the real passage vectors, with their passages' text."""
    dim = seed_vectors.shape[1]
    picks = rng.integers(0, len(seeds), size)
    vectors = np.empty((size, dim), np.float32)
    for start in range(0, size, 100_000):  # bounded temporaries at 1M
        part = picks[start : start + 100_000]
        noisy = seed_vectors[part] + rng.normal(0, 0.35 / np.sqrt(dim), (len(part), dim))
        vectors[start : start + len(part)] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    chunks = [
        Chunk(f"syn:{i}", s.source, s.title, s.section, s.page, s.text, s.assets)
        for i, s in ((i, seeds[p]) for i, p in enumerate(picks))
    ]
    return chunks, vectors


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    seed_services = temp_services()
    seed_services.ingestor.ingest([SAMPLE_PLANT, SHARED_DATA / "documents" / "osha"])
    ids = [cid for e in seed_services.manifest.entries() for cid in e.chunk_ids]
    seeds = seed_services.store.get(ids)
    embedder = seed_services.embedder
    seed_vectors = embedder.embed([embedding_text(c) for c in seeds])
    queries = _questions(args.queries)

    embedder.embed(queries[:1])  # warm up
    embed_ms = []
    for query in queries:
        started = time.perf_counter()
        embedder.embed([query])
        embed_ms.append(_ms(started))
    started = time.perf_counter()
    query_vectors = embedder.embed(queries)
    batch_ms = _ms(started) / len(queries)

    rng = np.random.default_rng(7)
    rows = []
    knowledge = seed_services.settings.knowledge
    for size in args.sizes:
        services = temp_services()
        chunks, vectors = _synthetic(seeds, seed_vectors, size, rng)
        store = services.store
        started = time.perf_counter()
        store.upsert(chunks, vectors)
        build_s = time.perf_counter() - started
        del chunks
        collection = store._collection  # the bare index, below what ChunkStore adds
        collection.query(query_embeddings=query_vectors[:1], n_results=K, include=["distances"])
        store.query(query_vectors[:1], POOL)

        # One search ef per process: Chroma applies a changed ef when the index is next loaded,
        # not to the index this process already holds (SHIFTMATE_KNOWLEDGE__HNSW_SEARCH_EF=...).
        for ef in [knowledge.hnsw_search_ef]:
            index_ms, store_ms, exact_ms, split_ms, recalls = [], [], [], [], []
            for qv in query_vectors:
                one = qv[None, :]
                started = time.perf_counter()
                found = collection.query(query_embeddings=one, n_results=K, include=["distances"])
                index_ms.append(_ms(started))
                started = time.perf_counter()
                hits = store.query(one, POOL)[0]
                store_ms.append(_ms(started))
                started = time.perf_counter()  # the alternative: ids first, then one batched get
                found_ids = collection.query(
                    query_embeddings=one, n_results=POOL, include=["distances"]
                )["ids"][0]
                collection.get(ids=found_ids, include=["documents", "metadatas"])
                split_ms.append(_ms(started))
                started = time.perf_counter()
                top = np.argpartition(-(vectors @ qv), K)[:K]
                exact_ms.append(_ms(started))
                truth = {f"syn:{i}" for i in top}
                recalls.append(len(truth & set(found["ids"][0])) / K)
                assert len(hits) == POOL
            rows.append(
                [
                    f"{size:,}",
                    ef,
                    percentile(index_ms, 50),
                    percentile(index_ms, 95),
                    percentile(store_ms, 50),
                    percentile(store_ms, 95),
                    percentile(split_ms, 95),
                    percentile(exact_ms, 50),
                    percentile(exact_ms, 95),
                    f"{np.mean(recalls):.3f}",
                    f"{build_s:.0f} ({size / build_s:,.0f}/s)",
                    f"{_disk_mb(services.data_dir / 'chroma'):,.0f} / {_rss_mb():,.0f}",
                ]
            )
            print(rows[-1], flush=True)
        services.close()
        del vectors
    print_table(
        f"Search, {args.queries} real questions, k={K}; HNSW M {knowledge.hnsw_m}, construction "
        f"ef {knowledge.hnsw_construction_ef}; ms",
        [
            "chunks",
            "search ef",
            "HNSW p50",
            "HNSW p95",
            f"ChunkStore.query (k={POOL}) p50",
            "p95",
            "ids, then get p95",
            "exact scan p50",
            "p95",
            "recall@5 vs exact",
            "build s (chunks/s)",
            "disk MB / RSS MB",
        ],
        rows,
    )
    print_table(
        f"Query embedding ({embedder.name}, fp32, one question per call, {len(queries)} calls); ms",
        ["p50", "p95", "mean per question, one batch of all"],
        [[percentile(embed_ms, 50), percentile(embed_ms, 95), batch_ms]],
    )


if __name__ == "__main__":
    main()
