"""Answer checks: invalid citations dropped, claims attributed or flagged, numbers checked."""

from __future__ import annotations

from assistant.chat.citations import (
    SentenceSplitter,
    check_answer,
    cited_labels,
    is_looping,
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


def test_sentence_with_an_invented_number_is_withheld() -> None:
    checked = check_answer(
        "Grease the bearing with 15 g [D1]. Replace the impeller every 17 months regardless "
        "of its condition.",
        PASSAGES,
        PASSAGES.values(),
    )
    assert checked.text == "Grease the bearing with 15 g [D1]."
    assert checked.cited == ("D1",)
    assert checked.unsupported_numbers == ("17",)
    assert checked.withheld == (
        "Replace the impeller every 17 months regardless of its condition.",
    )


def test_claim_without_support_is_withheld_and_short_sentences_kept() -> None:
    checked = check_answer(
        "Yes. Always wear hearing protection near the running pumps.",
        PASSAGES,
        PASSAGES.values(),
    )
    assert checked.text == "Yes."
    assert checked.unsupported_claims == ("Always wear hearing protection near the running pumps.",)
    assert checked.withheld == checked.unsupported_claims
    assert checked.cited == ()


def test_repeated_sentence_is_withheld() -> None:
    checked = check_answer(
        "Clean ST-101 at 0.35 bar [D2]. Clean ST-101 at 0.35 bar [D2].",
        PASSAGES,
        PASSAGES.values(),
    )
    assert checked.text == "Clean ST-101 at 0.35 bar [D2]."
    assert len(checked.withheld) == 1


def test_splitter_keeps_list_markers_and_decimals_with_their_sentence() -> None:
    splitter = SentenceSplitter()
    done: list[str] = []
    for piece in [
        "1. Close",
        " valve V-101A.",
        " 2. Drain at 0.",
        "5 bar. Then",
        " wait.\n3. Done",
    ]:
        done += splitter.feed(piece)
    assert done == ["1. Close valve V-101A. ", "2. Drain at 0.5 bar. ", "Then wait.\n"]
    assert splitter.flush() == "3. Done"


def test_loop_detection() -> None:
    loop = "Use a stainless steel 4-inch (10.2 mm) pipe. " + "stainless steel 4-inch (10.2 mm) " * 3
    assert is_looping(loop)
    assert not is_looping("Close V-101A, then V-101B, then open the drain V-101D slowly.")


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
