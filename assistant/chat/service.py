"""The ask service: retrieve, lay out the prompt, generate, check, journal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace

from assistant.chat.assets import AssetResolver
from assistant.chat.citations import SentenceChecker, SentenceSplitter, cited_labels, is_looping
from assistant.chat.live import (
    TelemetrySource,
    max_label,
    render_block,
    status_preface,
    telemetry_lines,
)
from assistant.chat.prompt import PROMPT_VERSION, SCAFFOLD_STOPS, plan_prompt
from assistant.domain import Answer, Chunk, Citation, SearchHit, TelemetryLine, Timings
from assistant.errors import ChatError
from assistant.journal import Journal, PassageRef, Turn
from assistant.knowledge.retrieval import Retriever
from assistant.knowledge.store import ChunkStore
from assistant.plant import PlantSpec
from assistant.settings import ChatSettings
from models.chat import ChatModel

NOT_COVERED = (
    "The plant documents I have do not cover this question, so I cannot answer it from them. "
    "Check that the right manuals are ingested ('shiftmate docs list') or ask a supervisor."
)
NOTHING_CHECKED = (
    "No sentence of the generated answer could be checked against the sources (a figure or "
    "claim was not found in them), so none is shown. The most relevant passages are listed "
    "below."
)
NOTHING_CHECKED_LIVE = (
    "No further sentence of the generated answer could be checked against the sources, so "
    "none is shown."
)
ANSWER_MARGIN_TOKENS = 8
MAX_ASSETS = 3

TokenSink = Callable[[str], None]


class ChatService:
    """Answers questions with checked citations, one conversation turn at a time."""

    def __init__(
        self,
        settings: ChatSettings,
        model: ChatModel,
        model_sha256: str,
        retriever: Retriever,
        store: ChunkStore,
        journal: Journal,
        *,
        telemetry: TelemetrySource | None = None,
        plant: PlantSpec | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._model = model
        self._model_sha256 = model_sha256
        self._retriever = retriever
        self._store = store
        self._journal = journal
        self._telemetry = telemetry
        self._plant = plant
        self._resolver = AssetResolver(plant) if plant is not None else None
        self._clock = clock

    @property
    def budget_tokens(self) -> int:
        """Return how many tokens the prompt may take, leaving room for the answer."""
        return self._model.n_ctx - self._settings.max_tokens - ANSWER_MARGIN_TOKENS

    def ask(
        self,
        question: str,
        conversation_id: str | None = None,
        *,
        k: int | None = None,
        on_token: TokenSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Answer:
        """Answer a question (continuing a conversation if given), streaming tokens to on_token."""
        question = " ".join(question.split())
        if not question:
            raise ChatError("empty question: type what you want to know")
        history: list[Turn] = []
        if conversation_id is not None:
            self._journal.require(conversation_id)
            history = self._journal.turns(conversation_id)
        started = time.perf_counter()
        hits = [
            h
            for h in self._retriever.search(question, k or self._settings.top_k)
            if h.score >= self._settings.min_score
        ]
        retrieval_ms = (time.perf_counter() - started) * 1000
        lines = self._telemetry_lines(question, history)
        if not hits and not history and not lines:
            return self._not_covered(question, conversation_id, retrieval_ms, started, on_token)
        return self._generate(
            question,
            conversation_id,
            history,
            hits,
            lines,
            retrieval_ms,
            started,
            on_token,
            cancel,
        )

    def _telemetry_lines(self, question: str, history: list[Turn]) -> list[TelemetryLine]:
        if self._telemetry is None or self._resolver is None:
            return []
        assets = self._resolver.resolve_conversation(question, [t.question for t in history])
        if not assets:
            return []
        first = max_label([t.prompt_user for t in history], "T") + 1
        return telemetry_lines(
            self._telemetry,
            assets[:MAX_ASSETS],
            question,
            first,
            self._settings.telemetry_lines,
            self._clock(),
        )

    def _history_chunks(self, history: list[Turn]) -> dict[str, Chunk]:
        ids = sorted({ref.chunk_id for t in history for ref in t.passages if ref.included})
        return {c.id: c for c in self._store.get(ids)}

    def _generate(
        self,
        question: str,
        conversation_id: str | None,
        history: list[Turn],
        hits: list[SearchHit],
        lines: list[TelemetryLine],
        retrieval_ms: float,
        started: float,
        on_token: TokenSink | None,
        cancel: threading.Event | None,
    ) -> Answer:
        plan = plan_prompt(
            question=question,
            hits=hits,
            history=history,
            history_chunks=self._history_chunks(history),
            budget_tokens=self.budget_tokens,
            count=lambda messages: self._model.count_tokens(self._model.render(messages)),
            history_turns=self._settings.history_turns,
            followup_passages=self._settings.followup_passages,
            telemetry_block=render_block(lines, self._clock()) if lines else "",
        )
        prompt = self._model.render(plan.messages)
        passages = {label: chunk.text for label, chunk in plan.visible.items()}
        passages.update({line.id: line.text for line in lines})
        checker = SentenceChecker.for_context(
            passages, [question, *passages.values(), *(t.question for t in history)]
        )
        splitter = SentenceSplitter()
        shown: list[str] = []
        preface = status_preface(lines, self._plant, question) if self._plant is not None else ""
        if preface:
            shown.append(preface + " ")
            if on_token is not None:
                on_token(preface + " ")

        def show(sentence: str) -> None:
            checked = checker.check(sentence)
            if checked is not None and checked.strip():
                shown.append(checked)
                if on_token is not None:
                    on_token(checked)

        first: float | None = None
        raw_parts: list[str] = []
        looped = False
        pieces = self._model.stream_prompt(
            prompt,
            max_tokens=self._settings.max_tokens,
            temperature=self._settings.temperature,
            stop=[*SCAFFOLD_STOPS, *self._settings.stop],
            cancel=cancel,
            repeat_penalty=self._settings.repeat_penalty,
        )
        try:
            for piece in pieces:
                if first is None:
                    first = time.perf_counter()
                raw_parts.append(piece)
                for sentence in splitter.feed(piece):
                    show(sentence)
                if is_looping("".join(raw_parts[-80:])):
                    looped = True
                    break
        finally:
            pieces.close()
        rest = splitter.flush()
        if looped:
            checker.withheld.append(rest.strip())
        else:
            show(rest)
        done = time.perf_counter()
        raw = "".join(raw_parts)
        text = "".join(shown).strip()
        cited = cited_labels(text)
        model_part = shown[1:] if preface else shown
        if not any(cited_labels(sentence) for sentence in model_part):
            # Nothing the model wrote survived with a citation (at most fragments such as
            # "5. Clean", already streamed): say so and list the passages.
            fallback = NOTHING_CHECKED if plan.visible else NOTHING_CHECKED_LIVE
            if on_token is not None:  # streamed as the final text reads: one space before it
                spaced = text and not "".join(shown)[-1:].isspace()
                on_token(f" {fallback}" if spaced else fallback)
            text = f"{text} {fallback}".strip()
            cited += [label for label in list(plan.visible)[:3] if label not in cited]
        citations = tuple(
            _citation(label, plan.visible[label]) for label in cited if label in plan.visible
        )
        timings = Timings(
            retrieval_ms=round(retrieval_ms, 1),
            ttft_ms=round(((first or done) - started) * 1000, 1),
            total_ms=round((done - started) * 1000, 1),
            prompt_tokens=plan.prompt_tokens,
            completion_tokens=self._model.count_tokens(raw) if raw else 0,
        )
        answer = Answer(
            conversation_id=conversation_id or "",
            question=question,
            text=text,
            citations=citations,
            timings=timings,
            dropped_citations=checker.dropped,
            unsupported_numbers=tuple(checker.unsupported_numbers),
            unsupported_claims=tuple(checker.unsupported_claims),
            withheld=tuple(w for w in checker.withheld if w),
            stopped_looping=looped,
            telemetry=tuple(lines),
            cut=plan.cut,
        )
        return self._record(answer, raw, plan.user_message, list(plan.passages))

    def _not_covered(
        self,
        question: str,
        conversation_id: str | None,
        retrieval_ms: float,
        started: float,
        on_token: TokenSink | None,
    ) -> Answer:
        if on_token is not None:
            on_token(NOT_COVERED)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        answer = Answer(
            conversation_id=conversation_id or "",
            question=question,
            text=NOT_COVERED,
            citations=(),
            timings=Timings(round(retrieval_ms, 1), elapsed, elapsed, 0, 0),
            covered=False,
        )
        return self._record(answer, NOT_COVERED, f"Question: {question}", [])

    def _record(
        self, answer: Answer, raw: str, prompt_user: str, passages: list[PassageRef]
    ) -> Answer:
        conversation_id = answer.conversation_id or self._journal.new_conversation(answer.question)
        turn_id = self._journal.add_turn(
            conversation_id,
            question=answer.question,
            answer=answer.text,
            raw_answer=raw,
            prompt_user=prompt_user,
            passages=passages,
            citations=[asdict(c) for c in answer.citations],
            telemetry=[asdict(line) for line in answer.telemetry],
            timings=asdict(answer.timings),
            checks={
                "dropped_citations": answer.dropped_citations,
                "unsupported_numbers": list(answer.unsupported_numbers),
                "unsupported_claims": list(answer.unsupported_claims),
                "withheld": list(answer.withheld),
                "stopped_looping": answer.stopped_looping,
                "cut": list(answer.cut),
                "covered": answer.covered,
            },
            prompt_version=PROMPT_VERSION,
            model_sha256=self._model_sha256,
        )
        return replace(answer, conversation_id=conversation_id, turn_id=turn_id)


def _citation(label: str, chunk: Chunk) -> Citation:
    return Citation(
        id=label,
        chunk_id=chunk.id,
        source=chunk.source,
        section=chunk.section,
        page=chunk.page,
        text=chunk.text,
    )
