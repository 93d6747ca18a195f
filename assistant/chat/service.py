"""The ask service: retrieve, lay out the prompt, generate, check, journal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import numpy.typing as npt

from assistant.chat.assets import AssetResolver
from assistant.chat.citations import (
    LABEL_GROUP,
    SentenceChecker,
    SentenceSplitter,
    cited_labels,
    is_looping,
    numbers_in,
)
from assistant.chat.extractive import Extract, Quote, UnitRanker, compose
from assistant.chat.intent import question_intent
from assistant.chat.live import (
    TelemetrySource,
    alarm_terms,
    is_abnormal,
    max_label,
    render_block,
    status_preface,
    telemetry_lines,
)
from assistant.chat.prompt import PROMPT_VERSION, SCAFFOLD_STOPS, PromptPlan, plan_prompt
from assistant.chat.quoting import UnitSource
from assistant.chat.strict import StrictResult, check_strict, identifiers_in, strip_scaffolding
from assistant.domain import (
    Answer,
    AnswerUnit,
    Chunk,
    Citation,
    SearchHit,
    TelemetryLine,
    Timings,
)
from assistant.errors import ChatError
from assistant.journal import Journal, PassageRef, Turn
from assistant.knowledge.retrieval import Retriever
from assistant.knowledge.sentences import split_sentences
from assistant.knowledge.store import ChunkStore
from assistant.plant import PlantSpec
from assistant.settings import ChatSettings
from models.backend import ChatBackend
from models.types import Message

NOT_COVERED = (
    "The plant documents I have do not cover this question, so I cannot answer it from them. "
    "Check that the right manuals are ingested ('shiftmate docs list') or ask a supervisor."
)
CLOSEST = "The documents do not answer this in so many words; the closest passages say:"
NOT_COVERED_BEYOND_LIVE = "The plant documents I have say nothing more about this."
ANSWER_MARGIN_TOKENS = 8
MAX_ASSETS = 3
QUOTE_PASSAGES = 8
UNIT_PASSAGES = 4
LEAD_MAX_TOKENS = 48
LEAD_SYSTEM = (
    "You write one short sentence that answers the operator's question from the quotes. "
    "Use only figures, units and ids that appear in the quotes, copied exactly. Do not add "
    "anything else."
)

TokenSink = Callable[[str], None]


class ChatService:
    """Answers questions with checked citations, one conversation turn at a time."""

    def __init__(
        self,
        settings: ChatSettings,
        model: ChatBackend,
        model_sha256: str,
        retriever: Retriever,
        store: ChunkStore,
        journal: Journal,
        units: UnitSource,
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
        self._units = units
        self._ranker = UnitRanker(units.load)
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
        lines = self._telemetry_lines(question, history)
        wanted = k or self._settings.top_k
        if self._settings.answer_mode != "generative":
            wanted = max(wanted, QUOTE_PASSAGES)  # no prompt to fit: rank the units of more
        query = " ".join([question, *(alarm_terms(line) for line in lines if is_abnormal(line))])
        found, vector = self._retriever.search_with_vector(query, wanted)
        hits = [h for h in found if h.score >= self._settings.min_score]
        if self._settings.answer_mode != "generative":
            near = self._retriever.unit_passages(vector, UNIT_PASSAGES, [h.chunk.id for h in hits])
            hits += [h for h in near if h.score >= self._settings.min_score]
        retrieval_ms = (time.perf_counter() - started) * 1000
        if not hits and not history and not lines:
            return self._not_covered(question, conversation_id, retrieval_ms, started, on_token)
        turn = _TurnInput(
            question, conversation_id, history, hits, lines, vector, started, retrieval_ms
        )
        if self._settings.answer_mode == "generative":
            return self._generate(turn, on_token, cancel)
        return self._quote(turn, on_token, cancel, hybrid=self._settings.answer_mode == "hybrid")

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

    def _plan(self, turn: _TurnInput) -> PromptPlan:
        return plan_prompt(
            question=turn.question,
            hits=turn.hits,
            history=turn.history,
            history_chunks=self._history_chunks(turn.history),
            budget_tokens=self.budget_tokens,
            count=lambda messages: self._model.count_tokens(self._model.render(messages)),
            history_turns=self._settings.history_turns,
            followup_passages=self._settings.followup_passages,
            telemetry_block=render_block(turn.lines, self._clock()) if turn.lines else "",
        )

    def _preface(self, turn: _TurnInput) -> str:
        if self._plant is None:
            return ""
        return status_preface(turn.lines, self._plant, turn.question)

    def _extract(self, turn: _TurnInput, plan: PromptPlan) -> tuple[Extract, dict[str, Chunk]]:
        """Rank the units of this turn's passages (then the earlier visible ones) and choose."""
        labels = {chunk.id: label for label, chunk in plan.visible.items()}
        for ref in plan.passages:
            labels.setdefault(ref.chunk_id, ref.label)
        ordered: list[tuple[str, Chunk]] = []
        for hit in turn.hits:
            if hit.chunk.id in labels:
                ordered.append((labels[hit.chunk.id], hit.chunk))
        listed = {chunk.id for _, chunk in ordered}
        ordered += [(label, c) for label, c in plan.visible.items() if c.id not in listed]
        intent = question_intent(turn.question)
        context = " ".join(
            [
                *(alarm_terms(line) for line in turn.lines if is_abnormal(line)),
                *(t.question for t in turn.history[-1:]),
            ]
        )
        scored = self._ranker.rank(
            turn.question, turn.vector, ordered, context=context, intent=intent
        )
        extra: dict[str, Chunk] = {}
        next_number = max((int(label[1:]) for label in labels.values()), default=0) + 1

        def whole_list(
            label: str, chunk: Chunk, group: int
        ) -> list[tuple[str, Chunk, list[AnswerUnit]]]:
            return [
                (labelled(part), part, units)
                for part, units in self._units.whole_list(chunk, group)
            ]

        def labelled(chunk: Chunk) -> str:
            nonlocal next_number
            label = labels.get(chunk.id)
            if label is None:
                label = f"D{next_number}"
                next_number += 1
                labels[chunk.id] = label
                extra[label] = chunk
            return label

        def list_after(label: str, chunk: Chunk, unit: AnswerUnit) -> tuple[str, Chunk, int] | None:
            found = self._units.list_after(chunk, unit)
            if found is None:
                return None
            return labelled(found[0]), found[0], found[1]

        extract = compose(
            scored,
            intent,
            floor=self._settings.quote_floor,
            max_quotes=self._settings.max_quotes,
            whole_list=whole_list,
            list_after=list_after,
        )
        return extract, extra

    def _quote(
        self,
        turn: _TurnInput,
        on_token: TokenSink | None,
        cancel: threading.Event | None,
        *,
        hybrid: bool,
    ) -> Answer:
        """Answer with the documents' own words: code-written live values, then quotes."""
        plan = self._plan(turn)
        extract, extra = self._extract(turn, plan)
        preface = self._preface(turn)
        body = extract.render()
        if extract.covered and not extract.confident(self._settings.confident_score):
            body = f"{CLOSEST}\n{body}"
        if not extract.covered:
            if not preface:
                return self._not_covered(
                    turn.question, turn.conversation_id, turn.retrieval_ms, turn.started, on_token
                )
            body = NOT_COVERED_BEYOND_LIVE
        shown = "\n".join(part for part in (preface, body) if part)
        first = time.perf_counter()
        if on_token is not None:
            on_token(shown)
        lead, raw, lead_prompt_tokens = "", shown, 0
        refused: tuple[str, ...] = ()
        if hybrid and extract.covered:
            lead, raw, refused, lead_prompt_tokens = self._lead(turn.question, extract, cancel)
            if lead and on_token is not None:
                on_token("\n" + lead)
        text = "\n".join(part for part in (preface, lead, body) if part)
        done = time.perf_counter()
        visible = {**plan.visible, **extra}
        citations = _quote_citations(extract.quotes, visible)
        passages = list(plan.passages) + [
            PassageRef(label, chunk.id, True) for label, chunk in extra.items()
        ]
        answer = Answer(
            conversation_id=turn.conversation_id or "",
            question=turn.question,
            text=text,
            citations=citations,
            timings=Timings(
                retrieval_ms=round(turn.retrieval_ms, 1),
                ttft_ms=round((first - turn.started) * 1000, 1),
                total_ms=round((done - turn.started) * 1000, 1),
                prompt_tokens=lead_prompt_tokens,
                completion_tokens=self._model.count_tokens(raw) if lead_prompt_tokens else 0,
            ),
            withheld=refused,
            telemetry=tuple(turn.lines),
            cut=plan.cut,
            covered=extract.covered or bool(preface),
            mode="hybrid" if hybrid else "extractive",
        )
        return self._record(answer, raw, plan.user_message, passages)

    def _lead(
        self, question: str, extract: Extract, cancel: threading.Event | None
    ) -> tuple[str, str, tuple[str, ...], int]:
        """Ask the model for one lead sentence; return (lead or "", raw text, refused, prompt
        tokens)."""
        quotes = "\n".join(q.render() for q in extract.quotes)
        messages = [
            Message("system", LEAD_SYSTEM),
            Message("user", f"Quotes:\n{quotes}\n\nQuestion: {question}"),
        ]
        prompt = self._model.render(messages)
        prompt_tokens = self._model.count_tokens(prompt)
        pieces = self._model.stream_prompt(
            prompt,
            max_tokens=LEAD_MAX_TOKENS,
            temperature=self._settings.temperature,
            stop=[*SCAFFOLD_STOPS, "\n\n", *self._settings.stop],
            cancel=cancel,
            repeat_penalty=self._settings.repeat_penalty,
        )
        try:
            raw = "".join(pieces)
        finally:
            pieces.close()
        cleaned = strip_scaffolding(raw)
        sentences = split_sentences(cleaned.replace("\n", " "))
        if not sentences:
            return "", raw, (), prompt_tokens
        lead = LABEL_GROUP.sub("", sentences[0]).strip()
        unit_texts = [u.text for q in extract.quotes for u in q.units]
        if not lead or not check_strict(lead, unit_texts).ok:
            return "", raw, (lead,) if lead else (), prompt_tokens
        labels = "".join(f"[{q.label}]" for q in extract.quotes[:1])
        end = len(lead.rstrip(".!?"))
        return f"{lead[:end]} {labels}{lead[end:] or '.'}", raw, (), prompt_tokens

    def _generate(
        self,
        turn: _TurnInput,
        on_token: TokenSink | None,
        cancel: threading.Event | None,
    ) -> Answer:
        """Let the model write the answer; show only sentences that pass the strict check.

        If none passes, the answer falls back to the quotes (the fact, not a refusal).
        """
        plan = self._plan(turn)
        prompt = self._model.render(plan.messages)
        passages = {label: chunk.text for label, chunk in plan.visible.items()}
        passages.update({line.id: line.text for line in turn.lines})
        unit_texts = {
            label: [u.text for u in self._units.units_of(chunk)]
            for label, chunk in plan.visible.items()
        }
        unit_texts.update({line.id: [line.text] for line in turn.lines})
        checker = SentenceChecker.for_context(
            passages,
            [turn.question, *passages.values(), *(t.question for t in turn.history)],
        )
        splitter = SentenceSplitter()
        shown: list[str] = []
        preface = self._preface(turn)
        if preface:
            shown.append(preface + " ")
            if on_token is not None:
                on_token(preface + " ")

        def show(sentence: str) -> None:
            cleaned = strip_scaffolding(sentence)
            if not cleaned:
                return
            trailing = sentence[len(sentence.rstrip()) :] or " "
            checked = checker.check(cleaned + trailing)
            if checked is None or not checked.strip():
                return
            cited = [label for label in cited_labels(checked) if label in unit_texts]
            pool = [text for label in cited for text in unit_texts[label]]
            if cited:
                verdict = check_strict(checked, pool)
            elif numbers_in(checked) or identifiers_in(checked):
                verdict = StrictResult(False, "a figure or id without a citation")
            else:
                verdict = StrictResult(True)
            if not verdict.ok:
                checker.withheld.append(checked.strip())
                checker.unsupported_claims.append(f"{checked.strip()} ({verdict.reason})")
                return
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
        raw = "".join(raw_parts)
        text = "".join(shown).strip()
        cited = cited_labels(text)
        model_part = shown[1:] if preface else shown
        extra: dict[str, Chunk] = {}
        quotes: tuple[Quote, ...] = ()
        if not any(cited_labels(sentence) for sentence in model_part) and plan.visible:
            # Nothing the model wrote survived with a citation: quote the documents instead.
            extract, extra = self._extract(turn, plan)
            quotes = extract.quotes
            body = extract.render() if extract.covered else NOT_COVERED_BEYOND_LIVE
            if on_token is not None:
                on_token(("\n" if text else "") + body)
            text = "\n".join(part for part in (text, body) if part)
            cited = [label for label in cited if label not in {q.label for q in quotes}]
        done = time.perf_counter()
        visible = {**plan.visible, **extra}
        citations = _quote_citations(quotes, visible) + tuple(
            _citation(label, visible[label]) for label in cited if label in visible
        )
        timings = Timings(
            retrieval_ms=round(turn.retrieval_ms, 1),
            ttft_ms=round(((first or done) - turn.started) * 1000, 1),
            total_ms=round((done - turn.started) * 1000, 1),
            prompt_tokens=plan.prompt_tokens,
            completion_tokens=self._model.count_tokens(raw) if raw else 0,
        )
        answer = Answer(
            conversation_id=turn.conversation_id or "",
            question=turn.question,
            text=text,
            citations=citations,
            timings=timings,
            dropped_citations=checker.dropped,
            unsupported_numbers=tuple(checker.unsupported_numbers),
            unsupported_claims=tuple(checker.unsupported_claims),
            withheld=tuple(w for w in checker.withheld if w),
            stopped_looping=looped,
            telemetry=tuple(turn.lines),
            cut=plan.cut,
            mode="generative",
        )
        refs = list(plan.passages) + [
            PassageRef(label, chunk.id, True) for label, chunk in extra.items()
        ]
        return self._record(answer, raw, plan.user_message, refs)

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
            mode=self._settings.answer_mode,
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
                "mode": answer.mode,
            },
            prompt_version=PROMPT_VERSION,
            model_sha256=self._model_sha256,
        )
        return replace(answer, conversation_id=conversation_id, turn_id=turn_id)


@dataclass(slots=True)
class _TurnInput:
    """What one question brings to the answer: its history, passages, live lines, vector."""

    question: str
    conversation_id: str | None
    history: list[Turn]
    hits: list[SearchHit]
    lines: list[TelemetryLine]
    vector: npt.NDArray[np.float32]
    started: float
    retrieval_ms: float


def _quote_citations(quotes: Sequence[Quote], visible: dict[str, Chunk]) -> tuple[Citation, ...]:
    """Return one citation per quoted passage, with the exact quoted text and its offsets."""
    citations = []
    for quote in quotes:
        chunk = visible.get(quote.label, quote.chunk)
        start = min(a for a, _ in quote.spans)
        end = max(b for _, b in quote.spans)
        citations.append(
            replace(
                _citation(quote.label, chunk),
                quote=chunk.text[start:end],
                start=start,
                end=end,
                spans=quote.spans,
            )
        )
    return tuple(citations)


def _citation(label: str, chunk: Chunk) -> Citation:
    return Citation(
        id=label,
        chunk_id=chunk.id,
        source=chunk.source,
        section=chunk.section,
        page=chunk.page,
        text=chunk.text,
    )
