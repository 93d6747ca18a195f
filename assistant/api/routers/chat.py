"""Cited answers (``/v1/ask``, plain and streamed), conversations and feedback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from assistant.api import sse
from assistant.api.auth import Operator, State
from assistant.api.errors import ApiError, map_error, responses
from assistant.api.inference import Job
from assistant.api.state import ApiState
from assistant.api.streaming import TokenSink, result_unless_disconnected, start_stream
from assistant.commands import answer_json
from assistant.domain import Answer
from assistant.errors import ShiftmateError
from assistant.feedback import MAX_COMMENT, MAX_CORRECTION, MAX_NAME

log = logging.getLogger(__name__)
router = APIRouter(tags=["answers"], responses=responses(400, 401, 403, 422, 500))

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
QUESTION_PATTERN = r"\S"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskRequest(_Body):
    """A question, optionally continuing a conversation."""

    question: str = Field(min_length=1, max_length=100_000, pattern=QUESTION_PATTERN)
    conversation_id: str | None = Field(None, pattern=ID_PATTERN)
    k: int | None = Field(None, ge=1, le=50, description="Passages to retrieve")
    stream: bool = Field(False, description="Stream tokens as server-sent events")


class ContinueRequest(_Body):
    """A follow-up question in a known conversation."""

    question: str = Field(min_length=1, max_length=100_000, pattern=QUESTION_PATTERN)
    k: int | None = Field(None, ge=1, le=50)
    stream: bool = False


class _Out(BaseModel):
    """A response body: exactly these fields, so the schema says what is returned."""

    model_config = ConfigDict(extra="forbid")


class CitationOut(_Out):
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


class TelemetryOut(_Out):
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


class TimingsOut(_Out):
    """Where the answer's time went."""

    retrieval_ms: float
    ttft_ms: float
    total_ms: float
    prompt_tokens: int
    completion_tokens: int


class ChecksOut(_Out):
    """What the answer checks found."""

    covered: bool
    dropped_citations: int
    unsupported_numbers: list[str]
    unsupported_claims: list[str]
    withheld: list[str]
    stopped_looping: bool


AnswerMode = Literal["extractive", "hybrid", "generative"]


class AnswerFacts(_Out):
    """Everything about an answer but its text (the OpenAI route's ``shiftmate`` field)."""

    conversation_id: str
    turn_id: int
    mode: AnswerMode
    citations: list[CitationOut]
    telemetry: list[TelemetryOut]
    timings: TimingsOut
    checks: ChecksOut
    cut: list[str]


class AnswerOut(AnswerFacts):
    """The cited answer, exactly as ``shiftmate ask --json`` prints it."""

    answer: str


def answer_out(answer: Answer) -> AnswerOut:
    """Return an answer as the API returns it (the ``ask --json`` shape, validated)."""
    return AnswerOut.model_validate(answer_json(answer))


class TurnOut(_Out):
    """One question and answer of a conversation, as the journal keeps it."""

    turn_id: int
    question: str
    answer: str
    citations: list[CitationOut]
    telemetry: list[dict[str, Any]]
    timings: dict[str, Any]
    checks: dict[str, Any]
    created_at: str


def stored_citation(stored: dict[str, Any]) -> dict[str, Any]:
    """Return a journal citation with every CitationOut field; turns recorded before answers
    quoted have no quote (cited whole)."""
    return {
        "id": stored["id"],
        "chunk_id": stored.get("chunk_id", ""),
        "source": stored["source"],
        "section": stored.get("section", ""),
        "page": stored.get("page"),
        "text": stored.get("text", ""),
        "quote": stored.get("quote") or "",
        "start": stored.get("start"),
        "end": stored.get("end"),
        "spans": [(int(a), int(b)) for a, b in stored.get("spans") or ()],
    }


class ConversationSummaryOut(BaseModel):
    """A conversation as listed."""

    id: str
    title: str
    created_at: str
    updated_at: str
    turns: int


class ConversationList(BaseModel):
    """The most recently active conversations."""

    conversations: list[ConversationSummaryOut]


class ConversationOut(BaseModel):
    """A conversation with its turns, oldest first."""

    id: str
    title: str
    created_at: str
    updated_at: str
    turns: list[TurnOut]


class FeedbackRequest(_Body):
    """An operator's rating of one answer."""

    turn_id: int = Field(ge=1, le=2_147_483_647)
    rating: Literal["helpful", "not_helpful"]
    reason: Literal[
        "", "wrong", "incomplete", "not_relevant", "unsupported", "unsafe", "too_slow", "other"
    ] = ""
    comment: str = Field("", max_length=MAX_COMMENT)
    corrected_answer: str = Field("", max_length=MAX_CORRECTION)
    by: str | None = Field(None, max_length=MAX_NAME, description="Default: the key's name")


class FeedbackOut(BaseModel):
    """Recorded feedback."""

    id: int
    turn_id: int
    rating: str
    reason: str
    comment: str
    corrected_answer: str
    by: str
    created_at: str


SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One server-sent event",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}
SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The answer; with stream=true, server-sent events: token*, then answer "
        "(or error)",
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
    }
}


def _record_answer(state: ApiState, job: Job[Answer], answer: Answer) -> None:
    t = answer.timings
    queued = (job.started_at or job.queued_at) - job.queued_at
    state.metrics.ttft.observe(queued + t.ttft_ms / 1000, endpoint="ask")
    state.metrics.tokens.inc(t.completion_tokens, model="shiftmate")
    generating = (t.total_ms - t.ttft_ms) / 1000
    if t.completion_tokens > 1 and generating > 0:
        state.metrics.tokens_per_s.observe(t.completion_tokens / generating, model="shiftmate")


