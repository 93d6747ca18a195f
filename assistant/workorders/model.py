"""The maintenance work order: our own typed, validated model.

Every field has a size limit, so a model that rambles or an operator who pastes a manual into a
field gets a clear error naming the field (``steps[3]: at most 300 characters``), never a
silently truncated record. Instances are frozen; changes make a validated copy.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from assistant.errors import WorkOrderError

Priority = Literal["low", "medium", "high", "emergency"]
Status = Literal["draft", "approved", "rejected", "exported"]
PRIORITIES: tuple[Priority, ...] = ("low", "medium", "high", "emergency")
STATUSES: tuple[Status, ...] = ("draft", "approved", "rejected", "exported")

MAX_TITLE = 120
MAX_PROBLEM = 1000
MAX_CAUSE = 600
MAX_REASON = 300
MAX_STEP = 300
MAX_STEPS = 20
MAX_ITEM = 120
MAX_ITEMS = 20
MAX_NAME = 80
MAX_DOCUMENT = 300

LockoutFoundBy = Literal["plant file", "search"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME)]
Step = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_STEP)]
Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ITEM)]


def priority_rank(priority: Priority) -> int:
    """Return the order of a priority (low 0 ... emergency 3)."""
    return PRIORITIES.index(priority)


def higher(a: Priority, b: Priority) -> Priority:
    """Return the more urgent of two priorities."""
    return a if priority_rank(a) >= priority_rank(b) else b


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelemetryEvidence(_Frozen):
    """A live value or alarm event the work order rests on, copied from the telemetry store."""

    asset: str
    tag: str
    value: float | None
    unit: str = ""
    ts: float | None
    state: str
    text: str = Field("", max_length=600)
    event_id: str | None = None


class DocumentEvidence(_Frozen):
    """A retrieved document passage the work order cites."""

    source: str
    section: str
    page: int | None
    chunk_id: str
    excerpt: str = Field("", max_length=600)


class Evidence(_Frozen):
    """What the system knew when it drafted the work order (filled by code, not the model)."""

    telemetry: tuple[TelemetryEvidence, ...] = ()
    documents: tuple[DocumentEvidence, ...] = ()


class Safety(_Frozen):
    """Energy isolation and permits needed before work starts."""

    energy_isolation_required: bool = False
    isolation_points: tuple[Item, ...] = Field((), max_length=MAX_ITEMS)
    permits: tuple[Item, ...] = Field((), max_length=MAX_ITEMS)
    procedure: str | None = Field(None, max_length=MAX_ITEM)
    document: str | None = Field(None, max_length=MAX_DOCUMENT)
    """The ingested lockout document the isolation was read from."""
    found_by: LockoutFoundBy | None = None
    """How that document was chosen: named by the plant file (``assets[].lockout_doc``) or
    found by searching the documents for a lockout procedure that names the asset."""


class Edit(_Frozen):
    """One recorded change: who changed which field when, from what to what.

    ``by`` is the name the person gave; ``key_id`` (and ``key_name``) is what vouched for it:
    the API key, or ``cli:<os user>`` for a local command (None on records made before keys
    were recorded).
    """

    by: str
    at: str
    field: str
    old: str
    new: str
    key_id: str | None = None
    key_name: str | None = None


class WorkOrder(_Frozen):
    """A maintenance work order, from draft to export."""

    id: str = Field(pattern=r"^WO-[0-9A-Za-z-]{4,40}$")
    asset: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=3, max_length=MAX_TITLE)
    problem: str = Field(min_length=3, max_length=MAX_PROBLEM)
    suspected_cause: str = Field(min_length=1, max_length=MAX_CAUSE)
    priority_floor: Priority = "low"
    """The lowest priority the alarm and the live states allow (set by code when drafted)."""
    priority: Priority
    priority_reason: str = Field(min_length=1, max_length=MAX_REASON)
    safety: Safety = Safety()
    steps: tuple[Step, ...] = Field(min_length=1, max_length=MAX_STEPS)
    parts: tuple[Item, ...] = Field((), max_length=MAX_ITEMS)
    tools: tuple[Item, ...] = Field((), max_length=MAX_ITEMS)
    estimated_duration_h: float | None = Field(None, gt=0, le=1000)
    evidence: Evidence = Evidence()
    status: Status = "draft"
    alarm_id: str | None = None
    question: str | None = Field(None, max_length=MAX_PROBLEM)
    conversation_id: str | None = Field(None, max_length=64)
    created_by: Name
    created_key_id: str | None = None
    """What vouched for the creator: the API key's id, or ``cli:<os user>`` / ``local:...``."""
    created_key_name: str | None = None
    created_at: str
    edited_by: str | None = None
    edited_at: str | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    rejected_by: str | None = None
    rejected_at: str | None = None
    rejection_reason: str | None = Field(None, max_length=MAX_REASON)
    exported_at: str | None = None
    history: tuple[Edit, ...] = ()
    draft_tries: int = Field(1, ge=1)

    @field_validator("priority")
    @classmethod
    def _not_below_floor(cls, priority: Priority, info: ValidationInfo) -> Priority:
        floor = info.data.get("priority_floor")
        if floor is not None and priority_rank(priority) < priority_rank(floor):
            raise ValueError(
                f"'{priority}' is below '{floor}', the lowest priority the alarm allows; "
                "it can be raised, never lowered below that"
            )
        return priority


EDITABLE: dict[str, str] = {
    "title": "text",
    "problem": "text",
    "suspected_cause": "text",
    "priority": "text",
    "priority_reason": "text",
    "steps": "list",
    "parts": "list",
    "tools": "list",
    "estimated_duration_h": "number",
    "safety.energy_isolation_required": "bool",
    "safety.isolation_points": "list",
    "safety.permits": "list",
}
"""Fields an operator may edit, and how a command-line value is read for each."""

NO_NUMBER = frozenset({"", "-", "\u2014", "none", "not stated"})
"""Values that clear a number field (a duration the documents do not state)."""


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(work order)"


def describe(error: ValidationError) -> str:
    """Return a validation error as '; '-joined 'field: problem' phrases."""
    problems = []
    for item in error.errors():
        message = re.sub(r"^Value error, ", "", item["msg"])
        problems.append(f"{_where(tuple(item['loc']))}: {message}")
    return "; ".join(problems)


def validate(data: dict[str, Any]) -> WorkOrder:
    """Build a work order from plain data; raise WorkOrderError naming each bad field."""
    try:
        return WorkOrder.model_validate(data)
    except ValidationError as exc:
        raise WorkOrderError(f"invalid work order: {describe(exc)}") from exc


def parse_value(field: str, value: str) -> Any:
    """Read an operator's command-line value for an editable field."""
    kind = EDITABLE.get(field)
    if kind is None:
        raise WorkOrderError(
            f"field '{field}' cannot be edited (editable: {', '.join(sorted(EDITABLE))})"
        )
    if kind == "list":
        separator = "\n" if "\n" in value else ";"
        return [part.strip() for part in value.split(separator) if part.strip()]
    if kind == "number":
        if value.strip().lower() in NO_NUMBER:
            return None
        try:
            return float(value)
        except ValueError as exc:
            raise WorkOrderError(f"{field}: not a number: {value!r}") from exc
    if kind == "bool":
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise WorkOrderError(f"{field}: expected true or false, got {value!r}")
    return value


def duration_text(hours: float | None) -> str:
    """Return an estimated duration for a person: "8 h", or "not stated"."""
    return "not stated" if hours is None else f"{hours:g} h"


def shown(value: Any) -> str:
    """Return a field value as the text kept in the edit history."""
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)
