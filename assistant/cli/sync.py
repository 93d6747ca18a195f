"""The CLI's cloud-sync commands: ``sync status|collect|now|run`` and ``cloud serve|export|status``.

``sync now`` collects (idle conversations are summarised by the local model, new feedback is
queued, everything redacted) and drains the outbox once, ignoring the backoff; ``sync run``
does the same in a loop that respects it. ``cloud serve`` is the receiving end.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.cli.output import err, out
from assistant.errors import SyncError
from assistant.settings import Settings


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    moment = datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
    return f"{moment} ({_ago(time.time() - stamp)})"


def _ago(seconds: float) -> str:
    if seconds < 0:
        return f"in {_ago(-seconds).removesuffix(' ago')}"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"


def add_parsers(commands: Any) -> None:
    """Add the sync and cloud commands to the CLI's sub-parsers."""
    sync = commands.add_parser("sync", help="cloud sync: outbox status, send now, run the uplink")
    actions = sync.add_subparsers(dest="sync_command", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="backlog, bytes, oldest, last success and error")
    status.add_argument("--json", action="store_true")
    collect = actions.add_parser("collect", help="queue idle conversations and new feedback")
    collect.add_argument(
        "--close", action="append", default=[], metavar="ID", help="summarise this one now"
    )
    collect.add_argument("--json", action="store_true")
    now = actions.add_parser("now", help="collect, then send the backlog now")
    now.add_argument("--close", action="append", default=[], metavar="ID")
    now.add_argument("--no-collect", action="store_true", help="only send what is queued")
    now.add_argument("--json", action="store_true")
    run = actions.add_parser("run", help="collect and send in a loop (backoff, interval)")
    run.add_argument("--duration", type=float, help="stop after S seconds (default: never)")
    quarantine = actions.add_parser(
        "quarantine", help="every record the receiver refused for good, with the reason"
    )
    quarantine.add_argument("--json", action="store_true")
    requeue = actions.add_parser(
        "requeue", help="send quarantined records again (after the cause was fixed)"
    )
    which = requeue.add_mutually_exclusive_group(required=True)
    which.add_argument("keys", nargs="*", default=[], metavar="KEY", help="record keys")
    which.add_argument("--all", action="store_true", help="every quarantined record")

    cloud = commands.add_parser("cloud", help="the cloud end: receiver and training export")
    cloud_actions = cloud.add_subparsers(dest="cloud_command", metavar="ACTION", required=True)
    serve = cloud_actions.add_parser("serve", help="run the receiver (HTTP, and MQTT if set)")
    serve.add_argument("--host", help="listen address (default cloud.host)")
    serve.add_argument("--port", type=int, help="listen port (default cloud.port)")
    export = cloud_actions.add_parser(
        "export", help="write a training set: JSON lines, Parquet and a manifest"
    )
    export.add_argument("--format", required=True, choices=("sft", "dpo"))
    export.add_argument(
        "--since", metavar="CURSOR", help="only feedback stored after this cursor (the manifest's)"
    )
    export.add_argument("out", type=Path, metavar="OUT.jsonl")
    cloud_status = cloud_actions.add_parser(
        "status", help="records held per site and kind; answer quality per site, model and day"
    )
    cloud_status.add_argument("--json", action="store_true")


def _print_status(status: dict[str, Any]) -> None:
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(status["by_kind"].items())) or "empty"
    mode = "offline (no uplink)" if status["offline"] else "online"
    out(f"uplink:       {mode}")
    out(f"backlog:      {status['backlog']} records ({kinds}), {status['bytes']:,} bytes")
    out(f"oldest:       {_when(status['oldest_at'])}")
    out(f"last success: {_when(status['last_success_at'])}")
    error = status["last_error"]
    out(f"last error:   {error + ' at ' + _when(status['last_error_at']) if error else 'none'}")
    if status["next_attempt_at"] is not None:
        out(f"next attempt: {_when(status['next_attempt_at'])} ({status['failures']} failures)")
    out(
        f"sent:         {status['sent']}; dropped by retention: {status['dropped']}; "
        f"refused by retention: {status['rejected']}"
    )
    redacted = ", ".join(f"{n} {k}" for k, n in sorted(status["redacted"].items()) if n)
    out(f"redacted:     {redacted or 'nothing'}")
    _print_quarantine(status)


def _print_quarantine(status: dict[str, Any]) -> None:
    reasons = ", ".join(f"{n} {r}" for r, n in sorted(status["quarantine_reasons"].items()))
    out(f"quarantined:  {status['quarantined']} records{' (' + reasons + ')' if reasons else ''}")
    for entry in status["quarantine_recent"]:
        out(
            f"  {entry['key']}: {entry['status']} {entry['reason']} at "
            f"{_when(entry['quarantined_at'])}: {entry['detail']}"
        )


def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    """Run a ``sync`` action."""
    from assistant.services import build_services

    with build_services(settings) as services:
        sync = services.sync
        action = args.sync_command
        if action == "status":
            status = {**sync.status().as_dict(), "roster_names": sync.redactor.roster_size}
            if args.json:
                out(json.dumps(status))
            else:
                _print_status(status)
                if not status["roster_names"]:
                    from assistant.sync.redact import EMPTY_ROSTER_WARNING

                    out(f"warning:      {EMPTY_ROSTER_WARNING}")
            return 0
        if action == "collect":
            collected = sync.collect(close=args.close)
            if args.json:
                out(json.dumps(collected.as_dict()))
            else:
                out(
                    f"queued {collected.summaries} summaries and {collected.feedback} feedback "
                    f"records; backlog {sync.status().backlog}"
                )
            return 0
        if action == "now":
            return _sync_now(services.sync, args)
        if action == "quarantine":
            held = sync.outbox.quarantined()
            if args.json:
                out(json.dumps(held))
            for entry in [] if args.json else held:
                out(
                    f"{entry['key']} ({entry['kind']}): {entry['status']} {entry['reason']} at "
                    f"{_when(entry['quarantined_at'])}: {entry['detail']}"
                )
            if not held and not args.json:
                out("the quarantine is empty")
            return 0
        if action == "requeue":
            if not args.all and not args.keys:
                raise SyncError("name the record keys to requeue, or --all")
            moved = sync.outbox.requeue(None if args.all else args.keys)
            out(f"requeued {len(moved)} records; they go with the next send")
            return 0
        return _sync_run(services.sync, args)