async def answer(
    state: ApiState,
    request: Request,
    question: str,
    conversation_id: str | None,
    k: int | None,
    stream: bool,
) -> Any:
    """Answer a question through the inference queue, as JSON or as an event stream."""
    limit = state.services.settings.api.max_question_chars
    if len(question) > limit:
        raise ApiError(
            413,
            "question_too_long",
            f"the question is {len(question)} characters; the limit is {limit}",
        )
    if conversation_id is not None and not state.services.journal.exists(conversation_id):
        raise ApiError(404, "unknown_conversation", f"unknown conversation: {conversation_id}")
    chat = state.services.chat

    def work(cancel: Any, on_token: TokenSink) -> Answer:
        return chat.ask(question, conversation_id, k=k, on_token=on_token, cancel=cancel)

    if not stream:
        job = state.queue.submit(lambda cancel: work(cancel, lambda _text: None))
        result = await result_unless_disconnected(request, job)
        _record_answer(state, job, result)
        return answer_out(result)

    running = start_stream(state, work)

    async def events() -> AsyncIterator[str]:
        try:
            while (piece := await running.tokens.get()) is not None:
                yield sse.event("token", {"text": piece})
            try:
                result = running.job.future.result()
            except ShiftmateError as exc:
                status, code, message = map_error(exc)
                yield sse.event(
                    "error", {"error": {"code": code, "message": message, "status": status}}
                )
                return
            except Exception:
                log.exception("the answer stream failed")
                yield sse.event(
                    "error",
                    {
                        "error": {
                            "code": "internal",
                            "status": 500,
                            "message": "internal error; see the log",
                        }
                    },
                )
                return
            _record_answer(state, running.job, result)
            yield sse.event("answer", answer_out(result).model_dump(mode="json"))
        finally:
            running.job.cancel.set()  # a no-op when done; stops generation if the client left

    return sse.EventStreamResponse(events())


@router.post(
    "/v1/ask",
    response_model=AnswerOut,
    responses={**SSE_DOC, **responses(400, 404, 413, 429, 503)},
    summary="Answer a question with checked citations",
)
async def ask(body: AskRequest, request: Request, state: State, key: Operator) -> Any:
    """Answer a question (optionally continuing a conversation), as JSON or streamed."""
    return await answer(state, request, body.question, body.conversation_id, body.k, body.stream)


@router.get("/v1/conversations", response_model=ConversationList)
def conversations(
    state: State, key: Operator, limit: int = Query(50, ge=1, le=500)
) -> dict[str, Any]:
    """List the most recently active conversations."""
    items = state.services.journal.conversations(limit)
    return {
        "conversations": [
            {
                "id": c.id,
                "title": c.title,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
                "turns": c.turns,
            }
            for c in items
        ]
    }


def _conversation(state: ApiState, conversation_id: str) -> dict[str, Any]:
    row = state.services.db.query_one(
        "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
    )
    if row is None:
        raise ApiError(404, "unknown_conversation", f"unknown conversation: {conversation_id}")
    turns = state.services.journal.turns(conversation_id)
    return {
        "id": row["id"],
        "title": row["title"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "turns": [
            {
                "turn_id": t.id,
                "question": t.question,
                "answer": t.answer,
                "citations": [stored_citation(c) for c in t.citations],
                "telemetry": t.telemetry,
                "timings": t.timings,
                "checks": t.checks,
                "created_at": t.created_at,
            }
            for t in turns
        ],
    }


@router.get(
    "/v1/conversations/{conversation_id}",
    response_model=ConversationOut,
    responses=responses(404),
)
def conversation(conversation_id: str, state: State, key: Operator) -> dict[str, Any]:
    """Return one conversation with its turns."""
    return _conversation(state, conversation_id)


@router.post(
    "/v1/conversations/{conversation_id}/ask",
    response_model=AnswerOut,
    responses={**SSE_DOC, **responses(400, 404, 413, 429, 503)},
)
async def continue_conversation(
    conversation_id: str, body: ContinueRequest, request: Request, state: State, key: Operator
) -> Any:
    """Ask a follow-up question in a conversation."""
    return await answer(state, request, body.question, conversation_id, body.k, body.stream)


@router.post(
    "/v1/feedback",
    response_model=FeedbackOut,
    status_code=201,
    responses=responses(400, 404),
)
def feedback(body: FeedbackRequest, state: State, key: Operator) -> dict[str, Any]:
    """Record feedback on an answer (by its turn_id) in the journal."""
    if state.services.journal.turn(body.turn_id) is None:
        raise ApiError(404, "unknown_answer", f"no answer with turn id {body.turn_id}")
    fb = state.services.feedback.add(
        body.turn_id,
        body.rating,
        reason=body.reason,
        comment=body.comment,
        corrected_answer=body.corrected_answer,
        by=body.by if body.by is not None else key.name,
    )
    return {
        "id": fb.id,
        "turn_id": fb.turn_id,
        "rating": fb.rating,
        "reason": fb.reason,
        "comment": fb.comment,
        "corrected_answer": fb.corrected_answer,
        "by": fb.by,
        "created_at": fb.created_at,
    }
