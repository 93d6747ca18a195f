"""Work orders in the SQLite journal (migrations 5 and 10): the only code that changes their status.

A work order's status changes only through :meth:`WorkOrderStore.approve`,
:meth:`~WorkOrderStore.reject` and :meth:`~WorkOrderStore.mark_exported`, each called from an
operator's command. Each reads and writes the row inside one ``BEGIN IMMEDIATE`` transaction,
so two operators cannot both approve, and an export is recorded together with its status.
Nothing a document or a payload says reaches these methods: drafting only calls ``create``.

Every change is recorded with the name given (``by``) and what vouched for it (the API key's
id and name, or ``cli:<os user>``; see :mod:`.actor`). The role comes from the key, never from
the name: approving, rejecting, exporting and editing a ``safety.*`` field need a supervisor,
and nobody approves a draft they created unless ``workorders.allow_self_approval`` is set.

An export first takes a claim on the work order (:meth:`~WorkOrderStore.claim_export`, in one
``BEGIN IMMEDIATE`` transaction): a second export of the same work order, in this process or
another, is refused while the claim is held. A claim whose process died (a crash between the
file write and the status change) is taken over by the next export, which keeps what the dead
one recorded as published, so the MQTT message is not sent again.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from builtins import list as List
from dataclasses import dataclass
from typing import Any

from assistant.clock import now_iso
from assistant.db import Database
from assistant.errors import WorkOrderError
from assistant.workorders.actor import Actor, NotPermitted, as_actor, same_person
from assistant.workorders.model import (
    EDITABLE,
    STATUSES,
    Edit,
    WorkOrder,
    parse_value,
    shown,
    validate,
)

SUPERVISOR = "supervisor"


@dataclass(frozen=True, slots=True)
class ExportClaim:
    """The right to export one work order now: its approved order and what is already done."""

    order: WorkOrder
    token: str
    published_topic: str | None
    """The topic an earlier, interrupted export of this work order was acknowledged on."""
    taken_over: bool
    """Whether the claim of an export whose process died was taken over."""


def _parsed(row: sqlite3.Row | None, order_id: str) -> WorkOrder:
    if row is None:
        raise WorkOrderError(f"no work order '{order_id}'")
    return WorkOrder.model_validate_json(row["body"])


def _not_exportable(order: WorkOrder) -> WorkOrderError:
    if order.status == "exported":
        return WorkOrderError(
            f"work order {order.id} was already exported at {order.exported_at}; "
            "a work order is never exported twice"
        )
    return WorkOrderError(
        f"cannot export work order {order.id}: it is {order.status}; "
        "only an approved work order can be exported"
    )


def _require_role(actor: Actor, what: str) -> None:
    if not actor.allows(SUPERVISOR):
        raise NotPermitted(
            f"{what} needs the supervisor role; the key '{actor.key_name}' is {actor.role}"
        )


def pid_alive(pid: int) -> bool:
    """Return whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim_held(row: sqlite3.Row, ttl_s: float) -> bool:
    """Return whether an export claim is held by an export that may still be running."""
    if row["token"] is None or time.time() - float(row["claimed_ts"]) > ttl_s:
        return False
    if row["host"] != socket.gethostname():
        return True  # another machine's process cannot be checked: the claim lasts its ttl
    return pid_alive(int(row["pid"]))


