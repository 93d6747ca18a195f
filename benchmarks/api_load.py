"""A bounded load run against ``shiftmate serve``: N clients asking streamed questions for S
seconds. Refusals (429 with Retry-After, the queue bound) are expected; every request must be
answered or refused. Reports completed, refused, p50/p95 time to first token, /health latency
while loaded, and the server's peak RSS.

    .venv/bin/python -m benchmarks.api_load [--clients 32] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx
import psutil

from benchmarks.api_servers import prepare, shiftmate_server
from benchmarks.common import percentile, print_table

QUESTIONS = [
    "How do I lock out pump P-101?",
    "When should strainer ST-101 be cleaned?",
    "What are the load and unload pressures of C-3?",
    "What is the grease quantity for the P-101 bearings?",
    "What does the HX-12 manual say about fouling?",
    "Which valves are closed for the P-102 lockout?",
    "What is the normal discharge pressure of P-101?",
    "How is the compressor C-3 drained?",
]


@dataclass
class Tally:
    """What the clients saw."""

    completed: int = 0
    refused: int = 0
    failed: int = 0
    ttft_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)
    other: list[str] = field(default_factory=list)


async def client_loop(client: httpx.AsyncClient, n: int, deadline: float, tally: Tally) -> None:
    """Ask questions until the deadline, honouring Retry-After on refusals."""
    i = n
    while time.monotonic() < deadline:
        question = f"{QUESTIONS[i % len(QUESTIONS)]} (client {n}, request {i})"
        i += len(QUESTIONS) + 1
        started = time.perf_counter()
        first: float | None = None
        name = ""
        try:
            async with client.stream(
                "POST", "/v1/ask", json={"question": question, "stream": True}
            ) as response:
                if response.status_code in (429, 503):
                    tally.refused += 1
                    await response.aread()
                    wait = float(response.headers.get("retry-after", "1"))
                    await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))
                    continue
                if response.status_code != 200:
                    tally.failed += 1
                    tally.other.append(f"{response.status_code}")
                    continue
                answered = False
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        if name == "token" and first is None:
                            first = time.perf_counter()
                        elif name == "answer":
                            json.loads(line[6:])
                            answered = True
                        elif name == "error":
                            tally.other.append(line[6:100])
                if answered:
                    done = time.perf_counter()
                    tally.completed += 1
                    tally.ttft_ms.append(((first or done) - started) * 1000)
                    tally.total_ms.append((done - started) * 1000)
                else:
                    tally.failed += 1
        except httpx.HTTPError as exc:
            tally.failed += 1
            tally.other.append(type(exc).__name__)


async def health_loop(client: httpx.AsyncClient, deadline: float, tally: Tally) -> None:
    """Time /health twice a second while the load runs."""
    while time.monotonic() < deadline:
        started = time.perf_counter()
        response = await client.get("/health")
        response.raise_for_status()
        tally.health_ms.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.5)


async def rss_loop(process: psutil.Process, deadline: float, samples: list[int]) -> None:
    """Sample the server's resident memory once a second."""
    while time.monotonic() < deadline:
        samples.append(process.memory_info().rss)
        await asyncio.sleep(1.0)


async def run(
    url: str, key: str, pid: int, clients: int, seconds: float
) -> tuple[Tally, list[int]]:
    """Run the load and return the tally and RSS samples."""
    tally = Tally()
    rss: list[int] = []
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=600, limits=limits
    ) as client:
        deadline = time.monotonic() + seconds
        await asyncio.gather(
            *(client_loop(client, n, deadline, tally) for n in range(clients)),
            health_loop(client, deadline, tally),
            rss_loop(psutil.Process(pid), deadline, rss),
        )
    return tally, rss


def main() -> None:
    """Run the load and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    prepared = prepare()
    with shiftmate_server(prepared) as (url, proc):
        idle_rss = psutil.Process(proc.pid).memory_info().rss
        started = time.monotonic()
        tally, rss = asyncio.run(run(url, prepared.key, proc.pid, args.clients, args.seconds))
        elapsed = time.monotonic() - started
        status = httpx.get(
            f"{url}/v1/status", headers={"Authorization": f"Bearer {prepared.key}"}
        ).json()
    mb = 1024 * 1024
    print_table(
        f"Load: {args.clients} clients x {args.seconds:.0f} s of streamed /v1/ask "
        f"(queue bound {status['queue']['max_waiting']})",
        ["measure", "value"],
        [
            ["requests answered", tally.completed],
            ["requests refused (429 + Retry-After)", tally.refused],
            ["requests failed otherwise", tally.failed],
            ["answers per minute", tally.completed / elapsed * 60],
            ["TTFT p50 (ms, queueing included)", percentile(tally.ttft_ms, 50)],
            ["TTFT p95 (ms, queueing included)", percentile(tally.ttft_ms, 95)],
            ["answer p95 (ms)", percentile(tally.total_ms, 95)],
            [
                "/health p50 / p95 under load (ms)",
                f"{percentile(tally.health_ms, 50):.1f} / {percentile(tally.health_ms, 95):.1f}",
            ],
            ["server RSS idle / peak (MB)", f"{idle_rss / mb:.0f} / {max(rss) / mb:.0f}"],
            [
                "server-side refused / cancelled",
                f"{status['queue']['refused']} / {status['queue']['cancelled']}",
            ],
        ],
    )
    if tally.other:
        print("\nother outcomes:", sorted(set(tally.other))[:10])


if __name__ == "__main__":
    main()
