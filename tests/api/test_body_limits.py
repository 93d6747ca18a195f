"""Bodies against a real server in its own process: no key, 401 before a byte of the body is
read, on every route that takes one; a body over its limit, 413 while it streams; the rest
as before. The server runs without models (none of these requests needs one), so its
memory (``/proc/<pid>/status``) is the API's alone."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from assistant.api import create_app
from assistant.api.keys import KeyStore
from assistant.db import Database
from assistant.services import build_services
from assistant.settings import load_settings
from tests.api.conftest import error_of
from tests.brokers import HOST, free_port

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
CHUNK = b"x" * 65536
BIG = 200 * 1024 * 1024
MB = 1024 * 1024
UPLOAD_MB = 4
SERVE = """
import sys
import uvicorn
from assistant.api import create_app
from assistant.services import build_services
from assistant.settings import load_settings

data_dir, port, upload_mb = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
settings = load_settings(
    None, {"data_dir": data_dir, "models": {"verify": False}, "api": {"max_upload_mb": upload_mb}}
)
with build_services(settings) as services:
    app = create_app(services)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
"""
"""The app ``shiftmate serve`` runs, under uvicorn, without preloading the models."""


@dataclass
class ServerProcess:
    """An API server in a process of its own, with one key per role."""

    process: subprocess.Popen[str]
    port: int
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return f"http://{HOST}:{self.port}"

    def memory_kb(self) -> dict[str, int]:
        """Return the server's VmRSS and VmHWM (peak resident memory) in kB."""
        figures = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                figures[name] = int(value.split()[0])
        return figures

    def auth(self, role: str) -> dict[str, str]:
        """Return the Authorization header of a role's key."""
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Start the API server as its own process over an empty data dir; stop it afterwards."""
    data = tmp_path_factory.mktemp("bodies") / "data"
    data.mkdir()
    db = Database(data / "journal.sqlite3")
    store = KeyStore(db)
    keys = {
        role: store.create(role, f"{role}-1")[1] for role in ("operator", "supervisor", "admin")
    }
    db.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTMATE_")}
    log = data.parent / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(data), str(port), str(UPLOAD_MB)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            text=True,
        )
    server = ServerProcess(process, port, keys)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{server.url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API server did not come up"
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
            raise
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def body_routes(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    """Return (method, concrete path) for every route of the app that takes a body."""
    # from the schema, not from the routing table the gate itself reads
    settings = load_settings(
        None, {"data_dir": tmp_path_factory.mktemp("routes"), "models": {"verify": False}}
    )
    with build_services(settings) as services:
        paths = create_app(services).openapi()["paths"]
    routes = [
        (method.upper(), re.sub(r"\{[^}]*\}", "abc", path))
        for path, operations in paths.items()
        for method in operations
        if method.upper() in BODY_METHODS
    ]
    named = {("POST", "/v1/ask"), ("POST", "/v1/chat/completions"), ("POST", "/v1/documents")}
    named |= {("POST", "/v1/feedback"), ("POST", "/v1/workorders"), ("PATCH", "/v1/workorders/abc")}
    assert named <= set(routes), routes
    return routes


@dataclass
class RawResponse:
    """A response read off a socket while the request body was still unfinished."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    closed: bool

    def error(self) -> dict[str, str]:
        """Return the error object of the JSON error body."""
        assert self.headers["content-type"].startswith("application/json")
        error: dict[str, str] = json.loads(self.body)["error"]
        assert set(error) == {"code", "message", "type"}
        return error


def unfinished_request(
    server: ServerProcess,
    method: str,
    path: str,
    headers: dict[str, str],
    body_bytes: int,
    *,
    chunked: bool = True,
) -> RawResponse:
    """Send a request head and ``body_bytes`` of its body, never its end; read the response.

    The body stays unfinished, so a server that waits for it cannot answer: only one that
    decides on the head (or while the body streams) does, within the socket's timeout.
    """
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{server.port}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    if chunked:
        head.append("Transfer-Encoding: chunked")
    with socket.create_connection((HOST, server.port), timeout=15) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        started = time.monotonic()
        sent = 0
        try:
            while sent < body_bytes:
                piece = CHUNK[: body_bytes - sent]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the rest went; the answer is read next
        response = http.client.HTTPResponse(sock)
        response.begin()
        seconds = time.monotonic() - started
        body = response.read()
        headers_out = {k.lower(): v for k, v in response.getheaders()}
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:
            closed = True
    return RawResponse(response.status, headers_out, body, seconds, closed)


@dataclass
class Streamed:
    """What a generator-fed chunked request got back, and how much of its body went out."""

    response: httpx.Response
    sent: int
    seconds: float


