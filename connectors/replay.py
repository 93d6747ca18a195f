"""Replay readings (from a historian export, :mod:`connectors.historian`) as live telemetry.

Replaying (:func:`replay`): readings sharing a timestamp go out together, the gaps between them
are the original gaps divided by ``speed`` (``0`` or ``inf``: as fast as the publisher takes
them). With ``rebase_to_now`` (the default) the published timestamps are moved so the store
and the decoder's ``mqtt.max_age_s``/``max_future_s`` checks accept years-old history:

* at a finite speed each reading is stamped with the wall-clock time it is due, ``start +
  (ts - first_ts) / speed``: the history replays as if live, compressed by ``speed``;
* at speed 0 or infinity the spacing is kept and the history is shifted to end at the start of
  the replay, ``ts + (start - last_ts)``: everything lies in the recent past.

``ReplayReport.published_ts`` maps an original timestamp to the published one (benchmarks use it
to line labels up with events). JSON payloads carry a per-topic ``seq`` from 0.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from assistant.domain import Reading
from assistant.errors import ConfigError
from assistant.plant import PlantSpec
from connectors.publishing import Publisher, ReadingWriter


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What a replay published, and how original timestamps were mapped to published ones.

    ``published_ts(ts) = origin_ts + (ts - anchor_ts) * time_factor``.
    """

    published: int
    steps: int
    elapsed_s: float
    stopped: bool
    anchor_ts: float
    origin_ts: float
    time_factor: float

    def published_ts(self, ts: float) -> float:
        """Return the timestamp a reading of original time ``ts`` was published with."""
        return self.origin_ts + (ts - self.anchor_ts) * self.time_factor


def replay(
    readings: Iterable[Reading],
    plant: PlantSpec,
    publisher: Publisher,
    speed: float = 1.0,
    stop_event: threading.Event | None = None,
    rebase_to_now: bool = True,
    *,
    qos: int = 1,
) -> ReplayReport:
    """Publish readings with their original spacing divided by ``speed``; see the module doc.

    Raise ConfigError before publishing anything when a reading's asset or tag is not in the
    plant, ValueError for a negative or NaN speed; ConnectorError from the publisher passes up.
    """
    if math.isnan(speed) or speed < 0:
        raise ValueError(f"replay speed must be >= 0 (0 = as fast as possible), got {speed}")
    items = list(readings)
    if any(b.ts < a.ts for a, b in pairwise(items)):
        items.sort(key=lambda r: r.ts)
    writer = ReadingWriter(plant, publisher, qos=qos)
    unknown = sorted({(r.asset, r.tag) for r in items} - writer.routes.keys())
    if unknown:
        shown = ", ".join(f"{a}.{t}" for a, t in unknown[:10])
        raise ConfigError(f"replay: readings for tags the plant does not declare: {shown}")
    stop = stop_event or threading.Event()
    as_fast = speed == 0 or math.isinf(speed)
    start_wall, start_mono = time.time(), time.monotonic()
    first_ts = items[0].ts if items else start_wall
    last_ts = items[-1].ts if items else start_wall
    if not rebase_to_now:
        anchor, origin, factor = 0.0, 0.0, 1.0
    elif as_fast:
        anchor, origin, factor = last_ts, start_wall, 1.0
    else:
        anchor, origin, factor = first_ts, start_wall, 1.0 / speed
    steps = 0
    stopped = False
    index = 0
    while index < len(items):
        ts = items[index].ts
        end = index
        while end < len(items) and items[end].ts == ts:
            end += 1
        if not as_fast:
            due = start_mono + (ts - first_ts) / speed
            while (delay := due - time.monotonic()) > 0 and not stop.wait(delay):
                pass
        if stop.is_set():
            stopped = True
            break
        stamp = origin + (ts - anchor) * factor
        for reading in items[index:end]:
            writer.write(reading, stamp)
        steps += 1
        index = end
    return ReplayReport(
        published=writer.published,
        steps=steps,
        elapsed_s=time.monotonic() - start_mono,
        stopped=stopped,
        anchor_ts=anchor,
        origin_ts=origin,
        time_factor=factor,
    )
