"""A work order as plain text: every field a reviewer needs, in a fixed order."""

from __future__ import annotations

from assistant.workorders.model import validate
from assistant.workorders.render import render


def test_render_states_the_fields_safety_evidence_and_history() -> None:
    order = validate(
        {
            "id": "WO-20261118-0001",
            "asset": "ST-101",
            "title": "ST-101: Clean strainer basket",
            "problem": "Differential pressure across ST-101 is above its hi limit.",
            "suspected_cause": "Debris collected in the strainer basket.",
            "priority": "medium",
            "priority_reason": "HI alarm on differential pressure.",
            "safety": {
                "energy_isolation_required": True,
                "isolation_points": ["V-201", "V-202"],
                "permits": ["Lockout/tagout per LOTO-ST-101"],
            },
            "steps": ["Isolate ST-101", "Clean the basket"],
            "evidence": {
                "documents": [
                    {
                        "source": "strainer.md",
                        "section": "Cleaning",
                        "page": 3,
                        "chunk_id": "c1",
                        "excerpt": "Clean the basket.",
                    }
                ]
            },
            "created_by": "night shift",
            "created_at": "2026-11-18T09:40:00+00:00",
        }
    )
    lines = render(order).splitlines()
    assert lines[:2] == [
        "WO-20261118-0001  [draft]  ST-101  priority medium",
        "Title: ST-101: Clean strainer basket",
    ]
    assert "Energy isolation REQUIRED at: V-201, V-202" in lines
    assert "Permits: Lockout/tagout per LOTO-ST-101" in lines
    steps = lines.index("Steps:")
    assert lines[steps + 1 : steps + 3] == ["  1. Isolate ST-101", "  2. Clean the basket"]
    assert "Parts: -" in lines and "Estimated duration: not stated" in lines
    assert "  [D] strainer.md, Cleaning, page 3" in lines
    assert lines[-1] == "Created by night shift at 2026-11-18T09:40:00+00:00"
