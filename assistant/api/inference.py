"""One model, many clients: a single inference thread behind a bounded queue.

Every model call of the API (answers, plain chat completions, work-order drafts) runs here, one
at a time, off the event loop. A request that finds ``queue_size`` others already waiting is
refused at once (429 with Retry-After) instead of piling up. A job carries a cancel event: a
client that goes away sets it, a queued job is then dropped before it starts and a running
generation stops at its next token.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from assistant.api.errors import ApiError
from models.chat import GenerationCancelled

T = TypeVar("T")


class QueueFull(ApiError):
    """The model is busy and the queue is at its bound."""

    def __init__(self, retry_after_s: int, depth: int) -> None:
        super().__init__(
            429,
            "queue_full",
            f"the model is busy ({depth} requests running or waiting); retry in {retry_after_s} s",
            headers={"Retry-After": str(retry_after_s)},
        )


class ShuttingDown(ApiError):
    """The server is stopping and takes no new model work."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            503,
            "shutting_down",
            "the server is shutting down",
            headers={"Retry-After": str(retry_after_s)},
        )


@dataclass
class Job(Generic[T]):
    """A submitted model call: its future, its cancel event and when it was queued."""

    future: Future[T]
    cancel: threading.Event
    queued_at: float
    started_at: float | None = None
    finished_at: float | None = None
    cancelled_early: bool = field(default=False)

    async def result(self) -> T:
        """Wait for the job without blocking the event loop and return its result."""
        return await asyncio.wrap_future(self.future)


class InferenceQueue:
    """Runs model calls one at a time in one thread; refuses work past the bound."""

    def __init__(self, queue_size: int, retry_after_s: int) -> None:
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self.completed = 0
        self.refused = 0
        self.cancelled = 0
        self.failed = 0

    @property
    def depth(self) -> int:
        """Return how many jobs are running or waiting."""
        with self._lock:
            return self._pending

    @property
    def busy(self) -> bool:
        """Return whether a job is running or waiting."""
        return self.depth > 0

    def submit(self, work: Callable[[threading.Event], T]) -> Job[T]:
        """Queue ``work(cancel)``; raise QueueFull (429) past the bound, ShuttingDown (503)."""
        with self._lock:
            if self._closed:
                raise ShuttingDown(self.retry_after_s)
            if self._pending >= 1 + self.queue_size:
                self.refused += 1
                raise QueueFull(self.retry_after_s, self._pending)
            self._pending += 1
        cancel = threading.Event()
        future: Future[T] = Future()
        job = Job(future=future, cancel=cancel, queued_at=time.perf_counter())

        def run() -> None:
            try:
                if cancel.is_set():
                    job.cancelled_early = True
                    raise GenerationCancelled("cancelled before it started")
                if not future.set_running_or_notify_cancel():
                    return
                job.started_at = time.perf_counter()
                result = work(cancel)
            except BaseException as exc:
                self._count(exc)
                if not future.done():
                    future.set_exception(exc)
            else:
                with self._lock:
                    self.completed += 1
                future.set_result(result)
            finally:
                job.finished_at = time.perf_counter()
                with self._lock:
                    self._pending -= 1

        try:
            self._executor.submit(run)
        except RuntimeError:
            with self._lock:
                self._pending -= 1
            raise ShuttingDown(self.retry_after_s) from None
        return job

    def _count(self, exc: BaseException) -> None:
        with self._lock:
            if isinstance(exc, GenerationCancelled):
                self.cancelled += 1
            else:
                self.failed += 1

    def close(self) -> None:
        """Refuse new work and wait for the running job (queued ones still run and finish)."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=False)
