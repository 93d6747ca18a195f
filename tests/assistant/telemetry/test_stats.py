"""Window statistics and the trend word."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.plant import TagSpec
from assistant.telemetry.stats import WindowStats, trend, window_stats

RNG = np.random.default_rng(11)
PRESSURE = TagSpec(id="discharge_pressure", unit="bar", normal=(3.8, 4.6))
NO_RANGE = TagSpec(id="level", unit="m")


def stats_of(ts: list[float] | np.ndarray, values: list[float] | np.ndarray) -> WindowStats:
    """Return the window statistics of parallel lists."""
    result = window_stats(np.asarray(ts, dtype=float), np.asarray(values, dtype=float))
    assert result is not None
    return result


def test_min_max_mean_and_slope_match_numpy() -> None:
    ts = 1_700_000_000.0 + np.cumsum(RNG.uniform(0.5, 1.5, 300))  # irregular epoch seconds
    values = 4.2 + 0.003 * (ts - ts[0]) + RNG.normal(0, 0.05, ts.size)
    stats = stats_of(ts, values)
    slope_per_s, _ = np.polyfit(ts - ts[0], values, 1)
    assert stats.n == 300
    assert stats.min == pytest.approx(values.min())
    assert stats.max == pytest.approx(values.max())
    assert stats.mean == pytest.approx(values.mean())
    assert stats.slope_per_min == pytest.approx(slope_per_s * 60, rel=1e-9)
    assert stats.first_ts == ts[0]
    assert stats.last_ts == ts[-1]
    assert stats.change == pytest.approx(slope_per_s * (ts[-1] - ts[0]), rel=1e-9)


def test_degenerate_windows() -> None:
    assert window_stats(np.empty(0), np.empty(0)) is None
    one = stats_of([5.0], [2.0])
    assert (one.n, one.min, one.max, one.mean, one.slope_per_min) == (1, 2.0, 2.0, 2.0, 0.0)
    same_time = stats_of([5.0, 5.0, 5.0], [1.0, 2.0, 3.0])
    assert same_time.slope_per_min == 0.0
    with pytest.raises(ValueError, match="timestamps"):
        window_stats(np.array([1.0]), np.array([1.0, 2.0]))


def test_trend_against_the_normal_range() -> None:
    ts = np.arange(0.0, 300.0)
    rising = 4.0 + 0.001 * ts  # +0.3 bar in 5 min: 37 % of the 0.8 bar normal range
    assert trend(stats_of(ts, rising), PRESSURE) == "rising"
    assert trend(stats_of(ts, rising[::-1]), PRESSURE) == "falling"
    creeping = 4.0 + 0.0001 * ts  # +0.03 bar: under 5 % of the range
    assert trend(stats_of(ts, creeping), PRESSURE) == "steady"


def test_noise_around_a_flat_line_is_steady() -> None:
    ts = np.arange(0.0, 300.0)
    noisy = 4.2 + RNG.normal(0, 0.2, ts.size)  # wide noise, no drift
    assert trend(stats_of(ts, noisy), PRESSURE) == "steady"
    drifting = 4.2 + 0.002 * ts + RNG.normal(0, 0.02, ts.size)
    assert trend(stats_of(ts, drifting), PRESSURE) == "rising"


def test_trend_without_a_normal_range_is_relative_to_the_value() -> None:
    ts = np.arange(0.0, 60.0)
    assert trend(stats_of(ts, 10.0 + 0.01 * ts), NO_RANGE) == "rising"  # +0.6 on 10.3: 6 %
    assert trend(stats_of(ts, 10.0 + 0.001 * ts), NO_RANGE) == "steady"  # 0.6 %
    assert trend(stats_of(ts, np.zeros(60)), NO_RANGE) == "steady"


def test_trend_unknown_with_fewer_than_three_samples() -> None:
    assert trend(None, PRESSURE) == "unknown"
    assert trend(stats_of([0.0, 60.0], [1.0, 9.0]), PRESSURE) == "unknown"
    assert trend(stats_of([0.0, 30.0, 60.0], [1.0, 5.0, 9.0]), PRESSURE) == "rising"
