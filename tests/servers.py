"""A real ``python -m llama_cpp.server`` on a free loopback port, with the default GGUF.

``LlamaServer`` starts one and stops it (terminate, then kill); the ``llama_server`` fixture
shares one per test module (import it into the module). Its output goes to a log file the
tests read (llama_cpp.server prints when a client disconnects mid-stream).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models import registry

DEFAULT_LLM = "smollm2-135m-instruct"


def free_port() -> int:
    """Return a TCP port nothing listens on at the moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_gguf() -> Path:
    """Return the path of the embedded default chat model, found as services find it."""
    return registry.resolve(DEFAULT_LLM, "llm").path


class LlamaServer:
    """One llama_cpp.server process serving a GGUF on 127.0.0.1."""

    def __init__(
        self, log_file: Path, *, model: Path | None = None, n_ctx: int = 4096, n_threads: int = 2
    ) -> None:
        """Start the server and wait until it answers (RuntimeError with its log if not)."""
        self.port = free_port()
        self.model = model or default_gguf()
        self.log_file = log_file
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--model_alias",
            DEFAULT_LLM,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(n_ctx),
            "--n_threads",
            str(n_threads),
        ]
        self._log = log_file.open("wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(timeout_s=60.0)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited at start:\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"llama_cpp.server did not answer in {timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        """Return what the server printed so far."""
        self._log.flush()
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server: terminate, then kill if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """Serve the default GGUF with llama_cpp.server for one test module."""
    server = LlamaServer(tmp_path_factory.mktemp("llama-server") / "server.log")
    yield server
    server.stop()
