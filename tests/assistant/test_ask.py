"""Cited answers with the real default model over the sample plant's documents."""

from __future__ import annotations

import re

import pytest

from assistant.chat.citations import numbers_in
from assistant.chat.service import NOT_COVERED, NOTHING_CHECKED
from assistant.errors import ChatError
from assistant.services import Services


def test_answer_cites_passages_that_were_given(plant_services: Services) -> None:
    streamed: list[str] = []
    question = "How much grease goes into the P-101 bearings?"
    answer = plant_services.chat.ask(question, on_token=streamed.append)
    assert answer.covered and answer.text
    assert "".join(streamed).strip() == answer.text, "what streams is the checked answer"
    assert answer.citations
    turn = plant_services.journal.turns(answer.conversation_id)[0]
    given = {p.label for p in turn.passages}
    labels_in_text = set(re.findall(r"\[(D\d+)\]", answer.text))
    assert labels_in_text <= given
    if answer.text.endswith(NOTHING_CHECKED):
        # No sentence the model wrote survived with a citation (invented figures or claims no
        # passage supports): the top passages are listed instead, and what was withheld is
        # reported.
        assert answer.withheld
    else:
        assert labels_in_text == {c.id for c in answer.citations}
    given_chunks = plant_services.store.get([p.chunk_id for p in turn.passages])
    sources = [question, *(c.text for c in given_chunks)]
    known = set().union(*(numbers_in(text) for text in sources))
    assert numbers_in(answer.text) <= known, "every figure shown comes from a passage given"
    for citation in answer.citations:
        assert citation.source.endswith((".md", ".csv"))
        assert citation.text
    t = answer.timings
    assert 0 < t.retrieval_ms <= t.ttft_ms <= t.total_ms
    assert t.prompt_tokens > 100 and t.completion_tokens > 0


def test_question_outside_the_documents_is_not_answered(plant_services: Services) -> None:
    answer = plant_services.chat.ask("What is the capital city of Australia?")
    assert not answer.covered
    assert answer.text == NOT_COVERED
    assert answer.citations == ()


def test_empty_question_and_unknown_conversation(plant_services: Services) -> None:
    with pytest.raises(ChatError, match="empty question"):
        plant_services.chat.ask("   ")
    with pytest.raises(ChatError, match="unknown conversation"):
        plant_services.chat.ask("How do I start P-101?", "nope")


def test_follow_up_reuses_labels_and_is_journaled(plant_services: Services) -> None:
    first = plant_services.chat.ask("How do I lock out pump P-101?")
    second = plant_services.chat.ask(
        "Which valves are closed for the P-101 lockout?", first.conversation_id
    )
    assert second.conversation_id == first.conversation_id
    turns = plant_services.journal.turns(first.conversation_id)
    assert [t.question for t in turns] == [first.question, second.question]
    first_labels = {p.chunk_id: p.label for p in turns[0].passages}
    for ref in turns[1].passages:
        if ref.chunk_id in first_labels:
            assert ref.label == first_labels[ref.chunk_id]
            assert not ref.included  # already visible in the history, not repeated
    assert sum(p.included for p in turns[1].passages) <= 1  # chat.followup_passages
    new_numbers = [int(p.label[1:]) for p in turns[1].passages if p.included]
    assert all(n > len(turns[0].passages) for n in new_numbers)
    assert turns[1].timings["prompt_tokens"] > turns[0].timings["prompt_tokens"]


def test_prompt_fits_the_context_with_a_long_question_and_many_passages(
    make_services,
    plant_template,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    import shutil

    shutil.copytree(plant_template, tmp_path / "small")
    services = make_services("small", models={"n_ctx": 1024}, chat={"top_k": 20, "max_tokens": 64})
    question = "How should the P-101 pump strainer be cleaned? " + " ".join(
        f"Also consider item {i} of the checklist." for i in range(60)
    )
    answer = services.chat.ask(question)
    assert answer.timings.prompt_tokens <= services.chat.budget_tokens
    assert any(c.startswith("passage: D") for c in answer.cut), answer.cut

    too_long = "Why? " * 2000
    with pytest.raises(ChatError, match="question is too long"):
        services.chat.ask("strainer cleaning " + too_long)
