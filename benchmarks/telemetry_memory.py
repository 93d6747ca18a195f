"""Memory of live telemetry: bytes per tag-hour at 1 Hz for thousands of tags, against a plain
Python list of (ts, value) tuples per tag, measured the same way in the same run.

Every tag of a synthetic plant (assets of ten tags each) gets one reading a second for the
retention period. Memory is what ``tracemalloc`` sees allocated by building and filling each
structure (NumPy reports its buffers to tracemalloc), so ours includes everything the store
holds (buffers, limit alarms, anomaly detectors, dictionaries), not only ``memory_bytes()``
(the sample arrays), which is printed beside it. The peer holds the same samples as
``dict[(asset, tag)] -> list[tuple[float, float]]`` and nothing else. Ingestion speed is timed
in a separate pass without tracemalloc (it slows allocation), readings built beforehand.

    .venv/bin/python -m benchmarks.telemetry_memory [--tags 2000] [--hours 1]

With the defaults (7.2 million readings, each structure filled twice) it runs for several
minutes on two cores; ``--tags 200 --hours 0.25`` gives a quick look.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from assistant.domain import Reading
from assistant.plant import AssetSpec, PlantSpec, TagSpec
from assistant.settings import TelemetrySettings
from assistant.telemetry.store import TelemetryStore
from benchmarks.common import print_table

TAGS_PER_ASSET = 10
T0 = 1_767_225_600.0


def synthetic_plant(tags: int) -> PlantSpec:
    """Return a plant of ``tags`` tags, ten per asset."""
    assets = tuple(
        AssetSpec(
            id=f"A-{a}",
            name=f"asset {a}",
            type="pump",
            tags=tuple(TagSpec(id=f"t{t}", unit="bar", normal=(0.0, 10.0)) for t in range(10)),
        )
        for a in range(tags // TAGS_PER_ASSET)
    )
    return PlantSpec(site="bench", assets=assets)


def seconds_of_readings(plant: PlantSpec, seconds: int) -> Callable[[int], list[Reading]]:
    """Return a function giving the readings of every tag for one second."""
    keys = [(a.id, t.id) for a in plant.assets for t in a.tags]
    rng = np.random.default_rng(1)
    level = rng.uniform(2.0, 8.0, len(keys))

    def readings(second: int) -> list[Reading]:
        noise = rng.normal(0.0, 0.05, len(keys)).tolist()
        ts = T0 + second
        return [
            Reading(asset, tag, base + n, ts)
            for (asset, tag), base, n in zip(keys, level.tolist(), noise, strict=True)
        ]

    return readings


def traced(build: Callable[[], object]) -> tuple[int, object]:
    """Return the bytes allocated (and still held) by ``build`` and what it built."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    built = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, built


def main() -> None:
    """Fill our store and the peer with the same readings; print bytes per tag-hour."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    plant = synthetic_plant(args.tags)
    tags = sum(len(a.tags) for a in plant.assets)
    seconds = int(args.hours * 3600)
    tag_hours = tags * seconds / 3600
    configurations = {
        f"ours, capacity = retention ({seconds:,})": TelemetrySettings(
            retention_s=seconds, max_points_per_tag=max(10, seconds)
        ),
        "ours, default capacity (86,400, grows on demand)": TelemetrySettings(retention_s=seconds),
    }
    rows = []
    for name, settings in configurations.items():

        def fill(settings: TelemetrySettings = settings) -> TelemetryStore:
            store = TelemetryStore(plant, settings)
            readings = seconds_of_readings(plant, seconds)
            for second in range(seconds):
                store.add_many(readings(second))
            return store

        held, built = traced(fill)
        assert isinstance(built, TelemetryStore)
        accepted = built.counters()["accepted"]
        assert accepted == tags * seconds, built.counters()
        buffers = built.memory_bytes()
        del built

        store = TelemetryStore(plant, settings)
        readings = seconds_of_readings(plant, seconds)
        spent = 0.0
        for second in range(seconds):
            batch = readings(second)
            started = time.perf_counter()
            store.add_many(batch)
            spent += time.perf_counter() - started
        rows.append(
            [
                name,
                f"{held / tag_hours:,.0f}",
                f"{buffers / tag_hours:,.0f}",
                f"{held / accepted:.1f}",
                f"{held / 2**20:,.0f}",
                f"{spent / accepted * 1e6:.2f}",
            ]
        )
        del store

    def fill_peer() -> dict[tuple[str, str], list[tuple[float, float]]]:
        peer: dict[tuple[str, str], list[tuple[float, float]]] = {
            (a.id, t.id): [] for a in plant.assets for t in a.tags
        }
        readings = seconds_of_readings(plant, seconds)
        for second in range(seconds):
            for reading in readings(second):
                peer[(reading.asset, reading.tag)].append((reading.ts, reading.value))
        return peer

    held, _ = traced(fill_peer)
    samples = tags * seconds
    rows.append(
        [
            "peer: list of (ts, value) tuples per tag",
            f"{held / tag_hours:,.0f}",
            "-",
            f"{held / samples:.1f}",
            f"{held / 2**20:,.0f}",
            "-",
        ]
    )
    print_table(
        f"Telemetry memory: {tags:,} tags x {args.hours:g} h at 1 Hz ({samples:,} samples)",
        [
            "structure",
            "bytes / tag-hour",
            "memory_bytes() / tag-hour",
            "bytes / sample",
            "MiB total",
            "ingest µs / reading",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
