"""Answer checks: invalid citations dropped, claims attributed or flagged, numbers checked."""

from __future__ import annotations

from assistant.chat.citations import (
    check_answer,
    cited_labels,
    numbers_in,
    strip_invalid_citations,
)

PASSAGES = {
    "D1": "Grease the P-101 drive-end bearing with 15 g of lithium-complex grease every "
    "2,000 operating hours.",
    "D2": "Clean strainer ST-101 when the differential pressure exceeds 0.35 bar.",
}


def test_citations_not_given_are_dropped_and_counted() -> None:
    text, dropped = strip_invalid_citations("Use 15 g [D1][D7]. Clean it [D9].", {"D1", "D2"})
    assert text == "Use 15 g [D1]. Clean it."
    assert dropped == 2


def test_grouped_labels_keep_only_the_valid_ones() -> None:
    text, dropped = strip_invalid_citations("See the manual [D2, D5; D1].", {"D1", "D2"})
    assert text == "See the manual [D2][D1]."
    assert dropped == 1
    assert cited_labels(text) == ["D2", "D1"]


def test_uncited_sentence_is_attributed_to_the_supporting_passage() -> None:
    checked = check_answer(
        "The strainer ST-101 should be cleaned when differential pressure exceeds 0.35 bar.",
        PASSAGES,
        PASSAGES.values(),
    )
    assert checked.text.endswith("0.35 bar [D2].")
    assert checked.cited == ("D2",)
    assert checked.attributed == 1
    assert checked.unsupported_claims == ()


def test_unsupported_claim_and_invented_number_are_flagged() -> None:
    checked = check_answer(
        "Grease the bearing with 15 g [D1]. Replace the impeller every 17 months regardless "
        "of its condition.",
        PASSAGES,
        PASSAGES.values(),
    )
    assert checked.cited == ("D1",)
    assert checked.unsupported_numbers == ("17",)
    assert len(checked.unsupported_claims) == 1
    assert "impeller" in checked.unsupported_claims[0]


def test_numbers_are_normalised_and_list_markers_ignored() -> None:
    assert numbers_in("1. Close V-101A at 4,5 bar\n2. Wait 2,000 hours on P-101 [D3]") == {
        "4.5",
        "2000",
    }
    assert numbers_in("0.350 bar") == {"0.35"}


def test_numbers_from_the_question_are_supported() -> None:
    checked = check_answer(
        "At 7 bar the compressor unloads.",
        {"D1": "The unload setpoint is 7.5 bar."},
        ["What happens at 7 bar?", "The unload setpoint is 7.5 bar."],
    )
    assert checked.unsupported_numbers == ()
