"""What the API's routes share: the services, keys, the inference queue, metrics, jobs and the
open event streams."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import Request

from assistant.api.event_streams import EventStreams
from assistant.api.inference import InferenceQueue
from assistant.api.keys import KeyStore
from assistant.api.metrics import Metrics
from assistant.knowledge.ingest import IngestReport
from assistant.services import Services

JobStatus = Literal["queued", "running", "done", "failed"]


@dataclass
class IngestJob:
    """One uploaded document on its way into the knowledge base."""

    id: str
    filename: str
    path: str
    size: int
    status: JobStatus = "queued"
    outcome: str | None = None
    chunks: int = 0
    error: str | None = None
    error_code: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the job as the API shows it."""
        return {
            "id": self.id,
            "filename": self.filename,
            "path": self.path,
            "size": self.size,
            "status": self.status,
            "outcome": self.outcome,
            "chunks": self.chunks,
            "error": self.error,
            "error_code": self.error_code,
            "created": self.created,
            "finished": self.finished,
        }


class Ingestion:
    """Ingests uploaded files one at a time in a background thread, with pollable jobs."""

    MAX_JOBS = 1000

    def __init__(self, services: Services) -> None:
        self._services = services
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")
        self._jobs: dict[str, IngestJob] = {}
        self._lock = threading.Lock()
        self.counters: dict[str, int] = {
            "added": 0,
            "updated": 0,
            "unchanged": 0,
            "failed": 0,
            "chunks": 0,
        }

    def submit(self, filename: str, path: Path, size: int) -> IngestJob:
        """Queue a saved file for ingestion and return its job."""
        job = IngestJob(id=uuid.uuid4().hex[:12], filename=filename, path=str(path), size=size)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.MAX_JOBS:
                del self._jobs[next(iter(self._jobs))]
        self._executor.submit(self._run, job, path)
        return job

    def _run(self, job: IngestJob, path: Path) -> None:
        job.status = "running"
        try:
            report: IngestReport = self._services.ingestor.ingest([path])
        except Exception as exc:  # reported on the job; the worker keeps going
            job.status, job.error = "failed", str(exc) or type(exc).__name__
            self._bump("failed", 0)
        else:
            outcome = report.outcomes[0]
            job.outcome, job.chunks = outcome.status, outcome.chunks
            if outcome.status == "failed":
                job.status, job.error = "failed", outcome.reason
                job.error_code = outcome.code or None
            else:
                job.status = "done"
            self._bump(outcome.status, report.chunks_written)
        job.finished = time.time()

    def _bump(self, status: str, chunks: int) -> None:
        with self._lock:
            self.counters[status] = self.counters.get(status, 0) + 1
            self.counters["chunks"] += chunks

    def get(self, job_id: str) -> IngestJob | None:
        """Return a job by id, or None."""
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[IngestJob]:
        """Return the recent jobs, newest first."""
        with self._lock:
            return list(reversed(self._jobs.values()))

    def close(self) -> None:
        """Finish the running ingestion and stop."""
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass
class ApiState:
    """Everything the routes share, built once per app."""

    services: Services
    keys: KeyStore
    queue: InferenceQueue
    metrics: Metrics
    ingestion: Ingestion
    streams: EventStreams
    started: float = field(default_factory=time.time)
    stopping: threading.Event = field(default_factory=threading.Event)


def get_state(request: Request) -> ApiState:
    """Return the app's shared state (a FastAPI dependency)."""
    state: ApiState = request.app.state.api
    return state
