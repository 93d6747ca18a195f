"""Conversations and feedback written straight into a real journal, with planted personal data."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.journal import PassageRef
from assistant.services import Services

ROSTER = ("Dana Reyes", "Lee Okafor")
PII = {
    "name": "Dana Reyes",
    "surname": "Okafor",
    "email": "dana.reyes@riverbend.example",
    "phone": "+1 (555) 010-2040",
    "badge": "badge 40217",
    "ip": "10.20.3.44",
}
"""Planted values; none of them may reach the receiver in any form."""
PII_NEEDLES = (
    "Dana",
    "Reyes",
    "Okafor",
    "dana.reyes",
    "riverbend.example",
    "010-2040",
    "40217",
    "10.20.3.44",
)


@dataclass(frozen=True, slots=True)
class Seeded:
    """What was written: conversation ids, turn ids and feedback ids."""

    conversations: list[str]
    turns: list[int]
    feedback: list[int]


def seed(services: Services, conversations: int, *, turns_each: int = 2) -> Seeded:
    """Write conversations (every other turn rated, every third corrected) with planted PII."""
    journal, feedback = services.journal, services.feedback
    cids: list[str] = []
    tids: list[int] = []
    fids: list[int] = []
    for c in range(conversations):
        cid = journal.new_conversation(f"ST-101 strainer question {c}")
        cids.append(cid)
        for t in range(turns_each):
            question = (
                f"{PII['name']} here ({PII['badge']}, {PII['email']}): how do I clean "
                f"strainer ST-101? Call me on {PII['phone']}. Turn {t}."
            )
            answer = (
                "Start the standby pump P-102, close the inlet valve and open the drain [D1]. "
                f"The differential pressure was 0.364 bar [T1]. Ask {PII['surname']} at "
                f"{PII['ip']}."
            )
            tid = journal.add_turn(
                cid,
                question=question,
                answer=answer,
                raw_answer=answer,
                prompt_user=f"Passages:\n[D1] 7.3 Cleaning procedure ...\nQuestion: {question}",
                passages=[PassageRef("D1", f"chunk-{c}-{t}", True)],
                citations=[
                    {
                        "id": "D1",
                        "chunk_id": f"chunk-{c}-{t}",
                        "source": "pump-p101-p102-om-manual.md",
                        "section": "7.3 Cleaning procedure",
                        "page": None,
                        "text": "1. Start the standby pump ...",
                    }
                ],
                telemetry=[
                    {
                        "id": "T1",
                        "asset": "ST-101",
                        "tag": "dp",
                        "value": 0.364,
                        "unit": "bar",
                        "ts": 1732370000.5,
                        "state": "hi",
                        "trend": "rising",
                        "text": "ST-101 Differential pressure: 0.364 bar, HI ALARM",
                    }
                ],
                timings={"retrieval_ms": 12.0, "ttft_ms": 300.0, "total_ms": 900.0,
                         "prompt_tokens": 700, "completion_tokens": 60},
                checks={"covered": True, "withheld": [], "unsupported_numbers": []},
                prompt_version="ask-v1",
                model_sha256="ab" * 32,
            )  # fmt: skip
            tids.append(tid)
            if t % 2 == 0:
                corrected = (
                    f"Switch to P-102, isolate ST-101 per LOTO and tell {PII['name']} "
                    f"({PII['phone']}) [D1]."
                    if len(tids) % 3 == 0
                    else ""
                )
                fb = feedback.add(
                    tid,
                    "not_helpful" if corrected else "helpful",
                    reason="incomplete" if corrected else "",
                    comment=f"checked by {PII['name']}, {PII['email']}",
                    corrected_answer=corrected,
                    by=PII["name"],
                )
                fids.append(fb.id)
    return Seeded(cids, tids, fids)
