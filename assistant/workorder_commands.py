"""The CLI's work-order commands: draft, and workorders list|show|edit|approve|reject|export.

Status changes happen only here, from an operator's command with the operator's name.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from assistant.actions.model import EDITABLE, STATUSES, WorkOrder, duration_text
from assistant.actions.store import to_json
from assistant.services import Services, build_services
from assistant.settings import Settings


def _out(line: str) -> None:
    print(line, flush=True)


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


def render(order: WorkOrder) -> str:
    """Return a work order as text for a person."""
    lines = [
        f"{order.id}  [{order.status}]  {order.asset}  priority {order.priority}",
        f"Title: {order.title}",
        f"Problem: {order.problem}",
        f"Suspected cause: {order.suspected_cause}",
        f"Priority reason: {order.priority_reason}",
    ]
    safety = order.safety
    if safety.energy_isolation_required:
        lines.append(
            "Energy isolation REQUIRED at: "
            + (", ".join(safety.isolation_points) or "(see permit)")
        )
    if safety.permits:
        lines.append("Permits: " + "; ".join(safety.permits))
    lines.append("Steps:")
    lines += [f"  {n}. {step}" for n, step in enumerate(order.steps, 1)]
    lines.append("Parts: " + ("; ".join(order.parts) or "-"))
    lines.append("Tools: " + ("; ".join(order.tools) or "-"))
    lines.append(f"Estimated duration: {duration_text(order.estimated_duration_h)}")
    lines.append("Evidence:")
    lines += [
        f"  [T] {t.text or f'{t.tag} {t.value} {t.unit} {t.state}'}"
        for t in order.evidence.telemetry
    ]
    lines += [
        f"  [D] {d.source}, {d.section}" + (f", page {d.page}" if d.page else "")
        for d in order.evidence.documents
    ]
    if order.conversation_id:
        lines.append(f"From conversation {order.conversation_id}")
    lines.append(f"Created by {order.created_by} at {order.created_at}")
    if order.approved_by:
        lines.append(f"Approved by {order.approved_by} at {order.approved_at}")
    if order.rejected_by:
        lines.append(
            f"Rejected by {order.rejected_by} at {order.rejected_at}: {order.rejection_reason}"
        )
    if order.exported_at:
        lines.append(f"Exported at {order.exported_at}")
    for edit in order.history:
        lines.append(f"  edit {edit.at} {edit.by}: {edit.field}: {edit.old!r} -> {edit.new!r}")
    return "\n".join(lines)


def _show(order: WorkOrder, as_json: bool) -> None:
    _out(to_json(order) if as_json else render(order))


def cmd_draft(settings: Settings, args: argparse.Namespace) -> int:
    """Draft a work order and store it as a draft."""
    services = build_services(settings)
    try:
        services.require_plant()
        if settings.mqtt.host is not None and args.listen > 0:
            services.start_telemetry(client_id_suffix=f"-draft-{os.getpid()}", transient=True)
            time.sleep(args.listen)
        order = services.drafter.draft(
            args.asset,
            alarm_id=args.alarm,
            question=args.question,
            conversation_id=args.conversation,
            created_by=args.by,
        )
        _show(order, args.json)
        return 0
    finally:
        services.close()


def cmd_workorders(settings: Settings, args: argparse.Namespace) -> int:
    """Review, change the status of and export work orders."""
    services: Services = build_services(settings)
    try:
        store = services.workorders
        action = args.wo_command
        if action == "list":
            orders = store.list(args.status)
            if args.json:
                _out(json.dumps([o.model_dump(mode="json") for o in orders]))
            else:
                for o in orders:
                    _out(f"{o.id}  {o.status:<9} {o.priority:<9} {o.asset:<8} {o.title}")
        elif action == "show":
            _show(store.get(args.id), args.json)
        elif action == "edit":
            order = store.edit(args.id, args.field, args.value, args.by)
            _out(f"{order.id}: {args.field} changed by {order.edited_by}")
        elif action == "approve":
            order = store.approve(args.id, args.by)
            _out(f"{order.id}: approved by {order.approved_by}")
        elif action == "reject":
            order = store.reject(args.id, args.by, args.reason)
            _out(f"{order.id}: rejected by {order.rejected_by}")
        elif action == "export":
            result = services.exporter.export(args.id, mqtt=args.mqtt, by=args.by)
            _out(f"{result.order.id}: exported to {result.json_path} and {result.csv_path}")
            if result.mqtt_topic:
                _out(f"{result.order.id}: published to {result.mqtt_topic} (acknowledged)")
        return 0
    finally:
        services.close()
