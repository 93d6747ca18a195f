"""A real PostgreSQL server for tests: ``initdb`` into a temp dir, ``postgres`` on a free port.

with PostgresServer() as server:
    url = server.create_database("t1")   # postgresql://shiftmate:<password>@127.0.0.1:PORT/t1

Debian's ``postgresql`` package provides the binaries (``/usr/lib/postgresql/<v>/bin``; ``.ci/run``
and ``setup.sh`` install it). PostgreSQL refuses to run as root, so as root the data directory
belongs to the ``postgres`` user and the server runs under ``runuser -u postgres``. No system
service is used; the server is stopped and its directory removed by close().
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg

from tests.brokers import HOST, free_port

USER = "shiftmate"
INSTALL_HINT = "run `apt-get install -y postgresql` (or `./setup.sh --system-only`)"


class PostgresError(RuntimeError):
    """The test server cannot be set up or started."""


def find_bin(name: str) -> str:
    """Return the path of a PostgreSQL server binary (newest version installed)."""
    found = shutil.which(name)
    if found is not None:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise PostgresError(f"PostgreSQL's '{name}' was not found: {INSTALL_HINT}")
    return candidates[-1]


class PostgresServer:
    """One PostgreSQL server on 127.0.0.1 with password authentication; close() stops it."""

    def __init__(self) -> None:
        self.password = secrets.token_hex(12)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="shiftmate-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log_path = self.root / "postgres.log"
        self._as_root = os.geteuid() == 0
        self._process: subprocess.Popen[bytes] | None = None

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self._as_root else list(args)

    def start(self, timeout: float = 60.0) -> Self:
        """Create the cluster and start the server; wait until it accepts connections."""
        initdb, postgres = find_bin("initdb"), find_bin("postgres")
        self.socket_dir.mkdir()
        password_file = self.root / "pw"
        password_file.write_text(self.password + "\n", encoding="utf-8")
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
            shutil.chown(password_file, "postgres", "postgres")
        done = subprocess.run(
            self._cmd(initdb, "-D", str(self.data), "-U", USER, "--auth=scram-sha-256",
                      f"--pwfile={password_file}", "-E", "UTF8", "--no-sync"),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        password_file.unlink()
        if done.returncode != 0:
            raise PostgresError(f"initdb failed: {done.stderr or done.stdout}")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._cmd(postgres, "-D", str(self.data), "-p", str(self.port),
                          "-k", str(self.socket_dir), "-h", HOST, "-c", "fsync=off",
                          "-c", "max_connections=50"),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PostgresError(f"postgres exited: {self.log()}")
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return self
            except psycopg.OperationalError:
                time.sleep(0.1)
        self.close()
        raise PostgresError(f"postgres did not accept connections within {timeout} s")

    def url(self, database: str) -> str:
        """Return the URL of one database of this server (password included)."""
        return f"postgresql://{USER}:{self.password}@{HOST}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)

    def log(self) -> str:
        """Return the server's log so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except FileNotFoundError:
            return "(no log)"

    def close(self) -> None:
        """Stop the server (fast shutdown, then SIGKILL) and remove its directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGINT to the postmaster itself (runuser does not pass it on): a fast shutdown
            try:
                pid = int((self.data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGINT)
                process.wait(20)
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
