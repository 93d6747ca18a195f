"""Telemetry persistence: snapshot cost (ms, bytes) per 1,000 tag-hours, restore and restart
time, and the reading log's cost on ingestion, against peers measured in the same run.

A synthetic plant (assets of ten tags) holds ``--hours`` of 1 Hz samples per tag, put into the
store's ring buffers directly (filling them through ``add_many`` would take minutes and is
what ``telemetry_memory.py`` measures). Subjects, each run ``--rounds`` times (median shown):

* ours, snapshot: :meth:`TelemetryPersistence.snapshot`: capture under the store's lock (the
  part that stalls ingestion, shown apart), ``.npz`` encoding, temp file, fsync, rename, fsync;
* peers, the same samples as ``{"asset/tag": [[ts, value], ...]}`` through ``json.dumps`` and
  as ``{(asset, tag): [(ts, value), ...]}`` through ``pickle.dumps`` (protocol 5), written and
  fsync'd the same way; their restore is read plus ``loads`` (no store rebuilt: a lower bound);
* ours, restore: a new store and :meth:`TelemetryPersistence.open` on the snapshot alone;
* ours, restart: ``open`` on the snapshot plus a full snapshot interval (``--log-s`` seconds)
  of every tag in the reading log, which is what a SIGKILL just before the next snapshot leaves.

Then ingestion of ``--log-s`` seconds of readings (one ``add_many`` of every tag per second,
as the connector hands them over) without persistence, with the reading log, and with the log
fsync'd (the default: readings are acknowledged only once on disk).

    .venv/bin/python -m benchmarks.telemetry_snapshot [--tags 1000] [--hours 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from assistant.domain import Reading
from assistant.plant import PlantSpec
from assistant.settings import TelemetrySettings
from assistant.telemetry.persistence import TelemetryPersistence
from assistant.telemetry.snapshot import SavedTag, StoreState
from assistant.telemetry.store import TelemetryStore
from benchmarks.common import print_table
from benchmarks.telemetry_memory import synthetic_plant

T0 = 1_767_225_600.0


def filled_state(plant: PlantSpec, seconds: int) -> StoreState:
    """Return a store state with ``seconds`` of 1 Hz noisy samples for every tag."""
    rng = np.random.default_rng(7)
    ts = T0 + np.arange(seconds, dtype=np.float64)
    tags = [
        SavedTag(asset.id, tag.id, ts, 5.0 + rng.normal(0.0, 0.05, seconds), T0 + seconds)
        for asset in plant.assets
        for tag in asset.tags
    ]
    return StoreState(saved_at=time.time(), tags=tags)


def write_durably(path: Path, data: bytes) -> None:
    """Write, fsync and rename like the snapshot does, for the peers."""
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    fd = os.open(path.parent, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def timed(action: Callable[[], object], rounds: int) -> tuple[float, object]:
    """Return the median seconds of ``rounds`` runs and the last result."""
    spent = []
    result: object = None
    for _ in range(rounds):
        started = time.perf_counter()
        result = action()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent), result


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-s", type=int, default=300, help="log length (snapshot interval)")
    args = parser.parse_args()
    plant = synthetic_plant(args.tags)
    tags = sum(len(a.tags) for a in plant.assets)
    seconds = int(args.hours * 3600)
    tag_hours = tags * seconds / 3600
    per = 1000 / tag_hours
    settings = TelemetrySettings(anomaly=False, retention_s=seconds + args.log_s + 60)
    work = Path(tempfile.mkdtemp(prefix="shiftmate-bench-snapshot-"))
    rows: list[list[object]] = []
    try:
        state = filled_state(plant, seconds)
        store = TelemetryStore(plant, settings, clock=lambda: T0 + seconds)
        store.import_state(state)
        keeper = TelemetryPersistence(work / "ours", interval_s=3600)
        keeper.open(store, None)
        spent, _ = timed(keeper.snapshot, args.rounds)
        report = keeper.last
        assert report is not None and report.samples == tags * seconds
        keeper.close()
        ours_bytes = report.bytes
        ours_s = spent
        rows.append(["ours: snapshot (.npz, fsync, rename)", spent * 1e3, ours_bytes, 1.0, 1.0])
        rows.append(["ours: of which under the store's lock", report.capture_s * 1e3, "", "", ""])

        points = {f"{t.asset}/{t.tag}": np.column_stack([t.ts, t.values]) for t in state.tags}
        as_lists = {key: array.tolist() for key, array in points.items()}
        as_tuples = {
            (t.asset, t.tag): list(zip(t.ts.tolist(), t.values.tolist(), strict=True))
            for t in state.tags
        }
        peers: dict[str, tuple[Callable[[], bytes], Callable[[bytes], object]]] = {
            "peer: json.dumps of [[ts, value], ...]": (
                lambda: json.dumps(as_lists).encode(),
                json.loads,
            ),
            "peer: pickle of [(ts, value), ...]": (
                lambda: pickle.dumps(as_tuples, protocol=5),
                pickle.loads,
            ),
        }
        restores: list[list[object]] = []
        for name, (dumps, loads) in peers.items():
            path = work / "peer.bin"

            def dump(dumps: Callable[[], bytes] = dumps, path: Path = path) -> bytes:
                data = dumps()
                write_durably(path, data)
                return data

            spent, data = timed(dump, args.rounds)
            assert isinstance(data, bytes)
            rows.append([name, spent * 1e3, len(data), spent / ours_s, len(data) / ours_bytes])
            del data

            def load_back(loads: Callable[[bytes], object] = loads, path: Path = path) -> object:
                return loads(path.read_bytes())

            restored_s, _ = timed(load_back, args.rounds)
            restores.append([f"{name.split(' of ')[0]}: read + loads (no store)", restored_s * 1e3])

        def restore() -> TelemetryStore:
            fresh = TelemetryStore(plant, settings, clock=lambda: T0 + seconds)
            opened = TelemetryPersistence(work / "ours", interval_s=3600)
            opened.open(fresh, None)
            opened.close(snapshot=False)
            return fresh

        restore_s, _ = timed(restore, args.rounds)
        # A full interval of readings in the log, as a SIGKILL before the next snapshot leaves.
        logged = TelemetryStore(plant, settings, clock=lambda: T0 + seconds)
        writer = TelemetryPersistence(work / "ours", interval_s=3600, fsync=False)
        writer.open(logged, None)
        keys = [(a.id, t.id) for a in plant.assets for t in a.tags]
        for second in range(args.log_s):
            ts = T0 + seconds + second
            logged.add_many([Reading(asset, tag, 5.0, ts) for asset, tag in keys])
        writer.close(snapshot=False)
        restart_s, _ = timed(restore, 1)
        restores.insert(0, ["ours: restore (snapshot)", restore_s * 1e3])
        restores.insert(1, [f"ours: restart (snapshot + {args.log_s} s of log)", restart_s * 1e3])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ingest_rows = ingestion(plant, settings, args.log_s)
    title = f"{tags:,} tags x {args.hours:g} h at 1 Hz = {tag_hours:,.0f} tag-hours"
    print_table(
        f"Telemetry snapshot: {title} ({tags * seconds:,} samples)",
        ["what", "ms", "bytes", "ms / ours", "bytes / ours"],
        [[r[0], r[1], f"{r[2]:,}" if isinstance(r[2], int) else r[2], *r[3:]] for r in rows],
    )
    print(
        f"\nper 1,000 tag-hours: snapshot {rows[0][1] * per:,.0f} ms "  # type: ignore[operator]
        f"and {ours_bytes * per / 1e6:,.1f} MB"
    )
    print_table(f"Telemetry restore: {title}", ["what", "ms"], restores)
    print_table(
        f"Ingestion with the reading log: {args.log_s} s of {tags:,} tags",
        ["configuration", "readings/s", "ms per add_many (one second of the plant)"],
        ingest_rows,
    )


def ingestion(plant: PlantSpec, settings: TelemetrySettings, seconds: int) -> list[list[object]]:
    """Return readings/s of add_many without persistence, with the log, with the log fsync'd."""
    keys = [(a.id, t.id) for a in plant.assets for t in a.tags]
    batches = [
        [Reading(asset, tag, 5.0, T0 + second) for asset, tag in keys] for second in range(seconds)
    ]
    rows: list[list[object]] = []
    for name, fsync in [("no persistence", None), ("reading log", False), ("log + fsync", True)]:
        folder = Path(tempfile.mkdtemp(prefix="shiftmate-bench-log-"))
        store = TelemetryStore(plant, settings, clock=lambda: T0)
        keeper = None
        if fsync is not None:
            keeper = TelemetryPersistence(folder, interval_s=3600, fsync=fsync)
            keeper.open(store, None)
        started = time.perf_counter()
        for batch in batches:
            store.add_many(batch)
        spent = time.perf_counter() - started
        if keeper is not None:
            keeper.close(snapshot=False)
        shutil.rmtree(folder, ignore_errors=True)
        rows.append([name, len(keys) * seconds / spent, spent / seconds * 1e3])
    return rows


if __name__ == "__main__":
    main()
