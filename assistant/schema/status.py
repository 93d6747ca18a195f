"""The ``/v1/status`` shape: model, broker, alarms, documents, the model's queue, sync backlog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Self

from assistant.schema.base import WireModel

if TYPE_CHECKING:
    from assistant.knowledge.manifest import ManifestEntry
    from assistant.plant import PlantSpec
    from assistant.sync.outbox import OutboxStatus


class QueueFigures(Protocol):
    """What the status takes of the model's queue (the API's inference queue has these)."""

    @property
    def depth(self) -> int:
        """Return the requests running or waiting."""
        ...

    @property
    def queue_size(self) -> int:
        """Return how many may wait."""
        ...

    @property
    def completed(self) -> int:
        """Return the requests answered since start."""
        ...

    @property
    def refused(self) -> int:
        """Return the requests refused for a full queue since start."""
        ...

    @property
    def cancelled(self) -> int:
        """Return the requests cancelled since start."""
        ...

    @property
    def failed(self) -> int:
        """Return the requests that failed since start."""
        ...


class QueueOut(WireModel):
    """The model's queue."""

    depth: int
    max_waiting: int
    completed: int
    refused: int
    cancelled: int
    failed: int

    @classmethod
    def from_domain(cls, queue: QueueFigures) -> Self:
        """Return the queue's figures as they are sent."""
        return cls(
            depth=queue.depth,
            max_waiting=queue.queue_size,
            completed=queue.completed,
            refused=queue.refused,
            cancelled=queue.cancelled,
            failed=queue.failed,
        )


class SyncOut(WireModel):
    """The cloud-sync outbox: what waits to leave the site, and how the uplink last went."""

    offline: bool
    backlog: int
    bytes: int
    oldest_at: float | None
    last_success_at: float | None
    last_error: str | None
    sent: int
    dropped: int
    quarantined: int = 0
    """Records the receiver refused for good, held with their reason (``sync quarantine``)."""

    @classmethod
    def from_domain(cls, status: OutboxStatus) -> Self:
        """Return the outbox's state as it is sent."""
        return cls(
            offline=status.offline,
            backlog=status.backlog,
            bytes=status.bytes,
            oldest_at=status.oldest_at,
            last_success_at=status.last_success_at,
            last_error=status.last_error,
            sent=status.sent,
            dropped=status.dropped,
            quarantined=status.quarantined,
        )


class StatusOut(WireModel):
    """What a status bar shows: model, broker, alarms, documents, queue, sync backlog."""

    version: str
    model: str
    models: list[str]
    broker: str
    broker_error: str | None
    site: str | None
    assets: int
    active_alarms: int
    documents: int
    chunks: int
    queue: QueueOut
    sync: SyncOut
    uptime_s: float

    @classmethod
    def from_domain(
        cls,
        *,
        version: str,
        model: str,
        telemetry: dict[str, Any] | None,
        plant: PlantSpec | None,
        documents: list[ManifestEntry],
        queue: QueueFigures,
        sync: OutboxStatus,
        uptime_s: float,
    ) -> Self:
        """Return the status from its parts: ``telemetry`` is the live pipeline's status (None
        without a plant), ``documents`` the manifest's entries."""
        live = telemetry or {}
        return cls(
            version=version,
            model=model,
            models=["shiftmate", model],
            broker=live.get("broker", "not configured"),
            broker_error=live.get("last_error"),
            site=plant.site if plant is not None else None,
            assets=len(plant.assets) if plant is not None else 0,
            active_alarms=live.get("active_events", 0),
            documents=len(documents),
            chunks=sum(len(e.chunk_ids) for e in documents),
            queue=QueueOut.from_domain(queue),
            sync=SyncOut.from_domain(sync),
            uptime_s=round(uptime_s, 3),
        )
