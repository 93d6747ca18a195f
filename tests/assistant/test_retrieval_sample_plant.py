"""Retrieval on the shipped sample plant: each question's answering passage is in the top 5.

The questions, files and phrases are in tests/data/sample_plant_questions.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.services import Services

QUESTIONS_FILE = Path(__file__).resolve().parents[1] / "data" / "sample_plant_questions.md"


def _questions() -> list[tuple[str, str, str]]:
    text = QUESTIONS_FILE.read_text(encoding="utf-8")
    found = re.findall(
        r"### Q\d+\. (.+?)\n.*?- File: `(.+?)`.*?- Phrase: \"(.+?)\"", text, flags=re.S
    )
    assert len(found) == 12
    return found


@pytest.mark.parametrize(("question", "file", "phrase"), _questions())
def test_answer_passage_is_in_the_top_five(
    plant_services: Services, question: str, file: str, phrase: str
) -> None:
    hits = plant_services.retriever.search(question, k=5)
    matching = [
        h
        for h in hits
        if Path(h.chunk.source).name == file and phrase in " ".join(h.chunk.text.split())
    ]
    assert matching, f"{question!r}: " + " | ".join(
        f"{Path(h.chunk.source).name} {h.chunk.section}" for h in hits
    )
