"""The ports the core needs from the outside world; ``assistant.services`` picks the adapters.

The core (knowledge, work orders, sync, telemetry) is written against these protocols and never
imports ``connectors/``: an adapter can change (another broker library, another PDF reader)
without touching it, and a unit test can pass a small fake where the real part is not the point.
The live telemetry connector's port is ``assistant.telemetry.live.Connector``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from assistant.domain import LoadedDocument
from assistant.schema.sync import Ack
from assistant.settings import MqttSettings


class DocumentLoader(Protocol):
    """Turns one document file into its title and text blocks."""

    @property
    def suffixes(self) -> frozenset[str]:
        """Return the file suffixes it reads (lower case, with the dot)."""
        ...

    def load(self, path: Path, max_bytes: int) -> LoadedDocument:
        """Read one file; raise DocumentError naming the file and the reason it cannot."""
        ...

    def check(self, path: Path, max_bytes: int) -> None:
        """Raise DocumentError when a file is over a limit, reading only its container."""
        ...


class MessagePublisher(Protocol):
    """Publishes messages to a broker (work-order exports)."""

    def connect(self, timeout: float = 10.0) -> None:
        """Connect; raise ConnectorError if the broker cannot be reached in time."""
        ...

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish one message; with QoS 1, return once the broker has acknowledged it."""
        ...

    def close(self) -> None:
        """Disconnect."""
        ...


PublisherFactory = Callable[[MqttSettings, str, float], MessagePublisher]
"""Builds a publisher from (broker settings, client id, timeout in seconds)."""


class Transport(Protocol):
    """Delivers one encoded sync batch and returns the acknowledgement and the bytes it sent."""

    @property
    def where(self) -> str:
        """Return where batches go, for messages."""
        ...

    def send(self, payload: bytes, count: int) -> tuple[Ack, int]:
        """Send a batch of ``count`` records; raise UplinkError if it was not delivered."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


TransportFactory = Callable[[], Transport]
"""Builds the configured uplink; raises SyncError when offline or when none is configured."""
