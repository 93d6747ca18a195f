"""Summaries of a tag's recent samples: min/max/mean, least-squares slope, and a trend word.

The trend is what an operator would say looking at the last few minutes: ``rising`` or
``falling`` only when the fitted change over the window is large both against the tag's
normal range (or, without one, its value) and against the spread of the samples themselves,
so noise around a flat line reads ``steady``. Fewer than three samples read ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from assistant.plant import TagSpec

Trend = Literal["rising", "falling", "steady", "unknown"]

MIN_TREND_SAMPLES = 3
STEADY_FRACTION_OF_RANGE = 0.05
"""A fitted change under 5 % of the normal range's width is steady."""
STEADY_FRACTION_OF_VALUE = 0.02
"""Without a normal range: a fitted change under 2 % of the mean value is steady."""
STEADY_FRACTION_OF_SPREAD = 0.5
"""A fitted change under half the window's max-min spread is noise, hence steady."""


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Statistics of one tag's samples inside a time window; the slope is a least-squares fit."""

    n: int
    min: float
    max: float
    mean: float
    slope_per_min: float
    first_ts: float
    last_ts: float

    @property
    def span_s(self) -> float:
        """Return the seconds between the first and the last sample."""
        return self.last_ts - self.first_ts

    @property
    def change(self) -> float:
        """Return the change over the window according to the fitted line."""
        return self.slope_per_min * self.span_s / 60.0


def window_stats(ts: NDArray[np.float64], values: NDArray[np.float64]) -> WindowStats | None:
    """Return the statistics of samples given as parallel arrays, or None when there are none."""
    n = len(values)
    if n == 0:
        return None
    if len(ts) != n:
        raise ValueError(f"{len(ts)} timestamps for {n} values")
    slope = 0.0
    if n >= 2:
        centred = ts - ts.mean()
        denominator = float(np.dot(centred, centred))
        if denominator > 0.0:
            slope = float(np.dot(centred, values - values.mean())) / denominator
    return WindowStats(
        n=n,
        min=float(values.min()),
        max=float(values.max()),
        mean=float(values.mean()),
        slope_per_min=slope * 60.0,
        first_ts=float(ts[0]),
        last_ts=float(ts[-1]),
    )


def trend(stats: WindowStats | None, tag_spec: TagSpec) -> Trend:
    """Return rising, falling or steady for a window, or unknown with fewer than 3 samples."""
    if stats is None or stats.n < MIN_TREND_SAMPLES or stats.span_s <= 0.0:
        return "unknown"
    change = stats.change
    if tag_spec.normal is not None and tag_spec.normal[1] > tag_spec.normal[0]:
        significant = STEADY_FRACTION_OF_RANGE * (tag_spec.normal[1] - tag_spec.normal[0])
    else:
        significant = STEADY_FRACTION_OF_VALUE * abs(stats.mean)
    significant = max(significant, STEADY_FRACTION_OF_SPREAD * (stats.max - stats.min))
    if abs(change) <= significant:
        return "steady"
    return "rising" if change > 0 else "falling"
