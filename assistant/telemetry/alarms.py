"""Limit alarms of one tag: lolo, lo, hi and hihi, each with deadband hysteresis.

Each configured limit is its own alarm, as in ISA-18.2: a hi alarm is raised when the value
reaches ``hi`` and clears only when it falls below ``hi - deadband``; a lo alarm is raised at
or below ``lo`` and clears only above ``lo + deadband``. Since hihi lies above hi, a value that
climbs through both raises hi and then hihi (escalation); falling back below
``hihi - deadband`` clears hihi while hi stays raised (de-escalation). A value oscillating
inside the deadband never chatters. Every change is one :class:`TelemetryEvent`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from uuid import uuid4

from assistant.domain import EventState, TelemetryEvent
from assistant.plant import TagSpec

LEVELS = ("lolo", "lo", "hi", "hihi")
SEVERITY = {"hihi": 2, "lolo": 2, "hi": 1, "lo": 1}
HIGH_LEVELS = frozenset({"hi", "hihi"})


def new_event_id() -> str:
    """Return a fresh, unique event id (12 hex characters)."""
    return uuid4().hex[:12]


def format_number(value: float) -> str:
    """Format a measured value for a person: up to four significant digits, no exponent."""
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 10_000:
        return f"{value:.0f}"
    text = f"{value:.4g}"
    if "e" in text:
        text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text


def with_unit(value: float, unit: str) -> str:
    """Return a value followed by its unit, if it has one."""
    return f"{format_number(value)} {unit}" if unit else format_number(value)


class LimitAlarm:
    """The alarm states of one tag's limits, updated sample by sample."""

    __slots__ = ("_limits", "active", "asset", "deadband", "tag", "unit")

    def __init__(self, asset: str, tag: TagSpec) -> None:
        self.asset = asset
        self.tag = tag.id
        self.unit = tag.unit
        self.deadband = tag.deadband
        self._limits = [(name, limit) for name, limit in tag.limits.as_pairs() if limit is not None]
        self.active: set[str] = set()

    @property
    def has_limits(self) -> bool:
        """Return whether any limit is configured."""
        return bool(self._limits)

    @property
    def worst(self) -> str | None:
        """Return the most severe active level (hihi or lolo before hi or lo), or None."""
        if not self.active:
            return None
        return max(self.active, key=lambda level: (SEVERITY[level], level in HIGH_LEVELS))

    def update(self, value: float, ts: float) -> list[TelemetryEvent]:
        """Evaluate a new value; return the raised and cleared events, least severe first."""
        raised: list[TelemetryEvent] = []
        cleared: list[TelemetryEvent] = []
        for level, limit in self._limits:
            was = level in self.active
            now = self._holds(level, limit, value, was)
            if now and not was:
                self.active.add(level)
                raised.append(self._event(level, limit, value, ts, "raised"))
            elif was and not now:
                self.active.discard(level)
                cleared.append(self._event(level, limit, value, ts, "cleared"))
        raised.sort(key=lambda e: SEVERITY[e.level])
        cleared.sort(key=lambda e: -SEVERITY[e.level])
        return cleared + raised

    def suppress(self, ts: float) -> list[TelemetryEvent]:
        """Clear every active level because the equipment stopped; return the cleared events."""
        events = []
        for level, limit in self._limits:
            if level in self.active:
                self.active.discard(level)
                event = self._event(level, limit, limit, ts, "cleared")
                events.append(
                    replace(
                        event,
                        value=None,
                        values=(),
                        message=f"{self.asset} {self.tag} {level} alarm suppressed: "
                        f"{self.asset} stopped",
                    )
                )
        return events

    def adopt(self, level: str, value: float) -> bool:
        """Keep a level raised before a restart if ``value`` still meets it (with deadband).

        Return whether it does; the level is then active again, without a new event.
        """
        for name, limit in self._limits:
            if name == level and self._holds(level, limit, value, True):
                self.active.add(level)
                return True
        return False

    def _holds(self, level: str, limit: float, value: float, active: bool) -> bool:
        """Return whether a level's condition holds, with the deadband while it is active."""
        if level in HIGH_LEVELS:
            return value >= (limit - self.deadband if active else limit)
        return value <= (limit + self.deadband if active else limit)

    def _event(
        self, level: str, limit: float, value: float, ts: float, state: EventState
    ) -> TelemetryEvent:
        high = level in HIGH_LEVELS
        measured = with_unit(value, self.unit)
        bound = with_unit(limit, self.unit)
        if state == "raised":
            where = "above" if high else "below"
            if format_number(value) == format_number(limit):
                where = "at"
            message = f"{self.asset} {self.tag} {measured} {where} {level} limit {bound}"
        else:
            where = "below" if high else "above"
            message = f"{self.asset} {self.tag} {measured} back {where} {level} limit {bound}"
            if self.deadband:
                message += f" (deadband {with_unit(self.deadband, self.unit)})"
        return TelemetryEvent(
            id=new_event_id(),
            asset=self.asset,
            tag=self.tag,
            kind="limit",
            level=level,
            state=state,
            ts=ts,
            value=value,
            message=message,
            values=((self.tag, value),),
        )
