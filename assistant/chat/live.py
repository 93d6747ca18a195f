"""The live telemetry given with a question: lines rendered by code from the store, cited [T#].

Every figure here comes from the telemetry store with its timestamp; stale or missing data is
said plainly. A code-written status sentence opens the answer for each asset in alarm or with
stale data, so the answer states the live values even when the model forgets to.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from assistant.domain import TelemetryEvent, TelemetryLine
from assistant.plant import PlantSpec
from assistant.telemetry.store import TagStatus

ALARM_STATES = ("lolo", "lo", "hi", "hihi")
TAG_WORDS = {
    "pressure": ("pressure",),
    "flow": ("flow",),
    "current": ("current", "amp", "load"),
    "vibration": ("vibration", "vibrat", "noise", "bearing"),
    "temp": ("temp", "hot", "heat", "cool"),
}


class TelemetrySource(Protocol):
    """What the chat needs from the telemetry store."""

    def asset_status(self, asset: str, now: float | None = None) -> list[TagStatus]:
        """Return the status of every tag of an asset."""
        ...

    def active_events(self, asset: str | None = None) -> list[TelemetryEvent]:
        """Return the events currently raised."""
        ...


def clock_text(ts: float) -> str:
    """Return a UTC wall-clock time such as 14:40:03 UTC."""
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S UTC")


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _state_text(status: TagStatus) -> str:
    if status.state in ALARM_STATES:
        limit = getattr(status.limits, status.state)
        return f"{status.state.upper()} ALARM ({status.state} limit {_fmt(limit)} {status.unit})"
    if status.state == "outside normal":
        return "outside its normal range, no alarm"
    return status.state


def render_line(label: str, status: TagStatus) -> TelemetryLine:
    """Render one tag's status as a telemetry line."""
    name = status.name or status.tag.replace("_", " ")
    head = f"[{label}] {status.asset} {name}"
    unit = status.unit
    if status.value is None or status.ts is None:
        text = f"{head}: NO DATA received"
    elif status.state == "stale":
        text = (
            f"{head}: STALE, no data for {_age(status.age_s or 0).removesuffix(' ago')} "
            f"(last {_fmt(status.value)} {unit} at {clock_text(status.ts)})"
        )
    else:
        parts = [
            f"{head}: {_fmt(status.value)} {unit} at {clock_text(status.ts)} "
            f"({_age(status.age_s or 0)}), {_state_text(status)}"
        ]
        if status.normal is not None:
            parts.append(f"normal {_fmt(status.normal[0])}-{_fmt(status.normal[1])} {unit}")
        stats = status.stats
        if stats is not None and stats.n >= 3:
            minutes = max((stats.last_ts - stats.first_ts) / 60, 1 / 60)
            parts.append(
                f"{status.trend} {_fmt(stats.slope_per_min)} {unit}/min over {minutes:.0f} min "
                f"(min {_fmt(stats.min)}, max {_fmt(stats.max)})"
            )
        text = "; ".join(parts)
    return TelemetryLine(
        id=label,
        asset=status.asset,
        tag=status.tag,
        value=status.value,
        unit=unit,
        ts=status.ts,
        state=status.state,
        trend=status.trend,
        text=text,
    )


def _names_tag(tag: str, question: str) -> bool:
    words = [w for key, ws in TAG_WORDS.items() if key in tag for w in ws]
    return any(w in question.lower() for w in words)


def _wanted(status: TagStatus, question: str) -> bool:
    return _names_tag(status.tag, question)


def telemetry_lines(
    source: TelemetrySource,
    assets: Sequence[str],
    question: str,
    first_number: int,
    max_lines: int,
    now: float | None = None,
) -> list[TelemetryLine]:
    """Pick and render the telemetry lines for the assets of a question.

    Tags in alarm, stale or without data come first, then tags the question names, then the
    rest, up to max_lines.
    """
    chosen: list[TagStatus] = []
    for asset in assets:
        statuses = source.asset_status(asset, now)
        abnormal = [s for s in statuses if s.state not in ("normal",)]
        named = [s for s in statuses if s not in abnormal and _wanted(s, question)]
        rest = [s for s in statuses if s not in abnormal and s not in named]
        chosen += abnormal + named + rest
    ranked = sorted(chosen, key=lambda s: 0 if s.state != "normal" else 1)[:max_lines]
    ranked.sort(key=chosen.index)
    return [render_line(f"T{first_number + i}", s) for i, s in enumerate(ranked)]


def status_preface(lines: Sequence[TelemetryLine], plant: PlantSpec, question: str = "") -> str:
    """Return code-written sentences stating the live values the answer must not get wrong.

    Tags in alarm, stale or silent are always stated; a tag the question names (its flow, its
    vibration) is stated with its value and trend even when normal.
    """
    sentences = []
    silent: dict[str, list[TelemetryLine]] = {}
    for line in lines:
        spec = plant.tag(line.asset, line.tag)
        name = (spec.name if spec and spec.name else line.tag.replace("_", " ")).lower()
        if line.state in ALARM_STATES and line.value is not None and spec is not None:
            limit = getattr(spec.limits, line.state)
            side = "below" if line.state in ("lo", "lolo") else "above"
            sentences.append(
                f"{line.asset} {name} is {_fmt(line.value)} {line.unit}, {side} its "
                f"{line.state} alarm limit of {_fmt(limit)} {line.unit} [{line.id}]."
            )
        elif line.state == "stale" and line.value is not None and line.ts is not None:
            sentences.append(
                f"{line.asset} {name} is stale: the last value, {_fmt(line.value)} "
                f"{line.unit}, is from {clock_text(line.ts)} [{line.id}]."
            )
        elif line.state == "no data":
            silent.setdefault(line.asset, []).append(line)
        elif line.value is not None and _names_tag(line.tag, question):
            normal = (
                f"; normal range {_fmt(spec.normal[0])}-{_fmt(spec.normal[1])} {line.unit}"
                if spec is not None and spec.normal is not None
                else ""
            )
            sentences.append(
                f"{line.asset} {name} is {_fmt(line.value)} {line.unit} ({line.state}{normal}; "
                f"trend {line.trend}) [{line.id}]."
            )
    for asset, missing in silent.items():
        labels = "".join(f"[{line.id}]" for line in missing)
        names = ", ".join(line.tag.replace("_", " ") for line in missing)
        sentences.append(f"No live data has been received for {asset} {names} {labels}.")
    return " ".join(sentences)


def is_abnormal(line: TelemetryLine) -> bool:
    """Return whether a live line is in alarm or outside its normal range."""
    return line.state in ALARM_STATES or line.state == "outside normal"


def alarm_terms(line: TelemetryLine) -> str:
    """Return words that describe an abnormal live value, to search the documents with.

    "Why is ST-101 alarming?" names no tag; the alarm does ("ST-101 differential pressure
    high"), and the documents say what to do about that.
    """
    direction = "low" if line.state in ("lo", "lolo") else "high"
    return f"{line.asset} {line.tag.replace('_', ' ')} {direction}"


def render_block(lines: Sequence[TelemetryLine], now: float) -> str:
    """Render the telemetry block of the prompt."""
    header = f"Live telemetry (read at {clock_text(now)}):"
    return "\n".join([header, *(line.text for line in lines)])


def max_label(texts: Sequence[str], prefix: str) -> int:
    """Return the highest label number with this prefix used in the texts (0 if none)."""
    numbers = [int(n) for t in texts for n in re.findall(rf"\[{prefix}(\d+)\]", t)]
    return max(numbers, default=0)