def _sync_now(sync: Any, args: argparse.Namespace) -> int:
    collected = None
    if not args.no_collect:
        collected = sync.collect(close=args.close)
        err(f"queued {collected.summaries} summaries, {collected.feedback} feedback records")
    result = sync.send(on_batch=lambda batch: err(f"sending {len(batch)} records"))
    if args.json:
        out(
            json.dumps(
                {
                    "collected": collected.as_dict() if collected else None,
                    "sent": result.as_dict(),
                }
            )
        )
    else:
        quarantined = f"; {result.quarantined} refused, quarantined" if result.quarantined else ""
        out(
            f"sent {result.sent} records ({result.duplicates} already received) in "
            f"{result.batches} batches, {result.wire_bytes:,} bytes{quarantined}; "
            f"backlog {result.backlog}"
        )
    if result.error is not None:
        raise SyncError(f"{result.error}; {result.backlog} records stay queued")
    return 0


def _sync_run(sync: Any, args: argparse.Namespace) -> int:
    stop = threading.Event()
    if args.duration is not None:
        timer = threading.Timer(args.duration, stop.set)
        timer.daemon = True
        timer.start()

    def report(collected: Any, drained: Any) -> None:
        sent = f", sent {drained.sent}" if drained is not None else ""
        error = f", error: {drained.error}" if drained is not None and drained.error else ""
        err(
            f"queued {collected.summaries + collected.feedback}{sent}{error}; "
            f"backlog {sync.status().backlog}"
        )

    try:
        sync.run(stop, on_cycle=report)
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_cloud(settings: Settings, args: argparse.Namespace) -> int:
    """Run a ``cloud`` action."""
    from assistant.cloud.receiver import cloud_dir
    from assistant.cloud.store import open_store
    from assistant.services import prepare_data_dir

    directory = prepare_data_dir(cloud_dir(settings.cloud, settings.data_dir))
    store = open_store(settings.cloud, directory)
    try:
        if args.cloud_command == "serve":
            return _serve(settings, store, args)
        if args.cloud_command == "export":
            from assistant.cloud.export import export_training_set

            done = export_training_set(store, args.format, args.out, since=args.since)
            files = done["files"]
            out(
                f"wrote {done['rows']} {args.format.upper()} examples from "
                f"{done['feedback_records']} feedback records to {files['jsonl']} and "
                f"{files['parquet']}; next time: --since {done['cursor']}"
            )
            return 0
        return _cloud_status(store, args)
    finally:
        store.close()


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _cloud_status(store: Any, args: argparse.Namespace) -> int:
    from assistant.cloud.quality import quality_table

    counts = store.counts()
    table = quality_table([*store.records("summary"), *store.records("feedback")])
    if args.json:
        out(json.dumps({"store": store.where, "sites": counts, "quality": table}))
        return 0
    out(f"store: {store.where}")
    for site, kinds in sorted(counts.items()):
        out(f"{site}: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    if not counts:
        out("no records received yet")
    if table:
        out("quality per site, model and day (answers, not covered, withheld; rated, "
            "helpful, corrected):")  # fmt: skip
        for row in table:
            out(
                f"  {row['site']} {row['model_sha256'][:12]} {row['day'] or '?'}: "
                f"{row['answers']} answers, {_rate(row['not_covered_rate'])} not covered, "
                f"{_rate(row['withheld_rate'])} sentences withheld; {row['rated']} rated, "
                f"{_rate(row['helpful_rate'])} helpful, {_rate(row['correction_rate'])} corrected"
            )
    return 0


def _serve(settings: Settings, store: Any, args: argparse.Namespace) -> int:
    import uvicorn

    from assistant.cloud.receiver import Receiver, create_app

    cloud = settings.cloud
    if not cloud.tokens:
        raise SyncError("no site tokens configured: set cloud.tokens = {site = 'token'}")
    receiver = Receiver(cloud, store)
    subscriber = None
    if cloud.mqtt.host is not None:
        from connectors.mqtt.cloud import MqttRecordSubscriber

        subscriber = MqttRecordSubscriber(
            cloud.mqtt, f"{cloud.mqtt_topic}/+", receiver.on_mqtt, group=cloud.mqtt_shared_group
        )
        subscriber.start()
        receiver.mqtt_subscribed = subscriber.subscribed
    host = args.host or cloud.host
    port = args.port if args.port is not None else cloud.port
    err(f"cloud receiver on {host}:{port}, storing in {store.where}")
    try:
        uvicorn.run(
            create_app(receiver),
            host=host,
            port=port,
            log_level="warning",
            ssl_certfile=str(cloud.ssl_certfile) if cloud.ssl_certfile else None,
            ssl_keyfile=str(cloud.ssl_keyfile) if cloud.ssl_keyfile else None,
        )
    finally:
        if subscriber is not None:
            subscriber.stop()
    return 0
