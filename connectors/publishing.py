"""Publishing readings without importing an MQTT client: the Publisher protocol and a writer.

The simulator and replay both publish through :class:`ReadingWriter`, which puts each reading on
its tag's topic in its tag's payload format, numbering each topic's messages from 0 (``seq``).
"""

from __future__ import annotations

from typing import Protocol

from assistant.domain import Reading
from assistant.plant import PlantSpec
from connectors.codec import encode


class Publisher(Protocol):
    """Publishes payloads to a broker; QoS 1 and 2 publishes return once acknowledged."""

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish one message (raise ConnectorError if it cannot be delivered in time)."""
        ...


def topic_table(plant: PlantSpec) -> dict[tuple[str, str], tuple[str, str]]:
    """Return (asset id, tag id) -> (topic, payload format) for every tag of the plant."""
    return {
        (asset.id, tag.id): (plant.topic_for(asset, tag), tag.format)
        for asset in plant.assets
        for tag in asset.tags
    }


class ReadingWriter:
    """Publishes readings of a plant's tags, each on its topic, in its format, with its seq."""

    def __init__(self, plant: PlantSpec, publisher: Publisher, *, qos: int = 1) -> None:
        self.routes = topic_table(plant)
        self._publisher = publisher
        self._qos = qos
        self._seqs: dict[str, int] = {}
        self.published = 0

    def write(self, reading: Reading, stamp: float) -> bool:
        """Publish one reading stamped ``stamp``; return False for a tag the plant lacks."""
        route = self.routes.get((reading.asset, reading.tag))
        if route is None:
            return False
        topic, fmt = route
        seq = self._seqs.get(topic, 0)
        self._seqs[topic] = seq + 1
        self._publisher.publish(topic, encode(fmt, reading.value, stamp, seq), qos=self._qos)
        self.published += 1
        return True
