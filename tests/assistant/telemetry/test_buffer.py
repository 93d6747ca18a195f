"""The per-tag ring buffer: wrap-around, retention, ordering, windows and memory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.telemetry.buffer import BYTES_PER_SAMPLE, RingBuffer


def samples(buffer: RingBuffer) -> list[tuple[float, float]]:
    """Return every held sample, oldest first."""
    ts, values = buffer.window(float("-inf"))
    return list(zip(ts.tolist(), values.tolist(), strict=True))


def test_wraps_around_keeping_the_newest_in_order() -> None:
    buffer = RingBuffer(capacity=10, retention_s=1e9, initial_slots=4)
    for i in range(25):
        assert buffer.append(float(i), i * 10.0)
    assert len(buffer) == 10
    assert samples(buffer) == [(float(i), i * 10.0) for i in range(15, 25)]
    assert buffer.first() == (15.0, 150.0)
    assert buffer.last() == (24.0, 240.0)
    assert buffer.nbytes == 10 * BYTES_PER_SAMPLE


def test_window_across_the_wrap_point() -> None:
    buffer = RingBuffer(capacity=8, retention_s=1e9, initial_slots=8)
    for i in range(13):  # slots hold 5..12, physically split after 7
        buffer.append(100.0 + i, float(i))
    ts, values = buffer.window(106.0, 110.0)
    assert ts.tolist() == [106.0, 107.0, 108.0, 109.0, 110.0]
    assert values.tolist() == [6.0, 7.0, 8.0, 9.0, 10.0]
    assert buffer.window(200.0)[0].size == 0
    assert buffer.window(0.0, 104.5)[0].size == 0


def test_retention_drops_samples_older_than_the_newest_minus_retention() -> None:
    buffer = RingBuffer(capacity=1000, retention_s=10.0)
    for i in range(30):
        buffer.append(float(i), float(i))
    assert samples(buffer)[0] == (19.0, 19.0)  # 29 - 10 = 19 is kept, 18 is gone
    assert len(buffer) == 11
    assert buffer.prune(now=35.0) == 6
    assert buffer.first() == (25.0, 25.0)
    assert buffer.prune(now=100.0) == 5
    assert len(buffer) == 0
    assert buffer.last() is None
    assert buffer.append(200.0, 1.0)
    assert samples(buffer) == [(200.0, 1.0)]


def test_out_of_order_and_duplicates_are_rejected_and_counted() -> None:
    buffer = RingBuffer(capacity=100, retention_s=1e9)
    assert buffer.append(10.0, 1.0)
    assert buffer.append(12.0, 2.0)
    assert not buffer.append(11.0, 9.0)
    assert not buffer.append(12.0, 2.0)
    assert not buffer.append(5.0, 9.0)
    assert buffer.append(13.0, 3.0)
    assert buffer.out_of_order == 2
    assert buffer.duplicates == 1
    assert samples(buffer) == [(10.0, 1.0), (12.0, 2.0), (13.0, 3.0)]


def test_grows_by_doubling_up_to_capacity_only() -> None:
    buffer = RingBuffer(capacity=100, retention_s=1e9, initial_slots=4)
    assert buffer.nbytes == 4 * BYTES_PER_SAMPLE
    for i in range(5):
        buffer.append(float(i), 0.0)
    assert buffer.nbytes == 8 * BYTES_PER_SAMPLE
    for i in range(5, 1000):
        buffer.append(float(i), float(i))
    assert buffer.nbytes == 100 * BYTES_PER_SAMPLE
    assert samples(buffer)[0] == (900.0, 900.0)


def test_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer(capacity=0, retention_s=1.0)
    with pytest.raises(ValueError, match="retention"):
        RingBuffer(capacity=5, retention_s=0.0)


@given(
    st.lists(st.tuples(st.integers(0, 400), st.floats(-1e6, 1e6)), max_size=300),
    st.integers(1, 40),
    st.integers(1, 120),
    st.integers(0, 400),
    st.integers(0, 400),
)
def test_matches_a_plain_list_model(
    stream: list[tuple[int, float]], capacity: int, retention: int, lo: int, span: int
) -> None:
    buffer = RingBuffer(capacity=capacity, retention_s=float(retention), initial_slots=2)
    model: list[tuple[float, float]] = []
    rejected = 0
    for ts_int, value in stream:
        ts = float(ts_int)
        accepted = buffer.append(ts, value)
        if model and ts <= model[-1][0]:
            assert not accepted
            rejected += 1
            continue
        assert accepted
        model.append((ts, value))
        model = [s for s in model if s[0] >= ts - retention][-capacity:]
    assert samples(buffer) == model
    assert buffer.out_of_order + buffer.duplicates == rejected
    ts_w, values_w = buffer.window(float(lo), float(lo + span))
    expected = [s for s in model if lo <= s[0] <= lo + span]
    assert list(zip(ts_w.tolist(), values_w.tolist(), strict=True)) == expected
    assert np.all(np.diff(buffer.window(float("-inf"))[0]) > 0)
