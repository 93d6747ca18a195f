"""Ingestion throughput (chunks/s) on a real corpus of at least 2,000 chunks.

Corpus: the sample plant, the OSHA lockout/tagout standard and the AssetOpsBench CSVs (work
orders with failure codes, alerts, anomalies, failure modes) from ../shared/data. Peer: the
embedder alone on the very same chunk texts, so the ratio shows what loading, chunking and
storing cost on top of the embedding that dominates. A second pass measures the incremental
skip of unchanged files.

    .venv/bin/python -m benchmarks.ingest_throughput
"""

from __future__ import annotations

import time

from assistant.knowledge.chunking import embedding_text
from benchmarks.common import SAMPLE_PLANT, SHARED_DATA, print_table, temp_services

MIN_CHUNKS = 2000


def corpus() -> list:  # type: ignore[type-arg]
    """Return the files of the benchmark corpus."""
    files = [SAMPLE_PLANT, SHARED_DATA / "documents" / "osha"]
    files += sorted(
        p
        for p in (SHARED_DATA / "maintenance" / "assetopsbench").glob("*.csv")
        if p.name != "event.csv"  # the work orders again, without failure codes
    )
    return files


def main() -> None:
    """Run the benchmark and print the table."""
    services = temp_services()
    _ = services.embedder, services.store  # load before timing
    started = time.perf_counter()
    report = services.ingestor.ingest(corpus())
    ingest_s = time.perf_counter() - started
    chunks = services.store.count()
    if chunks < MIN_CHUNKS:
        raise SystemExit(f"corpus too small: {chunks} chunks < {MIN_CHUNKS}")

    stored = services.store.get([cid for e in services.manifest.entries() for cid in e.chunk_ids])
    texts = [embedding_text(c) for c in stored]
    started = time.perf_counter()
    for start in range(0, len(texts), 64):
        services.embedder.embed(texts[start : start + 64])
    embed_s = time.perf_counter() - started

    started = time.perf_counter()
    again = services.ingestor.ingest(corpus())
    skip_s = time.perf_counter() - started

    files = len(report.outcomes)
    print_table(
        f"Ingestion: {files} files, {chunks} chunks ({report.count('failed')} files failed)",
        ["what", "seconds", "chunks/s", "ratio to peer"],
        [
            [
                "shiftmate ingest (load, chunk, embed, store)",
                ingest_s,
                chunks / ingest_s,
                f"{(chunks / ingest_s) / (chunks / embed_s):.2f}x",
            ],
            ["peer: embedder alone, same texts", embed_s, chunks / embed_s, "1.00x"],
            [
                f"re-ingest, all {again.count('unchanged')} files unchanged",
                skip_s,
                chunks / skip_s,
                f"{(chunks / skip_s) / (chunks / embed_s):.1f}x",
            ],
        ],
    )


if __name__ == "__main__":
    main()
