"""The CLI's alarm commands: ``alarms list`` (the recorded events with their acknowledgements,
also plain ``alarms``) and ``alarms ack ID --by NAME`` (recorded in the journal)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from assistant.cli.output import err, out
from assistant.cli.telemetry import event_line
from assistant.errors import ConfigError
from assistant.schema.telemetry import AckOut, AlarmOut
from assistant.services import build_services
from assistant.settings import Settings
from assistant.telemetry.acks import AlarmAck


def ack_text(ack: AlarmAck) -> str:
    """Return an acknowledgement as a person reads it: who, when (UTC) and through what."""
    key = f", key {ack.key_name}" if ack.key_name else ""
    return f"acknowledged by {ack.by} at {ack.at} (via {ack.via}{key})"


def cmd_alarms(settings: Settings, args: argparse.Namespace) -> int:
    """List the recorded alarm events with their acknowledgements, or acknowledge one."""
    if args.alarms_command == "ack":
        return _acknowledge(settings, args)
    return _list(settings, args)


def _list(settings: Settings, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, not {args.limit}")
    with build_services(settings) as services:
        events = services.alarm_history.recent(
            args.limit * 4 if args.raised else args.limit, args.asset
        )
        if args.raised:
            events = [e for e in events if e.state == "raised"][: args.limit]
        acks = services.alarm_acks.for_events([e.id for e in events])
    for event in events:
        ack = acks.get(event.id)
        if args.json:
            out(json.dumps(AlarmOut.with_ack(event, ack).model_dump(mode="json")))
        else:
            line = f"{event.id}  {event_line(event)}"
            if ack is not None:
                line += f"  [ack by {ack.by} at {ack.at}]"
            elif event.state == "raised":
                line += "  [NEW]"
            out(line)
    if not events and not args.json:
        err("no alarm events recorded" + (f" for {args.asset}" if args.asset else ""))
    return 0


def _acknowledge(settings: Settings, args: argparse.Namespace) -> int:
    with build_services(settings) as services:
        result = services.alarm_acks.acknowledge(args.id, args.by, via="cli")
    ack = result.ack
    if args.json:
        out(json.dumps(AckOut.from_domain(ack).model_dump(mode="json")))
    else:
        out(f"{ack.event_id}: {ack_text(ack)}")
    if not result.created:
        err(f"{ack.event_id} was already acknowledged; the first acknowledgement stands")
    return 0


def _listing_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Add the listing options; on ``list`` they default to what ``alarms`` was given."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--asset", default=default(None), help="only this asset")
    parser.add_argument(
        "--raised",
        action="store_true",
        default=default(False),
        help="only raised events, not clears",
    )
    parser.add_argument("--limit", type=int, default=default(20), help="at most this many (20)")
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="one JSON object per event"
    )


def add_parsers(commands: Any) -> None:
    """Add the alarm commands to the CLI's sub-parsers."""
    alarms = commands.add_parser(
        "alarms",
        help="list recorded alarm events with their ids and acknowledgements, or acknowledge one",
    )
    _listing_options(alarms, defaults=True)
    actions = alarms.add_subparsers(dest="alarms_command", metavar="[list|ack]")
    listing = actions.add_parser(
        "list", help="the recorded events, newest first, with who acknowledged them (default)"
    )
    _listing_options(listing, defaults=False)
    ack = actions.add_parser("ack", help="acknowledge a raised alarm event (kept in the journal)")
    ack.add_argument("id", metavar="ID", help="the event id 'alarms list' shows")
    ack.add_argument("--by", required=True, help="your name (recorded with the acknowledgement)")
    ack.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print the record as JSON"
    )
