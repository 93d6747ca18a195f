"""Document uploads (multipart, checked for type, size and name), listing and removal.

Uploads are saved under ``<data_dir>/uploads`` and ingested in the background, one at a time;
the answer is a job to poll. Before it is accepted, an upload's container is checked in a
limited child process (a DOCX's unpacked size and packing ratio, a PDF's page count): one over
a limit is refused at once with 413 and the limit's code, and is not kept.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, UploadFile
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from assistant.api.auth import Operator, State, Supervisor
from assistant.api.errors import ApiError, responses
from assistant.api.state import ApiState
from assistant.errors import DocumentError

router = APIRouter(tags=["documents"], responses=responses(400, 401, 403, 422, 500))

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,199}$")
CHUNK = 1 << 20


class DocumentOut(BaseModel):
    """An indexed document."""

    id: str
    path: str
    filename: str
    title: str
    chunks: int
    sha256: str
    size: int
    ingested_at: str


class DocumentList(BaseModel):
    """Every indexed document."""

    documents: list[DocumentOut]


class JobOut(BaseModel):
    """An ingestion job."""

    id: str
    filename: str
    path: str
    size: int
    status: str
    outcome: str | None
    chunks: int
    error: str | None
    error_code: str | None
    created: float
    finished: float | None


class JobList(BaseModel):
    """Recent ingestion jobs, newest first."""

    jobs: list[JobOut]


class Removed(BaseModel):
    """A removed document."""

    id: str
    path: str
    chunks: int


def upload_dir(state: ApiState) -> Path:
    """Return the folder uploads are saved in."""
    return state.services.data_dir / "uploads"


def check_filename(name: str | None, suffixes: frozenset[str]) -> str:
    """Return an upload's file name if it is a plain, supported name; raise 400/415 if not."""
    if not name:
        raise ApiError(400, "invalid_filename", "the upload has no file name")
    if "/" in name or "\\" in name or "\x00" in name or name in (".", "..") or ".." in name:
        raise ApiError(400, "invalid_filename", f"the file name must not be a path: {name[:100]!r}")
    if not SAFE_NAME.fullmatch(name):
        raise ApiError(
            400,
            "invalid_filename",
            "the file name may hold letters, digits, spaces and . _ ( ) + - and must start "
            f"with a letter or digit: {name[:100]!r}",
        )
    suffix = Path(name).suffix.lower()
    if suffix not in suffixes:
        raise ApiError(
            415,
            "unsupported_type",
            f"unsupported file type {suffix or '(none)'!r}; supported: "
            + ", ".join(sorted(suffixes)),
        )
    return name


@router.post(
    "/v1/documents",
    response_model=JobOut,
    status_code=202,
    responses=responses(400, 413, 415),
    summary="Upload a document; it is ingested in the background",
)
async def upload(file: UploadFile, request: Request, state: State, key: Supervisor) -> Any:
    """Save an uploaded document and queue its ingestion; poll the returned job."""
    limit = int(state.services.settings.api.max_upload_mb * 1024 * 1024)
    name = check_filename(file.filename, state.services.ingestor.suffixes)
    folder = upload_dir(state)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    # hidden (skipped by folder ingestion), with the upload's suffix so it can be checked
    partial = folder / f".{uuid.uuid4().hex}.part{Path(name).suffix.lower()}"
    size = 0
    try:
        with partial.open("wb") as out:
            while chunk := await file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ApiError(
                        413,
                        "too_large",
                        f"the upload is over the limit of {limit / 1048576:g} MB "
                        "(api.max_upload_mb)",
                    )
                out.write(chunk)
        await run_in_threadpool(refuse_bombs, state, partial, name)
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    job = state.ingestion.submit(name, target.resolve(), size)
    return job.as_json()


def refuse_bombs(state: ApiState, path: Path, name: str) -> None:
    """Raise 413 when a saved upload is over a size, page or unpacking limit.

    A file that is merely unreadable is accepted: its ingestion job fails and says why.
    """
    try:
        state.services.ingestor.check(path)
    except DocumentError as exc:
        if exc.code:
            raise ApiError(413, exc.code, f"{name}: {exc.reason}") from exc


@router.get("/v1/documents", response_model=DocumentList)
def documents(state: State, key: Operator) -> dict[str, Any]:
    """List the indexed documents."""
    return {
        "documents": [
            {
                "id": e.doc_key,
                "path": e.path,
                "filename": Path(e.path).name,
                "title": e.title,
                "chunks": len(e.chunk_ids),
                "sha256": e.sha256,
                "size": e.size,
                "ingested_at": e.ingested_at,
            }
            for e in state.services.manifest.entries()
        ]
    }


@router.get("/v1/documents/jobs", response_model=JobList)
def jobs(state: State, key: Operator) -> dict[str, Any]:
    """List recent ingestion jobs."""
    return {"jobs": [j.as_json() for j in state.ingestion.jobs()]}


@router.get("/v1/documents/jobs/{job_id}", response_model=JobOut, responses=responses(404))
def job(job_id: str, state: State, key: Operator) -> dict[str, Any]:
    """Return an ingestion job's status: queued, running, done or failed."""
    found = state.ingestion.get(job_id)
    if found is None:
        raise ApiError(404, "unknown_job", f"no ingestion job {job_id!r}")
    return found.as_json()


@router.delete("/v1/documents/{document_id}", response_model=Removed, responses=responses(404))
def remove(document_id: str, state: State, key: Supervisor) -> dict[str, Any]:
    """Remove a document (by the id the listing gives) from the knowledge base."""
    entry = next((e for e in state.services.manifest.entries() if e.doc_key == document_id), None)
    if entry is None:
        raise ApiError(404, "unknown_document", f"no document {document_id!r}")
    removed = state.services.ingestor.remove(entry.path)
    uploads = upload_dir(state).resolve()
    path = Path(removed.path)
    if path.parent == uploads:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return {"id": document_id, "path": removed.path, "chunks": len(removed.chunk_ids)}
