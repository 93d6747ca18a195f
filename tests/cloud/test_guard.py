"""The receiver's HTTP guard, against the real receiver process: the token before any body byte,
bodies capped while they stream (chunked too) at a bounded memory cost, health behind a token,
raw bodies kept only after the token check and without it."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.brokers import HOST
from tests.cloud.receiver import CloudReceiver
from tests.sync.conftest import SITE, TOKEN, ReceiverFactory

MIB = 1 << 20
BODY_BYTES = 200 * MIB
RSS_BUDGET = 20 * MIB


def _chunked_body(total: int) -> Iterator[bytes]:
    """Yield a chunked-encoded body of ``total`` bytes, made lazily one 1 MiB chunk at a time."""
    block = b"x" * MIB
    for _ in range(total // MIB):
        yield b"%x\r\n" % MIB + block + b"\r\n"
    yield b"0\r\n\r\n"


def _rss(pid: int) -> int:
    """Return a process's resident memory in bytes, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class _PeakRss(threading.Thread):
    """Samples a process's RSS every 5 ms until stopped; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = _rss(pid)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.005):
            self.peak = max(self.peak, _rss(self.pid))

    def __enter__(self) -> _PeakRss:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join(5)


def _head(receiver: CloudReceiver, token: str | None, **headers: str) -> bytes:
    lines = ["POST /v1/records HTTP/1.1", f"Host: {HOST}:{receiver.port}"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(sock: socket.socket) -> tuple[int, bytes]:
    """Read one response from the socket; return its status and everything read."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return int(data.split(b" ", 2)[1]), head + b"\r\n\r\n" + body


class _Streamer(threading.Thread):
    """Writes a lazily made chunked body to a socket until it is done or the server hangs up."""

    def __init__(self, sock: socket.socket, total: int) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.total = total
        self.sent = 0
        self.hung_up = False

    def run(self) -> None:
        try:
            for chunk in _chunked_body(self.total):
                self.sock.sendall(chunk)
                self.sent += len(chunk)
        except OSError:
            self.hung_up = True


def _baseline(receiver: CloudReceiver) -> int:
    receiver.health()  # the app is warm: its first request is behind it
    return _rss(receiver.pid)


def test_a_chunked_200_mb_body_without_a_token_is_refused_before_it_is_read(
    make_receiver: ReceiverFactory,
) -> None:
    receiver = make_receiver()
    before = _baseline(receiver)
    with (
        socket.create_connection((HOST, receiver.port), timeout=30) as sock,
        _PeakRss(receiver.pid) as rss,
    ):
        sock.sendall(_head(receiver, None, Transfer_Encoding="chunked"))
        status, answer = _status(sock)  # not one byte of the body is sent yet
        assert status == 401, answer
        assert b"connection: close" in answer.lower()
        streamer = _Streamer(sock, BODY_BYTES)
        streamer.start()
        streamer.join(60)
        assert not streamer.is_alive()
    assert streamer.hung_up and streamer.sent < BODY_BYTES, streamer.sent
    growth = rss.peak - before
    print(f"no token: 401 after 0 body bytes; {streamer.sent / MIB:.1f} MiB written before the "
          f"receiver hung up; RSS growth {growth / MIB:.2f} MiB")  # fmt: skip
    assert growth < RSS_BUDGET, growth
    health = receiver.health()
    assert health["refused"] == {"unauthorized": 1}
    assert (health["batches"], health["dead_letters"]) == (0, 0)


