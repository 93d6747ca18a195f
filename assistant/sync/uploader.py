"""Drains the outbox through a transport: batches, exponential backoff with jitter, a bandwidth cap.

A batch leaves the outbox only after the transport returned the receiver's acknowledgement
for every record in it; a failure leaves it queued, records the error and schedules the next
attempt ``backoff_min_s * 2**(failures-1)`` seconds later (at most ``backoff_max_s``), drawn
uniformly from the upper half of that delay so that many sites coming back at once spread
out. The bandwidth cap paces batches so that the bytes on the wire average at most
``bandwidth_bytes_s`` per second.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from assistant.ports import Transport
from assistant.schema.sync import UplinkError, encode_batch
from assistant.settings import SyncSettings
from assistant.sync.outbox import Outbox, Queued

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What one drain did."""

    sent: int = 0
    duplicates: int = 0
    batches: int = 0
    wire_bytes: int = 0
    error: str | None = None
    retry_in_s: float | None = None
    backlog: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict."""
        return asdict(self)


def backoff_delay(settings: SyncSettings, failures: int, rng: random.Random) -> float:
    """Return the delay before the next attempt after ``failures`` consecutive failures."""
    ceiling = min(settings.backoff_max_s, settings.backoff_min_s * 2 ** max(0, failures - 1))
    return rng.uniform(ceiling / 2, ceiling)


class Uploader:
    """Sends the outbox's records in priority order until it is empty or a batch fails."""

    def __init__(
        self,
        outbox: Outbox,
        transport: Transport,
        settings: SyncSettings,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._transport = transport
        self._settings = settings
        self._rng = rng or random.Random()
        self._clock = clock

    def drain(
        self,
        *,
        stop: threading.Event | None = None,
        max_batches: int | None = None,
        on_batch: Callable[[list[Queued]], None] | None = None,
    ) -> DrainResult:
        """Send batches until the outbox is empty, a batch fails, or ``stop`` is set.

        ``on_batch`` is called with each batch just before it is sent (progress output).
        """
        settings = self._settings
        stop = stop or threading.Event()
        started = self._clock()
        sent = duplicates = batches = wire = 0
        while not stop.is_set() and (max_batches is None or batches < max_batches):
            batch = self._outbox.batch(settings.batch_records, settings.batch_bytes)
            if not batch:
                break
            if settings.bandwidth_bytes_s and wire:
                wait = started + wire / settings.bandwidth_bytes_s - self._clock()
                if wait > 0 and stop.wait(wait):
                    break
            if on_batch is not None:
                on_batch(batch)
            payload = encode_batch(
                settings.site_id,
                settings.token.get_secret_value() if settings.token else "",
                batch,
            )
            ids = [r.id for r in batch]
            try:
                ack, nbytes = self._transport.send(payload, len(batch))
            except UplinkError as exc:
                failures = self._outbox.failures() + 1
                delay = backoff_delay(settings, failures, self._rng)
                self._outbox.fail(ids, str(exc), time.time() + delay)
                log.warning("sync: %s; next attempt in %.1f s", exc, delay)
                return DrainResult(
                    sent, duplicates, batches, wire, str(exc), delay, self._backlog()
                )
            self._outbox.ack(ids)
            sent += ack.accepted
            duplicates += ack.duplicates
            batches += 1
            wire += nbytes
        return DrainResult(sent, duplicates, batches, wire, None, None, self._backlog())

    def _backlog(self) -> int:
        return self._outbox.status().backlog
