"""A real Mosquitto broker for tests and benchmarks, on a free loopback port, always cleaned up.

    with Mosquitto() as broker:
        settings = broker.mqtt_settings(client_id="edge-1")
        ...
        broker.kill()      # SIGKILL, as a crash
        broker.restart()   # same port, same persistence directory

Each broker has its own temporary directory with its config, log, persistence database and,
when ``users`` is given, a password file made with ``mosquitto_passwd``.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho

from assistant.settings import MqttSettings

HOST = "127.0.0.1"
INSTALL_HINT = "run `./setup.sh --system-only` (the MQTT tests need a real broker: mosquitto)"
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"]
)


MosquittoFactory = Callable[..., "Mosquitto"]
"""The type of the ``make_mosquitto`` fixture: keyword options of Mosquitto to a running one."""


class BrokerError(RuntimeError):
    """Mosquitto is missing, or did not start; the message says what to do."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files for a TLS listener: the CA, the broker's certificate and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    require_client_cert: bool = False


def find_program(name: str) -> str:
    """Return the path of a Mosquitto program, or raise BrokerError saying how to install it."""
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is None:
        raise BrokerError(f"'{name}' was not found: {INSTALL_HINT}")
    return path


def free_port() -> int:
    """Return a TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    """One Mosquitto process bound to 127.0.0.1 with persistence in its own temp directory."""

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        tls: TlsFiles | None = None,
        persistence: bool = True,
        save_every_change: bool = True,
        extra_config: Sequence[str] = (),
    ) -> None:
        self.program = find_program("mosquitto")
        self.host = HOST
        self.port = 0
        self.users = dict(users or {})
        self.tls = tls
        self.persistence = persistence
        self.save_every_change = save_every_change
        self.extra_config = tuple(extra_config)
        self.directory = Path(tempfile.mkdtemp(prefix="shiftmate-mosquitto-"))
        self.log_path = self.directory / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Self:
        """Start the broker (on a new free port the first time, else on its port) and wait."""
        attempts = 1 if self.port else 5
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = free_port()
            if self._launch(timeout):
                return self
        raise BrokerError(f"mosquitto did not start on {self.host}:{self.port}: {self.log()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker with SIGTERM (it saves its persistence database) and wait for it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Kill the broker with SIGKILL, as a crash: only what it had saved survives."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self, timeout: float = 10.0) -> Self:
        """Stop the broker if it runs, then start it again on the same port and persistence."""
        self.stop()
        if not self._launch(timeout):
            raise BrokerError(f"mosquitto did not restart on {self.host}:{self.port}: {self.log()}")
        return self

    def close(self) -> None:
        """Stop the broker and delete its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- queries -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Return whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """Return the broker's log so far (for failure messages)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except FileNotFoundError:
            return "(no log)"

    def mqtt_settings(self, **overrides: Any) -> MqttSettings:
        """Return MqttSettings pointing at this broker, with quick reconnects for tests."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 1.0,
            "keepalive_s": 10,
        }
        if self.tls is not None:
            values.update(tls=True, ca_file=self.tls.ca_file)
        values.update(overrides)
        return MqttSettings(**values)

    # -- internals ---------------------------------------------------------------------------

    def _config(self) -> str:
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'false' if self.users else 'true'}",
            f"user {getpass.getuser()}",
            "max_queued_messages 0",  # no limit: the tests count every queued message
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            f"log_dest file {self.log_path}",
        ]
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.directory}/"]
            if self.save_every_change:  # so that a SIGKILL loses as little as possible
                lines += ["autosave_on_changes true", "autosave_interval 1"]
        if self.users:
            lines.append(f"password_file {self._password_file()}")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.cert_file}",
                f"keyfile {self.tls.key_file}",
                f"require_certificate {'true' if self.tls.require_client_cert else 'false'}",
            ]
        lines += self.extra_config
        return "\n".join(lines) + "\n"

    def _password_file(self) -> Path:
        path = self.directory / "passwords"
        if not path.exists():
            program = find_program("mosquitto_passwd")
            for index, (user, password) in enumerate(self.users.items()):
                create = ["-c"] if index == 0 else []
                subprocess.run(
                    [program, "-b", *create, str(path), user, password],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
            path.chmod(0o600)
        return path

    def _launch(self, timeout: float) -> bool:
        """Start mosquitto on self.port; return False if it exited (port taken)."""
        config = self.directory / "mosquitto.conf"
        config.write_text(self._config(), encoding="utf-8")
        process = subprocess.Popen(
            [self.program, "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    self._process = process
                    return True
            except OSError:
                time.sleep(0.02)
        process.kill()
        process.wait()
        raise BrokerError(
            f"mosquitto did not accept connections on {self.host}:{self.port} "
            f"within {timeout:g} s: {self.log()}"
        )


def make_tls_files(directory: Path, host: str = HOST) -> tuple[TlsFiles, Path, Path]:
    """Make a CA, a broker certificate for ``host`` and a client certificate with openssl.

    Returns the broker's TlsFiles and the client's certificate and key.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BrokerError("'openssl' was not found: run `apt-get install -y openssl`")
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=directory, timeout=60)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    for name, extension in (
        ("server", f"subjectAltName=IP:{host}"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        (directory / f"{name}.ext").write_text(extension + "\n", encoding="utf-8")
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.crt",
        )
    files = TlsFiles(
        directory / "ca.crt",
        directory / "server.crt",
        directory / "server.key",
        require_client_cert=True,
    )
    return files, directory / "client.crt", directory / "client.key"


def collect_messages(
    port: int, topic: str, host: str = HOST
) -> tuple[paho.Client, list[bytes], threading.Event]:
    """Subscribe to a topic (QoS 1) and collect payloads; return (client, payloads, arrived)."""
    got: list[bytes] = []
    ready = threading.Event()
    arrived = threading.Event()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{os.getpid()}")

    def on_connect(c: paho.Client, *_: object) -> None:
        c.subscribe(topic, qos=1)

    def on_subscribe(*_: object) -> None:
        ready.set()

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        got.append(message.payload)
        arrived.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    if not ready.wait(10):
        client.loop_stop()
        raise BrokerError(f"could not subscribe to {topic} on {host}:{port}")
    return client, got, arrived
