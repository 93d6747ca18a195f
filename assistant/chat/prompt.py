"""The prompt layout and its token budget.

Layout, stable first so llama.cpp can reuse the evaluated prefix: the system prompt, then the
earlier turns exactly as the model saw and said them (each with its own passages), then this
turn's new passages and the question. A passage already visible in the kept history is referred
to by its conversation-wide label instead of being repeated, so a follow-up costs only its tail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.domain import Chunk, SearchHit
from assistant.errors import ChatError
from assistant.journal import PassageRef, Turn
from models.types import Message

PROMPT_VERSION = "ask-v1"

SYSTEM_PROMPT = (
    "You are Shiftmate, an assistant for operators and maintenance technicians at an "
    "industrial plant. Answer only from the numbered passages you are given. After each "
    "sentence, cite the passage it comes from, like [D1]. Copy numbers, units and limits "
    "exactly as the passages write them; never guess a value. If the passages do not contain "
    "the answer, say that the plant documents do not cover it. Be brief: at most five "
    "sentences, or a short list of steps."
)

Counter = Callable[[Sequence[Message]], int]


@dataclass(frozen=True, slots=True)
class PromptPlan:
    """What will be sent to the model for one turn, and what had to be left out."""

    messages: tuple[Message, ...]
    user_message: str
    passages: tuple[PassageRef, ...]
    visible: dict[str, Chunk]
    prompt_tokens: int
    cut: tuple[str, ...]


# The model must not continue the prompt's scaffolding into a new question of its own.
SCAFFOLD_STOPS = ("\nQuestion:", "\nPassages:", "\nLive telemetry")


def describe(chunk: Chunk) -> str:
    """Return a one-line description of where a passage comes from."""
    title = chunk.title or chunk.source
    parts = []
    if chunk.section.startswith(title):
        parts.append(chunk.section)  # the document's own heading already opens the path
    else:
        parts.append(title)
        if chunk.section:
            parts.append(chunk.section)
    if chunk.page is not None:
        parts.append(f"p. {chunk.page}")
    return ", ".join(parts)


def render_user_message(
    included: Sequence[tuple[str, Chunk]],
    referenced: Sequence[str],
    question: str,
    telemetry_block: str = "",
) -> str:
    """Render this turn's passages, live telemetry and the question as the user message."""
    blocks = [f"[{label}] {describe(chunk)}\n{chunk.text}" for label, chunk in included]
    parts = []
    if blocks:
        parts.append("Passages:\n\n" + "\n\n".join(blocks))
    if referenced:
        parts.append("Passages given earlier that also apply: " + ", ".join(referenced) + ".")
    if not blocks and not referenced:
        parts.append("No passages were found for this question.")
    if telemetry_block:
        parts.append(telemetry_block)
    parts.append(f"Question: {question}")
    return "\n\n".join(parts)


def _short(chunk: Chunk) -> str:
    """Return the file name and the innermost heading of a passage."""
    heading = chunk.section.rsplit(" > ", 1)[-1] if chunk.section else ""
    name = chunk.source.rsplit("/", 1)[-1]
    return f"{name}, {heading}" if heading else name


def _label_number(label: str) -> int:
    return int(label[1:])


def plan_prompt(
    *,
    question: str,
    hits: Sequence[SearchHit],
    history: Sequence[Turn],
    history_chunks: dict[str, Chunk],
    budget_tokens: int,
    count: Counter,
    history_turns: int,
    followup_passages: int | None = None,
    telemetry_block: str = "",
) -> PromptPlan:
    """Lay out the prompt and shrink it until it fits the budget; report what was cut.

    In a follow-up (kept history), at most ``followup_passages`` new passages are added, so
    the tail llama.cpp must evaluate stays short. Cuts for the budget, in order: the oldest
    earlier turns, then the lowest-ranked new passages. If the question alone does not fit,
    raise ChatError.
    """
    all_labels: dict[str, str] = {}
    for turn in history:
        for ref in turn.passages:
            all_labels.setdefault(ref.chunk_id, ref.label)
    next_number = max((_label_number(lbl) for lbl in all_labels.values()), default=0) + 1
    for hit in hits:
        if hit.chunk.id not in all_labels:
            all_labels[hit.chunk.id] = f"D{next_number}"
            next_number += 1

    kept = list(history[-history_turns:]) if history_turns else []
    older = history[: len(history) - len(kept)]
    cut = [f"history: turn {t.id} (older than chat.history_turns)" for t in older]
    candidates = list(hits)
    if kept and followup_passages is not None:
        visible_before = {ref.chunk_id for t in kept for ref in t.passages if ref.included}
        new = [h for h in candidates if h.chunk.id not in visible_before]
        for extra in new[followup_passages:]:
            candidates.remove(extra)
            label = all_labels[extra.chunk.id]
            cut.append(f"passage: {label} {_short(extra.chunk)} (chat.followup_passages)")
    while True:
        visible_ids = {ref.chunk_id for t in kept for ref in t.passages if ref.included}
        included = [
            (all_labels[h.chunk.id], h.chunk) for h in candidates if h.chunk.id not in visible_ids
        ]
        referenced = [all_labels[h.chunk.id] for h in candidates if h.chunk.id in visible_ids]
        user = render_user_message(included, referenced, question, telemetry_block)
        messages = [Message("system", SYSTEM_PROMPT)]
        for turn in kept:
            messages += [Message("user", turn.prompt_user), Message("assistant", turn.raw_answer)]
        messages.append(Message("user", user))
        tokens = count(messages)
        if tokens <= budget_tokens:
            break
        if kept:
            dropped = kept.pop(0)
            cut.append(f"history: turn {dropped.id} (context budget)")
        elif candidates:
            dropped_hit = candidates.pop()
            label = all_labels[dropped_hit.chunk.id]
            cut.append(f"passage: {label} {_short(dropped_hit.chunk)} (context budget)")
        else:
            raise ChatError(
                f"the question is too long: {tokens} tokens with the instructions, but the "
                f"context budget is {budget_tokens} (models.n_ctx minus chat.max_tokens)"
            )
    visible: dict[str, Chunk] = {}
    for turn in kept:
        for ref in turn.passages:
            if ref.included and ref.chunk_id in history_chunks:
                visible[ref.label] = history_chunks[ref.chunk_id]
    for label, chunk in included:
        visible[label] = chunk
    refs = [PassageRef(label, chunk.id, True) for label, chunk in included]
    refs += [
        PassageRef(label, h.chunk.id, False)
        for h in candidates
        for label in [all_labels[h.chunk.id]]
        if h.chunk.id in visible_ids
    ]
    return PromptPlan(tuple(messages), user, tuple(refs), visible, tokens, tuple(cut))
