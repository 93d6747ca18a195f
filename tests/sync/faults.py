"""A loopback HTTP proxy in front of the real receiver that misbehaves on demand.

Each request takes the next mode from a queue (then ``pass``): ``500`` answers 500 without
forwarding; ``500-after``, ``hang-after``, ``garbage-after`` and ``short-ack`` forward the
request to the receiver (which stores the batch) and then answer 500, nothing until the
client's timeout, a 200 with garbage, or a 200 acknowledging fewer records than were sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

import httpx

from tests.brokers import HOST


class FaultProxy:
    """A threaded HTTP server forwarding POSTs to ``target`` with injected faults."""

    def __init__(self, target: str, hang_s: float = 2.0) -> None:
        self.target = target
        self.modes: deque[str] = deque()
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                mode = proxy.modes.popleft() if proxy.modes else "pass"
                proxy.seen.append(mode)
                if mode == "500":
                    self._answer(500, b"internal error")
                    return
                forwarded = httpx.post(
                    proxy.target + self.path,
                    content=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                    timeout=10,
                    trust_env=False,
                )
                if mode == "500-after":
                    self._answer(500, b"stored, but the gateway failed")
                elif mode == "hang-after":
                    time.sleep(hang_s)
                    self.close_connection = True
                elif mode == "garbage-after":
                    self._answer(200, b"\x00\xffnot json")
                elif mode == "short-ack":
                    records = forwarded.json()["records"] - 1
                    self._answer(200, json.dumps({"accepted": records, "duplicates": 0,
                                                  "records": records}).encode())  # fmt: skip
                else:
                    self._answer(forwarded.status_code, forwarded.content)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
