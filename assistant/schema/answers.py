"""A cited answer on the wire: ``ask --json``, ``/v1/ask``, its stream and the OpenAI extension.

The answer's text, its checked citations with what it quoted of each passage, the live values
it was given, where its time went and what the checks found. ``to_domain`` gives a client (the
terminal over HTTP) back the very ``Answer`` the server built.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field

from assistant.domain import Answer, Citation, TelemetryLine, Timings
from assistant.schema.base import WireModel

AnswerMode = Literal["extractive", "hybrid", "generative"]


class CitationOut(WireModel):
    """A checked citation: the passage behind a [D#] label and what the answer quoted of it.

    ``quote`` is ``text[start:end]``; a passage cited as a whole has ``quote`` "" and
    ``start``/``end`` null. ``spans`` holds each quoted unit's [start, end] when several
    pieces were quoted (``quote`` then runs from the first to the last).
    """

    id: str
    chunk_id: str
    source: str
    section: str
    page: int | None
    text: str
    quote: str
    start: int | None
    end: int | None
    spans: list[tuple[int, int]]

    @classmethod
    def from_domain(cls, citation: Citation) -> Self:
        """Return a citation as it is sent."""
        return cls(
            id=citation.id,
            chunk_id=citation.chunk_id,
            source=citation.source,
            section=citation.section,
            page=citation.page,
            text=citation.text,
            quote=citation.quote,
            start=citation.start,
            end=citation.end,
            spans=list(citation.spans),
        )

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Self:
        """Return a citation as the journal keeps it; turns recorded before answers quoted
        have no quote fields (their passages were cited whole)."""
        return cls(
            id=stored["id"],
            chunk_id=stored.get("chunk_id", ""),
            source=stored["source"],
            section=stored.get("section", ""),
            page=stored.get("page"),
            text=stored.get("text", ""),
            quote=stored.get("quote") or "",
            start=stored.get("start"),
            end=stored.get("end"),
            spans=[(int(a), int(b)) for a, b in stored.get("spans") or ()],
        )

    def to_domain(self) -> Citation:
        """Return the citation this was sent from."""
        return Citation(
            id=self.id,
            chunk_id=self.chunk_id,
            source=self.source,
            section=self.section,
            page=self.page,
            text=self.text,
            quote=self.quote,
            start=self.start,
            end=self.end,
            spans=tuple(self.spans),
        )


class TelemetryOut(WireModel):
    """A live value given to the model as [T#], rendered by code."""

    id: str
    asset: str
    tag: str
    value: float | None
    unit: str
    ts: float | None
    state: str
    trend: str
    text: str

    @classmethod
    def from_domain(cls, line: TelemetryLine) -> Self:
        """Return a live value as it is sent."""
        return cls(
            id=line.id,
            asset=line.asset,
            tag=line.tag,
            value=line.value,
            unit=line.unit,
            ts=line.ts,
            state=line.state,
            trend=line.trend,
            text=line.text,
        )

    def to_domain(self) -> TelemetryLine:
        """Return the live value this was sent from."""
        return TelemetryLine(
            id=self.id,
            asset=self.asset,
            tag=self.tag,
            value=self.value,
            unit=self.unit,
            ts=self.ts,
            state=self.state,
            trend=self.trend,
            text=self.text,
        )


class TimingsOut(WireModel):
    """Where the answer's time went."""

    retrieval_ms: float
    ttft_ms: float
    total_ms: float
    prompt_tokens: int
    completion_tokens: int

    @classmethod
    def from_domain(cls, timings: Timings) -> Self:
        """Return an answer's timings as they are sent."""
        return cls(
            retrieval_ms=timings.retrieval_ms,
            ttft_ms=timings.ttft_ms,
            total_ms=timings.total_ms,
            prompt_tokens=timings.prompt_tokens,
            completion_tokens=timings.completion_tokens,
        )

    def to_domain(self) -> Timings:
        """Return the timings this was sent from."""
        return Timings(
            retrieval_ms=self.retrieval_ms,
            ttft_ms=self.ttft_ms,
            total_ms=self.total_ms,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )


class ChecksOut(WireModel):
    """What the answer checks found."""

    covered: bool = Field(description="False when no passage answers the question")
    dropped_citations: int = Field(description="Citations of passages not given, removed")
    unsupported_numbers: list[str] = Field(description="Figures found in no passage")
    unsupported_claims: list[str] = Field(description="Sentences no passage supports")
    withheld: list[str] = Field(description="Sentences left out of the answer")
    stopped_looping: bool = Field(description="Generation stopped: the model repeated itself")

    @classmethod
    def from_domain(cls, answer: Answer) -> Self:
        """Return an answer's check results as they are sent."""
        return cls(
            covered=answer.covered,
            dropped_citations=answer.dropped_citations,
            unsupported_numbers=list(answer.unsupported_numbers),
            unsupported_claims=list(answer.unsupported_claims),
            withheld=list(answer.withheld),
            stopped_looping=answer.stopped_looping,
        )


class AnswerText(WireModel):
    """The answer's checked text."""

    answer: str


class AnswerFacts(WireModel):
    """Everything about an answer but its text (the OpenAI route's ``shiftmate`` field)."""

    conversation_id: str
    turn_id: int
    mode: AnswerMode
    citations: list[CitationOut]
    telemetry: list[TelemetryOut]
    timings: TimingsOut
    checks: ChecksOut
    cut: list[str] = Field(description="What was left out to fit the context window")

    @classmethod
    def from_domain(cls, answer: Answer) -> Self:
        """Return an answer's facts as they are sent."""
        return cls.model_validate(_facts(answer))


def _facts(answer: Answer) -> dict[str, Any]:
    return {
        "conversation_id": answer.conversation_id,
        "turn_id": answer.turn_id,
        "mode": answer.mode,
        "citations": [CitationOut.from_domain(c) for c in answer.citations],
        "telemetry": [TelemetryOut.from_domain(t) for t in answer.telemetry],
        "timings": TimingsOut.from_domain(answer.timings),
        "checks": ChecksOut.from_domain(answer),
        "cut": list(answer.cut),
    }


# AnswerText last among the bases puts ``answer`` first in the JSON, as ``ask --json`` prints.
class AnswerOut(AnswerFacts, AnswerText):
    """The cited answer, exactly as ``shiftmate ask --json`` prints it."""

    @classmethod
    def from_domain(cls, answer: Answer) -> Self:
        """Return an answer as it is sent."""
        return cls.model_validate({"answer": answer.text, **_facts(answer)})

    def to_domain(self, question: str) -> Answer:
        """Return the answer this was sent from (the wire leaves out the question)."""
        checks = self.checks
        return Answer(
            conversation_id=self.conversation_id,
            question=question,
            text=self.answer,
            citations=tuple(c.to_domain() for c in self.citations),
            timings=self.timings.to_domain(),
            dropped_citations=checks.dropped_citations,
            unsupported_numbers=tuple(checks.unsupported_numbers),
            unsupported_claims=tuple(checks.unsupported_claims),
            withheld=tuple(checks.withheld),
            stopped_looping=checks.stopped_looping,
            telemetry=tuple(t.to_domain() for t in self.telemetry),
            cut=tuple(self.cut),
            covered=checks.covered,
            turn_id=self.turn_id,
            mode=self.mode,
        )


class TokenEvent(WireModel):
    """A ``token`` event of an answer stream: the next piece of the checked text."""

    text: str


class StreamError(WireModel):
    """What ended an answer stream early, for a person (message) and a program (code)."""

    code: str
    message: str
    status: int


class StreamErrorEvent(WireModel):
    """An ``error`` event: the answer stream ends without an answer."""

    error: StreamError
