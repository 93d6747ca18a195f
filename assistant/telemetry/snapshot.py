"""Telemetry snapshots: the store's state (ring buffers, alarm states, anomaly detectors) in a file.

:class:`StoreState` is what :meth:`TelemetryStore.export_state` captures under its lock and
:meth:`TelemetryStore.import_state` puts back. :func:`write_snapshot` writes it as an
uncompressed NumPy ``.npz`` archive (no pickles: loading never runs code from the file): the
samples of every tag concatenated into two float64 arrays (16 bytes a sample), each detector's
arrays, and a JSON ``meta`` entry with the format version, the tag keys and sample counts,
alarm levels, raised events, counters and detector scalars.

Writes are atomic: a temporary file in the same folder, fsync, ``os.replace`` over the old
snapshot, fsync of the folder; a crash at any point leaves either the old or the new snapshot.
:func:`read_snapshot` raises :class:`SnapshotError` for a file it cannot trust (truncated, not
a snapshot, another format version); the caller logs it and starts without.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assistant.domain import TelemetryEvent
from assistant.telemetry.reading_log import fsync_folder

FORMAT_VERSION = 1
FloatArray = NDArray[np.float64]


class SnapshotError(ValueError):
    """A snapshot file that cannot be used; the message says why."""


@dataclass(slots=True)
class SavedTag:
    """One tag's samples, last arrival time, active limit levels and raised stale event."""

    asset: str
    tag: str
    ts: FloatArray
    values: FloatArray
    last_arrival: float | None = None
    alarm: list[str] = field(default_factory=list)
    stale: TelemetryEvent | None = None


@dataclass(slots=True)
class DetectorState:
    """One asset's anomaly detector: JSON-able scalars and its arrays."""

    scalars: dict[str, Any]
    arrays: dict[str, FloatArray]


@dataclass(slots=True)
class StoreState:
    """Everything the telemetry store needs to continue where it stopped."""

    saved_at: float
    tags: list[SavedTag]
    running: dict[str, bool] = field(default_factory=dict)
    active: list[TelemetryEvent] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    detectors: dict[str, DetectorState] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        """Return how many samples the state holds, over all tags."""
        return sum(len(tag.ts) for tag in self.tags)


def event_to_json(event: TelemetryEvent) -> dict[str, Any]:
    """Return an event as a JSON-able dict."""
    data = asdict(event)
    data["values"] = [[tag, value] for tag, value in event.values]
    return data


def event_from_json(data: dict[str, Any]) -> TelemetryEvent:
    """Rebuild an event from :func:`event_to_json`'s dict."""
    values = tuple((str(tag), float(value)) for tag, value in data.get("values", ()))
    return TelemetryEvent(**{**data, "values": values})


def encode_snapshot(state: StoreState, first_segment: int) -> bytes:
    """Return the snapshot file's bytes; ``first_segment``: the reading log to replay from."""
    tags_meta = []
    for tag in state.tags:
        tags_meta.append(
            {
                "asset": tag.asset,
                "tag": tag.tag,
                "n": len(tag.ts),
                "last_arrival": tag.last_arrival,
                "alarm": sorted(tag.alarm),
                "stale": event_to_json(tag.stale) if tag.stale is not None else None,
            }
        )
    detectors = list(state.detectors.items())
    meta = {
        "version": FORMAT_VERSION,
        "saved_at": state.saved_at,
        "first_segment": first_segment,
        "tags": tags_meta,
        "running": state.running,
        "active": [event_to_json(e) for e in state.active],
        "counters": state.counters,
        "detectors": [
            {"asset": asset, "scalars": d.scalars, "arrays": sorted(d.arrays)}
            for asset, d in detectors
        ],
    }
    arrays: dict[str, NDArray[Any]] = {
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        "ts": _concat([tag.ts for tag in state.tags]),
        "values": _concat([tag.values for tag in state.tags]),
    }
    for index, (_asset, detector) in enumerate(detectors):
        for name, array in detector.arrays.items():
            arrays[f"d{index}_{name}"] = array
    out = io.BytesIO()
    np.savez(out, allow_pickle=False, **arrays)
    return out.getvalue()


def _concat(parts: list[FloatArray]) -> FloatArray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def decode_snapshot(data: bytes) -> tuple[StoreState, int]:
    """Return the state and the first reading-log segment to replay; SnapshotError if bad."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes())
            if not isinstance(meta, dict) or meta.get("version") != FORMAT_VERSION:
                found = meta.get("version") if isinstance(meta, dict) else None
                raise SnapshotError(
                    f"format version {found!r}, this Shiftmate reads version {FORMAT_VERSION}"
                )
            ts = np.asarray(archive["ts"], dtype=np.float64)
            values = np.asarray(archive["values"], dtype=np.float64)
            tags = []
            position = 0
            for item in meta["tags"]:
                n = int(item["n"])
                if n < 0 or position + n > len(ts) or len(ts) != len(values):
                    raise SnapshotError("sample counts do not match the sample arrays")
                stale = item.get("stale")
                tags.append(
                    SavedTag(
                        asset=str(item["asset"]),
                        tag=str(item["tag"]),
                        ts=ts[position : position + n],
                        values=values[position : position + n],
                        last_arrival=item.get("last_arrival"),
                        alarm=[str(level) for level in item.get("alarm", [])],
                        stale=event_from_json(stale) if stale else None,
                    )
                )
                position += n
            detectors = {
                str(item["asset"]): DetectorState(
                    scalars=dict(item["scalars"]),
                    arrays={
                        name: np.asarray(archive[f"d{index}_{name}"], dtype=np.float64)
                        for name in item["arrays"]
                    },
                )
                for index, item in enumerate(meta["detectors"])
            }
            state = StoreState(
                saved_at=float(meta["saved_at"]),
                tags=tags,
                running={str(k): bool(v) for k, v in meta["running"].items()},
                active=[event_from_json(e) for e in meta["active"]],
                counters={str(k): int(v) for k, v in meta["counters"].items()},
                detectors=detectors,
            )
            return state, int(meta["first_segment"])
    except SnapshotError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise SnapshotError(f"not a readable snapshot ({type(exc).__name__}: {exc})") from exc


def write_snapshot(path: Path, state: StoreState, first_segment: int) -> int:
    """Write a snapshot atomically (temp file, fsync, rename, fsync folder); return its bytes."""
    data = encode_snapshot(state, first_segment)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
    return len(data)


def read_snapshot(path: Path) -> tuple[StoreState, int] | None:
    """Return the snapshot at ``path`` (None when there is none); SnapshotError if unusable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return decode_snapshot(data)
