"""Real servers for the knowledge base's tests, on free loopback ports, always stopped.

- ``ChromaServer``: ``.venv/bin/chroma run --path <tmp>`` (the server shipped with chromadb),
  ready once ``/api/v2/heartbeat`` answers. The ``chroma_server`` fixture shares one per test
  module (import it into the module).
- ``EmbeddingServer``: ``python -m llama_cpp.server --embedding true`` with the default GGUF
  (SmolLM2, 576-dimensional per-token vectors). The ``embedding_server`` fixture shares one per
  test module.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from models import registry
from tests.brokers import free_port

CHROMA = Path(sys.executable).with_name("chroma")


class ServerError(RuntimeError):
    """A test server did not start; the message carries its log."""


class _Process:
    """A server process with a log file, started and waited for, stopped with terminate/kill."""

    def __init__(self, command: list[str], log_file: Path, ready: Callable[[], bool]) -> None:
        self.log_file = log_file
        self._handle = log_file.open("wb")
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            command, stdout=self._handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if ready():
                return
            time.sleep(0.2)
        self.stop()
        raise ServerError(f"{command[0]} did not start: {self.log()}")

    @property
    def running(self) -> bool:
        """Return whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """Return the end of the server's log (for failure messages)."""
        return self.log_file.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._handle.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


class ChromaServer(_Process):
    """One ``chroma run`` process on 127.0.0.1 keeping its data in ``path``."""

    def __init__(self, path: Path, log_file: Path) -> None:
        """Start the server and wait for its heartbeat (ServerError with its log if none)."""
        self.path = path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1"]
        super().__init__(
            [*command, "--port", str(self.port)],
            log_file,
            lambda: _answers(f"{self.url}/api/v2/heartbeat"),
        )


class EmbeddingServer(_Process):
    """One ``llama_cpp.server --embedding true`` process serving the default GGUF."""

    def __init__(self, log_file: Path) -> None:
        """Start the server and wait until it lists its model (ServerError with its log)."""
        self.model = registry.resolve("smollm2-135m-instruct", "llm").path
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model)]
        command += ["--embedding", "true", "--n_threads", "2", "--host", "127.0.0.1"]
        super().__init__(
            [*command, "--port", str(self.port)],
            log_file,
            lambda: _answers(f"{self.base_url}/models"),
        )


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """Run one real Chroma server for the test module."""
    folder = tmp_path_factory.mktemp("chroma-server")
    server = ChromaServer(folder / "data", folder / "chroma.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddingServer]:
    """Run one real llama_cpp.server with embeddings for the test module."""
    folder = tmp_path_factory.mktemp("embedding-server")
    server = EmbeddingServer(folder / "server.log")
    yield server
    server.stop()
