"""Incremental ingestion with the real embedder and a real Chroma store in a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import KnowledgeError
from assistant.services import Services

MANUAL = """# Booster pump B-7 manual

## Start-up

Open the suction valve V-7A fully, then prime the casing until water runs from the vent.

## Shutdown

Close the discharge valve V-7B slowly before stopping motor M-7 to avoid water hammer.
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_unchanged_files_are_skipped_and_changed_ones_reindexed(
    services: Services, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    manual = _write(docs, "b7.md", MANUAL)
    _write(docs, "notes.txt", "Pump B-7 was repacked on 3 March.\n\nNo leaks since.")
    first = services.ingestor.ingest([docs])
    assert (first.count("added"), first.count("failed")) == (2, 0)
    stored = services.store.count()
    assert stored == first.chunks_written > 0

    second = services.ingestor.ingest([docs])
    assert second.count("unchanged") == 2 and second.chunks_written == 0
    assert services.store.count() == stored

    manual.write_text(MANUAL.replace("water hammer", "a pressure surge"), encoding="utf-8")
    third = services.ingestor.ingest([docs])
    assert third.count("updated") == 1 and third.count("unchanged") == 1
    assert services.store.count() == stored  # old chunks replaced, not duplicated
    hits = services.retriever.search("how to avoid a pressure surge when stopping B-7", k=1)
    assert "pressure surge" in hits[0].chunk.text
    assert all("water hammer" not in h.chunk.text for h in services.retriever.search("x", k=10))


def test_prune_removes_files_that_are_gone(services: Services, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    keep = _write(docs, "b7.md", MANUAL)
    gone = _write(docs, "old/retired.md", "# Retired pump R-1\n\nPump R-1 was scrapped in 2019.")
    services.ingestor.ingest([docs])
    gone.unlink()
    without_prune = services.ingestor.ingest([docs])
    assert without_prune.count("removed") == 0
    assert services.manifest.get(str(gone.resolve())) is not None

    report = services.ingestor.ingest([docs], prune=True)
    assert [o.path for o in report.outcomes if o.status == "removed"] == [str(gone.resolve())]
    assert [e.path for e in services.manifest.entries()] == [str(keep.resolve())]
    assert all("R-1" not in h.chunk.text for h in services.retriever.search("pump R-1", k=10))


def test_bad_files_are_reported_and_the_rest_goes_on(services: Services, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    good = _write(docs, "b7.md", MANUAL)
    services.ingestor.ingest([good])
    before = services.store.count()
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02\x03ELF" * 100)
    (docs / "empty.md").write_bytes(b"")
    _write(docs, "later.md", "# Valve V-9\n\nValve V-9 is a gate valve on the bypass line.")

    report = services.ingestor.ingest([docs, tmp_path / "no-such-folder"])
    failed = {Path(o.path).name: o.reason for o in report.failed}
    assert set(failed) == {"corrupt.pdf", "binary.txt", "empty.md", "no-such-folder"}
    assert "PDF" in failed["corrupt.pdf"]
    assert "binary" in failed["binary.txt"]
    assert "empty" in failed["empty.md"]
    assert report.count("added") == 1 and report.count("unchanged") == 1
    assert services.store.count() > before


def test_a_file_that_turns_corrupt_keeps_its_old_chunks(services: Services, tmp_path: Path) -> None:
    manual = _write(tmp_path, "b7.md", MANUAL)
    services.ingestor.ingest([manual])
    before = services.store.count()
    manual.write_bytes(b"\x00" * 100)
    report = services.ingestor.ingest([manual])
    assert report.count("failed") == 1
    assert services.store.count() == before
    assert services.retriever.search("prime the casing", k=1)[0].chunk.source == str(
        manual.resolve()
    )


def test_size_limit_is_enforced(make_services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services = make_services(knowledge={"max_file_mb": 0.001})
    big = _write(tmp_path, "big.txt", "pump maintenance text. " * 200)
    report = services.ingestor.ingest([big])
    assert report.failed[0].reason.startswith("too large")
    assert "knowledge.max_file_mb" in report.failed[0].reason


def test_remove_and_unknown_document(services: Services, tmp_path: Path) -> None:
    manual = _write(tmp_path, "b7.md", MANUAL)
    services.ingestor.ingest([manual])
    entry = services.ingestor.remove(str(manual))
    assert entry.path == str(manual.resolve())
    assert services.store.count() == 0
    with pytest.raises(KnowledgeError, match="not in the knowledge base"):
        services.ingestor.remove(str(manual))


def test_asset_tags_are_found_in_chunk_metadata(services: Services, tmp_path: Path) -> None:
    services.ingestor.ingest([_write(tmp_path, "b7.md", MANUAL)])
    hits = services.retriever.search("shutdown of the booster pump", k=1)
    assert {"V-7B", "M-7"} <= set(hits[0].chunk.assets)
