"""Search latency p50/p95 at 10k, 100k and 1M chunks against an exact NumPy scan in the same run.

Embedding 1M passages on 2 cores would take days, so the large collections are built from the
real embeddings of the sample plant and OSHA passages plus noisy copies of them, unit-normalised.
How the copies scatter decides how hard the set is (``--noise``):

- ``shaped`` (the default): the noise is drawn from the covariance of the real passage vectors,
  so a copy moves along the directions in which real passages differ from one another, as a
  new passage on the same subject would;
- ``isotropic``: the same expected noise length spread evenly over all 384 dimensions. Each
  seed then becomes a ball of random points whose order, seen from a query, is decided by noise
  the query does not share: the worst case for a graph index, kept as a stress row.

Queries are the real operator questions of the answer-quality sets (``benchmarks/data``),
embedded for real, once; query embedding is timed on its own in a second table. For every size
three things answer the same query vectors:

- the HNSW index alone (the Chroma collection queried for ids and distances, k=5);
- the whole ``ChunkStore.query`` (pool of 20 as the retriever asks, hits with text and metadata
  returned inline by the one Chroma query), and for comparison the alternative fetch: ids and
  distances only, then one batched ``get`` of the hits' records;
- the peer: an exact dot-product scan in NumPy over the identical vectors.

recall@5 says how many of the exact top five the HNSW index returns. Build time is the upsert
of all chunks into a fresh store with the configured HNSW parameters (``knowledge.hnsw_*``);
disk is the store's directory, RSS the whole benchmark process after the build.

    .venv/bin/python -m benchmarks.search_latency [--sizes 10000 100000 1000000]
        [--noise shaped isotropic] [--queries N] [--search-efs 800 1600]
    SHIFTMATE_KNOWLEDGE__HNSW_SEARCH_EF=400 SHIFTMATE_KNOWLEDGE__HNSW_M=32 ...  # other params

``--search-efs`` measures each build again at those search efs, two fresh processes per ef (one
records it, the next loads the index with it: Chroma applies a changed ef only at load).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from assistant.domain import Chunk
from assistant.knowledge.chunking import embedding_text
from assistant.knowledge.store import ChunkStore
from assistant.services import Services, build_services
from assistant.settings import load_settings
from benchmarks.answer_quality import SET_FILES, load_set
from benchmarks.common import SAMPLE_PLANT, SHARED_DATA, percentile, print_table, temp_services

POOL = 20  # what Retriever asks the store for at k=5
K = 5


VECTORS_FILE = "bench-vectors.npy"  # kept in the store's data dir for a --search-efs sweep
QUERIES_FILE = "bench-queries.npy"
NOISE_LENGTH = 0.35
"""Expected length of the noise added to a unit seed vector, for both noise shapes."""


def _questions(limit: int | None) -> list[str]:
    """The operator questions of the answer-quality sets, in file order."""
    questions = [q.question for path in SET_FILES.values() for q in load_set(path).questions]
    return questions[:limit]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _noise_basis(seed_vectors: npt.NDArray[np.float32], noise: str) -> npt.NDArray[np.float64]:
    """Return B such that ``z @ B.T`` for standard normal z is one noise draw of that shape."""
    dim = seed_vectors.shape[1]
    if noise == "isotropic":
        basis = np.eye(dim) * (NOISE_LENGTH / np.sqrt(dim))
    else:
        centered = seed_vectors.astype(np.float64) - seed_vectors.mean(axis=0)
        values, vectors = np.linalg.eigh(centered.T @ centered / len(seed_vectors))
        values = np.clip(values, 0.0, None)
        basis = vectors * np.sqrt(values) * (NOISE_LENGTH / np.sqrt(values.sum()))
    return np.asarray(basis, np.float64)


def _synthetic(
    seeds: list[Chunk],
    seed_vectors: npt.NDArray[np.float32],
    size: int,
    noise: str,
    rng: np.random.Generator,
) -> tuple[list[Chunk], npt.NDArray[np.float32]]:
    """Noisy unit-length copies of the real passage vectors, with their passages' text."""
    dim = seed_vectors.shape[1]
    basis = _noise_basis(seed_vectors, noise)
    picks = rng.integers(0, len(seeds), size)
    vectors = np.empty((size, dim), np.float32)
    for start in range(0, size, 100_000):  # bounded temporaries at 1M
        part = picks[start : start + 100_000]
        noisy = seed_vectors[part] + rng.standard_normal((len(part), dim)) @ basis.T
        vectors[start : start + len(part)] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    chunks = [
        Chunk(f"syn:{i}", s.source, s.title, s.section, s.page, s.text, s.assets)
        for i, s in ((i, seeds[p]) for i, p in enumerate(picks))
    ]
    return chunks, vectors


