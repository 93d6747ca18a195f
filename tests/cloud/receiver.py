"""A real cloud receiver (``shiftmate cloud serve`` under uvicorn) on a loopback port, for tests.

with CloudReceiver(tmp_path / "cloud", tokens={"site-a": "tok"}) as receiver:
    receiver.url            # http://127.0.0.1:PORT
    receiver.stop()         # down: uploads fail, backlogs grow
    receiver.start()        # up again on the same port and store
    receiver.records()      # what it stored, once per key
    receiver.raw_bodies()   # every accepted body, uncompressed, token masked (keep_raw)
    receiver.health()       # GET /v1/health with the health token
"""

from __future__ import annotations

import gzip
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from assistant.cloud.store import CloudStore, DeadLetter, StoredRecord
from tests.brokers import HOST, free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEALTH_TOKEN = "health-token-0123456789"


def toml_value(value: Any) -> str:
    """Return a TOML literal for a str, bool, number, path or list/dict of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def write_config(path: Path, sections: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write a Shiftmate TOML config of ``{section: {key: value}}`` (dotted sections allowed)."""
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def clean_env() -> dict[str, str]:
    """Return the environment for a Shiftmate subprocess, without SHIFTMATE_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTMATE_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return env


def shiftmate(config: Path, data_dir: Path, *args: str) -> list[str]:
    """Return the command line of a Shiftmate subprocess."""
    return [
        sys.executable, "-m", "assistant.cli", "--config", str(config),
        "--data-dir", str(data_dir), *args,
    ]  # fmt: skip


class CloudReceiver:
    """One ``shiftmate cloud serve`` process; always stopped by close()."""

    def __init__(
        self,
        directory: Path,
        tokens: Mapping[str, str],
        *,
        mqtt: Mapping[str, Any] | None = None,
        keep_raw: bool = True,
        health_token: str = HEALTH_TOKEN,
        ca_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        **cloud_options: Any,
    ) -> None:
        self.directory = directory
        self.env = {**clean_env(), **(env or {})}  # e.g. a SHIFTMATE_CLOUD__* setting
        self.port = free_port()
        # with cloud.ssl_certfile/ssl_keyfile: HTTPS, checked against ca_file
        self.url = f"{'https' if ca_file else 'http'}://{HOST}:{self.port}"
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        )
        self.health_token = health_token
        cloud: dict[str, Any] = {
            "tokens": dict(tokens),
            "keep_raw": keep_raw,
            "health_token": health_token,
            **cloud_options,
        }
        sections: dict[str, Mapping[str, Any]] = {"cloud": cloud}
        if mqtt is not None:
            sections["cloud.mqtt"] = mqtt
        self.config = write_config(directory / "cloud.toml", sections)
        self.data_dir = directory / "data"
        self.log_path = directory / "receiver.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Self:
        """Start the receiver and wait until it answers its health check."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                shiftmate(self.config, self.data_dir, "cloud", "serve", "--host", HOST,
                          "--port", str(self.port)),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"cloud serve exited: {self.log()}")
            try:
                httpx.get(
                    f"{self.url}/v1/health",
                    headers=self._auth(),
                    timeout=1.0,
                    trust_env=False,
                    verify=self.verify,
                )
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"cloud serve did not answer within {timeout} s: {self.log()}")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.health_token}"}

    @property
    def pid(self) -> int:
        """Return the running receiver's process id."""
        assert self._process is not None, "the receiver is not running"
        return self._process.pid

    def stop(self) -> None:
        """Stop the receiver (SIGTERM, then SIGKILL) and wait for it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop the receiver."""
        self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log(self) -> str:
        """Return the receiver's output so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except FileNotFoundError:
            return "(no log)"

    def health(self) -> dict[str, Any]:
        """Return the receiver's health document (counters and records per site)."""
        response = httpx.get(
            f"{self.url}/v1/health",
            headers=self._auth(),
            timeout=5.0,
            trust_env=False,
            verify=self.verify,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def records(self, kind: str | None = None) -> list[StoredRecord]:
        """Return what the receiver stored (read from its store on disk)."""
        store = CloudStore(self.data_dir / "cloud")
        try:
            return list(store.records(kind=kind))
        finally:
            store.close()

    def receipts(self) -> list[str]:
        """Return the key of every record received, duplicates included."""
        store = CloudStore(self.data_dir / "cloud")
        try:
            rows = store._conn.execute("SELECT key FROM receipts").fetchall()
            return [r[0] for r in rows]
        finally:
            store.close()

    def dead_letters(self) -> list[DeadLetter]:
        """Return the bodies the receiver refused and kept (read from its store on disk)."""
        store = CloudStore(self.data_dir / "cloud")
        try:
            return store.dead_letters()
        finally:
            store.close()

    def raw_bodies(self) -> list[bytes]:
        """Return every body the receiver kept raw, decompressed when gzipped."""
        bodies = []
        for path in sorted((self.data_dir / "cloud" / "raw").rglob("*.bin")):
            data = path.read_bytes()
            bodies.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        return bodies
