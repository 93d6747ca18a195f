"""Bridging the inference thread and the event loop: token queues and disconnect watching."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi import Request

from assistant.api.inference import Job
from assistant.api.state import ApiState

T = TypeVar("T")
TokenSink = Callable[[str], None]


@dataclass
class TokenStream(Generic[T]):
    """A running model job whose tokens arrive on an asyncio queue; None marks the end."""

    job: Job[T]
    tokens: asyncio.Queue[str | None]


def _put(
    loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None], item: str | None
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
        loop.call_soon_threadsafe(queue.put_nowait, item)


def start_stream(
    state: ApiState, work: Callable[[threading.Event, TokenSink], T]
) -> TokenStream[T]:
    """Queue ``work(cancel, on_token)``; raise QueueFull/ShuttingDown before anything is sent."""
    loop = asyncio.get_running_loop()
    tokens: asyncio.Queue[str | None] = asyncio.Queue()

    def on_token(text: str) -> None:
        _put(loop, tokens, text)

    job = state.queue.submit(lambda cancel: work(cancel, on_token))
    job.future.add_done_callback(lambda _future: _put(loop, tokens, None))
    return TokenStream(job, tokens)


async def result_unless_disconnected(request: Request, job: Job[T]) -> T:
    """Wait for a job; if the client disconnects meanwhile, cancel the job's generation."""

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                job.cancel.set()
                return

    watcher = asyncio.ensure_future(watch())
    try:
        return await job.result()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
