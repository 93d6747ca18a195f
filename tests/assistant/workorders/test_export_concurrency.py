"""Exports under concurrency and after a crash, against a real Mosquitto and real files.

Threads of one process and separate processes export at the same moment: an order is
published once and lands in the CMMS CSV once, however many exports race for it, and different
orders all land in the CSV. A process that dies between the file write and the status change
leaves the order approved; the rerun finishes it without a second CSV row or MQTT message.
"""

from __future__ import annotations

import csv
import fcntl
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.errors import WorkOrderError
from assistant.services import Services, build_services
from assistant.settings import load_settings
from assistant.workorders.export import CSV_NAME, ExportResult
from assistant.workorders.model import validate
from tests.assistant.workorders.export_worker import CRASH_CODE
from tests.brokers import Mosquitto, collect_messages
from tests.conftest import PROJECT_ROOT

TOPIC = "riverbend/workorders"
QUIET_S = 1.5
"""How long to listen after the last expected message for a duplicate to arrive."""


def approved_order(services: Services, n: int) -> str:
    """Store a draft (created by ann), have carol approve it; return its id."""
    order = validate(
        {
            "id": f"WO-20261202-{n:04d}",
            "asset": "ST-101",
            "title": f"Clean strainer ST-101 basket (job {n})",
            "problem": "Differential pressure across ST-101 is above its hi limit.",
            "suspected_cause": "Debris collected in the strainer basket.",
            "priority": "medium",
            "priority_reason": "HI alarm on differential pressure.",
            "steps": ["Start the standby pump", "Isolate ST-101", "Clean the basket"],
            "created_by": "ann",
            "created_at": f"2026-12-02T05:{n % 60:02d}:00+00:00",
        }
    )
    services.workorders.create(order)
    services.workorders.approve(order.id, "carol")
    return order.id


class Listener:
    """A real MQTT subscriber on the work-order topic, collecting the ids it receives."""

    def __init__(self, port: int) -> None:
        self.client, self.payloads, _ = collect_messages(port, TOPIC)

    def ids(self) -> list[str]:
        """Return the work-order id of every message received so far, in arrival order."""
        return [json.loads(p)["id"] for p in list(self.payloads)]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[str]:
        """Wait until count messages arrived, then QUIET_S more for any duplicate."""
        deadline = time.monotonic() + timeout
        while len(self.payloads) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(QUIET_S)
        return self.ids()

    def close(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def values(tmp_path: Path, mosquitto: Mosquitto) -> dict[str, Any]:
    """Return settings of a fresh data dir exporting to the test's Mosquitto."""
    return {
        "data_dir": str(tmp_path / "data"),
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port},
        "workorders": {"mqtt_topic": TOPIC, "publish_timeout_s": 20},
    }


@pytest.fixture
def services(values: dict[str, Any]) -> Iterator[Services]:
    """Return services over the data dir (no model is loaded: exporting needs none)."""
    built = build_services(load_settings(None, values))
    yield built
    built.close()


@pytest.fixture
def listener(mosquitto: Mosquitto) -> Iterator[Listener]:
    """Return a subscriber to the work-order topic."""
    listening = Listener(mosquitto.port)
    yield listening
    listening.close()


def csv_ids(folder: Path) -> list[str]:
    """Return the work-order ids of the CMMS CSV's rows, in file order."""
    with (folder / CSV_NAME).open(encoding="utf-8", newline="") as handle:
        return [row["id"] for row in csv.DictReader(handle)]


def race(calls: list[Any]) -> list[ExportResult | WorkOrderError]:
    """Run the calls in threads released at the same moment; return each outcome."""
    start = threading.Barrier(len(calls))
    outcomes: list[ExportResult | WorkOrderError | None] = [None] * len(calls)

    def run(n: int) -> None:
        start.wait()
        try:
            outcomes[n] = calls[n]()
        except WorkOrderError as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(o is not None for o in outcomes), "an export thread did not finish"
    return [o for o in outcomes if o is not None]


def test_threads_racing_for_one_order_publish_it_once(
    services: Services, listener: Listener
) -> None:
    order_id = approved_order(services, 1)
    export = services.exporter.export
    outcomes = race([lambda: export(order_id, mqtt=True, by="carol") for _ in range(8)])

    done = [o for o in outcomes if isinstance(o, ExportResult)]
    refused = [str(o) for o in outcomes if isinstance(o, WorkOrderError)]
    assert len(done) == 1 and len(refused) == 7
    assert all("being exported right now" in r or "already exported" in r for r in refused)
    assert listener.wait_for(1) == [order_id]
    assert csv_ids(done[0].csv_path.parent) == [order_id]
    assert services.workorders.get(order_id).status == "exported"
    assert [e.field for e in services.workorders.edits(order_id)] == ["status", "status"]


