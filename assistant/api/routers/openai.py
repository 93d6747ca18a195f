"""OpenAI-compatible ``/v1/chat/completions`` and ``/v1/models``, streaming and not.

Two models: ``shiftmate`` answers the last user message with retrieval, live telemetry and
checked citations (returned also in the ``shiftmate`` extension field); the plain model (the
GGUF's own name) is the chat model without any of that. A client that resends the whole
conversation, as OpenAI-compatible UIs do, continues the matching journal conversation.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from assistant.api import sse
from assistant.api.auth import Operator, State
from assistant.api.errors import ApiError, responses
from assistant.api.routers.chat import ID_PATTERN, SSE_EVENT_SCHEMA, record_answer, stream_error
from assistant.api.state import ApiState
from assistant.api.streaming import TokenSink, result_unless_disconnected, start_stream
from assistant.domain import Answer
from assistant.schema.answers import AnswerFacts, StreamError
from models.types import Message

router = APIRouter(tags=["openai"], responses=responses(400, 401, 403, 422, 500))

SHIFTMATE_MODEL = "shiftmate"


class TextPart(BaseModel):
    """A text part of a message's content (other part types are refused)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One message of an OpenAI chat."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """Return the message's text."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    """OpenAI stream options."""

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """An OpenAI chat completion request (unknown OpenAI fields are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    repeat_penalty: float | None = Field(None, ge=1.0, le=2.0)
    stop: str | list[str] | None = None
    stream_options: StreamOptions | None = None
    conversation_id: str | None = Field(
        None, pattern=ID_PATTERN, description="Shiftmate: continue this conversation"
    )
    k: int | None = Field(None, ge=1, le=50, description="Shiftmate: passages to retrieve")


class ModelCard(BaseModel):
    """One model as OpenAI lists it."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    """The models this server answers with."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class ResponseMessage(BaseModel):
    """The assistant's message."""

    role: Literal["assistant"]
    content: str


class Choice(BaseModel):
    """One choice (there is always exactly one)."""

    index: int
    message: ResponseMessage
    finish_reason: str


class Usage(BaseModel):
    """Token counts."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ShiftmateExtension(AnswerFacts):
    """Model shiftmate's extension field: the answer's ``ask --json`` shape, less its text."""


class ChatCompletion(BaseModel):
    """An OpenAI chat completion; ``shiftmate`` holds citations and telemetry (model shiftmate).

    The route sends only the fields set, so the plain model's completions have no
    ``shiftmate`` field at all (every field of the extension is always set).
    """

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    shiftmate: ShiftmateExtension | None = None


class OpenAIStreamError(StreamError):
    """What ended a completion stream early, with OpenAI's error type."""

    type: Literal["server_error", "invalid_request_error"]


class OpenAIStreamErrorEvent(BaseModel):
    """The last chunk of a completion stream that failed."""

    error: OpenAIStreamError


def _completion(
    cid: str,
    created: int,
    model: str,
    text: str,
    finish: str,
    usage: Usage,
    extension: ShiftmateExtension | None = None,
) -> ChatCompletion:
    """Return a completion; ``shiftmate`` is set (and so sent) only with an extension."""
    extra: dict[str, Any] = {} if extension is None else {"shiftmate": extension}
    return ChatCompletion(
        id=cid,
        object="chat.completion",
        created=created,
        model=model,
        choices=[
            Choice(
                index=0,
                message=ResponseMessage(role="assistant", content=text),
                finish_reason=finish,
            )
        ],
        usage=usage,
        **extra,
    )


def _usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )


def _models(state: ApiState) -> list[dict[str, Any]]:
    created = int(state.started)
    return [
        {"id": SHIFTMATE_MODEL, "object": "model", "created": created, "owned_by": "shiftmate"},
        {
            "id": state.services.chat_model.name,
            "object": "model",
            "created": created,
            "owned_by": "local",
        },
    ]


@router.get("/v1/models", response_model=ModelList)
def list_models(state: State, key: Operator) -> dict[str, Any]:
    """List the models: shiftmate (cited answers) and the plain chat model."""
    return {"object": "list", "data": _models(state)}


