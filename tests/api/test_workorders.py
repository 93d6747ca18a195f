"""Work orders over HTTP: an operator drafts and edits, a supervisor approves and exports;
wrong states and unknown ids get JSON errors."""

from __future__ import annotations

from typing import Any

from assistant.api.keys import KeyStore
from assistant.workorders.model import validate
from tests.api.conftest import LiveServer, error_of


def test_draft_review_and_export(server: LiveServer) -> None:
    with server.client("operator") as operator, server.client("supervisor") as supervisor:
        asked = operator.post("/v1/ask", json={"question": "How do I clean strainer ST-101?"})
        cid = asked.json()["conversation_id"]
        # From the conversation alone: the asset is the one it names.
        drafted = operator.post("/v1/workorders", json={"conversation_id": cid})
        assert drafted.status_code == 201, drafted.text
        order = drafted.json()
        wid = order["id"]
        assert order["status"] == "draft" and order["asset"] == "ST-101"
        assert order["conversation_id"] == cid
        assert order["created_by"] == "operator-1"
        assert order["safety"]["energy_isolation_required"]

        assert [o["id"] for o in operator.get("/v1/workorders").json()["workorders"]] == [wid]
        assert operator.get("/v1/workorders", params={"status": "approved"}).json() == {
            "workorders": []
        }
        edited = operator.patch(
            f"/v1/workorders/{wid}",
            json={"field": "estimated_duration_h", "value": 3, "by": "bob"},
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["estimated_duration_h"] == 3
        steps = operator.patch(
            f"/v1/workorders/{wid}", json={"field": "parts", "value": ["gasket", "mesh"]}
        )
        assert steps.json()["parts"] == ["gasket", "mesh"]
        bad_value = operator.patch(
            f"/v1/workorders/{wid}", json={"field": "estimated_duration_h", "value": "soon"}
        )
        assert bad_value.status_code == 422 and error_of(bad_value)["code"] == "invalid_value"
        bad_field = operator.patch(f"/v1/workorders/{wid}", json={"field": "status", "value": "x"})
        assert bad_field.status_code == 422

        assert operator.post(f"/v1/workorders/{wid}/approve", json={}).status_code == 403
        approved = supervisor.post(f"/v1/workorders/{wid}/approve", json={"by": "carol"})
        assert approved.status_code == 200 and approved.json()["approved_by"] == "carol"
        again = supervisor.post(f"/v1/workorders/{wid}/approve", json={})
        assert again.status_code == 409 and "cannot approve" in error_of(again)["message"]
        late_edit = operator.patch(f"/v1/workorders/{wid}", json={"field": "title", "value": "x"})
        assert late_edit.status_code == 409 and error_of(late_edit)["code"] == "not_a_draft"

        exported = supervisor.post(f"/v1/workorders/{wid}/export", json={})
        assert exported.status_code == 200, exported.text
        result = exported.json()
        assert result["workorder"]["status"] == "exported" and result["mqtt_topic"] is None
        assert (server.services.data_dir / "exports" / f"{wid}.json").is_file()
        twice = supervisor.post(f"/v1/workorders/{wid}/export", json={})
        assert twice.status_code == 409 and error_of(twice)["code"] == "workorder_conflict"
        history = operator.get(f"/v1/workorders/{wid}").json()["history"]
        assert [h["field"] for h in history] == [
            "estimated_duration_h",
            "parts",
            "status",
            "status",
        ]


def test_rejections_and_unknowns(server: LiveServer) -> None:
    with server.client("operator") as operator, server.client("supervisor") as supervisor:
        unknown_asset = operator.post("/v1/workorders", json={"asset": "P-999"})
        assert unknown_asset.status_code == 404
        assert error_of(unknown_asset)["code"] == "unknown_asset"
        nothing = operator.post("/v1/workorders", json={"question": "fix it"})
        assert nothing.status_code == 422 and error_of(nothing)
        unknown_alarm = operator.post("/v1/workorders", json={"asset": "P-101", "alarm_id": "x"})
        assert unknown_alarm.status_code == 404
        assert error_of(unknown_alarm)["code"] == "unknown_alarm"
        missing = supervisor.post("/v1/workorders/WO-none/reject", json={"reason": "dup"})
        assert missing.status_code == 404 and error_of(missing)["code"] == "unknown_workorder"
        no_reason = supervisor.post("/v1/workorders/WO-none/reject", json={"reason": " "})
        assert no_reason.status_code == 422
        drafted = operator.post("/v1/workorders", json={"asset": "C-3", "by": "dan"}).json()
        rejected = supervisor.post(
            f"/v1/workorders/{drafted['id']}/reject", json={"reason": "duplicate"}
        )
        assert rejected.status_code == 200
        assert rejected.json()["rejected_by"] == "supervisor-1"
        export = supervisor.post(f"/v1/workorders/{drafted['id']}/export", json={})
        assert export.status_code == 409 and "only an approved" in error_of(export)["message"]


def _key_id(server: LiveServer, role: str) -> str:
    key = KeyStore(server.services.db).check(server.keys[role])
    assert key is not None
    return key.id


def _stored_draft(server: LiveServer, suffix: str, **fields: Any) -> str:
    """Store a draft as an operator key's draft from a hihi alarm would be (floor high)."""
    order = validate(
        {
            "id": f"WO-20261202-api{suffix}",
            "asset": "P-101",
            "title": "Check P-101 bearing vibration",
            "problem": "Bearing vibration on P-101 is above its hihi limit.",
            "suspected_cause": "Bearing wear.",
            "priority_floor": "high",
            "priority": "high",
            "priority_reason": "HIHI alarm on vibration.",
            "steps": ["Isolate and lock out P-101", "Check the bearing"],
            "created_by": "operator-1",
            "created_key_id": _key_id(server, "operator"),
            "created_key_name": "operator-1",
            "created_at": "2026-12-02T05:00:00+00:00",
            **fields,
        }
    )
    return server.services.workorders.create(order).id


def test_a_supervisors_name_on_an_operator_key_is_recorded_and_grants_nothing(
    server: LiveServer,
) -> None:
    isolated = {"energy_isolation_required": True, "isolation_points": ["MCC-1 cubicle 4B"]}
    wid = _stored_draft(server, "spoof", safety=isolated)
    operator_id = _key_id(server, "operator")
    with server.client("operator") as operator, server.client("supervisor") as supervisor:
        spoof = {"by": "supervisor-1"}
        edited = operator.patch(
            f"/v1/workorders/{wid}", json={"field": "title", "value": "Bearing check", **spoof}
        )
        assert edited.status_code == 200, edited.text
        [edit] = edited.json()["history"]
        assert (edit["by"], edit["key_id"], edit["key_name"]) == (
            "supervisor-1",
            operator_id,
            "operator-1",
        )
        row = server.services.db.query_one(
            "SELECT by_name, key_id, key_name FROM work_order_edits WHERE work_order_id = ?",
            (wid,),
        )
        assert row is not None and tuple(row) == ("supervisor-1", operator_id, "operator-1")

        approve = operator.post(f"/v1/workorders/{wid}/approve", json=spoof)
        assert approve.status_code == 403 and error_of(approve)["code"] == "forbidden"
        safety = operator.patch(
            f"/v1/workorders/{wid}",
            json={"field": "safety.energy_isolation_required", "value": False, **spoof},
        )
        assert safety.status_code == 403
        assert "needs the supervisor role" in error_of(safety)["message"]
        assert server.services.workorders.get(wid).safety.energy_isolation_required
        permits = supervisor.patch(
            f"/v1/workorders/{wid}", json={"field": "safety.permits", "value": ["Hot work"]}
        )
        assert permits.status_code == 200 and permits.json()["safety"]["permits"] == ["Hot work"]
        assert permits.json()["history"][-1]["key_id"] == _key_id(server, "supervisor")

        lowered = operator.patch(
            f"/v1/workorders/{wid}", json={"field": "priority", "value": "low"}
        )
        assert lowered.status_code == 422 and error_of(lowered)["code"] == "invalid_value"
        assert "'low' is below 'high'" in error_of(lowered)["message"]

        approved = supervisor.post(f"/v1/workorders/{wid}/approve", json={})
        assert approved.status_code == 200 and approved.json()["approved_by"] == "supervisor-1"


def test_a_supervisor_does_not_approve_their_own_draft(server: LiveServer) -> None:
    with server.client("supervisor") as supervisor, server.client("admin") as admin:
        drafted = supervisor.post("/v1/workorders", json={"asset": "C-3", "by": "sam"})
        assert drafted.status_code == 201, drafted.text
        order = drafted.json()
        assert order["created_key_id"] == _key_id(server, "supervisor")
        assert order["created_key_name"] == "supervisor-1" and order["created_by"] == "sam"
        own = supervisor.post(f"/v1/workorders/{order['id']}/approve", json={"by": "not sam"})
        assert own.status_code == 403 and "allow_self_approval" in error_of(own)["message"]
        other = admin.post(f"/v1/workorders/{order['id']}/approve", json={})
        assert other.status_code == 200 and other.json()["approved_by"] == "admin-1"