def stream_body(
    server: ServerProcess,
    method: str,
    path: str,
    headers: dict[str, str],
    total: int,
    prefix: bytes = b"",
    suffix: bytes = b"",
) -> Streamed:
    """Send a chunked body of ``total`` bytes from a generator, as a real client does."""
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for piece in (prefix, *([CHUNK] * ((total - len(prefix) - len(suffix)) // len(CHUNK)))):
            sent += len(piece)
            yield piece
        sent += len(suffix)
        yield suffix

    started = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        response = client.request(method, path, headers=headers, content=body())
    return Streamed(response, sent, time.monotonic() - started)


def test_a_200_mb_chunked_body_without_a_key_is_refused_unread_on_every_route(
    served: ServerProcess, body_routes: list[tuple[str, str]]
) -> None:
    with httpx.Client(base_url=served.url, headers=served.auth("admin")) as client:
        assert client.get("/v1/status").status_code == 200  # warm
    before = served.memory_kb()
    for method, path in body_routes:
        rss = served.memory_kb()["VmRSS"]
        streamed = stream_body(served, method, path, {}, BIG)
        where = (method, path, streamed.sent, streamed.seconds)
        assert streamed.response.status_code == 401, where
        assert error_of(streamed.response)["code"] == "missing_api_key", where
        assert streamed.response.headers["www-authenticate"] == "Bearer"
        assert streamed.response.headers["connection"] == "close"
        assert streamed.sent < 32 * MB, where  # the server stopped reading: most never went
        grown = served.memory_kb()["VmRSS"] - rss
        assert grown < 20 * 1024, (*where, f"RSS grew by {grown} kB")
    after = served.memory_kb()
    assert after["VmHWM"] - before["VmHWM"] < 20 * 1024, (before, after)


def test_no_key_is_answered_on_the_head_alone(
    served: ServerProcess, body_routes: list[tuple[str, str]]
) -> None:
    for method, path in body_routes:
        for authorization, code in (
            (None, "missing_api_key"),
            ("Basic dXNlcjpwdw==", "missing_api_key"),
            ("Bearer smk_nope", "invalid_api_key"),
        ):
            headers = {"Content-Type": "application/json"}
            if authorization is not None:
                headers["Authorization"] = authorization
            response = unfinished_request(served, method, path, headers, len(CHUNK))
            assert response.status == 401, (method, path, authorization, response.body)
            assert response.error()["code"] == code
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.closed, (method, path)  # not left waiting for the rest
        declared = {"Content-Type": "application/json", "Content-Length": str(BIG)}
        response = unfinished_request(served, method, path, declared, len(CHUNK), chunked=False)
        assert response.status == 401 and response.closed, (method, path, response.body)


def test_a_keyed_body_over_the_limit_gets_413_while_it_streams(served: ServerProcess) -> None:
    operator = {**served.auth("operator"), "Content-Type": "application/json"}
    raw = unfinished_request(served, "POST", "/v1/ask", operator, 3 * MB)
    assert raw.status == 413 and raw.error()["code"] == "too_large", raw.body
    assert "2.0 MB" in raw.error()["message"]
    assert raw.closed and raw.headers["connection"] == "close"

    rss = served.memory_kb()["VmRSS"]
    for path in ("/v1/ask", "/v1/chat/completions"):
        streamed = stream_body(served, "POST", path, operator, BIG, prefix=b'{"question": "')
        assert streamed.response.status_code == 413, (path, streamed.response.text)
        assert error_of(streamed.response)["code"] == "too_large"
        assert streamed.sent < 32 * MB, (path, streamed.sent)
    multipart = {
        **served.auth("supervisor"),
        "Content-Type": "multipart/form-data; boundary=xyz",
    }
    part = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
    upload = stream_body(served, "POST", "/v1/documents", multipart, BIG, prefix=part)
    assert upload.response.status_code == 413, upload.response.text
    assert f"{UPLOAD_MB + 0.1:.1f} MB" in error_of(upload.response)["message"]
    assert upload.sent < 32 * MB, upload.sent
    assert served.memory_kb()["VmRSS"] - rss < 20 * 1024

    # an upload may be larger than a JSON body: 3 MB is read to its end, then judged (415)
    exe = part.replace(b"big.txt", b"big.exe")
    read = stream_body(
        served, "POST", "/v1/documents", multipart, 3 * MB, prefix=exe, suffix=b"\r\n--xyz--\r\n"
    )
    assert read.response.status_code == 415, read.response.text
    assert error_of(read.response)["code"] == "unsupported_type"


def test_normal_requests_still_work(served: ServerProcess) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as anonymous:
        assert anonymous.get("/health").status_code == 200
        nowhere = anonymous.post("/v1/nowhere", content=b"{}")
        assert nowhere.status_code == 404 and error_of(nowhere)["code"] == "not_found"
        wrong = anonymous.delete("/v1/ask")
        assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"
        plain = anonymous.post("/v1/ask", json={"question": "hi"})
        assert plain.status_code == 401 and error_of(plain)["code"] == "missing_api_key"
    keyed = {**served.auth("admin"), "Content-Type": "application/json"}
    with httpx.Client(base_url=served.url, headers=keyed, timeout=30) as admin:
        created = admin.post("/v1/keys", json={"role": "operator", "name": "declared"})
        assert created.status_code == 201, created.text
        chunked = admin.post(
            "/v1/keys", content=iter([b'{"role": "operator", ', b'"name": "chunked"}'])
        )
        assert chunked.status_code == 201, chunked.text
        assert chunked.json()["name"] == "chunked"
        feedback = admin.post(
            "/v1/feedback", content=iter([b'{"turn_id": 999999, ', b'"rating": "helpful"}'])
        )
        assert feedback.status_code == 404, feedback.text
        assert error_of(feedback)["code"] == "unknown_answer"
        forbidden = httpx.post(
            f"{served.url}/v1/documents",
            headers=served.auth("operator"),
            files={"file": ("a.txt", b"text")},
        )
        assert forbidden.status_code == 403 and error_of(forbidden)["code"] == "forbidden"
        metrics = admin.get("/metrics").text
    assert re.search(
        r'shiftmate_http_requests_total\{method="POST",route="/v1/ask",status="401"\}', metrics
    )