@router.get("/v1/models/{model_id}", response_model=ModelCard, responses=responses(404))
def get_model(model_id: str, state: State, key: Operator) -> dict[str, Any]:
    """Return one model."""
    for card in _models(state):
        if card["id"] == model_id:
            return card
    raise ApiError(404, "model_not_found", f"no model {model_id!r}; see GET /v1/models")


def _stops(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else [s for s in stop if s]


def _plain(
    state: ApiState, body: ChatCompletionRequest, max_tokens: int
) -> tuple[str, int, list[Message]]:
    messages = []
    for m in body.messages:
        role = "system" if m.role == "developer" else m.role
        messages.append(Message(role, m.text()))  # type: ignore[arg-type]
    model = state.services.chat_model
    prompt = model.render(messages)
    prompt_tokens = model.count_tokens(prompt)
    if prompt_tokens + max_tokens > model.n_ctx:
        raise ApiError(
            400,
            "context_length_exceeded",
            f"the messages take {prompt_tokens} tokens; with max_tokens {max_tokens} that "
            f"exceeds the model's context window of {model.n_ctx} tokens",
        )
    return prompt, prompt_tokens, messages


def _chunk(
    cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    response_model_exclude_unset=True,
    responses={
        200: {
            "description": "A chat completion; with stream=true, server-sent chunks, then [DONE]",
            "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
        },
        **responses(400, 404, 413, 429, 503),
    },
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, state: State, key: Operator
) -> Any:
    """Complete a chat, OpenAI style; model shiftmate answers with citations."""
    api = state.services.settings.api
    requested = body.max_completion_tokens or body.max_tokens
    max_tokens = min(requested or api.max_completion_tokens, api.max_completion_tokens)
    if body.model == SHIFTMATE_MODEL:
        return await _shiftmate(state, request, body)
    if body.model != state.services.chat_model.name:
        raise ApiError(404, "model_not_found", f"no model {body.model!r}; see GET /v1/models")
    prompt, prompt_tokens, _messages = _plain(state, body, max_tokens)
    model = state.services.chat_model
    chat = state.services.settings.chat
    temperature = body.temperature if body.temperature is not None else chat.temperature
    penalty = body.repeat_penalty if body.repeat_penalty is not None else 1.0
    stops = _stops(body.stop)
    cid = "chatcmpl-" + uuid.uuid4().hex
    created = int(time.time())
    name = model.name
    first: list[float] = []

    def work(cancel: threading.Event, on_token: TokenSink) -> str:
        parts: list[str] = []
        pieces = model.stream_prompt(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stops,
            cancel=cancel,
            repeat_penalty=penalty,
        )
        try:
            for piece in pieces:
                if not first:
                    first.append(time.perf_counter())
                parts.append(piece)
                on_token(piece)
        finally:
            pieces.close()
            if cancel.is_set():
                state.metrics.cancelled_tokens.labels(model="plain").inc(len(parts))
        return "".join(parts)

    def account(text: str, job_queued: float, done: float) -> tuple[int, str]:
        tokens = model.count_tokens(text) if text else 0
        metrics = state.metrics
        metrics.tokens.labels(model="plain").inc(tokens)
        if first:
            metrics.ttft.labels(endpoint="chat").observe(first[0] - job_queued)
            if tokens > 1 and done > first[0]:
                metrics.tokens_per_s.labels(model="plain").observe(tokens / (done - first[0]))
        return tokens, "length" if tokens >= max_tokens else "stop"

    if not body.stream:
        job = state.queue.submit(lambda cancel: work(cancel, lambda _t: None))
        text = await result_unless_disconnected(request, job)
        tokens, finish = account(text, job.queued_at, job.finished_at or time.perf_counter())
        return _completion(cid, created, name, text, finish, _usage(prompt_tokens, tokens))

    running = start_stream(state, work)
    include_usage = body.stream_options is not None and body.stream_options.include_usage

    async def events() -> AsyncIterator[str]:
        try:
            yield sse.event(
                None, _chunk(cid, created, name, {"role": "assistant", "content": ""}, None)
            )
            while (piece := await running.tokens.get()) is not None:
                yield sse.event(None, _chunk(cid, created, name, {"content": piece}, None))
            try:
                text = running.job.future.result()
            except Exception as exc:
                yield _stream_error(exc)
                return
            tokens, finish = account(
                text, running.job.queued_at, running.job.finished_at or time.perf_counter()
            )
            yield sse.event(None, _chunk(cid, created, name, {}, finish))
            if include_usage:
                usage = _usage(prompt_tokens, tokens).model_dump(mode="json")
                yield sse.event(
                    None, {**_chunk(cid, created, name, {}, None), "choices": [], "usage": usage}
                )
            yield sse.event(None, "[DONE]")
        finally:
            running.job.cancel.set()

    return sse.EventStreamResponse(events())


def _stream_error(exc: Exception) -> str:
    error = stream_error(exc)
    kind = "server_error" if error.status >= 500 else "invalid_request_error"
    event = OpenAIStreamErrorEvent(error=OpenAIStreamError(**error.model_dump(), type=kind))
    return sse.event(None, event)


async def _shiftmate(state: ApiState, request: Request, body: ChatCompletionRequest) -> Any:
    last = body.messages[-1]
    question = last.text()
    if last.role != "user" or not question.strip():
        raise ApiError(
            400,
            "invalid_messages",
            "the last message must be a non-empty user message: it is the question",
        )
    limit = state.services.settings.api.max_question_chars
    if len(question) > limit:
        raise ApiError(
            413,
            "question_too_long",
            f"the question is {len(question)} characters; the limit is {limit}",
        )
    conversation_id = body.conversation_id
    if conversation_id is not None:
        if not state.services.journal.exists(conversation_id):
            raise ApiError(404, "unknown_conversation", f"unknown conversation: {conversation_id}")
    else:
        earlier = [(m.role, m.text()) for m in body.messages[:-1]]
        conversation_id = state.services.journal.continued(earlier)
    chat = state.services.chat
    k = body.k
    cid = "chatcmpl-" + uuid.uuid4().hex
    created = int(time.time())

    def work(cancel: threading.Event, on_token: TokenSink) -> Answer:
        return chat.ask(question, conversation_id, k=k, on_token=on_token, cancel=cancel)

    if not body.stream:
        job = state.queue.submit(lambda cancel: work(cancel, lambda _t: None))
        result = await result_unless_disconnected(request, job)
        record_answer(state, job, result)
        t = result.timings
        usage = _usage(t.prompt_tokens, t.completion_tokens)
        extension = ShiftmateExtension.from_domain(result)
        return _completion(cid, created, SHIFTMATE_MODEL, result.text, "stop", usage, extension)

    running = start_stream(state, work)
    include_usage = body.stream_options is not None and body.stream_options.include_usage

    async def events() -> AsyncIterator[str]:
        try:
            yield sse.event(
                None,
                _chunk(cid, created, SHIFTMATE_MODEL, {"role": "assistant", "content": ""}, None),
            )
            while (piece := await running.tokens.get()) is not None:
                yield sse.event(
                    None, _chunk(cid, created, SHIFTMATE_MODEL, {"content": piece}, None)
                )
            try:
                result = running.job.future.result()
            except Exception as exc:
                yield _stream_error(exc)
                return
            record_answer(state, running.job, result)
            yield sse.event(
                None,
                _chunk(
                    cid,
                    created,
                    SHIFTMATE_MODEL,
                    {},
                    "stop",
                    shiftmate=ShiftmateExtension.from_domain(result).model_dump(mode="json"),
                ),
            )
            if include_usage:
                t = result.timings
                usage = _usage(t.prompt_tokens, t.completion_tokens).model_dump(mode="json")
                yield sse.event(
                    None,
                    {
                        **_chunk(cid, created, SHIFTMATE_MODEL, {}, None),
                        "choices": [],
                        "usage": usage,
                    },
                )
            yield sse.event(None, "[DONE]")
        finally:
            running.job.cancel.set()

    return sse.EventStreamResponse(events())
