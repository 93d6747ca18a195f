"""Search latency p50/p95 at 10k and 100k chunks, against an exact NumPy scan of the same vectors.

Embedding 100k passages on 2 cores would take a quarter of an hour, so the large collections
are built from the real embeddings of the sample plant and OSHA passages plus noisy copies of
them (same distribution, unit-normalised). Queries are real questions embedded for real. The
peer is a brute-force exact dot-product scan in NumPy over the identical vectors; recall@5 says
how many of the exact top five the store returns.

    .venv/bin/python -m benchmarks.search_latency [--sizes 10000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from assistant.domain import Chunk
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


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    seed_services = temp_services()
    seed_services.ingestor.ingest([SAMPLE_PLANT, SHARED_DATA / "documents" / "osha"])
    ids = [cid for e in seed_services.manifest.entries() for cid in e.chunk_ids]
    seeds = seed_services.store.get(ids)
    from assistant.knowledge.chunking import embedding_text

    seed_vectors = seed_services.embedder.embed([embedding_text(c) for c in seeds])
    queries = [
        QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" ({i})")
        for i in range(args.queries)
    ]
    rng = np.random.default_rng(7)
    rows = []
    for size in args.sizes:
        services = temp_services()
        picks = rng.integers(0, len(seeds), size)
        noise = rng.normal(0, 0.35 / np.sqrt(seed_vectors.shape[1]), (size, seed_vectors.shape[1]))
        vectors = (seed_vectors[picks] + noise).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunks = [
            Chunk(
                f"syn:{i}",
                seeds[p].source,
                seeds[p].title,
                seeds[p].section,
                seeds[p].page,
                seeds[p].text,
            )
            for i, p in enumerate(picks)
        ]
        started = time.perf_counter()
        services.store.upsert(chunks, vectors)
        build_s = time.perf_counter() - started

        ours, exact, recalls = [], [], []
        services.retriever.search(queries[0], 5)  # warm up
        for query in queries:
            started = time.perf_counter()
            hits = services.retriever.search(query, 5)
            ours.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            qv = services.embedder.embed([query])[0]
            top = np.argpartition(-(vectors @ qv), 5)[:5]
            exact.append((time.perf_counter() - started) * 1000)
            truth = {f"syn:{i}" for i in top}
            recalls.append(len(truth & {h.chunk.id for h in hits}) / 5)
        rows.append(
            [
                f"{size:,}",
                "shiftmate search (embed + Chroma HNSW)",
                percentile(ours, 50),
                percentile(ours, 95),
                f"{percentile(exact, 50) / percentile(ours, 50):.2f}x",
                f"{np.mean(recalls):.3f}",
                f"{build_s:.0f}",
            ]
        )
        rows.append(
            [
                f"{size:,}",
                "peer: embed + exact NumPy scan",
                percentile(exact, 50),
                percentile(exact, 95),
                "1.00x",
                "1.000",
                "-",
            ]
        )
    print_table(
        f"Search latency, {args.queries} queries, k=5 (speed ratio = peer p50 / ours p50)",
        ["chunks", "method", "p50 ms", "p95 ms", "speed vs peer", "recall@5", "build s"],
        rows,
    )


if __name__ == "__main__":
    main()
