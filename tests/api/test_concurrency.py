"""One model, many clients: simultaneous requests are answered or refused with 429 and
Retry-After, other routes answer while the model works, and a client that disconnects
cancels its generation."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.api.conftest import LiveServer, error_of

COUNT = {
    "messages": [{"role": "user", "content": "Count from 1 to 1000: 1, 2, 3, 4, 5, 6, 7,"}],
    "max_tokens": 1000,
    "temperature": 0.0,
}


def cancelled_tokens(server: LiveServer) -> float:
    """Return the tokens generated so far by generations that were cancelled."""
    for line in server.state.metrics.render().splitlines():
        if line.startswith('shiftmate_cancelled_tokens_total{model="plain"}'):
            return float(line.split()[-1])
    return 0.0


def wait_idle(server: LiveServer, timeout: float = 60.0) -> None:
    """Wait until the inference queue is empty."""
    deadline = time.monotonic() + timeout
    while server.state.queue.depth and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.state.queue.depth == 0, "the model stayed busy"


def test_many_simultaneous_requests_are_answered_or_refused(server: LiveServer) -> None:
    wait_idle(server)
    model = server.services.chat_model.name
    start = threading.Barrier(24)

    def one(n: int) -> httpx.Response:
        with server.client() as client:
            start.wait()
            if n % 3 == 0:
                return client.post("/v1/ask", json={"question": f"What is ST-10{n % 2 + 1}?"})
            return client.post(
                "/v1/chat/completions",
                json={
                    "model": model,
                    "messages": [{"role": "user", "content": f"Hi {n}"}],
                    "max_tokens": 24,
                },
            )

    with ThreadPoolExecutor(24) as pool:
        responses = list(pool.map(one, range(24)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 429}, statuses
    assert 200 in statuses and 429 in statuses, statuses
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert error_of(response)["code"] == "queue_full"
    assert server.state.queue.refused >= statuses.count(429)
    wait_idle(server)


def test_other_routes_answer_while_the_model_works(server: LiveServer) -> None:
    wait_idle(server)
    body = {"model": server.services.chat_model.name, **COUNT, "stream": True}
    answered: dict[str, int] = {}
    with (
        server.client() as client,
        client.stream("POST", "/v1/chat/completions", json=body) as stream,
    ):
        lines = stream.iter_lines()
        while "content" not in next(lines):
            pass  # the model is generating now
        with server.client() as other:
            for path in ("/v1/assets", "/v1/alarms", "/metrics", "/v1/status"):
                answered[path] = other.get(path).status_code
            with server.client(role=None) as anonymous:
                answered["/health"] = anonymous.get("/health").status_code
            still_running = server.state.queue.depth
    assert set(answered.values()) == {200}, answered
    assert still_running == 1  # they were answered while the generation went on
    wait_idle(server)


@pytest.mark.parametrize("stream", [True, False])
def test_a_client_that_disconnects_cancels_its_generation(server: LiveServer, stream: bool) -> None:
    wait_idle(server)
    queue = server.state.queue
    cancelled = queue.cancelled
    tokens_before = cancelled_tokens(server)
    pieces: list[str] = []
    body: dict[str, Any] = {"model": server.services.chat_model.name, **COUNT, "stream": stream}
    if stream:
        with (
            server.client() as client,
            client.stream("POST", "/v1/chat/completions", json=body) as response,
        ):
            for line in response.iter_lines():
                if "content" in line:
                    pieces.append(line)
                if len(pieces) == 4:
                    break  # leaving the block closes the connection
    else:
        with server.client(timeout=1.0) as client, pytest.raises(httpx.ReadTimeout):
            client.post("/v1/chat/completions", json=body)
    wait_idle(server)
    assert queue.cancelled == cancelled + 1
    assert server.services.chat_model.lock.acquire(blocking=False)
    server.services.chat_model.lock.release()
    generated = cancelled_tokens(server) - tokens_before
    assert generated < COUNT["max_tokens"]  # stopped early, not run to the end
    if stream:
        assert generated >= len(pieces) - 1  # the first chunk only names the role
