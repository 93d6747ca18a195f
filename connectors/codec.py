"""The telemetry wire format: MQTT payloads to Readings and back (no network code here).

Formats, chosen per tag (or per asset for ``multi``) in the plant file:

* ``number``: the payload is a plain number, ``"4.12"``; the timestamp is the arrival time.
* ``json``:   ``{"value": 4.12, "ts": 1732370000.5, "unit": "bar", "seq": 17}``; only
  ``value`` is required; ``ts`` is Unix seconds or an ISO 8601 string.
* ``multi``:  one object carrying several tags of an asset,
  ``{"ts": ..., "seq": ..., "discharge_pressure": 4.1, "flow": 301.2}``.

Every rejection raises :class:`PayloadError` with a short machine-readable ``reason`` (the
connector counts by it) and a human message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from assistant.domain import Reading
from assistant.plant import PlantSpec, Route

REASONS = (
    "unknown_topic",
    "too_large",
    "not_utf8",
    "not_a_number",
    "not_json",
    "wrong_type",
    "not_finite",
    "unknown_tag",
    "bad_timestamp",
    "future_timestamp",
    "stale_timestamp",
)


class PayloadError(ValueError):
    """A payload that cannot become a Reading; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Decoder:
    """Turns (topic, payload) into Readings for one plant, with the configured limits."""

    def __init__(
        self,
        plant: PlantSpec,
        *,
        max_payload_bytes: int = 4096,
        max_future_s: float = 300.0,
        max_age_s: float = 7 * 86400.0,
    ) -> None:
        self.plant = plant
        self.routes: dict[str, Route] = plant.routes()
        self._units = {(asset.id, tag.id): tag.unit for asset in plant.assets for tag in asset.tags}
        self.max_payload_bytes = max_payload_bytes
        self.max_future_s = max_future_s
        self.max_age_s = max_age_s

    def decode(self, topic: str, payload: bytes, now: float) -> list[Reading]:
        """Decode one message; raise PayloadError naming the reason when it is bad."""
        route = self.routes.get(topic)
        if route is None:
            raise PayloadError("unknown_topic", f"no tag is mapped to topic '{topic[:200]}'")
        if len(payload) > self.max_payload_bytes:
            raise PayloadError(
                "too_large",
                f"{topic}: payload of {len(payload)} bytes exceeds "
                f"mqtt.max_payload_bytes ({self.max_payload_bytes})",
            )
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise PayloadError("not_utf8", f"{topic}: payload is not UTF-8 text") from exc
        if route.format == "number":
            assert route.tag is not None
            return [self._reading(route.asset, route.tag, _number(text, topic), now, None, now)]
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # hostile nesting: RecursionError
            raise PayloadError("not_json", f"{topic}: payload is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise PayloadError(
                "wrong_type", f"{topic}: expected a JSON object, got {type(data).__name__}"
            )
        ts = self._timestamp(data.get("ts"), now, topic)
        seq = _sequence(data.get("seq"), topic)
        if route.format == "json":
            assert route.tag is not None
            if "value" not in data:
                raise PayloadError("wrong_type", f"{topic}: JSON object has no 'value'")
            return [
                self._reading(route.asset, route.tag, _value(data["value"], topic), ts, seq, now)
            ]
        return self._multi(route.asset, data, ts, seq, topic, now)

    def _multi(
        self,
        asset: str,
        data: Mapping[str, Any],
        ts: float,
        seq: int | None,
        topic: str,
        now: float,
    ) -> list[Reading]:
        readings = []
        for key, raw in data.items():
            if key in ("ts", "seq"):
                continue
            if (asset, key) not in self._units:
                raise PayloadError("unknown_tag", f"{topic}: asset {asset} has no tag '{key[:64]}'")
            readings.append(self._reading(asset, key, _value(raw, f"{topic}/{key}"), ts, seq, now))
        if not readings:
            raise PayloadError("wrong_type", f"{topic}: JSON object carries no tag values")
        return readings

    def _reading(
        self, asset: str, tag: str, value: float, ts: float, seq: int | None, now: float
    ) -> Reading:
        del now
        return Reading(asset, tag, value, ts, self._units[(asset, tag)], seq)

    def _timestamp(self, raw: Any, now: float, topic: str) -> float:
        if raw is None:
            return now
        if isinstance(raw, bool):
            raise PayloadError("bad_timestamp", f"{topic}: 'ts' must be a number or ISO string")
        if isinstance(raw, int | float):
            try:
                ts = float(raw)
            except OverflowError as exc:
                raise PayloadError("bad_timestamp", f"{topic}: 'ts' is out of range") from exc
            if ts > 1e11:  # milliseconds, as many PLC gateways send
                ts /= 1000.0
        elif isinstance(raw, str):
            try:
                parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError as exc:
                raise PayloadError(
                    "bad_timestamp", f"{topic}: 'ts' is not ISO 8601: {raw[:40]!r}"
                ) from exc
            if parsed.tzinfo is None:
                raise PayloadError("bad_timestamp", f"{topic}: 'ts' has no time zone")
            ts = parsed.timestamp()
        else:
            raise PayloadError("bad_timestamp", f"{topic}: 'ts' must be a number or ISO string")
        if not math.isfinite(ts):
            raise PayloadError("bad_timestamp", f"{topic}: 'ts' is not finite")
        if ts > now + self.max_future_s:
            raise PayloadError(
                "future_timestamp",
                f"{topic}: 'ts' is {ts - now:.0f} s in the "
                f"future (mqtt.max_future_s = {self.max_future_s:g})",
            )
        if ts < now - self.max_age_s:
            raise PayloadError(
                "stale_timestamp",
                f"{topic}: 'ts' is {now - ts:.0f} s old (mqtt.max_age_s = {self.max_age_s:g})",
            )
        return ts


def _number(text: str, topic: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise PayloadError(
            "not_a_number", f"{topic}: payload {text[:40]!r} is not a number"
        ) from exc
    if not math.isfinite(value):
        raise PayloadError("not_finite", f"{topic}: value {text[:40]!r} is not finite")
    return value


def _value(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise PayloadError(
            "wrong_type", f"{where}: value must be a number, got {type(raw).__name__}"
        )
    try:
        value = float(raw)
    except OverflowError as exc:  # an integer too large for a float
        raise PayloadError("not_finite", f"{where}: value is out of range") from exc
    if not math.isfinite(value):
        raise PayloadError("not_finite", f"{where}: value is not finite")
    return value


def _sequence(raw: Any, topic: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise PayloadError("wrong_type", f"{topic}: 'seq' must be a non-negative integer")
    return raw


def encode_json(
    value: float, ts: float | None = None, seq: int | None = None, unit: str | None = None
) -> bytes:
    """Encode one reading in the ``json`` format."""
    body: dict[str, Any] = {"value": value}
    if ts is not None:
        body["ts"] = round(ts, 3)
    if seq is not None:
        body["seq"] = seq
    if unit:
        body["unit"] = unit
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def encode_multi(
    values: Mapping[str, float], ts: float | None = None, seq: int | None = None
) -> bytes:
    """Encode several tags of one asset in the ``multi`` format."""
    body: dict[str, Any] = dict(values)
    if ts is not None:
        body["ts"] = round(ts, 3)
    if seq is not None:
        body["seq"] = seq
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def encode(
    route_format: str, value: float, ts: float | None = None, seq: int | None = None
) -> bytes:
    """Encode one reading for a tag in its configured format (``number`` or ``json``)."""
    if route_format == "number":
        return repr(float(value)).encode("ascii")
    return encode_json(value, ts, seq)
