"""Retrieval quality on a document nobody here wrote: OSHA 29 CFR 1910.147 (lockout/tagout).

The questions are our own words; each names a phrase of the paragraph that holds the answer,
and that paragraph must be among the top five passages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.services import Services

QUESTIONS = [
    (
        "Who is allowed to remove a lock from a machine?",
        "shall be removed from each energy isolating device by the employee who applied",
    ),
    ("How often must the energy control procedure be inspected?", "at least annually"),
    (
        "What must a lock or tag identify about the person who put it on?",
        "identity of the employee applying",
    ),
    (
        "Can a tagout device be used on equipment that is able to be locked out?",
        "capable of being locked out",
    ),
    (
        "What needs to be done before restarting a machine after maintenance is finished?",
        "nonessential items have been removed",
    ),
    (
        "How should shift changes be handled so that lockout protection continues?",
        "continuity of lockout or tagout protection",
    ),
    (
        "Is servicing done during normal production covered if a guard has to be removed?",
        "remove or bypass a guard",
    ),
    (
        "What training do affected employees need to get?",
        "instructed in the purpose and use of the energy control procedure",
    ),
    (
        "What has to be done with stored or residual energy after the locks go on?",
        "stored or residual energy shall be relieved",
    ),
    (
        "How must the isolation be verified before starting work?",
        "verify that isolation and deenergization",
    ),
    ("When does the standard not apply to cord and plug equipment?", "unplugging of the equipment"),
    ("What should happen when outside contractors do servicing at the plant?", "outside personnel"),
]


@pytest.fixture(scope="module")
def osha_services(
    tmp_path_factory: pytest.TempPathFactory,
    chat_model,
    embedder,
    shared_data: Path,  # type: ignore[no-untyped-def]
) -> Services:
    from assistant.services import build_services
    from assistant.settings import load_settings

    settings = load_settings(None, {"data_dir": tmp_path_factory.mktemp("osha")})
    services = build_services(settings, chat_model=chat_model, embedder=embedder)
    report = services.ingestor.ingest([shared_data / "documents" / "osha" / "29-CFR-1910.147.md"])
    assert report.count("added") == 1
    return services


@pytest.mark.parametrize(("question", "phrase"), QUESTIONS)
def test_answer_paragraph_is_in_the_top_five(
    osha_services: Services, question: str, phrase: str
) -> None:
    hits = osha_services.retriever.search(question, k=5)
    texts = [" ".join(h.chunk.text.split()).lower() for h in hits]
    assert any(phrase.lower() in t for t in texts), (
        f"'{phrase}' not in the top 5 for '{question}': "
        + " | ".join(f"{h.chunk.section}: {h.chunk.text[:80]}" for h in hits)
    )
