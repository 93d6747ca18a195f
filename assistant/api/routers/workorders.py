"""Work orders: draft (through the model's queue), list, get, edit, approve, reject, export.

Operators draft and edit drafts; editing a ``safety.*`` field, approving, rejecting and
exporting need a supervisor key, and a supervisor does not approve a draft their own key
created (unless ``workorders.allow_self_approval``). ``by`` is free text (default: the key's
name); the audit records the key's id and name beside it, and only the key's role counts.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.api.auth import Operator, State, Supervisor
from assistant.api.errors import ApiError, responses
from assistant.api.keys import ApiKey
from assistant.api.routers.chat import ID_PATTERN
from assistant.api.state import ApiState
from assistant.api.streaming import result_unless_disconnected
from assistant.errors import WorkOrderError
from assistant.schema.workorders import ExportOut, WorkOrderList, WorkOrderOut
from assistant.workorders.actor import Actor, NotPermitted, api_actor
from assistant.workorders.model import MAX_NAME, MAX_PROBLEM, MAX_REASON, WorkOrder

router = APIRouter(tags=["work orders"], responses=responses(400, 401, 403, 422, 500))

EditableField = Literal[
    "title",
    "problem",
    "suspected_cause",
    "priority",
    "priority_reason",
    "steps",
    "parts",
    "tools",
    "estimated_duration_h",
    "safety.energy_isolation_required",
    "safety.isolation_points",
    "safety.permits",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DraftRequest(_Body):
    """What to draft a work order about: an asset, a conversation about one, or both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["asset"], "properties": {"asset": {"type": "string"}}},
                {
                    "required": ["conversation_id"],
                    "properties": {"conversation_id": {"type": "string"}},
                },
            ]
        },
    )

    asset: str | None = Field(
        None, min_length=1, max_length=64, description="Default: the one the conversation names"
    )
    alarm_id: str | None = Field(None, max_length=200)
    question: str | None = Field(None, max_length=MAX_PROBLEM)
    conversation_id: str | None = Field(None, pattern=ID_PATTERN)
    by: str | None = Field(None, max_length=MAX_NAME, description="Default: the key's name")

    @model_validator(mode="after")
    def _names_something(self) -> DraftRequest:
        if self.asset is None and self.conversation_id is None:
            raise ValueError("name the asset, or a conversation about one")
        return self


class EditRequest(_Body):
    """One field's new value (lists as JSON arrays or ';'-separated text)."""

    field: EditableField
    value: str | float | bool | list[str]
    by: str | None = Field(None, max_length=MAX_NAME)


class ByRequest(_Body):
    """Who does it."""

    by: str | None = Field(None, max_length=MAX_NAME)


class RejectRequest(_Body):
    """Who rejects, and why."""

    by: str | None = Field(None, max_length=MAX_NAME)
    reason: str = Field(min_length=1, max_length=MAX_REASON, pattern=r"\S")


class ExportRequest(_Body):
    """Who exports, and whether to publish to workorders.mqtt_topic as well."""

    by: str | None = Field(None, max_length=MAX_NAME)
    mqtt: bool = False


def _by(given: str | None, key: ApiKey) -> Actor:
    """Return who acts: the free-text name given (default: the key's name) and the key."""
    return api_actor(given, key.id, key.name, key.role)


def _forbidden(exc: NotPermitted) -> ApiError:
    return ApiError(403, "forbidden", str(exc))


def _require(state: ApiState, order_id: str) -> WorkOrder:
    row = state.services.db.query_one("SELECT 1 FROM work_orders WHERE id = ?", (order_id,))
    if row is None:
        raise ApiError(404, "unknown_workorder", f"no work order {order_id!r}")
    return state.services.workorders.get(order_id)


