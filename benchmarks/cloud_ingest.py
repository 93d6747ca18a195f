"""Cloud ingest rate: real ``shiftmate cloud serve`` receivers on SQLite and on PostgreSQL.

    .venv/bin/python -m benchmarks.cloud_ingest [--records 3000] [--batch 100] [--senders 4]
        [--rounds 3]

1. Prepares the batches once: ``--records`` realistic feedback records (the conversations of
   ``benchmarks.sync_drain``, collected and redacted through a real journal and outbox, then
   replicated under new keys), cut into batches of ``--batch`` and encoded and gzipped exactly
   as the HTTPS uplink sends them (:func:`assistant.schema.sync.encode_batch`). Batch ``i``
   belongs to sender ``i % --senders``; each sender is its own site with its own token.
2. For each configuration, in the same run and with the same batches: a fresh store, real
   receivers on free loopback ports (plain HTTP: no TLS on either side), and ``--senders``
   threads that POST their batches one after another, each with its own ``httpx.Client``:

   - ``SQLite x1``: one receiver, the embedded default store;
   - ``PostgreSQL x1``: one receiver against a real PostgreSQL server (``initdb`` into a temp
     dir, as the tests start it, ``fsync=off``);
   - ``PostgreSQL x2``: two receivers against one database, senders split round-robin.

   Each receiver first gets one untimed one-record batch of a site of its own (the warm-up).
   The rate is records stored per second of wall time, from the first POST to the last answer;
   the configurations run ``--rounds`` times, interleaved, and each reports its median round.
   Afterwards the store must hold every record exactly once and one receipt per record sent
   (no batch was delivered twice), and the receivers' answers must add up to the same.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from assistant.cloud.postgres import PostgresStore
from assistant.cloud.store import CloudStore, RecordStore
from assistant.errors import SyncError
from assistant.schema.sync import compress, encode_batch
from assistant.sync.outbox import Queued
from benchmarks.common import print_table, temp_services
from benchmarks.sync_drain import NAMES, _seed
from tests.cloud.postgres import PostgresServer
from tests.cloud.receiver import CloudReceiver

CONFIGS: tuple[tuple[str, str, int], ...] = (
    ("SQLite x1", "sqlite", 1),
    ("PostgreSQL x1", "postgres", 1),
    ("PostgreSQL x2", "postgres", 2),
)
"""(name, store, receivers) of each configuration, in the order they run."""


class IngestError(SyncError):
    """A configuration did not store every record exactly once, or a POST failed."""


@dataclass(frozen=True, slots=True)
class Batches:
    """The prepared batches: per sender, its site, its token and its gzipped bodies."""

    sites: list[tuple[str, str]]
    bodies: list[list[bytes]]
    per_site: list[int]
    records: int
    json_bytes: int
    wire_bytes: int


@dataclass(frozen=True, slots=True)
class Measured:
    """One configuration's run: records stored, wall seconds, and batches per receiver."""

    name: str
    records: int
    seconds: float
    per_receiver: list[int]

    @property
    def rate(self) -> float:
        """Return records stored per second."""
        return self.records / self.seconds


def site_records(conversations: int) -> list[Queued]:
    """Return the redacted feedback records a real site queues for ``conversations``."""
    sync = {"site_id": "bench-site", "token": "bench-token-0123456789", "roster": list(NAMES),
            "idle_s": 1e9}  # fmt: skip
    services = temp_services(sync=sync)
    try:
        _seed(services, conversations)
        services.sync.collect()
        queued = services.outbox.batch(10**6, 10**12)
    finally:
        services.close()
        shutil.rmtree(services.settings.data_dir, ignore_errors=True)
    if not queued:
        raise IngestError("the seeded site queued no records")
    return queued


