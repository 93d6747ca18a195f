"""A work order as plain text for a person: the CLI's ``show`` and the terminal UI's screen."""

from __future__ import annotations

from assistant.workorders.actor import LOCAL_PREFIXES
from assistant.workorders.model import WorkOrder, duration_text


def _vouched(key_id: str | None, key_name: str | None = None) -> str:
    """Return what vouched for a name, shown after it: " [key 1a2b3c (ops-1)]", " [cli:ann]"."""
    if key_id is None:
        return ""
    if key_id.startswith(LOCAL_PREFIXES):
        return f" [{key_id}]"
    return f" [key {key_id}" + (f" ({key_name})]" if key_name else "]")


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
    if safety.document:
        how = "named by the plant file" if safety.found_by == "plant file" else "found by search"
        lines.append(f"Lockout procedure: {safety.procedure} ({safety.document}; {how})")
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
    creator = order.created_by + _vouched(order.created_key_id, order.created_key_name)
    lines.append(f"Created by {creator} at {order.created_at}")
    if order.approved_by:
        lines.append(f"Approved by {order.approved_by} at {order.approved_at}")
    if order.rejected_by:
        lines.append(
            f"Rejected by {order.rejected_by} at {order.rejected_at}: {order.rejection_reason}"
        )
    if order.exported_at:
        lines.append(f"Exported at {order.exported_at}")
    for edit in order.history:
        lines.append(
            f"  edit {edit.at} {edit.by}{_vouched(edit.key_id, edit.key_name)}: "
            f"{edit.field}: {edit.old!r} -> {edit.new!r}"
        )
    return "\n".join(lines)
