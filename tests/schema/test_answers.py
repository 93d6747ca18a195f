"""An answer survives the wire whole: every field of the domain ``Answer`` goes out in the
``ask --json`` shape and comes back equal (only the question travels beside it)."""

from __future__ import annotations

import dataclasses

from assistant.domain import Answer, Citation, TelemetryLine, Timings
from assistant.schema.answers import AnswerFacts, AnswerOut

QUOTED = Citation(
    id="D1",
    chunk_id="strainer-3",
    source="/docs/strainer.md",
    section="Cleaning",
    page=4,
    text="Close both valves. Open the drain. Lift the basket.",
    quote="Close both valves. Open the drain.",
    start=0,
    end=34,
    spans=((0, 18), (19, 34)),
)
WHOLE = Citation("D2", "pump-1", "/docs/pump.md", "", None, "Prime the pump.")
ANSWER = Answer(
    conversation_id="c0ffee123456",
    question="How do I clean ST-101?",
    text="Close both valves [D1]. ST-101 reads 0.38 bar [T1].",
    citations=(QUOTED, WHOLE),
    timings=Timings(
        retrieval_ms=12.5, ttft_ms=40.0, total_ms=90.25, prompt_tokens=7, completion_tokens=3
    ),
    dropped_citations=1,
    unsupported_numbers=("42",),
    unsupported_claims=("It never clogs.",),
    withheld=("It holds 42 litres.",),
    stopped_looping=True,
    telemetry=(
        TelemetryLine(
            "T1",
            "ST-101",
            "differential_pressure",
            0.38,
            "bar",
            1.7e9,
            "hi",
            "rising",
            "ST-101 dp: 0.38 bar",
        ),
        TelemetryLine(
            "T2", "P-101", "flow", None, "m3/h", None, "no data", "unknown", "P-101 flow: no data"
        ),
    ),
    cut=("passage D3",),
    covered=False,
    turn_id=17,
    mode="hybrid",
)


def test_every_field_of_an_answer_goes_over_the_wire_and_back() -> None:
    defaults = Answer("", "", "", (), ANSWER.timings)
    for field in dataclasses.fields(Answer):
        if field.name not in ("question", "timings"):
            assert getattr(ANSWER, field.name) != getattr(defaults, field.name), field.name
    wire = AnswerOut.from_domain(ANSWER).model_dump_json()
    assert AnswerOut.model_validate_json(wire).to_domain(ANSWER.question) == ANSWER


def test_the_shape_is_the_one_ask_json_prints() -> None:
    shaped = AnswerOut.from_domain(ANSWER).model_dump(mode="json")
    assert list(shaped) == [
        "answer",
        "conversation_id",
        "turn_id",
        "mode",
        "citations",
        "telemetry",
        "timings",
        "checks",
        "cut",
    ]
    assert shaped["citations"][0]["spans"] == [[0, 18], [19, 34]]
    # a passage cited whole: no quote, null offsets
    assert shaped["citations"][1] == {
        "id": "D2",
        "chunk_id": "pump-1",
        "source": "/docs/pump.md",
        "section": "",
        "page": None,
        "text": "Prime the pump.",
        "quote": "",
        "start": None,
        "end": None,
        "spans": [],
    }
    assert shaped["checks"] == {
        "covered": False,
        "dropped_citations": 1,
        "unsupported_numbers": ["42"],
        "unsupported_claims": ["It never clogs."],
        "withheld": ["It holds 42 litres."],
        "stopped_looping": True,
    }
    facts = AnswerFacts.from_domain(ANSWER).model_dump(mode="json")
    assert facts == {k: v for k, v in shaped.items() if k != "answer"}


def test_a_field_a_newer_server_added_is_ignored_not_refused() -> None:
    wire = AnswerOut.from_domain(ANSWER).model_dump(mode="json")
    wire["added_later"] = {"anything": 1}
    wire["citations"][0]["added_later"] = True
    assert AnswerOut.model_validate(wire).to_domain(ANSWER.question) == ANSWER
    assert AnswerOut.model_json_schema()["additionalProperties"] is False
