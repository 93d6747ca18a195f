"""Document uploads: ingested in the background with a job to poll; wrong types, oversize
files and path-like names are refused with clear JSON errors and nothing is written."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import LiveServer, ServerFactory, error_of
from tests.api.test_telemetry import publish, wait_until
from tests.connectors.document_bombs import rss_mb, write_docx_bomb, write_pdf

MANUAL = b"""# Cooling tower fan CT-7

## Belt tension check

Check the V-belt tension of fan CT-7 every 500 hours: deflection 12 mm at 40 N.
"""


def wait_for_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """Poll an ingestion job until it is done or failed."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/documents/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"ingestion job {job_id} did not finish")


def test_upload_ingest_search_and_delete(server: LiveServer) -> None:
    with server.client("supervisor") as client:
        response = client.post(
            "/v1/documents", files={"file": ("ct-7 fan (rev 2).md", MANUAL, "text/markdown")}
        )
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["id"])
        assert job["status"] == "done" and job["outcome"] == "added" and job["chunks"] >= 1
        docs = client.get("/v1/documents").json()["documents"]
        doc = next(d for d in docs if d["filename"] == "ct-7 fan (rev 2).md")
        assert doc["path"].startswith(str(server.services.data_dir / "uploads"))
        hits = server.services.retriever.search("CT-7 belt deflection", 3)
        assert any("CT-7" in h.chunk.text for h in hits)

        again = client.post("/v1/documents", files={"file": ("ct-7 fan (rev 2).md", MANUAL)})
        assert wait_for_job(client, again.json()["id"])["outcome"] == "unchanged"
        assert client.get("/v1/documents/jobs").json()["jobs"][0]["id"] == again.json()["id"]

        removed = client.delete(f"/v1/documents/{doc['id']}")
        assert removed.status_code == 200 and removed.json()["chunks"] == doc["chunks"]
        assert client.delete(f"/v1/documents/{doc['id']}").status_code == 404
        names = [d["filename"] for d in client.get("/v1/documents").json()["documents"]]
        assert "ct-7 fan (rev 2).md" not in names
        assert not (server.services.data_dir / "uploads" / "ct-7 fan (rev 2).md").exists()

    with server.client("operator") as operator:
        refused = operator.post("/v1/documents", files={"file": ("x.md", MANUAL)})
        assert refused.status_code == 403


def test_unreadable_documents_fail_their_job(server: LiveServer) -> None:
    with server.client("supervisor") as client:
        for name, content in (("broken.pdf", b"%PDF-1.4 junk"), ("empty.md", b"")):
            response = client.post("/v1/documents", files={"file": (name, content)})
            assert response.status_code == 202
            job = wait_for_job(client, response.json()["id"])
            assert job["status"] == "failed" and job["error"], job


def test_bad_uploads_are_refused(server: LiveServer) -> None:
    uploads = server.services.data_dir / "uploads"
    before = sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []
    with server.client("supervisor") as client:
        wrong_type = client.post("/v1/documents", files={"file": ("tool.exe", b"MZ\x90\x00")})
        assert wrong_type.status_code == 415
        assert error_of(wrong_type)["code"] == "unsupported_type"
        assert ".md" in error_of(wrong_type)["message"]
        no_suffix = client.post("/v1/documents", files={"file": ("README", b"text")})
        assert no_suffix.status_code == 415

        too_big = client.post(
            "/v1/documents", files={"file": ("big.txt", b"a" * (300 * 1024), "text/plain")}
        )
        assert too_big.status_code == 413 and error_of(too_big)["code"] == "too_large"

        for name in (
            "../../etc/passwd.md",
            "..\\..\\boot.ini.txt",
            "/etc/cron.d/evil.txt",
            "uploads/../x.md",
            ".hidden.md",
            "..md",
            "a\x00b.md",
        ):
            response = client.post("/v1/documents", files={"file": (name, b"hello")})
            assert response.status_code == 400, (name, response.text)
            assert error_of(response)["code"] == "invalid_filename"

        no_file = client.post("/v1/documents", data={"note": "x"})
        assert no_file.status_code == 422 and error_of(no_file)
    after = sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []
    assert after == before
    assert not (server.services.data_dir.parent / "x.md").exists()


def test_document_bombs_are_refused_and_serve_keeps_answering(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    server = make_server(api={"max_upload_mb": 8})
    bomb = write_docx_bomb(tmp_path / "bomb.docx", unpacked_mb=100).read_bytes()
    pdf = write_pdf(tmp_path / "ten-thousand.pdf", 10_000).read_bytes()
    uploads = server.services.data_dir / "uploads"
    before_rss = rss_mb()
    with server.client("supervisor") as client:
        for name, content, code, value in (
            ("bomb.docx", bomb, "zip_bomb", 0.11),
            ("ten-thousand.pdf", pdf, "too_many_pages", 0.13),
        ):
            started = time.monotonic()
            refused = client.post("/v1/documents", files={"file": (name, content)})
            assert time.monotonic() - started < 60
            assert refused.status_code == 413, refused.text
            error = error_of(refused)
            assert error["code"] == code and error["message"].startswith(f"{name}: refused")
            assert not uploads.exists() or not any(uploads.iterdir())  # nothing kept

            status = client.get("/v1/status")
            assert status.status_code == 200 and status.json()["broker"].startswith("connected")
            publish(server, "ST-102", "differential_pressure", [value])
            wait_until(
                lambda v=value: client.get("/v1/assets/ST-102").json()["tags"][0]["value"] == v,
                "the reading to arrive after a refused upload",
            )
        accepted = client.post("/v1/documents", files={"file": ("ct-7.md", MANUAL)})
        assert wait_for_job(client, accepted.json()["id"])["status"] == "done"
    assert rss_mb() - before_rss < 150  # neither the 100 MB of XML nor the pages came here