class WorkOrderStore:
    """Reads and writes work orders, their edit history and their export records."""

    def __init__(self, db: Database, *, allow_self_approval: bool = False) -> None:
        self.db = db
        self.allow_self_approval = allow_self_approval

    def create(self, order: WorkOrder) -> WorkOrder:
        """Store a new draft."""
        if order.status != "draft":
            raise WorkOrderError(f"a new work order must be a draft, not {order.status}")
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO work_orders (id, asset, status, body, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    order.id,
                    order.asset,
                    order.status,
                    order.model_dump_json(),
                    order.created_at,
                    order.created_at,
                ),
            )
        return order

    def get(self, order_id: str) -> WorkOrder:
        """Return one work order; raise WorkOrderError when there is none with this id."""
        row = self.db.query_one("SELECT body FROM work_orders WHERE id = ?", (order_id,))
        return _parsed(row, order_id)

    def list(self, status: str | None = None) -> List[WorkOrder]:
        """Return work orders, newest first, optionally of one status."""
        if status is not None and status not in STATUSES:
            raise WorkOrderError(f"unknown status '{status}' (one of: {', '.join(STATUSES)})")
        if status is None:
            rows = self.db.query("SELECT body FROM work_orders ORDER BY created_at DESC, id DESC")
        else:
            rows = self.db.query(
                "SELECT body FROM work_orders WHERE status = ? ORDER BY created_at DESC, id DESC",
                (status,),
            )
        return [WorkOrder.model_validate_json(row["body"]) for row in rows]

    def edits(self, order_id: str) -> List[Edit]:
        """Return the recorded edit history of a work order, oldest first."""
        rows = self.db.query(
            "SELECT by_name, at, field, old, new, key_id, key_name FROM work_order_edits "
            "WHERE work_order_id = ? ORDER BY id",
            (order_id,),
        )
        return [
            Edit(
                by=r["by_name"],
                at=r["at"],
                field=r["field"],
                old=r["old"],
                new=r["new"],
                key_id=r["key_id"],
                key_name=r["key_name"],
            )
            for r in rows
        ]

    def export_record(self, order_id: str) -> dict[str, Any] | None:
        """Return the export record of a work order, or None if it was never exported."""
        row = self.db.query_one(
            "SELECT work_order_id, exported_at, json_path, csv_path, mqtt_topic "
            "FROM work_order_exports WHERE work_order_id = ?",
            (order_id,),
        )
        return dict(row) if row is not None else None

    # ---- changes (each one transaction) ---------------------------------------------------

    def _load(self, conn: sqlite3.Connection, order_id: str) -> WorkOrder:
        row = conn.execute("SELECT body FROM work_orders WHERE id = ?", (order_id,)).fetchone()
        return _parsed(row, order_id)

    def _save(
        self, conn: sqlite3.Connection, data: dict[str, Any], edit: Edit, **changes: Any
    ) -> WorkOrder:
        """Validate the work order's data with the changes and the edit appended to its
        history; write it and record the edit."""
        data.update(changes, history=[*data["history"], edit.model_dump(mode="json")])
        order = validate(data)
        conn.execute(
            "UPDATE work_orders SET status = ?, body = ?, updated_at = ? WHERE id = ?",
            (order.status, order.model_dump_json(), edit.at, order.id),
        )
        conn.execute(
            "INSERT INTO work_order_edits "
            "(work_order_id, by_name, at, field, old, new, key_id, key_name) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order.id,
                edit.by,
                edit.at,
                edit.field,
                edit.old,
                edit.new,
                edit.key_id,
                edit.key_name,
            ),
        )
        return order

    @staticmethod
    def _edit(actor: Actor, at: str, field: str, old: str, new: str) -> Edit:
        return Edit(
            by=actor.name,
            at=at,
            field=field,
            old=old,
            new=new,
            key_id=actor.key_id,
            key_name=actor.key_name,
        )

    def edit(self, order_id: str, field: str, value: str | Any, by: str | Actor) -> WorkOrder:
        """Change one field of a draft; the change is validated and recorded.

        A ``safety.*`` field (energy isolation, isolation points, permits) needs a supervisor.
        """
        actor = as_actor(by).named("edit")
        parsed = parse_value(field, value) if isinstance(value, str) else value
        if field not in EDITABLE:
            raise WorkOrderError(f"field '{field}' cannot be edited")
        if field.startswith("safety."):
            _require_role(actor, f"changing {field}")
        at = now_iso()
        with self.db.transaction() as conn:
            order = self._load(conn, order_id)
            if order.status != "draft":
                raise WorkOrderError(
                    f"work order {order_id} is {order.status}; only drafts can be edited"
                )
            data = order.model_dump(mode="json")
            if field.startswith("safety."):
                key = field.removeprefix("safety.")
                old = data["safety"][key]
                data["safety"][key] = parsed
            else:
                old = data[field]
                data[field] = parsed
            edit = self._edit(actor, at, field, shown(old), shown(parsed))
            return self._save(conn, data, edit, edited_by=actor.name, edited_at=at)

    def _transition(
        self,
        order_id: str,
        actor: Actor,
        allowed_from: str,
        to: str,
        extra: dict[str, Any],
        at: str,
    ) -> WorkOrder:
        with self.db.transaction() as conn:
            order = self._load(conn, order_id)
            if order.status != allowed_from:
                verb = {"approved": "approve", "rejected": "reject", "exported": "export"}[to]
                raise WorkOrderError(
                    f"cannot {verb} work order {order_id}: it is {order.status}"
                    + (
                        f" (by {order.approved_by} at {order.approved_at})"
                        if order.status == "approved"
                        else ""
                    )
                    + f"; only a {allowed_from} work order can be {to}"
                )
            if (
                to == "approved"
                and not self.allow_self_approval
                and same_person(order.created_key_id, order.created_by, actor)
            ):
                key = order.created_key_name or order.created_key_id
                raise NotPermitted(
                    f"cannot approve work order {order_id}: it was drafted by "
                    f"{order.created_by}"
                    + (f" with the key {key}" if key else "")
                    + ", and a draft is approved by someone else "
                    "(workorders.allow_self_approval is off)"
                )
            edit = self._edit(actor, at, "status", order.status, to)
            return self._save(conn, order.model_dump(mode="json"), edit, status=to, **extra)

    def approve(self, order_id: str, by: str | Actor) -> WorkOrder:
        """Approve a draft (a supervisor's command, not the draft's creator's)."""
        actor = as_actor(by).named("approve")
        _require_role(actor, "approving a work order")
        at = now_iso()
        return self._transition(
            order_id,
            actor,
            "draft",
            "approved",
            {"approved_by": actor.name, "approved_at": at},
            at,
        )

    def reject(self, order_id: str, by: str | Actor, reason: str) -> WorkOrder:
        """Reject a draft with a reason (a supervisor's command)."""
        actor = as_actor(by).named("reject")
        _require_role(actor, "rejecting a work order")
        if not reason.strip():
            raise WorkOrderError("reject needs a reason (--reason R)")
        at = now_iso()
        return self._transition(
            order_id,
            actor,
            "draft",
            "rejected",
            {"rejected_by": actor.name, "rejected_at": at, "rejection_reason": reason.strip()},
            at,
        )

    # ---- export: claim, progress, record ---------------------------------------------------

    def check_exportable(self, order_id: str) -> WorkOrder:
        """Return an approved, never exported work order; refuse anything else."""
        order = self.get(order_id)
        if order.status != "approved":
            raise _not_exportable(order)
        if self.export_record(order_id) is not None:
            raise WorkOrderError(f"work order {order_id} was already exported")
        return order

    def claim_export(self, order_id: str, by: str | Actor, ttl_s: float) -> ExportClaim:
        """Take the right to export an approved work order, in one transaction.

        Refused while another export holds it; a claim older than ``ttl_s`` or whose process
        is gone (it crashed) is taken over, keeping what it recorded as published.
        """
        actor = as_actor(by).named("export")
        _require_role(actor, "exporting a work order")
        token = uuid.uuid4().hex
        with self.db.transaction() as conn:
            order = self._load(conn, order_id)
            if order.status != "approved":
                raise _not_exportable(order)
            row = conn.execute(
                "SELECT * FROM work_order_export_claims WHERE work_order_id = ?", (order_id,)
            ).fetchone()
            if row is not None and _claim_held(row, ttl_s):
                raise WorkOrderError(
                    f"work order {order_id} is being exported right now (by {row['by_name']} "
                    f"since {row['claimed_at']}); it is exported once: wait for that export"
                )
            values = (
                token,
                os.getpid(),
                socket.gethostname(),
                actor.name,
                actor.key_id,
                now_iso(),
                time.time(),
                order_id,
            )
            if row is None:
                conn.execute(
                    "INSERT INTO work_order_export_claims "
                    "(token, pid, host, by_name, key_id, claimed_at, claimed_ts, work_order_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
            else:
                conn.execute(
                    "UPDATE work_order_export_claims SET token = ?, pid = ?, host = ?, "
                    "by_name = ?, key_id = ?, claimed_at = ?, claimed_ts = ? "
                    "WHERE work_order_id = ?",
                    values,
                )
        return ExportClaim(
            order=order,
            token=token,
            published_topic=row["published_topic"] if row is not None else None,
            taken_over=row is not None and row["token"] is not None,
        )

    def record_published(self, claim: ExportClaim, topic: str) -> None:
        """Record that the broker acknowledged the work order on a topic (kept past a crash)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE work_order_export_claims SET published_topic = ?, published_at = ? "
                "WHERE work_order_id = ? AND token = ?",
                (topic, now_iso(), claim.order.id, claim.token),
            )

    def release_export(self, claim: ExportClaim) -> None:
        """Give a claim back after a failed export (what was published stays recorded)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE work_order_export_claims SET token = NULL "
                "WHERE work_order_id = ? AND token = ?",
                (claim.order.id, claim.token),
            )

    def mark_exported(
        self,
        claim: ExportClaim,
        by: str | Actor,
        json_path: str,
        csv_path: str,
        mqtt_topic: str | None,
    ) -> WorkOrder:
        """Record the export and set the status to exported, in one transaction."""
        actor = as_actor(by).named("export")
        order_id = claim.order.id
        at = now_iso()
        with self.db.transaction() as conn:
            order = self._load(conn, order_id)
            if order.status != "approved":
                raise _not_exportable(order)
            held = conn.execute(
                "DELETE FROM work_order_export_claims WHERE work_order_id = ? AND token = ?",
                (order_id, claim.token),
            )
            if held.rowcount != 1:
                raise WorkOrderError(
                    f"the export of work order {order_id} took too long and was taken over "
                    "by another export; see its status"
                )
            try:
                conn.execute(
                    "INSERT INTO work_order_exports "
                    "(work_order_id, exported_at, json_path, csv_path, mqtt_topic) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (order_id, at, json_path, csv_path, mqtt_topic),
                )
            except sqlite3.IntegrityError as exc:
                raise WorkOrderError(f"work order {order_id} was already exported") from exc
            edit = self._edit(actor, at, "status", order.status, "exported")
            data = order.model_dump(mode="json")
            return self._save(conn, data, edit, status="exported", exported_at=at)
