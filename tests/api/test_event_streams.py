"""``/v1/events`` against a real server: open streams are capped per API key and in all (the
next one gets 429 with Retry-After), a closed stream gives its place and its telemetry listener
back, and a client too slow for a flood of events loses events that are counted in /metrics
instead of piling up or holding up the telemetry thread."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest

from assistant.domain import TelemetryEvent
from assistant.telemetry.live import LiveTelemetry
from tests.api.conftest import LiveServer, ServerFactory, error_of
from tests.api.test_metrics import parse


@pytest.fixture(scope="module")
def capped(make_server: ServerFactory) -> LiveServer:
    """Return a server over the sample plant (no broker) with small stream caps and buffer."""
    return make_server(
        broker=False,
        api={
            "events_per_key": 2,
            "events_total": 3,
            "events_queue": 1,
            "events_max_s": 120.0,
            "heartbeat_s": 0.2,
            "retry_after_s": 7,
        },
    )


def _live(server: LiveServer) -> LiveTelemetry:
    live = server.services.live
    assert live is not None
    return live


def _wait(check: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextmanager
def opened(client: httpx.Client) -> Iterator[httpx.Response]:
    """Open an event stream and read its first line: from then on it is subscribed."""
    with client.stream("GET", "/v1/events") as response:
        # Kept referenced while the stream is open: a line iterator that is garbage collected
        # closes the connection.
        lines = response.iter_lines()
        if response.status_code == 200:
            assert next(lines) == "retry: 2000"
        yield response


def _refused(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/v1/events")
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == "7"
    error = error_of(response)
    assert error["code"] == "too_many_streams" and error["type"] == "rate_limit_error"
    return error


def test_streams_are_capped_per_key_and_in_all(capped: LiveServer) -> None:
    live = _live(capped)
    streams = capped.state.streams
    operator = capped.state.keys.check(capped.keys["operator"])
    assert operator is not None
    with (
        capped.client("operator") as ops,
        capped.client("supervisor") as sup,
        capped.client("admin") as adm,
        ExitStack() as stack,
    ):
        first = stack.enter_context(opened(ops))
        second = stack.enter_context(opened(ops))
        assert first.status_code == second.status_code == 200
        assert streams.count(operator.id) == 2 and live.listener_count == 2
        message = _refused(ops)["message"]
        assert "api.events_per_key = 2" in message and "retry in 7 s" in message

        # Another key has places of its own, up to the server's total.
        assert stack.enter_context(opened(sup)).status_code == 200
        assert "api.events_total = 3" in _refused(adm)["message"]
        assert streams.count() == 3 and live.listener_count == 3

        # Closing a stream gives its place back: the next one is accepted.
        first.close()
        _wait(lambda: streams.count(operator.id) == 1, "the closed stream's place")
        with opened(ops) as again:
            assert again.status_code == 200
            _refused(ops)
        _wait(lambda: streams.count() == 2, "the reopened stream to close")

    _wait(lambda: streams.count() == 0 and live.listener_count == 0, "every stream to close")
    with capped.client("operator") as ops:
        _, samples = parse(ops.get("/metrics").text)
    assert samples["shiftmate_event_streams"] == [({}, 0.0)]


def test_a_slow_client_loses_events_that_are_counted(capped: LiveServer) -> None:
    live = _live(capped)
    # 24 MB of events to a client that reads none of them: more than the socket buffers of
    # both ends can hold, so once they are full at most events_queue (1) event waits and the
    # rest must be dropped. The flood finishing at all shows the telemetry thread never waits.
    flood, padding = 1000, "x" * 24_000
    with capped.client("operator") as ops, opened(ops) as stream:
        assert stream.status_code == 200 and live.listener_count == 1
        started = time.perf_counter()
        for n in range(flood):
            live.handle_event(
                TelemetryEvent(
                    id=f"flood-{n}",
                    asset="P-101",
                    tag="vibration",
                    kind="limit",
                    level="hi",
                    state="raised" if n % 2 == 0 else "cleared",
                    ts=time.time(),
                    value=7.5,
                    message=f"P-101 vibration above its hi limit {padding}",
                )
            )
        elapsed = time.perf_counter() - started
        _, samples = parse(ops.get("/metrics").text)
    [(_, dropped)] = samples["shiftmate_events_dropped_total"]
    print(f"flood of {flood} events in {elapsed:.2f} s; dropped {dropped:.0f}")
    assert 0 < dropped < flood
    _wait(lambda: live.listener_count == 0, "the stream's listener to go")
