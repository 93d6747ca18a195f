"""A per-tag ring buffer of (ts, value) samples: 16 bytes a sample, O(1) append, time windows.

Samples live in two float64 NumPy arrays used as a ring. The arrays start small and double
(amortised O(1)) up to ``capacity``, so a tag that reports rarely does not hold a day's worth
of memory; once full, the oldest sample is overwritten. Samples older than ``retention_s``
behind the newest one are dropped as new ones arrive.

Ordering contract: timestamps in the buffer are strictly increasing. A sample whose ``ts`` is
older than the newest one is rejected and counted in ``out_of_order``; one with exactly the
newest ``ts`` is a duplicate delivery (MQTT QoS 1 may deliver twice) and is counted in
``duplicates``. Rejecting keeps append O(1) and the window search a binary search.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

INITIAL_SLOTS = 64
BYTES_PER_SAMPLE = 16

FloatArray = NDArray[np.float64]


class RingBuffer:
    """Fixed-capacity, time-ordered ring of (ts, value) samples of one tag."""

    __slots__ = (
        "_size",
        "_start",
        "_ts",
        "_values",
        "capacity",
        "duplicates",
        "out_of_order",
        "retention_s",
    )

    def __init__(
        self, capacity: int, retention_s: float, initial_slots: int = INITIAL_SLOTS
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if retention_s <= 0:
            raise ValueError(f"retention_s must be positive, got {retention_s}")
        self.capacity = capacity
        self.retention_s = retention_s
        slots = max(1, min(capacity, initial_slots))
        self._ts: FloatArray = np.empty(slots, dtype=np.float64)
        self._values: FloatArray = np.empty(slots, dtype=np.float64)
        self._start = 0
        self._size = 0
        self.out_of_order = 0
        self.duplicates = 0

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Return the bytes held by the sample arrays (allocated, not only used)."""
        return int(self._ts.nbytes + self._values.nbytes)

    def last(self) -> tuple[float, float] | None:
        """Return the newest (ts, value), or None when empty."""
        if self._size == 0:
            return None
        index = (self._start + self._size - 1) % len(self._ts)
        return float(self._ts[index]), float(self._values[index])

    def first(self) -> tuple[float, float] | None:
        """Return the oldest (ts, value) still held, or None when empty."""
        if self._size == 0:
            return None
        return float(self._ts[self._start]), float(self._values[self._start])

    def append(self, ts: float, value: float) -> bool:
        """Add a sample; return False (and count it) when it is out of order or a duplicate."""
        if self._size:
            last_ts = self._ts[(self._start + self._size - 1) % len(self._ts)]
            if ts <= last_ts:
                if ts == last_ts:
                    self.duplicates += 1
                else:
                    self.out_of_order += 1
                return False
        slots = len(self._ts)
        if self._size == slots:
            if slots < self.capacity:
                self._grow(min(self.capacity, slots * 2))
                slots = len(self._ts)
            else:
                self._start = (self._start + 1) % slots
                self._size -= 1
        index = (self._start + self._size) % slots
        self._ts[index] = ts
        self._values[index] = value
        self._size += 1
        self._expire(ts - self.retention_s)
        return True

    def samples(self) -> tuple[FloatArray, FloatArray]:
        """Return copies of every held timestamp and value, oldest first."""
        return self.window(-np.inf)

    def load(self, ts: FloatArray, values: FloatArray) -> None:
        """Replace the contents with these samples (strictly increasing ``ts``).

        Only the newest ``capacity`` samples within ``retention_s`` of the newest are kept; a
        ValueError names what is wrong with arrays that break the ordering contract.
        """
        if len(ts) != len(values):
            raise ValueError(f"{len(ts)} timestamps but {len(values)} values")
        if len(ts) > 1 and not bool(np.all(np.diff(ts) > 0)):
            raise ValueError("timestamps are not strictly increasing")
        if len(ts):
            keep = int(np.searchsorted(ts, ts[-1] - self.retention_s, side="left"))
            keep = max(keep, len(ts) - self.capacity)
            ts, values = ts[keep:], values[keep:]
        count = len(ts)
        slots = max(1, min(self.capacity, max(INITIAL_SLOTS, count)))
        self._ts = np.empty(slots, dtype=np.float64)
        self._values = np.empty(slots, dtype=np.float64)
        self._ts[:count] = ts
        self._values[:count] = values
        self._start = 0
        self._size = count

    def prune(self, now: float) -> int:
        """Drop samples older than ``now - retention_s``; return how many were dropped."""
        return self._expire(now - self.retention_s)

    def window(self, start: float, end: float = float("inf")) -> tuple[FloatArray, FloatArray]:
        """Return copies of the timestamps and values with ``start <= ts <= end``."""
        parts_ts: list[FloatArray] = []
        parts_values: list[FloatArray] = []
        for ts, values in self._segments():
            low = int(np.searchsorted(ts, start, side="left"))
            high = int(np.searchsorted(ts, end, side="right"))
            if high > low:
                parts_ts.append(ts[low:high])
                parts_values.append(values[low:high])
        if not parts_ts:
            return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float64)
        return np.concatenate(parts_ts), np.concatenate(parts_values)

    def _segments(self) -> list[tuple[FloatArray, FloatArray]]:
        """Return the held samples as one or two sorted array views, oldest first."""
        if self._size == 0:
            return []
        slots = len(self._ts)
        end = self._start + self._size
        if end <= slots:
            return [(self._ts[self._start : end], self._values[self._start : end])]
        wrapped = end - slots
        return [
            (self._ts[self._start :], self._values[self._start :]),
            (self._ts[:wrapped], self._values[:wrapped]),
        ]

    def _expire(self, cutoff: float) -> int:
        """Advance the start past samples older than ``cutoff``."""
        dropped = 0
        slots = len(self._ts)
        while self._size and self._ts[self._start] < cutoff:
            self._start = (self._start + 1) % slots
            self._size -= 1
            dropped += 1
        if self._size == 0:
            self._start = 0
        return dropped

    def _grow(self, slots: int) -> None:
        """Reallocate to ``slots`` slots, unrolling the ring so it starts at index 0."""
        ts = np.empty(slots, dtype=np.float64)
        values = np.empty(slots, dtype=np.float64)
        position = 0
        for seg_ts, seg_values in self._segments():
            count = len(seg_ts)
            ts[position : position + count] = seg_ts
            values[position : position + count] = seg_values
            position += count
        self._ts = ts
        self._values = values
        self._start = 0
