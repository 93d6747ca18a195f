"""Fixtures of the sync tests: a real cloud receiver and site settings that point at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cloud.receiver import CloudReceiver
from tests.sync.seed import ROSTER

SITE = "site-a"
TOKEN = "token-site-a-0123456789"

ReceiverFactory = Callable[..., CloudReceiver]


@pytest.fixture
def make_receiver(tmp_path: Path) -> Iterator[ReceiverFactory]:
    """Start real receivers (``shiftmate cloud serve``) on demand; all stopped afterwards."""
    started: list[CloudReceiver] = []

    def factory(name: str = "cloud", *, start: bool = True, **options: Any) -> CloudReceiver:
        receiver = CloudReceiver(tmp_path / name, {SITE: TOKEN, "site-b": "token-b"}, **options)
        started.append(receiver)
        return receiver.start() if start else receiver

    yield factory
    for receiver in started:
        receiver.close()


def sync_settings(endpoint: str | None, **extra: Any) -> dict[str, Any]:
    """Return the ``sync`` settings of site-a with its roster, fast retries, small batches."""
    values: dict[str, Any] = {
        "site_id": SITE,
        "endpoint": endpoint,
        "token": TOKEN,
        "roster": list(ROSTER),
        "idle_s": 0.0,
        "timeout_s": 3.0,
        "backoff_min_s": 0.05,
        "backoff_max_s": 0.2,
    }
    values.update(extra)
    return values
