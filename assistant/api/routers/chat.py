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
from assistant.domain import Answer
from assistant.errors import ShiftmateError
from assistant.feedback import MAX_COMMENT, MAX_CORRECTION, MAX_NAME
from assistant.schema.answers import AnswerOut, StreamError, StreamErrorEvent, TokenEvent
from assistant.schema.conversations import (
    ConversationList,
    ConversationOut,
    ConversationSummaryOut,
    FeedbackOut,
    TurnOut,
)

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


def record_answer(state: ApiState, job: Job[Answer], answer: Answer) -> None:
    """Record an answer's time to first token and token rate in the metrics."""
    t = answer.timings
    metrics = state.metrics
    queued = (job.started_at or job.queued_at) - job.queued_at
    metrics.ttft.labels(endpoint="ask").observe(queued + t.ttft_ms / 1000)
    metrics.tokens.labels(model="shiftmate").inc(t.completion_tokens)
    generating = (t.total_ms - t.ttft_ms) / 1000
    if t.completion_tokens > 1 and generating > 0:
        metrics.tokens_per_s.labels(model="shiftmate").observe(t.completion_tokens / generating)


def stream_error(exc: BaseException) -> StreamError:
    """Return what to tell a stream's client about the failure that ended it."""
    if isinstance(exc, ShiftmateError):
        status, code, message = map_error(exc)
        return StreamError(code=code, message=message, status=status)
    log.error("the answer stream failed", exc_info=exc)
    return StreamError(code="internal", message="internal error; see the log", status=500)


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
        record_answer(state, job, result)
        return AnswerOut.from_domain(result)

    running = start_stream(state, work)

    async def events() -> AsyncIterator[str]:
        try:
            while (piece := await running.tokens.get()) is not None:
                yield sse.event("token", TokenEvent(text=piece))
            try:
                result = running.job.future.result()
            except Exception as exc:
                yield sse.event("error", StreamErrorEvent(error=stream_error(exc)))
                return
            record_answer(state, running.job, result)
            yield sse.event("answer", AnswerOut.from_domain(result))
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
) -> ConversationList:
    """List the most recently active conversations."""
    items = state.services.journal.conversations(limit)
    return ConversationList(conversations=[ConversationSummaryOut.from_domain(c) for c in items])


@router.get(
    "/v1/conversations/{conversation_id}",
    response_model=ConversationOut,
    responses=responses(404),
)
def conversation(conversation_id: str, state: State, key: Operator) -> ConversationOut:
    """Return one conversation with its turns."""
    row = state.services.db.query_one(
        "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
    )
    if row is None:
        raise ApiError(404, "unknown_conversation", f"unknown conversation: {conversation_id}")
    turns = state.services.journal.turns(conversation_id)
    return ConversationOut(
        id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        turns=[TurnOut.from_domain(t) for t in turns],
    )


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
def feedback(body: FeedbackRequest, state: State, key: Operator) -> FeedbackOut:
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
    return FeedbackOut.from_domain(fb)