def _measure(
    store: ChunkStore, vectors: npt.NDArray[np.float32], query_vectors: npt.NDArray[np.float32]
) -> list[object]:
    """Time the index, the store's query, the split fetch and the exact scan; return the
    p50/p95 cells and recall@5 against the exact scan."""
    collection = store._collection  # the bare index, below what ChunkStore adds
    collection.query(query_embeddings=query_vectors[:1], n_results=K, include=["distances"])
    store.query(query_vectors[:1], POOL)
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
        found_ids = collection.query(query_embeddings=one, n_results=POOL, include=["distances"])[
            "ids"
        ][0]
        collection.get(ids=found_ids, include=["documents", "metadatas"])
        split_ms.append(_ms(started))
        started = time.perf_counter()
        top = np.argpartition(-(vectors @ qv), K)[:K]
        exact_ms.append(_ms(started))
        truth = {f"syn:{i}" for i in top}
        recalls.append(len(truth & set(found["ids"][0])) / K)
        assert len(hits) == POOL
    return [
        percentile(index_ms, 50),
        percentile(index_ms, 95),
        percentile(store_ms, 50),
        percentile(store_ms, 95),
        percentile(split_ms, 95),
        percentile(exact_ms, 50),
        percentile(exact_ms, 95),
        f"{np.mean(recalls):.3f}",
    ]


def _open(data_dir: Path, search_ef: int) -> Services:
    return build_services(
        load_settings(None, {"data_dir": data_dir, "knowledge": {"hnsw_search_ef": search_ef}})
    )


def _sweep(data_dir: Path, search_efs: list[int]) -> list[list[object]]:
    """Measure a built store again at other search efs, two fresh processes per ef: one records
    the ef, the next loads the index with it (Chroma applies a changed ef only at load)."""
    rows = []
    for ef in search_efs:
        for step in ("set-ef", "measure"):
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.search_latency", "--reopen", str(data_dir),
                 "--ef", str(ef), "--step", step],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"search ef {ef}, {step}: {done.stderr[-2000:]}")
        rows.append([ef, *json.loads(done.stdout.splitlines()[-1])])
        print(rows[-1], flush=True)
    return rows


def _reopen(data_dir: Path, search_ef: int, step: str) -> None:
    """The child of :func:`_sweep`: record the ef, or measure with it and print the cells."""
    services = _open(data_dir, search_ef)
    if step == "measure":
        vectors = np.load(data_dir / VECTORS_FILE)
        queries = np.load(data_dir / QUERIES_FILE)
        print(json.dumps(_measure(services.store, vectors, queries)))
    services.close()


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--noise", nargs="+", choices=["shaped", "isotropic"], default=["shaped"])
    parser.add_argument("--queries", type=int, default=None, help="at most this many questions")
    parser.add_argument(
        "--search-efs", type=int, nargs="*", default=[], help="measure each build again at these"
    )
    parser.add_argument("--reopen", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ef", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--step", choices=["set-ef", "measure"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reopen is not None:
        _reopen(args.reopen, args.ef, args.step)
        return

    seed_services = temp_services()
    seed_services.ingestor.ingest([SAMPLE_PLANT, SHARED_DATA / "documents" / "osha"])
    ids = [cid for e in seed_services.manifest.entries() for cid in e.chunk_ids]
    seeds = seed_services.store.get(ids)
    embedder = seed_services.embedder
    seed_vectors = embedder.embed([embedding_text(c) for c in seeds])
    queries = _questions(args.queries)
    print(f"{len(seeds)} seed passages, {len(queries)} questions", flush=True)

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
    rows: list[list[object]] = []
    sweep: list[list[object]] = []
    knowledge = seed_services.settings.knowledge
    for size, noise in ((size, noise) for size in args.sizes for noise in args.noise):
        services = temp_services()
        chunks, vectors = _synthetic(seeds, seed_vectors, size, noise, rng)
        store = services.store
        started = time.perf_counter()
        store.upsert(chunks, vectors)
        build_s = time.perf_counter() - started
        del chunks
        measured = _measure(store, vectors, query_vectors)
        rows.append(
            [
                f"{size:,}",
                noise,
                knowledge.hnsw_search_ef,
                *measured,
                f"{build_s:.0f} ({size / build_s:,.0f}/s)",
                f"{_disk_mb(services.data_dir / 'chroma'):,.0f} / {_rss_mb():,.0f}",
            ]
        )
        print(rows[-1], flush=True)
        services.close()
        if args.search_efs:
            np.save(services.data_dir / VECTORS_FILE, vectors)
            np.save(services.data_dir / QUERIES_FILE, query_vectors)
            swept = _sweep(services.data_dir, args.search_efs)
            sweep.extend([f"{size:,}", noise, *row] for row in swept)
        shutil.rmtree(services.data_dir, ignore_errors=True)  # up to ~6 GB at 1M
        del vectors
    print_table(
        f"Search, {len(queries)} real questions, k={K}; HNSW M {knowledge.hnsw_m}, construction "
        f"ef {knowledge.hnsw_construction_ef}; ms",
        [
            "chunks",
            "noise",
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
    if sweep:
        print_table(
            "The same builds at other search efs, each loaded in a fresh process; ms",
            ["chunks", "noise", "search ef", "HNSW p50", "HNSW p95",
             f"ChunkStore.query (k={POOL}) p50", "p95", "ids, then get p95", "exact scan p50",
             "p95", "recall@5 vs exact"],
            sweep,
        )  # fmt: skip
    print_table(
        f"Query embedding ({embedder.name}, fp32, one question per call, {len(queries)} calls); ms",
        ["p50", "p95", "mean per question, one batch of all"],
        [[percentile(embed_ms, 50), percentile(embed_ms, 95), batch_ms]],
    )


if __name__ == "__main__":
    main()
