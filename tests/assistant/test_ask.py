"""Cited answers with the real default model over the sample plant's documents."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from assistant.chat.citations import numbers_in
from assistant.chat.service import CLOSEST, NOT_COVERED
from assistant.chat.strict import check_strict
from assistant.domain import Answer
from assistant.errors import ChatError
from assistant.services import Services
from tests.conftest import SAMPLE_PLANT, ServicesFactory

MANUAL = SAMPLE_PLANT / "pump-p101-p102-om-manual.md"


def _manual_steps(heading: str) -> list[str]:
    """Return the numbered steps under a heading of the sample manual, read from the file."""
    text = MANUAL.read_text(encoding="utf-8")
    section = text.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    return [line.strip() for line in section.splitlines() if re.match(r"\d+\. ", line)]


def _assert_quotes_are_exact(answer: Answer) -> None:
    for citation in answer.citations:
        assert citation.quote, citation
        assert citation.start is not None and citation.end is not None
        assert citation.text[citation.start : citation.end] == citation.quote
        for start, end in citation.spans:
            assert citation.start <= start < end <= citation.end


def test_extractive_answer_quotes_the_table_rows_that_hold_the_figures(
    plant_services: Services,
) -> None:
    streamed: list[str] = []
    question = "How much grease do the P-101 bearings take?"
    answer = plant_services.chat.ask(question, on_token=streamed.append)
    assert answer.mode == "extractive" and answer.covered
    assert "".join(streamed).strip() == answer.text, "what streams is the answer"
    assert "Pump-end 6311-C3: Quantity per regrease 17 g" in answer.text
    assert "Coupling-end pair 7311 BECBM: Quantity per regrease 35 g (17.5 g per bearing)" in (
        answer.text
    )
    _assert_quotes_are_exact(answer)
    labels_in_text = set(re.findall(r"\[(D\d+)\]", answer.text))
    assert labels_in_text == {c.id for c in answer.citations}
    quoted = " ".join(c.quote for c in answer.citations)
    assert numbers_in(answer.text) <= numbers_in(quoted), "every figure is in a quoted span"
    turn = plant_services.journal.turns(answer.conversation_id)[0]
    assert turn.citations[0]["quote"] == answer.citations[0].quote
    assert turn.checks["mode"] == "extractive"
    t = answer.timings
    assert 0 < t.retrieval_ms <= t.ttft_ms <= t.total_ms
    assert t.completion_tokens == 0, "the extractive body needs no model call"


def test_a_procedure_question_gets_the_whole_list_as_written(plant_services: Services) -> None:
    answer = plant_services.chat.ask("How do I clean strainer ST-101?")
    steps = _manual_steps("7.3 Cleaning steps")
    assert len(steps) == 10
    body = [line for line in answer.text.splitlines() if re.match(r"\d+\. ", line)]
    assert [re.sub(r" \[D\d+\]$", "", line) for line in body] == steps
    assert all(c.section.endswith("7.3 Cleaning steps") for c in answer.citations)
    _assert_quotes_are_exact(answer)


def test_the_answer_names_the_right_isolation_point(plant_services: Services) -> None:
    answer = plant_services.chat.ask("Where is the main power isolation point for motor M-101?")
    assert "MCC-1 cubicle 4B switch-disconnector" in answer.text
    assert "cubicle 4C" not in answer.text


def test_weak_matches_are_hedged_and_below_the_floor_nothing_is_quoted(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    question = "What is the boiler feedwater pH limit?"  # the sample plant has no boiler
    shutil.copytree(plant_template, tmp_path / "default")
    hedged = make_services("default").chat.ask(question)
    assert hedged.text.startswith(CLOSEST), "a weak match is introduced as the closest passages"
    shutil.copytree(plant_template, tmp_path / "strict")
    strict = make_services("strict", chat={"quote_floor": 0.5})
    answer = strict.chat.ask(question)
    assert not answer.covered
    assert answer.text == NOT_COVERED
    assert answer.citations == ()


def test_hybrid_lead_is_shown_only_when_it_passes_the_strict_check(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    shutil.copytree(plant_template, tmp_path / "hybrid")
    services = make_services("hybrid", chat={"answer_mode": "hybrid"})
    answer = services.chat.ask("At what differential pressure should ST-101 be cleaned?")
    assert answer.mode == "hybrid"
    quote = "reaches 0.35 bar with the pump delivering at least 280 m3/h"
    assert quote in answer.text, "the quotes are there whatever the model writes"
    lead = answer.text.split("\n", 1)[0]
    units = [c.quote for c in answer.citations]
    if quote not in lead:  # the model's lead sentence was shown: it must pass the check
        assert check_strict(lead, units).ok, lead
    else:
        assert answer.withheld or answer.text.startswith("\u201c")
    assert answer.timings.completion_tokens > 0, "the model was asked for a lead"
    for sentence in answer.withheld:
        assert not check_strict(sentence, units).ok


def test_generative_mode_shows_only_strictly_checked_sentences(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    shutil.copytree(plant_template, tmp_path / "gen")
    services = make_services("gen", chat={"answer_mode": "generative"})
    answer = services.chat.ask("How much grease do the P-101 bearings take?")
    assert answer.mode == "generative" and answer.citations
    assert "could be checked" not in answer.text and "The passage is" not in answer.text
    assert "<|im_end|>" not in answer.text
    by_label = {c.id: c for c in answer.citations}
    model_lines = [line for line in answer.text.splitlines() if not line.startswith("\u201c")]
    for line in model_lines:
        for match in re.finditer(r"([^.!?]*[.!?])\s*((?:\[D\d+\])+)", line):
            sentence, labels = match.group(1), re.findall(r"D\d+", match.group(2))
            texts = [by_label[label].text for label in labels if label in by_label]
            known = set().union(*(numbers_in(t) for t in texts))
            assert numbers_in(sentence) <= known, sentence
    t = answer.timings
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


def test_follow_up_reuses_labels_and_is_journaled(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    shutil.copytree(plant_template, tmp_path / "follow")
    services = make_services("follow", chat={"answer_mode": "generative"})
    first = services.chat.ask("How do I lock out pump P-101?")
    second = services.chat.ask(
        "Which valves are closed for the P-101 lockout?", first.conversation_id
    )
    assert second.conversation_id == first.conversation_id
    turns = services.journal.turns(first.conversation_id)
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
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    shutil.copytree(plant_template, tmp_path / "small")
    services = make_services(
        "small",
        models={"n_ctx": 1024},
        chat={"top_k": 20, "max_tokens": 64, "answer_mode": "generative"},
    )
    question = "How should the P-101 pump strainer be cleaned? " + " ".join(
        f"Also consider item {i} of the checklist." for i in range(60)
    )
    answer = services.chat.ask(question)
    assert answer.timings.prompt_tokens <= services.chat.budget_tokens
    assert any(c.startswith("passage: D") for c in answer.cut), answer.cut

    too_long = "Why? " * 2000
    with pytest.raises(ChatError, match="question is too long"):
        services.chat.ask("strainer cleaning " + too_long)
