"""Who may change what, and what the audit trail records: the key beside the free-text name,
supervisor-only safety edits and approvals, no self-approval, and the priority floor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.db import Database
from assistant.errors import WorkOrderError
from assistant.migrations import MIGRATIONS
from assistant.services import Services, build_services
from assistant.settings import default_operator, load_settings
from assistant.workorders.actor import NotPermitted, api_actor, local_actor
from assistant.workorders.model import WorkOrder, validate
from assistant.workorders.render import render
from assistant.workorders.store import WorkOrderStore

OPERATOR = api_actor(None, "a1b2c3d4e5f6", "ops-1", "operator")
SUPERVISOR = api_actor(None, "0f0f0f0f0f0f", "sup-1", "supervisor")
OTHER_SUPERVISOR = api_actor("dana", "1e1e1e1e1e1e", "sup-2", "supervisor")


def draft(services: Services, n: int = 1, **fields: Any) -> WorkOrder:
    """Store a draft created through the operator key (or as fields say)."""
    data: dict[str, Any] = {
        "id": f"WO-20261202-a{n:03d}",
        "asset": "P-101",
        "title": "Check P-101 bearing vibration",
        "problem": "Bearing vibration on P-101 is above its hihi limit.",
        "suspected_cause": "Bearing wear.",
        "priority_floor": "high",
        "priority": "high",
        "priority_reason": "HIHI alarm on vibration.",
        "steps": ["Isolate and lock out P-101", "Check the bearing"],
        "created_by": OPERATOR.name,
        "created_key_id": OPERATOR.key_id,
        "created_key_name": OPERATOR.key_name,
        "created_at": "2026-12-02T05:00:00+00:00",
        **fields,
    }
    return services.workorders.create(validate(data))


def make(tmp_path: Path, **workorders: Any) -> Services:
    """Return services over a fresh data dir (no model is loaded)."""
    settings = load_settings(None, {"data_dir": tmp_path / "data", "workorders": workorders})
    return build_services(settings)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """Return services over a fresh data dir, self-approval off (the default)."""
    built = make(tmp_path)
    yield built
    built.close()


def test_the_audit_records_the_key_beside_the_name(services: Services) -> None:
    order = draft(services)
    spoofed = api_actor("sup-1", OPERATOR.key_id, "ops-1", "operator")  # by: a supervisor's name
    services.workorders.edit(order.id, "title", "Check P-101 bearings", spoofed)
    local = local_actor("ann", via="cli")
    services.workorders.edit(order.id, "parts", "bearing 6312", local)
    rows = services.db.query(
        "SELECT by_name, key_id, key_name FROM work_order_edits WHERE work_order_id = ?",
        (order.id,),
    )
    assert [tuple(r) for r in rows] == [
        ("sup-1", OPERATOR.key_id, "ops-1"),
        ("ann", f"cli:{default_operator()}", None),
    ]
    history = services.workorders.get(order.id).history
    assert [(e.by, e.key_id, e.key_name) for e in history] == [tuple(r) for r in rows]
    assert services.workorders.edits(order.id) == list(history)
    text = render(services.workorders.get(order.id))
    assert f"sup-1 [key {OPERATOR.key_id} (ops-1)]: title" in text
    assert f"ann [cli:{default_operator()}]: parts" in text


def test_a_supervisors_name_grants_an_operator_key_nothing(services: Services) -> None:
    order = draft(services)
    spoofed = api_actor("sup-1", OPERATOR.key_id, "ops-1", "operator")
    for field, value in (
        ("safety.energy_isolation_required", "false"),
        ("safety.isolation_points", "MCC-1 cubicle 3B"),
        ("safety.permits", "none"),
    ):
        with pytest.raises(NotPermitted, match=f"changing {field} needs the supervisor role"):
            services.workorders.edit(order.id, field, value, spoofed)
    with pytest.raises(NotPermitted, match="approving a work order needs the supervisor"):
        services.workorders.approve(order.id, spoofed)
    with pytest.raises(NotPermitted, match="rejecting a work order needs the supervisor"):
        services.workorders.reject(order.id, spoofed, "not needed")
    assert services.workorders.get(order.id) == order  # nothing changed
    assert services.workorders.edits(order.id) == []

    edited = services.workorders.edit(order.id, "safety.permits", "Hot work permit", SUPERVISOR)
    assert edited.safety.permits == ("Hot work permit",)
    approved = services.workorders.approve(order.id, SUPERVISOR)
    assert approved.approved_by == "sup-1" and approved.history[-1].key_id == SUPERVISOR.key_id
    with pytest.raises(NotPermitted, match="exporting a work order needs the supervisor"):
        services.exporter.export(order.id, by=spoofed)
    assert services.exporter.export(order.id, by=SUPERVISOR).order.status == "exported"


def test_nobody_approves_their_own_draft(services: Services) -> None:
    mine = draft(
        services,
        1,
        created_by="sup-1",
        created_key_id=SUPERVISOR.key_id,
        created_key_name="sup-1",
    )
    # the same key under another name is the same person
    renamed = api_actor("someone else", SUPERVISOR.key_id, "sup-1", "supervisor")
    with pytest.raises(NotPermitted, match="drafted by sup-1 with the key sup-1"):
        services.workorders.approve(mine.id, renamed)
    assert services.workorders.get(mine.id).status == "draft"
    assert services.workorders.approve(mine.id, OTHER_SUPERVISOR).approved_by == "dana"

    # locally the names are compared (the shell account is shared at a plant terminal)
    local = draft(services, 2, created_by="Ann  Operator", created_key_id="cli:plant")
    with pytest.raises(NotPermitted, match="allow_self_approval is off"):
        services.workorders.approve(local.id, local_actor("ann operator", via="cli"))
    assert services.workorders.approve(local.id, local_actor("Sam", via="cli")).approved_by == "Sam"
    # a draft an operator key made is refused to a local name only if the names match
    third = draft(services, 3)
    with pytest.raises(NotPermitted):
        services.workorders.approve(third.id, local_actor("ops-1"))
    assert services.workorders.reject(third.id, local_actor("ops-1"), "duplicate").status == (
        "rejected"
    )


def test_self_approval_when_the_setting_allows_it(tmp_path: Path) -> None:
    services = make(tmp_path, allow_self_approval=True)
    try:
        order = draft(services, created_key_id=SUPERVISOR.key_id, created_by="sup-1")
        assert services.workorders.approve(order.id, SUPERVISOR).status == "approved"
    finally:
        services.close()


def test_a_priority_below_the_floor_is_refused(services: Services) -> None:
    order = draft(services)
    for lower in ("low", "medium"):
        with pytest.raises(WorkOrderError, match=f"priority: '{lower}' is below 'high'"):
            services.workorders.edit(order.id, "priority", lower, SUPERVISOR)
    raised = services.workorders.edit(order.id, "priority", "emergency", OPERATOR)
    assert raised.priority == "emergency"
    with pytest.raises(WorkOrderError, match="below 'high'"):
        validate({**order.model_dump(mode="json"), "priority": "low"})
    with pytest.raises(WorkOrderError, match="cannot be edited"):
        services.workorders.edit(order.id, "priority_floor", "low", SUPERVISOR)


def test_migration_10_keeps_older_work_orders_and_edits(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    db = Database(path, migrations=[m for m in MIGRATIONS if m[0] < 10])
    order = validate(
        {
            "id": "WO-20261101-old1",
            "asset": "C-3",
            "title": "Change the C-3 oil",
            "problem": "The C-3 oil is due for a change.",
            "suspected_cause": "Service interval.",
            "priority": "low",
            "priority_reason": "Routine.",
            "steps": ["Drain the oil", "Refill"],
            "created_by": "ann",
            "created_at": "2026-11-01T08:00:00+00:00",
        }
    )
    newer = {"priority_floor", "created_key_id", "created_key_name"}
    body = {k: v for k, v in order.model_dump(mode="json").items() if k not in newer}
    body["safety"] = {k: v for k, v in body["safety"].items() if k not in {"document", "found_by"}}
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO work_orders (id, asset, status, body, created_at, updated_at) "
            "VALUES (?, 'C-3', 'draft', ?, ?, ?)",
            (order.id, json.dumps(body), order.created_at, order.created_at),
        )
        conn.execute(
            "INSERT INTO work_order_edits (work_order_id, by_name, at, field, old, new) "
            "VALUES (?, 'bob', '2026-11-01T09:00:00+00:00', 'title', 'a', 'b')",
            (order.id,),
        )
    db.close()
    migrated = Database(path)
    try:
        assert migrated.schema_version == MIGRATIONS[-1][0]
        store = WorkOrderStore(migrated)
        [edit] = store.edits(order.id)
        assert (edit.by, edit.key_id, edit.key_name) == ("bob", None, None)
        assert store.get(order.id) == order
        # recorded by name only: a local approver of the same name is the creator
        with pytest.raises(NotPermitted):
            store.approve(order.id, local_actor("ann"))
        approved = store.approve(order.id, SUPERVISOR)
        assert approved.history[-1].key_id == SUPERVISOR.key_id
    finally:
        migrated.close()
