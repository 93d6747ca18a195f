"""Drains the outbox through a transport: batches, exponential backoff with jitter, a bandwidth cap.

A batch leaves the outbox only after the transport returned the receiver's acknowledgement
for every record in it; a failure leaves it queued, records the error and schedules the next
attempt ``backoff_min_s * 2**(failures-1)`` seconds later (at most ``backoff_max_s``), drawn
uniformly from the upper half of that delay so that many sites coming back at once spread
out. A permanent refusal (400, 403, 413, or the receiver's refusal over MQTT) is no failure:
the refused records go to the outbox's quarantine and the next ones go on at once. The
bandwidth cap paces batches so that the bytes on the wire average at most
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
from assistant.schema.sync import BatchRefused, UplinkError, encode_batch
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
    quarantined: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict."""
        return asdict(self)


@dataclass(slots=True)
class _Tally:
    sent: int = 0
    duplicates: int = 0
    batches: int = 0
    wire: int = 0
    quarantined: int = 0


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

        A batch the receiver refuses for good (BatchRefused) is sent again record by record,
        so that only the records it refuses go to the quarantine and the others flow on.
        ``on_batch`` is called with each batch just before it is sent (progress output).
        """
        settings = self._settings
        stop = stop or threading.Event()
        started = self._clock()
        tally = _Tally()
        while not stop.is_set() and (max_batches is None or tally.batches < max_batches):
            batch = self._outbox.batch(settings.batch_records, settings.batch_bytes)
            if not batch:
                break
            if settings.bandwidth_bytes_s and tally.wire:
                wait = started + tally.wire / settings.bandwidth_bytes_s - self._clock()
                if wait > 0 and stop.wait(wait):
                    break
            if on_batch is not None:
                on_batch(batch)
            try:
                self._deliver(batch, tally)
            except BatchRefused as exc:
                if len(batch) == 1:
                    self._quarantine(batch, exc, tally)
                    continue
                try:
                    for record in batch:
                        self._deliver_or_quarantine(record, tally)
                except UplinkError as failure:
                    return self._failed(batch, failure, tally)
            except UplinkError as exc:
                return self._failed(batch, exc, tally)
        return self._result(tally)

    def _deliver(self, batch: list[Queued], tally: _Tally) -> None:
        """Send one batch and remove it from the outbox once acknowledged."""
        settings = self._settings
        payload = encode_batch(
            settings.site_id,
            settings.token.get_secret_value() if settings.token else "",
            batch,
        )
        ack, nbytes = self._transport.send(payload, len(batch))
        self._outbox.ack([r.id for r in batch])
        tally.sent += ack.accepted
        tally.duplicates += ack.duplicates
        tally.batches += 1
        tally.wire += nbytes

    def _deliver_or_quarantine(self, record: Queued, tally: _Tally) -> None:
        try:
            self._deliver([record], tally)
        except BatchRefused as exc:
            self._quarantine([record], exc, tally)

    def _quarantine(self, records: list[Queued], exc: BatchRefused, tally: _Tally) -> None:
        moved = self._outbox.quarantine(
            [r.id for r in records], status=exc.status, reason=exc.reason, detail=str(exc)
        )
        tally.quarantined += moved
        tally.batches += 1
        for record in records:
            log.warning(
                "sync: %s refused for good (%s), quarantined: %s", record.key, exc.reason, exc
            )

    def _failed(self, batch: list[Queued], exc: UplinkError, tally: _Tally) -> DrainResult:
        failures = self._outbox.failures() + 1
        delay = backoff_delay(self._settings, failures, self._rng)
        self._outbox.fail([r.id for r in batch], str(exc), time.time() + delay)
        log.warning("sync: %s; next attempt in %.1f s", exc, delay)
        return self._result(tally, str(exc), delay)

    def _result(
        self, tally: _Tally, error: str | None = None, retry_in_s: float | None = None
    ) -> DrainResult:
        return DrainResult(
            tally.sent,
            tally.duplicates,
            tally.batches,
            tally.wire,
            error,
            retry_in_s,
            self._outbox.status().backlog,
            tally.quarantined,
        )
