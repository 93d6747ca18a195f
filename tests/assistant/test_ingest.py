"""Incremental ingestion with the real embedder and a real Chroma store in a temp dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.errors import DocumentError, KnowledgeError
from assistant.knowledge.ingest import doc_key
from assistant.services import Services
from tests.conftest import PROJECT_ROOT, ServicesFactory
from tests.connectors.document_bombs import rss_mb, write_docx_bomb, write_pdf

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


def test_a_parse_over_the_memory_limit_is_refused_and_the_next_file_ingests(
    make_services: ServicesFactory, tmp_path: Path
) -> None:
    # The bomb checks off, so only the parsing process's memory limit stands in the way.
    services = make_services(
        knowledge={
            "max_compression_ratio": 1_000_000,
            "max_uncompressed_mb": 4096,
            "parse_memory_mb": 512,
        }
    )
    bomb = write_docx_bomb(tmp_path / "bomb.docx", unpacked_mb=200)
    manual = _write(tmp_path, "b7.md", MANUAL)
    before = rss_mb()
    report = services.ingestor.ingest([bomb, manual])
    assert rss_mb() - before < 150  # the 200 MB never came into this process
    outcome = {Path(o.path).name: o for o in report.outcomes}
    assert outcome["bomb.docx"].status == "failed"
    assert outcome["bomb.docx"].code == "parse_memory"
    assert "knowledge.parse_memory_mb" in outcome["bomb.docx"].reason
    assert outcome["b7.md"].status == "added"
    assert [e.path for e in services.manifest.entries()] == [str(manual.resolve())]


def test_a_parse_over_the_time_limit_is_killed_and_refused(
    make_services: ServicesFactory, tmp_path: Path
) -> None:
    services = make_services(knowledge={"max_pages": 20_000, "parse_timeout_s": 1})
    pdf = write_pdf(tmp_path / "ten-thousand.pdf", 10_000)
    started = time.monotonic()
    refused = services.ingestor.ingest([pdf]).outcomes[0]
    assert time.monotonic() - started < 30
    assert (refused.status, refused.code) == ("failed", "parse_timeout")
    assert refused.reason == "refused: parsing took longer than 1 s (knowledge.parse_timeout_s)"
    later = services.ingestor.ingest([_write(tmp_path, "b7.md", MANUAL)])
    assert later.count("added") == 1  # a fresh parsing process took over


def test_a_ten_thousand_page_pdf_is_refused_with_the_default_limits(
    services: Services, tmp_path: Path
) -> None:
    pdf = write_pdf(tmp_path / "ten-thousand.pdf", 10_000)
    with pytest.raises(DocumentError) as caught:
        services.ingestor.check(pdf)
    assert caught.value.code == "too_many_pages"
    refused = services.ingestor.ingest([pdf]).outcomes[0]
    assert (refused.status, refused.code) == ("failed", "too_many_pages")
    assert services.store.count() == 0


CRASHING_INGEST = """
import os, signal, sys
from pathlib import Path
from assistant.knowledge.manifest import Manifest
from assistant.services import build_services
from assistant.settings import load_settings

settings = load_settings(None, {"data_dir": sys.argv[1], "models": {"verify": False}})
services = build_services(settings)
services.ingestor.ingest([Path(sys.argv[2])])

def crash(conn, entry):  # the process dies after the vector write, before the manifest's
    os.kill(os.getpid(), signal.SIGKILL)

Manifest.put = staticmethod(crash)
services.ingestor.ingest([Path(sys.argv[3])])
"""

ORPHAN = """# Glycol chiller CH-9

Top up the glycol loop of chiller CH-9 to 35 percent concentration before the first frost.
"""


def _shiftmate(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTMATE_")}
    env["SHIFTMATE_MODELS__VERIFY"] = "false"
    return subprocess.run(
        [str(Path(sys.executable).with_name("shiftmate")), "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=300,
        check=False,
    )


def test_a_crash_before_the_manifest_write_leaves_an_invisible_orphan_that_check_repairs(
    make_services: ServicesFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    manual = _write(tmp_path / "docs", "b7.md", MANUAL)
    orphan = _write(tmp_path / "docs", "ch9.md", ORPHAN)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_INGEST, str(data_dir), str(manual), str(orphan)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    found = _shiftmate(data_dir, "docs", "check", "--json")
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)
    assert report["consistent"] is False and report["documents"] == 1
    orphans = report["orphan_vectors"]
    assert orphans and all(o.startswith(doc_key(str(orphan.resolve()))) for o in orphans)
    assert report["orphan_unit_vectors"] == orphans
    assert report["orphan_text"] == [] and report["incomplete"] == []

    services = make_services()  # the same data dir, opened after the crash
    assert set(orphans) <= services.store.ids()  # the orphan's vectors are really there
    hits = services.retriever.search("glycol concentration of chiller CH-9", k=5)
    assert hits and all(h.chunk.source == str(manual.resolve()) for h in hits)
    _, vector = services.retriever.search_with_vector("glycol loop CH-9", k=1)
    assert all(h.chunk.id not in orphans for h in services.retriever.unit_passages(vector, 5))
    services.close()

    repaired = _shiftmate(data_dir, "docs", "check", "--repair")
    assert repaired.returncode == 0, repaired.stderr
    assert f"{len(orphans)} orphan chunk(s) in the vector store" in repaired.stdout
    assert f"repaired: deleted {len(orphans)} orphan chunk(s) from the vectors" in repaired.stdout
    assert "consistent after repair: 1 documents" in repaired.stdout
    again = _shiftmate(data_dir, "docs", "check")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("consistent: 1 documents")
