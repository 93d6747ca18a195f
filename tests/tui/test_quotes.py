"""How the terminal shows what an answer quoted: quote blocks in the answer pane, highlighted
spans in the source screen."""

from __future__ import annotations

from assistant.domain import Citation
from tui.format import LEAD_STYLE, QUOTE_STYLE, answer_content, quote_ranges
from tui.screens.source import QUOTE_STYLE as HIGHLIGHT
from tui.screens.source import passage_content, quote_note, quote_row, quoted_spans

PROCEDURE = (
    "No live data has been received for ST-101 differential pressure [T1].\n"
    "7.3 Cleaning steps: [D4]\n"
    "1. Change over so that the pump behind the dirty strainer becomes standby, then stop it.\n"
    "2. Isolate the pump.\n"
    "3. Refit the basket. [D1]"
)
QUOTES = (
    "\u201cC-3 loads at 6.5 bar(g) and unloads at 7.5 bar(g).\u201d "
    "\u201cUnload pressure: Value 7.5 bar(g)\u201d [D1]\n"
    "\u201cRated (maximum working) pressure: Value 7.5 bar(g)\u201d [D6]"
)


def styled(text: str, style: str) -> list[str]:
    """Return the pieces of answer text that quote_ranges gives a style."""
    return [text[a:b] for a, b, s in quote_ranges(text) if s == style]


def citation(
    text: str,
    spans: tuple[tuple[int, int], ...] = (),
    start: int | None = None,
    end: int | None = None,
) -> Citation:
    """Return a citation of a passage that quotes the spans (or start to end)."""
    if spans:
        start, end = min(a for a, _ in spans), max(b for _, b in spans)
    quote = text[start:end] if start is not None and end is not None else ""
    return Citation(
        "D1",
        "c1",
        "/docs/manual.md",
        "7.3",
        None,
        text,
        quote=quote,
        start=start,
        end=end,
        spans=spans,
    )


def test_a_quoted_procedure_is_a_quote_block_and_live_lines_are_not() -> None:
    assert styled(PROCEDURE, LEAD_STYLE) == ["7.3 Cleaning steps: [D4]"]
    assert styled(PROCEDURE, QUOTE_STYLE) == PROCEDURE.split("\n")[2:]
    content = answer_content(PROCEDURE)
    assert content.plain == PROCEDURE  # styles only: the text is what the service wrote
    italic = [content.plain[s.start : s.end] for s in content.spans if s.style == QUOTE_STYLE]
    assert italic == PROCEDURE.split("\n")[2:]


def test_curly_quoted_units_are_quotes_and_their_labels_stay_links() -> None:
    assert styled(QUOTES, QUOTE_STYLE) == [
        "\u201cC-3 loads at 6.5 bar(g) and unloads at 7.5 bar(g).\u201d",
        "\u201cUnload pressure: Value 7.5 bar(g)\u201d",
        "\u201cRated (maximum working) pressure: Value 7.5 bar(g)\u201d",
    ]
    content = answer_content(QUOTES)
    assert content.plain == QUOTES
    links = [s for s in content.spans if "open_source" in str(s.style)]
    assert [content.plain[s.start : s.end] for s in links] == ["[D1]", "[D6]"]


def test_written_text_is_not_styled_as_a_quote() -> None:
    # A hybrid lead sentence, and a numbered list no cited lead line introduces.
    text = "Clean the strainer as below [D1].\nFirst:\n1. something the model wrote"
    assert quote_ranges(text) == []
    assert quote_ranges("Steps [D1]\nnot a list line") == []


def test_the_quoted_spans_are_highlighted_in_the_passage() -> None:
    text = "Intro line.\n1. Open the drain.\n2. Lift the basket.\nOutro."
    spans = ((12, 30), (31, 50))
    assert text[12:30] == "1. Open the drain." and text[31:50] == "2. Lift the basket."
    c = citation(text, spans)
    assert quoted_spans(c) == list(spans)
    content = passage_content(c)
    assert content.plain == text
    assert [(s.start, s.end) for s in content.spans if s.style == HIGHLIGHT] == list(spans)
    assert quote_note(c) == "Quoted in the answer: 2 parts, highlighted, on lines 2-3 of 4."


def test_one_quote_without_spans_is_highlighted_by_its_offsets() -> None:
    text = "The basket is cleaned at 0.35 bar. It takes an hour."
    c = citation(text, start=35, end=len(text))
    assert quoted_spans(c) == [(35, len(text))]
    assert quote_note(c) == "Quoted in the answer: 1 part, highlighted."


def test_the_note_says_whole_passage_or_not_quoted() -> None:
    text = "1. Open.\n2. Lift."
    assert quote_note(citation(text, ((0, 8), (9, 17)))) == (
        "Quoted in the answer: the whole passage (highlighted)."
    )
    plain = citation(text)
    assert quoted_spans(plain) == [] and passage_content(plain).spans == []
    assert quote_note(plain) == "The answer refers to this passage without quoting it."


def test_spans_outside_the_passage_are_clipped_and_rows_count_wrapped_lines() -> None:
    text = "a" * 30 + "\n" + "b" * 10
    c = citation(text, ((31, 99),))
    assert quoted_spans(c) == [(31, 41)]
    assert quote_row(c, 10) == 3  # three wrapped rows of a's before it
    assert quote_row(c, 80) == 1
