"""Work orders in the SQLite journal (migration 5): the only code that changes their status.

A work order's status changes only through :meth:`WorkOrderStore.approve`,
:meth:`~WorkOrderStore.reject` and :meth:`~WorkOrderStore.mark_exported`, each called from an
operator's command. Each reads and writes the row inside one ``BEGIN IMMEDIATE`` transaction,
so two operators cannot both approve, and an export is recorded together with its status.
Nothing a document or a payload says reaches these methods: drafting only calls ``create``.
"""

from __future__ import annotations

import sqlite3
from builtins import list as List
from typing import Any

from assistant.clock import now_iso
from assistant.db import Database
from assistant.errors import WorkOrderError
from assistant.workorders.model import (
    EDITABLE,
    STATUSES,
    Edit,
    WorkOrder,
    parse_value,
    shown,
    validate,
)


def _parsed(row: sqlite3.Row | None, order_id: str) -> WorkOrder:
    if row is None:
        raise WorkOrderError(f"no work order '{order_id}'")
    return WorkOrder.model_validate_json(row["body"])


def _not_exportable(order: WorkOrder) -> WorkOrderError:
    return WorkOrderError(
        f"cannot export work order {order.id}: it is {order.status}; "
        "only an approved work order can be exported"
    )


def _clean_name(by: str, what: str) -> str:
    name = by.strip()
    if not name:
        raise WorkOrderError(f"{what} needs the operator's name (--by NAME)")
    if len(name) > 80:
        raise WorkOrderError(f"{what}: the operator's name is longer than 80 characters")
    return name


class WorkOrderStore:
    """Reads and writes work orders, their edit history and their export records."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
            "SELECT by_name, at, field, old, new FROM work_order_edits "
            "WHERE work_order_id = ? ORDER BY id",
            (order_id,),
        )
        return [
            Edit(by=r["by_name"], at=r["at"], field=r["field"], old=r["old"], new=r["new"])
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
            "INSERT INTO work_order_edits (work_order_id, by_name, at, field, old, new) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (order.id, edit.by, edit.at, edit.field, edit.old, edit.new),
        )
        return order

    def edit(self, order_id: str, field: str, value: str | Any, by: str) -> WorkOrder:
        """Change one field of a draft; the change is validated and recorded."""
        name = _clean_name(by, "edit")
        parsed = parse_value(field, value) if isinstance(value, str) else value
        if field not in EDITABLE:
            raise WorkOrderError(f"field '{field}' cannot be edited")
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
            edit = Edit(by=name, at=at, field=field, old=shown(old), new=shown(parsed))
            return self._save(conn, data, edit, edited_by=name, edited_at=at)

    def _transition(
        self,
        order_id: str,
        by: str,
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
            edit = Edit(by=by, at=at, field="status", old=order.status, new=to)
            return self._save(conn, order.model_dump(mode="json"), edit, status=to, **extra)

    def approve(self, order_id: str, by: str) -> WorkOrder:
        """Approve a draft (an operator's command); anything else is refused."""
        name = _clean_name(by, "approve")
        at = now_iso()
        return self._transition(
            order_id, name, "draft", "approved", {"approved_by": name, "approved_at": at}, at
        )

    def reject(self, order_id: str, by: str, reason: str) -> WorkOrder:
        """Reject a draft with a reason (an operator's command)."""
        name = _clean_name(by, "reject")
        if not reason.strip():
            raise WorkOrderError("reject needs a reason (--reason R)")
        at = now_iso()
        return self._transition(
            order_id,
            name,
            "draft",
            "rejected",
            {"rejected_by": name, "rejected_at": at, "rejection_reason": reason.strip()},
            at,
        )

    def check_exportable(self, order_id: str) -> WorkOrder:
        """Return an approved, never exported work order; refuse anything else."""
        order = self.get(order_id)
        if order.status == "exported":
            raise WorkOrderError(
                f"work order {order_id} was already exported at {order.exported_at}; "
                "a work order is never exported twice"
            )
        if order.status != "approved":
            raise _not_exportable(order)
        if self.export_record(order_id) is not None:
            raise WorkOrderError(f"work order {order_id} was already exported")
        return order

    def mark_exported(
        self,
        order_id: str,
        by: str,
        json_path: str,
        csv_path: str,
        mqtt_topic: str | None,
    ) -> WorkOrder:
        """Record the export and set the status to exported, in one transaction."""
        at = now_iso()
        with self.db.transaction() as conn:
            order = self._load(conn, order_id)
            if order.status != "approved":
                raise _not_exportable(order)
            try:
                conn.execute(
                    "INSERT INTO work_order_exports "
                    "(work_order_id, exported_at, json_path, csv_path, mqtt_topic) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (order_id, at, json_path, csv_path, mqtt_topic),
                )
            except sqlite3.IntegrityError as exc:
                raise WorkOrderError(f"work order {order_id} was already exported") from exc
            edit = Edit(by=by, at=at, field="status", old=order.status, new="exported")
            data = order.model_dump(mode="json")
            return self._save(conn, data, edit, status="exported", exported_at=at)