def test_threads_exporting_different_orders_all_land_in_the_csv(
    services: Services, listener: Listener
) -> None:
    ids = [approved_order(services, n) for n in range(10, 18)]
    export = services.exporter.export
    outcomes = race([lambda i=i: export(i, mqtt=True, by="carol") for i in ids])

    assert all(isinstance(o, ExportResult) for o in outcomes), outcomes
    folder = services.exporter.folder
    assert sorted(csv_ids(folder)) == ids
    assert sorted(listener.wait_for(len(ids))) == ids
    assert (folder / f"{CSV_NAME}.lock").is_file()  # the lock file beside the CSV
    assert not list(folder.glob(".*"))  # no temp files left


def test_an_export_waits_for_the_csv_lock(services: Services) -> None:
    order_id = approved_order(services, 2)
    folder = services.exporter.folder
    folder.mkdir(parents=True)
    with (folder / f"{CSV_NAME}.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as another process's export holds it
        outcome: list[ExportResult] = []
        worker = threading.Thread(target=lambda: outcome.append(services.exporter.export(order_id)))
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive() and not (folder / CSV_NAME).exists()
        fcntl.flock(held, fcntl.LOCK_UN)
        worker.join(30)
    assert outcome and outcome[0].order.status == "exported"
    assert csv_ids(folder) == [order_id]


def _worker(
    values: dict[str, Any], name: str, ids: list[str], crash: str | None = None
) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "tests.assistant.workorders.export_worker",
        json.dumps(values),
        name,
        *ids,
    ]
    if crash is not None:
        command += ["--crash-before", crash]
    return subprocess.Popen(
        command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _go(data_dir: Path, workers: list[subprocess.Popen[str]], names: list[str]) -> None:
    """Wait until every worker is ready, then release them all at once."""
    deadline = time.monotonic() + 120
    while not all((data_dir / f"ready-{n}").exists() for n in names):
        for worker in workers:
            assert worker.poll() is None, worker.communicate()[1]
        assert time.monotonic() < deadline, "the export workers never got ready"
        time.sleep(0.05)
    (data_dir / "go").touch()


def _outcomes(worker: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_two_processes_export_at_once(
    values: dict[str, Any], services: Services, listener: Listener
) -> None:
    shared = approved_order(services, 3)
    own = {
        name: [approved_order(services, n + k) for k in range(4)]
        for name, n in (("a", 20), ("b", 30))
    }
    names = list(own)
    workers = [_worker(values, name, [shared, *own[name]]) for name in names]
    _go(Path(values["data_dir"]), workers, names)
    results = [_outcomes(w) for w in workers]

    on_shared = [r for result in results for r in result if r["id"] == shared]
    assert sorted("ok" in r for r in on_shared) == [False, True], on_shared
    refused = next(r["error"] for r in on_shared if "error" in r)
    assert "being exported right now" in refused or "already exported" in refused
    mine = [r for result in results for r in result if r["id"] != shared]
    assert all(r.get("ok") for r in mine), mine
    everything = sorted([shared, *own["a"], *own["b"]])
    assert sorted(csv_ids(services.exporter.folder)) == everything
    assert sorted(listener.wait_for(len(everything))) == everything
    assert {o.id: o.status for o in services.workorders.list()} == dict.fromkeys(
        everything, "exported"
    )


@pytest.mark.parametrize("crash", ["publish", "status"])
def test_a_crash_between_the_file_and_the_status_then_a_rerun(
    values: dict[str, Any], services: Services, listener: Listener, crash: str
) -> None:
    order_id = approved_order(services, 4)
    worker = _worker(values, "crashing", [order_id], crash=crash)
    _go(Path(values["data_dir"]), [worker], ["crashing"])
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == CRASH_CODE, err

    folder = services.exporter.folder
    assert services.workorders.get(order_id).status == "approved"
    assert services.workorders.export_record(order_id) is None
    assert (folder / f"{order_id}.json").is_file() and csv_ids(folder) == [order_id]
    expected_before = [] if crash == "publish" else [order_id]
    assert listener.wait_for(len(expected_before), timeout=5) == expected_before

    result = services.exporter.export(order_id, mqtt=True, by="carol")
    assert result.resumed and result.order.status == "exported"
    assert result.mqtt_topic == TOPIC
    assert csv_ids(folder) == [order_id]
    assert listener.wait_for(1) == [order_id]
    record = services.workorders.export_record(order_id)
    assert record is not None and record["mqtt_topic"] == TOPIC
    with pytest.raises(WorkOrderError, match="never exported twice"):
        services.exporter.export(order_id, mqtt=True, by="carol")
