"""The HTTPS uplink against the real receiver: outages, 500s, timeouts, garbage, the cap."""

from __future__ import annotations

import threading
from collections import Counter

from assistant.services import Services
from assistant.sync.uploader import Uploader
from connectors.uplink import HttpsUplink
from tests.conftest import ServicesFactory
from tests.sync.conftest import ReceiverFactory, sync_settings
from tests.sync.faults import FaultProxy
from tests.sync.seed import seed

NO_SUMMARIES = 1e9  # idle_s: only feedback is collected (no model call)


def _site(make_services: ServicesFactory, endpoint: str, **extra: object) -> Services:
    settings = sync_settings(endpoint, idle_s=NO_SUMMARIES, **extra)
    return make_services("site", sync=settings)


def test_backlog_grows_while_the_receiver_is_down_and_drains_when_up(
    make_services: ServicesFactory, make_receiver: ReceiverFactory
) -> None:
    receiver = make_receiver(start=False)
    site = _site(make_services, receiver.url, batch_records=3)
    seed(site, 3, turns_each=2)
    assert site.sync.collect().feedback == 3
    failed = site.sync.send()
    assert failed.error is not None and "cannot reach cloud receiver" in failed.error
    assert failed.retry_in_s is not None and failed.retry_in_s > 0
    seed(site, 2, turns_each=2)
    site.sync.collect()
    status = site.sync.status()
    assert (status.backlog, status.failures, status.sent) == (5, 1, 0)
    assert status.last_error == failed.error
    assert status.next_attempt_at is not None

    receiver.start()
    drained = site.sync.send()
    assert (drained.error, drained.sent, drained.batches, drained.backlog) == (None, 5, 2, 0)
    keys = sorted(r.key for r in receiver.records())
    assert keys == sorted(f"site-a:feedback:{i}" for i in range(1, 6))
    status = site.sync.status()
    assert (status.backlog, status.failures, status.sent) == (0, 0, 5)
    assert status.last_success_at is not None


def test_500s_timeouts_and_garbage_leave_every_record_stored_once(
    make_services: ServicesFactory, make_receiver: ReceiverFactory
) -> None:
    receiver = make_receiver()
    faults = ["500", "500-after", "hang-after", "garbage-after", "short-ack"]
    with FaultProxy(receiver.url, hang_s=2.0) as proxy:
        site = _site(make_services, proxy.url, batch_records=2, timeout_s=1.0)
        seeded = seed(site, 5, turns_each=2)
        site.sync.collect()
        proxy.modes.extend(faults)
        errors = []
        for _ in faults:
            result = site.sync.send()
            assert result.sent == 0
            assert result.backlog == len(seeded.feedback)
            errors.append(result.error or "")
        assert "answered 500" in errors[0] and "answered 500" in errors[1]
        assert "timed out" in errors[2]
        assert "not a valid acknowledgement" in errors[3]
        assert "acknowledged 1 records of the 2 sent" in errors[4]
        assert site.sync.status().failures == len(faults)
        drained = site.sync.send()
        assert proxy.seen == [*faults, "pass", "pass", "pass"]
    assert (drained.error, drained.backlog) == (None, 0)
    # the first batch reached the receiver five times; it holds each record once
    assert drained.duplicates == 2
    receipts = Counter(receiver.receipts())
    stored = [r.key for r in receiver.records()]
    assert sorted(stored) == sorted(f"site-a:feedback:{i}" for i in seeded.feedback)
    assert len(stored) == len(set(stored))
    assert max(receipts.values()) == 5


class _Clock(threading.Event):
    """Time that passes only when waited on: records the uploader's pacing waits."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.now += timeout
        return False


def test_bandwidth_cap_paces_batches_to_the_average_rate(
    make_services: ServicesFactory, make_receiver: ReceiverFactory
) -> None:
    receiver = make_receiver()
    cap = 2000
    site = _site(make_services, receiver.url, batch_records=1, bandwidth_bytes_s=cap)
    seed(site, 4, turns_each=2)
    site.sync.collect()
    clock = _Clock()
    sizes: list[int] = []
    with HttpsUplink(site.settings.sync) as link:

        class Measuring:
            where = link.where

            def send(self, payload: bytes, count: int) -> tuple[object, int]:
                ack, sent = link.send(payload, count)
                sizes.append(sent)
                return ack, sent

            def close(self) -> None:
                link.close()

        uploader = Uploader(site.outbox, Measuring(), site.settings.sync, clock=clock)  # type: ignore[arg-type]
        result = uploader.drain(stop=clock)
    assert (result.sent, result.batches) == (4, 4)
    assert len(clock.waits) == 3
    # before each batch, the time since the start equals the bytes already sent / cap
    for n, wait in enumerate(clock.waits, start=1):
        assert abs(sum(clock.waits[:n]) - sum(sizes[:n]) / cap) < 1e-9
        assert wait > 0


def test_run_loop_waits_out_the_outage_and_drains(
    make_services: ServicesFactory, make_receiver: ReceiverFactory
) -> None:
    receiver = make_receiver(start=False)
    site = _site(make_services, receiver.url, interval_s=0.05)
    seeded = seed(site, 4, turns_each=2)
    stop = threading.Event()
    cycles: list[tuple[int, str | None]] = []
    failed = threading.Event()

    def on_cycle(collected: object, drained: object) -> None:
        error = getattr(drained, "error", None)
        cycles.append((site.outbox.status().backlog, error))
        if error is not None:
            failed.set()

    loop = threading.Thread(target=site.sync.run, args=(stop,), kwargs={"on_cycle": on_cycle})
    loop.start()
    try:
        assert failed.wait(60), "the loop never tried the receiver"
        assert site.outbox.status().backlog == len(seeded.feedback)
        receiver.start()
        deadline = threading.Event()
        for _ in range(600):
            if site.outbox.status().backlog == 0:
                break
            deadline.wait(0.1)
        assert site.outbox.status().backlog == 0, cycles[-5:]
    finally:
        stop.set()
        loop.join(30)
    assert not loop.is_alive()
    assert sorted(r.key for r in receiver.records()) == sorted(
        f"site-a:feedback:{i}" for i in seeded.feedback
    )


def test_background_sync_of_serve_and_tui_drains_and_stops(
    make_services: ServicesFactory, make_receiver: ReceiverFactory
) -> None:
    receiver = make_receiver()
    site = _site(make_services, receiver.url, interval_s=0.05)
    seeded = seed(site, 3, turns_each=1)
    halt = site.sync.start_background()
    try:
        waiter = threading.Event()
        for _ in range(600):
            if len(receiver.records()) == len(seeded.feedback):
                break
            waiter.wait(0.1)
    finally:
        halt()
    assert not [t for t in threading.enumerate() if t.name == "cloud-sync"]
    assert site.outbox.status().backlog == 0
    assert sorted(r.key for r in receiver.records()) == sorted(
        f"site-a:feedback:{i}" for i in seeded.feedback
    )
