"""What the simulator and replay need from an MQTT client, without importing one."""

from __future__ import annotations

from typing import Protocol


class Publisher(Protocol):
    """Publishes payloads to a broker; QoS 1 and 2 publishes return once acknowledged."""

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish one message (raise ConnectorError if it cannot be delivered in time)."""
        ...