def prepare(records: int, batch: int, senders: int, *, conversations: int = 10) -> Batches:
    """Return ``records`` records in batches of ``batch``, dealt round-robin to ``senders``."""
    if records < 1 or batch < 1 or senders < 1:
        raise IngestError("--records, --batch and --senders must be at least 1")
    base = site_records(conversations)
    replicated = []
    for n in range(records):  # copy n of a record gets the key "<its key>#<n // len(base)>"
        q = base[n % len(base)]
        replicated.append(
            Queued(0, f"{q.key}#{n // len(base)}", q.kind, q.body, q.size, q.created_at, 0)
        )
    sites = [(f"site-{s}", f"token-site-{s}-0123456789") for s in range(senders)]
    bodies: list[list[bytes]] = [[] for _ in range(senders)]
    per_site = [0] * senders
    json_bytes = wire_bytes = 0
    for i, start in enumerate(range(0, records, batch)):
        site, token = sites[i % senders]
        chunk = replicated[start : start + batch]
        data = encode_batch(site, token, chunk)
        body = compress(data)
        per_site[i % senders] += len(chunk)
        json_bytes += len(data)
        wire_bytes += len(body)
        bodies[i % senders].append(body)
    return Batches(sites, bodies, per_site, records, json_bytes, wire_bytes)


def _send(url: str, token: str, bodies: list[bytes], acked: list[int], errors: list[str]) -> None:
    """POST one sender's batches in order; add the records acknowledged to ``acked``."""
    headers = {"Authorization": f"Bearer {token}", "Content-Encoding": "gzip",
               "Content-Type": "application/json"}  # fmt: skip
    with httpx.Client(trust_env=False, headers=headers, timeout=120.0) as client:
        for body in bodies:
            try:
                response = client.post(f"{url}/v1/records", content=body)
            except httpx.HTTPError as exc:
                errors.append(f"POST to {url} failed: {exc}")
                return
            if response.status_code != 200:
                errors.append(f"{url} answered {response.status_code}: {response.text[:300]}")
                return
            answer = json.loads(response.content)
            if answer["duplicates"] != 0:
                errors.append(f"{url} counted {answer['duplicates']} duplicates in a new batch")
                return
            acked.append(int(answer["accepted"]))


WARMUP_SITE = ("warmup", "token-warmup-0123456789")
"""A site outside the measured ones: one batch of it per receiver before the clock starts."""


def warm_up(receivers: Sequence[CloudReceiver]) -> None:
    """POST one untimed one-record batch of WARMUP_SITE to each receiver (first-request costs)."""
    site, token = WARMUP_SITE
    for n, receiver in enumerate(receivers):
        record = Queued(0, f"warmup:{n}", "feedback", '{"warmup":true}', 15, 0.0, 0)
        acked: list[int] = []
        errors: list[str] = []
        _send(receiver.url, token, [compress(encode_batch(site, token, [record]))], acked, errors)
        if errors or acked != [1]:
            raise IngestError(f"warm-up of {receiver.url} failed: {errors or acked}")


def ingest(name: str, receivers: Sequence[CloudReceiver], batches: Batches) -> Measured:
    """POST every batch, sender ``s`` to receiver ``s % len(receivers)``; time it."""
    warm_up(receivers)
    acked: list[int] = []
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=_send,
            args=(receivers[s % len(receivers)].url, token, batches.bodies[s], acked, errors),
            name=f"sender-{s}",
        )
        for s, (_, token) in enumerate(batches.sites)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise IngestError(f"{name}: {errors[0]}")
    if sum(acked) != batches.records:
        raise IngestError(f"{name}: receivers acknowledged {sum(acked)} of {batches.records}")
    per_receiver = [int(r.health()["batches"]) - 1 for r in receivers]  # less the warm-up
    return Measured(name, batches.records, seconds, per_receiver)


