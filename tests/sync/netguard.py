"""A guard that records every outgoing connection attempt and refuses any that is not loopback."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


class NetworkGuard:
    """What was attempted: every address, and the refused (non-loopback) ones."""

    def __init__(self) -> None:
        self.attempts: list[Any] = []
        self.refused: list[Any] = []


def is_loopback(address: Any) -> bool:
    """Return whether an AF_INET/AF_INET6 address (or a Unix socket path) stays on this host."""
    if isinstance(address, str | bytes):
        return True  # AF_UNIX path
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name: resolving it would already leave the host


@contextmanager
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    """Patch socket.connect / connect_ex so non-loopback attempts are recorded and refused."""
    guard = NetworkGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(address: Any) -> None:
        guard.attempts.append(address)
        if not is_loopback(address):
            guard.refused.append(address)
            raise OSError(f"network guard: connection to {address!r} refused (not loopback)")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    with monkeypatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        yield guard