@router.post(
    "/v1/workorders",
    response_model=WorkOrderOut,
    status_code=201,
    responses=responses(404, 409, 429, 503),
)
async def draft(body: DraftRequest, request: Request, state: State, key: Operator) -> Any:
    """Draft a work order for an asset (the model writes the prose, code the facts)."""
    services = state.services
    plant = services.require_plant()
    if body.asset is not None and plant.asset(body.asset) is None:
        raise ApiError(404, "unknown_asset", f"unknown asset {body.asset!r}; see GET /v1/assets")
    if body.alarm_id is not None and services.alarm_history.get(body.alarm_id) is None:
        raise ApiError(404, "unknown_alarm", f"no alarm event {body.alarm_id!r}")
    if body.conversation_id is not None and not services.journal.exists(body.conversation_id):
        raise ApiError(404, "unknown_conversation", f"unknown conversation: {body.conversation_id}")
    drafter = services.drafter
    by = _by(body.by, key)

    def work(_cancel: Any) -> WorkOrder:
        return drafter.draft(
            body.asset,
            alarm_id=body.alarm_id,
            question=body.question,
            conversation_id=body.conversation_id,
            created_by=by,
        )

    job = state.queue.submit(work)
    return WorkOrderOut.from_domain(await result_unless_disconnected(request, job))


@router.get("/v1/workorders", response_model=WorkOrderList)
def workorders(
    state: State,
    key: Operator,
    status: Literal["draft", "approved", "rejected", "exported"] | None = Query(None),
) -> WorkOrderList:
    """List work orders, optionally of one status."""
    return WorkOrderList.from_domain(state.services.workorders.list(status))


@router.get("/v1/workorders/{order_id}", response_model=WorkOrderOut, responses=responses(404))
def workorder(order_id: str, state: State, key: Operator) -> WorkOrderOut:
    """Return one work order with its edit history."""
    return WorkOrderOut.from_domain(_require(state, order_id))


@router.patch(
    "/v1/workorders/{order_id}", response_model=WorkOrderOut, responses=responses(404, 409)
)
def edit(order_id: str, body: EditRequest, state: State, key: Operator) -> WorkOrderOut:
    """Change one field of a draft; the change is validated and recorded with who and when."""
    order = _require(state, order_id)
    if body.field.startswith("safety.") and not key.allows("supervisor"):
        raise ApiError(
            403,
            "forbidden",
            f"changing {body.field} needs the supervisor role; the key '{key.name}' is {key.role}",
        )
    if order.status != "draft":
        raise ApiError(
            409,
            "not_a_draft",
            f"work order {order_id} is {order.status}; only drafts can be edited",
        )
    try:
        order = state.services.workorders.edit(order_id, body.field, body.value, _by(body.by, key))
    except NotPermitted as exc:
        raise _forbidden(exc) from exc
    except WorkOrderError as exc:
        raise ApiError(422, "invalid_value", str(exc)) from exc
    return WorkOrderOut.from_domain(order)


@router.post(
    "/v1/workorders/{order_id}/approve",
    response_model=WorkOrderOut,
    responses=responses(404, 409),
)
def approve(order_id: str, body: ByRequest, state: State, key: Supervisor) -> WorkOrderOut:
    """Approve a draft (not one this key created, unless workorders.allow_self_approval)."""
    _require(state, order_id)
    try:
        order = state.services.workorders.approve(order_id, _by(body.by, key))
    except NotPermitted as exc:
        raise _forbidden(exc) from exc
    return WorkOrderOut.from_domain(order)


@router.post(
    "/v1/workorders/{order_id}/reject", response_model=WorkOrderOut, responses=responses(404, 409)
)
def reject(order_id: str, body: RejectRequest, state: State, key: Supervisor) -> WorkOrderOut:
    """Reject a draft with a reason."""
    _require(state, order_id)
    order = state.services.workorders.reject(order_id, _by(body.by, key), body.reason)
    return WorkOrderOut.from_domain(order)


@router.post(
    "/v1/workorders/{order_id}/export",
    response_model=ExportOut,
    responses=responses(404, 409, 502),
)
def export(order_id: str, body: ExportRequest, state: State, key: Supervisor) -> ExportOut:
    """Export an approved work order (JSON file, CMMS CSV row, optionally MQTT); never twice."""
    _require(state, order_id)
    result = state.services.exporter.export(order_id, mqtt=body.mqtt, by=_by(body.by, key))
    return ExportOut.from_domain(result)