def check_once(name: str, store: RecordStore, batches: Batches) -> None:
    """Raise IngestError unless the store holds every record sent, once, with one receipt."""
    counts = store.counts()
    measured = {site for site, _ in batches.sites}
    others = set(counts) - measured - {WARMUP_SITE[0]}
    if others:
        raise IngestError(f"{name}: the store holds records of unknown sites {sorted(others)}")
    for (site, _), sent in zip(batches.sites, batches.per_site, strict=True):
        held = counts.get(site, {})
        stored = sum(n for kind, n in held.items() if kind != "receipts")
        if (stored, held.get("receipts", 0)) != (sent, sent):
            raise IngestError(
                f"{name}: site {site} sent {sent} records; the store holds {stored} "
                f"with {held.get('receipts', 0)} receipts (expected each once)"
            )


def run_config(
    name: str, kind: str, count: int, batches: Batches, directory: Path, database_url: str | None
) -> Measured:
    """Start ``count`` receivers on a fresh store, ingest every batch, check it, stop them."""
    tokens = dict([*batches.sites, WARMUP_SITE])
    options: dict[str, Any] = {} if database_url is None else {"database_url": database_url}
    receivers: list[CloudReceiver] = []
    try:
        for r in range(count):
            receiver = CloudReceiver(directory / f"receiver-{r}", tokens, keep_raw=False,
                                     **options)  # fmt: skip
            receivers.append(receiver.start(timeout=120.0))
        measured = ingest(name, receivers, batches)
    finally:
        for receiver in receivers:
            receiver.close()
    store: RecordStore = (
        CloudStore(receivers[0].data_dir / "cloud")
        if database_url is None
        else PostgresStore(database_url, directory / "check")
    )
    try:
        check_once(name, store, batches)
    finally:
        store.close()
    return measured


def run_all(
    batches: Batches,
    root: Path,
    *,
    rounds: int = 3,
    configs: Sequence[tuple[str, str, int]] = CONFIGS,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Measured]:
    """Run every configuration ``rounds`` times, interleaved, each on fresh stores under
    ``root``; return each configuration's median round (by wall time)."""
    runs: dict[str, list[Measured]] = {name: [] for name, _, _ in configs}
    server = PostgresServer() if any(kind == "postgres" for _, kind, _ in configs) else None
    try:
        if server is not None:
            progress("starting PostgreSQL ...")
            server.start()
        for round_ in range(rounds):
            for n, (name, kind, count) in enumerate(configs):
                url = None
                if kind == "postgres":
                    assert server is not None
                    url = server.create_database(f"ingest_{round_}_{n}")
                progress(f"round {round_ + 1}/{rounds}, {name}: {batches.records} records ...")
                directory = root / f"{round_}-{n}-{kind}"
                runs[name].append(run_config(name, kind, count, batches, directory, url))
    finally:
        if server is not None:
            server.close()
    return [sorted(found, key=lambda m: m.seconds)[len(found) // 2] for found in runs.values()]


def table_rows(results: Sequence[Measured]) -> list[list[str]]:
    """Return the table's rows: rate, seconds, batches per receiver, ratio to the first."""
    base = results[0].rate
    return [
        [m.name, f"{m.records:,}", f"{m.seconds:.2f}", f"{m.rate:,.0f}",
         " / ".join(str(b) for b in m.per_receiver), f"{m.rate / base:.2f}x"]
        for m in results
    ]  # fmt: skip


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="median of this many runs")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="shiftmate-ingest-bench-"))
    try:
        print("preparing batches ...", file=sys.stderr)
        batches = prepare(args.records, args.batch, args.senders)
        results = run_all(
            batches, root, rounds=args.rounds, progress=lambda m: print(m, file=sys.stderr)
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print_table(
        f"Cloud ingest: {batches.records:,} feedback records in batches of {args.batch} "
        f"({batches.json_bytes / batches.records:,.0f} B JSON, "
        f"{batches.wire_bytes / batches.records:,.0f} B gzip per record), "
        f"{args.senders} senders over plain HTTP, median of {args.rounds} rounds, same run",
        ["store", "records", "seconds", "records/s", "batches per receiver", "vs SQLite x1"],
        table_rows(results),
    )
    print("\nevery configuration stored each record exactly once (one receipt each)")


if __name__ == "__main__":
    main()
