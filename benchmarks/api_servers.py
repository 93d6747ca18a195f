"""Helpers of the HTTP benchmarks: a prepared data dir, ``shiftmate serve`` and the peer
``llama_cpp.server`` as subprocesses on free loopback ports, and streaming clients that time
the first token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from assistant.api.keys import KeyStore
from benchmarks.common import SAMPLE_PLANT, temp_services

HOST = "127.0.0.1"


def free_port() -> int:
    """Return a free loopback TCP port."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Prepared:
    """A data dir with the sample plant ingested and an admin key."""

    data_dir: Path
    key: str
    model_path: Path
    n_ctx: int
    n_batch: int


def prepare() -> Prepared:
    """Ingest the sample plant into a fresh data dir and create an API key."""
    services = temp_services()
    report = services.ingestor.ingest([SAMPLE_PLANT])
    assert not report.failed, report.failed
    _, key = KeyStore(services.db).create("admin", "benchmark")
    m = services.settings.models
    prepared = Prepared(services.data_dir, key, services.llm_model.path, m.n_ctx, m.n_batch)
    services.close()
    return prepared


def _wait(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start")


@contextmanager
def shiftmate_server(
    prepared: Prepared, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``shiftmate serve`` on the prepared data dir; yield its URL and process."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTMATE_")}
    full_env.update(env or {})
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finally, after the process)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assistant.cli",
            "--data-dir",
            str(prepared.data_dir),
            "serve",
            "--port",
            str(port),
        ],
        env=full_env,
        stdout=log,
        stderr=log,
    )
    try:
        _wait(f"http://{HOST}:{port}/health", proc, "shiftmate serve")
        yield f"http://{HOST}:{port}", proc
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@contextmanager
def peer_server(
    prepared: Prepared, *, threads: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run llama-cpp-python's OpenAI-compatible server on the same GGUF and settings.

    ``threads`` sets its generation and batch threads (its own default is half the cores).
    """
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finally, after the process)
    thread_args = [] if threads is None else ["--n_threads", str(threads)]
    thread_args += [] if threads is None else ["--n_threads_batch", str(threads)]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(prepared.model_path),
            "--n_ctx",
            str(prepared.n_ctx),
            "--n_batch",
            str(prepared.n_batch),
            "--seed",
            "0",
            "--host",
            HOST,
            "--port",
            str(port),
            "--verbose",
            "False",
            *thread_args,
        ],
        stdout=log,
        stderr=log,
    )
    try:
        _wait(f"http://{HOST}:{port}/v1/models", proc, "llama_cpp.server")
        yield f"http://{HOST}:{port}", proc
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@dataclass(frozen=True)
class Streamed:
    """One streamed request, timed on the client."""

    ttft_ms: float
    total_ms: float
    chunks: int
    final: dict[str, Any] | None

    @property
    def tokens_per_s(self) -> float:
        """Return content chunks (one per token) per second after the first."""
        span = (self.total_ms - self.ttft_ms) / 1000
        return (self.chunks - 1) / span if self.chunks > 1 and span > 0 else 0.0


def stream_openai(client: httpx.Client, path: str, body: dict[str, Any]) -> Streamed:
    """POST an OpenAI streaming request; time the first chunk with text."""
    started = time.perf_counter()
    first: float | None = None
    chunks = 0
    with client.stream("POST", path, json={**body, "stream": True}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            choice = (data.get("choices") or [{}])[0]
            text = choice.get("text") or (choice.get("delta") or {}).get("content")
            if text:
                chunks += 1
                if first is None:
                    first = time.perf_counter()
    done = time.perf_counter()
    return Streamed(((first or done) - started) * 1000, (done - started) * 1000, chunks, None)


def stream_ask(client: httpx.Client, question: str) -> Streamed:
    """POST /v1/ask with stream=true; time the first token event; return the final answer."""
    started = time.perf_counter()
    first: float | None = None
    chunks = 0
    final: dict[str, Any] | None = None
    name = ""
    with client.stream("POST", "/v1/ask", json={"question": question, "stream": True}) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                if name == "token":
                    chunks += 1
                    if first is None:
                        first = time.perf_counter()
                elif name == "answer":
                    final = json.loads(line[6:])
    done = time.perf_counter()
    return Streamed(((first or done) - started) * 1000, (done - started) * 1000, chunks, final)