def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(
    make_receiver: ReceiverFactory,
) -> None:
    receiver = make_receiver(max_body_bytes=MIB)
    before = _baseline(receiver)
    with (
        socket.create_connection((HOST, receiver.port), timeout=30) as sock,
        _PeakRss(receiver.pid) as rss,
    ):
        sock.sendall(_head(receiver, TOKEN, Transfer_Encoding="chunked"))
        streamer = _Streamer(sock, BODY_BYTES)
        streamer.start()
        status, answer = _status(sock)
        sent_when_answered = streamer.sent
        streamer.join(60)
        assert not streamer.is_alive()
    assert status == 413, answer
    assert b"too_large" in answer
    assert sent_when_answered < BODY_BYTES // 4, sent_when_answered
    assert streamer.hung_up and streamer.sent < BODY_BYTES
    growth = rss.peak - before
    print(f"over the 1 MiB cap: 413 after {sent_when_answered / MIB:.1f} MiB written; RSS growth "
          f"{growth / MIB:.2f} MiB")  # fmt: skip
    assert growth < RSS_BUDGET, growth
    # a declared length over the limit is refused before a byte of the body is sent
    with socket.create_connection((HOST, receiver.port), timeout=30) as sock:
        sock.sendall(_head(receiver, TOKEN, Content_Length=str(BODY_BYTES)))
        status, answer = _status(sock)
    assert status == 413, answer
    assert receiver.health()["refused"] == {"too_large": 2}
    assert receiver.records() == []


def _batch(site: str, token: str, key: str) -> bytes:
    record = {"key": key, "kind": "feedback", "created_at": 1.0, "body": {"n": 1}}
    return json.dumps({"v": 1, "site": site, "token": token, "records": [record]}).encode()


def _post(receiver: CloudReceiver, body: bytes, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(
        f"{receiver.url}/v1/records", content=body, headers=headers, timeout=10, trust_env=False
    )


def _health(receiver: CloudReceiver, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{receiver.url}/v1/health", headers=headers, timeout=10, trust_env=False)


def test_health_needs_a_token_and_a_site_sees_only_its_own_counts(
    make_receiver: ReceiverFactory,
) -> None:
    receiver = make_receiver()
    assert _post(receiver, _batch(SITE, TOKEN, "a1"), TOKEN).status_code == 200
    assert _post(receiver, _batch("site-b", "token-b", "b1"), "token-b").status_code == 200
    assert _health(receiver, None).status_code == 401
    assert _health(receiver, "wrong").status_code == 401
    own = _health(receiver, TOKEN)
    assert own.status_code == 200
    assert set(own.json()["sites"]) == {SITE}
    everything = _health(receiver, receiver.health_token).json()
    assert set(everything["sites"]) == {SITE, "site-b"}
    assert everything["refused"] == {"unauthorized": 2}
    # the health token is no site's: it cannot send records
    refused = _post(receiver, _batch(SITE, TOKEN, "a2"), receiver.health_token)
    assert refused.status_code == 403


def test_raw_bodies_are_kept_after_the_token_check_without_the_token(
    make_receiver: ReceiverFactory,
) -> None:
    receiver = make_receiver(keep_raw=True)
    assert (
        _post(receiver, gzip.compress(_batch(SITE, TOKEN, "k1")), "not-a-token").status_code == 401
    )
    assert receiver.raw_bodies() == [] and receiver.dead_letters() == []
    assert _post(receiver, gzip.compress(_batch(SITE, TOKEN, "k1")), TOKEN).status_code == 200
    raw = receiver.raw_bodies()
    assert len(raw) == 1 and b'"token": "[token]"' in raw[0] and TOKEN.encode() not in raw[0]
    # a refused body is a dead letter, its tokens masked too (site-b's as well)
    mixed = _batch(SITE, "token-b", "k2")
    assert _post(receiver, mixed, TOKEN).status_code == 403
    nan = _batch(SITE, TOKEN, "k3").replace(b'"created_at": 1.0', b'"created_at": NaN')
    assert _post(receiver, nan, TOKEN).status_code == 400
    letters = receiver.dead_letters()
    assert [(d.site, d.via, d.reason) for d in letters] == [
        (SITE, "https", "site_mismatch"),
        (SITE, "https", "invalid"),
    ]
    assert "NaN is not a number JSON allows" in letters[1].detail
    for letter in letters:
        assert TOKEN.encode() not in letter.body and b"token-b" not in letter.body
        assert b"[token]" in letter.body
    assert [r.key for r in receiver.records()] == ["k1"]
