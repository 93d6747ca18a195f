"""The limits of the ``/v1/events`` streams: how many may be open per API key and in all, and
a bounded buffer per stream that drops (and counts) what a slow client cannot take.

Every open stream holds a listener on the telemetry pipeline, so the caps bound the fan-out
work of each event. The buffer is filled on the telemetry thread and never blocks it: an event
that finds the buffer full is dropped and reported to ``on_drop``, not queued without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from assistant.api.errors import ApiError
from assistant.domain import TelemetryEvent


class TooManyStreams(ApiError):
    """A key, or the server, already has as many event streams open as allowed."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(
            429,
            "too_many_streams",
            f"{message}; close one or retry in {retry_after_s} s",
            headers={"Retry-After": str(retry_after_s)},
        )


class StreamSlot:
    """One open stream's place under the caps; ``release`` may be called any number of times."""

    def __init__(self, give_back: Callable[[], None]) -> None:
        self._give_back = give_back
        self._lock = threading.Lock()
        self._released = False

    def release(self) -> None:
        """Give the place back (once, however often called)."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self._give_back()


class EventStreams:
    """Counts the open event streams per API key and in all, refusing one over a cap."""

    def __init__(self, per_key: int, total: int, retry_after_s: int) -> None:
        self.per_key = per_key
        self.total = total
        self.retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def open(self, key_id: str) -> StreamSlot:
        """Take a place for a new stream of this key; raise TooManyStreams (429) over a cap."""
        with self._lock:
            mine = self._open.get(key_id, 0)
            if mine >= self.per_key:
                raise TooManyStreams(
                    f"this API key already has {mine} open event streams "
                    f"(api.events_per_key = {self.per_key})",
                    self.retry_after_s,
                )
            if sum(self._open.values()) >= self.total:
                raise TooManyStreams(
                    f"the server already has {self.total} open event streams "
                    f"(api.events_total = {self.total})",
                    self.retry_after_s,
                )
            self._open[key_id] = mine + 1
        return StreamSlot(lambda: self._close(key_id))

    def _close(self, key_id: str) -> None:
        with self._lock:
            left = self._open.get(key_id, 0) - 1
            if left > 0:
                self._open[key_id] = left
            else:
                self._open.pop(key_id, None)

    def count(self, key_id: str | None = None) -> int:
        """Return the streams open now, of one key or in all."""
        with self._lock:
            if key_id is not None:
                return self._open.get(key_id, 0)
            return sum(self._open.values())


class EventBuffer:
    """Events on their way from the telemetry thread to one stream, at most ``size`` waiting."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, size: int, on_drop: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._size = size
        self._on_drop = on_drop
        self._queue: asyncio.Queue[TelemetryEvent] = asyncio.Queue()
        self._lock = threading.Lock()
        self._waiting = 0  # handed to the loop but not yet taken by the stream
        self.dropped = 0

    def put(self, event: TelemetryEvent) -> None:
        """Pass an event on (any thread, never blocks); drop and count it when the buffer is
        full."""
        with self._lock:
            full = self._waiting >= self._size
            if full:
                self.dropped += 1
            else:
                self._waiting += 1
        if full:
            self._on_drop()
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def get(self) -> TelemetryEvent:
        """Return the next event (on the stream's event loop)."""
        event = await self._queue.get()
        with self._lock:
            self._waiting -= 1
        return event
