"""The CLI's work-order commands: draft, and workorders list|show|edit|approve|reject|export.

Status changes happen only here, from an operator's command with the operator's name.
``--by`` is free text; the audit trail records beside it that it came from this machine's
command line, as ``cli:<os user>`` (the shell account vouches, and has every role: it can write
the journal file anyway). The self-approval rule compares the ``--by`` names.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from assistant.cli.output import out
from assistant.schema.workorders import WorkOrderOut
from assistant.services import build_services
from assistant.settings import Settings
from assistant.workorders.actor import Actor, local_actor
from assistant.workorders.model import EDITABLE, STATUSES, WorkOrder
from assistant.workorders.render import render


def add_parsers(commands: Any) -> None:
    """Add the work-order commands to the CLI's sub-parsers."""
    draft = commands.add_parser("draft", help="draft a maintenance work order for an asset")
    draft.add_argument(
        "--asset", help="asset id from the plant file (optional with --conversation)"
    )
    draft.add_argument("--alarm", metavar="EVENT_ID", help="alarm event id from the history")
    draft.add_argument("--question", help="what the work order is about")
    draft.add_argument(
        "--conversation",
        metavar="ID",
        help="draft from a conversation: its questions and cited sources (see 'ask')",
    )
    draft.add_argument("--by", required=True, help="your name (recorded as the creator)")
    draft.add_argument("--json", action="store_true")
    draft.add_argument(
        "--listen",
        type=float,
        default=3.0,
        metavar="S",
        help="with a broker configured: seconds of live data to collect first (3)",
    )

    orders = commands.add_parser("workorders", help="review, approve and export work orders")
    actions = orders.add_subparsers(dest="wo_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list work orders")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="show one work order")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    edit = actions.add_parser("edit", help="change a field of a draft")
    edit.add_argument("id")
    edit.add_argument("--field", required=True, choices=sorted(EDITABLE))
    edit.add_argument("--value", required=True, help="lists: items separated by ';'")
    edit.add_argument("--by", required=True)
    approve = actions.add_parser("approve", help="approve a draft")
    approve.add_argument("id")
    approve.add_argument("--by", required=True)
    reject = actions.add_parser("reject", help="reject a draft")
    reject.add_argument("id")
    reject.add_argument("--by", required=True)
    reject.add_argument("--reason", required=True)
    export = actions.add_parser("export", help="export an approved work order")
    export.add_argument("id")
    export.add_argument("--mqtt", action="store_true", help="also publish to workorders.mqtt_topic")
    export.add_argument("--by", required=True, help="your name (recorded with the export)")


def order_json(order: WorkOrder) -> dict[str, Any]:
    """Return a work order as ``workorders show --json`` and ``draft --json`` print it."""
    return WorkOrderOut.from_domain(order).model_dump(mode="json")


def cli_actor(by: str) -> Actor:
    """Return the actor of a command: the ``--by`` name, vouched for as ``cli:<os user>``."""
    return local_actor(by, via="cli")


def _show(order: WorkOrder, as_json: bool) -> None:
    out(json.dumps(order_json(order), indent=2, ensure_ascii=False) if as_json else render(order))


def cmd_draft(settings: Settings, args: argparse.Namespace) -> int:
    """Draft a work order and store it as a draft."""
    with build_services(settings) as services:
        services.require_plant()
        if settings.mqtt.host is not None and args.listen > 0:
            services.start_telemetry(client_id_suffix=f"-draft-{os.getpid()}", transient=True)
            time.sleep(args.listen)
        order = services.drafter.draft(
            args.asset,
            alarm_id=args.alarm,
            question=args.question,
            conversation_id=args.conversation,
            created_by=cli_actor(args.by),
        )
        _show(order, args.json)
        return 0


def cmd_workorders(settings: Settings, args: argparse.Namespace) -> int:
    """Review, change the status of and export work orders."""
    with build_services(settings) as services:
        store = services.workorders
        action = args.wo_command
        if action == "list":
            orders = store.list(args.status)
            if args.json:
                out(json.dumps([order_json(o) for o in orders]))
            else:
                for o in orders:
                    out(f"{o.id}  {o.status:<9} {o.priority:<9} {o.asset:<8} {o.title}")
        elif action == "show":
            _show(store.get(args.id), args.json)
        elif action == "edit":
            order = store.edit(args.id, args.field, args.value, cli_actor(args.by))
            out(f"{order.id}: {args.field} changed by {order.edited_by}")
        elif action == "approve":
            order = store.approve(args.id, cli_actor(args.by))
            out(f"{order.id}: approved by {order.approved_by}")
        elif action == "reject":
            order = store.reject(args.id, cli_actor(args.by), args.reason)
            out(f"{order.id}: rejected by {order.rejected_by}")
        elif action == "export":
            result = services.exporter.export(args.id, mqtt=args.mqtt, by=cli_actor(args.by))
            out(f"{result.order.id}: exported to {result.json_path} and {result.csv_path}")
            if result.mqtt_topic:
                out(f"{result.order.id}: published to {result.mqtt_topic} (acknowledged)")
        return 0
