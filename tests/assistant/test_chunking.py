"""Chunking: packing within a section and page, splitting long blocks, ids, assets, embed text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.domain import Chunk, LoadedDocument, TextBlock
from assistant.knowledge.chunking import chunk_document, embedding_text, find_assets
from assistant.settings import DEFAULT_ASSET_PATTERN
from connectors.documents import load_document

ASSETS = re.compile(DEFAULT_ASSET_PATTERN)
HASH = "0123456789abcdef" * 4
OSHA = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "documents"
    / "osha"
    / "29-CFR-1910.147.md"
)


def _doc(*blocks: TextBlock, title: str = "Pump P-101 Manual") -> LoadedDocument:
    return LoadedDocument(source="/plant/p101.md", title=title, blocks=blocks)


def _chunk(doc: LoadedDocument, target: int = 200) -> list[Chunk]:
    return chunk_document(doc, "doc1", HASH, target, ASSETS)


def _words(text: str) -> list[str]:
    return text.split()


def test_find_assets_returns_unique_matches_in_order() -> None:
    text = "Start P-101, then open V-12; if P-101 trips check TT-7 and V-12."

    assert find_assets(text, ASSETS) == ("P-101", "V-12", "TT-7")
    assert find_assets("no tags here", ASSETS) == ()


def test_small_blocks_of_one_section_are_packed_into_one_chunk() -> None:
    doc = _doc(
        TextBlock("Open valve V-12.", ("Startup",)),
        TextBlock("Start pump P-101.", ("Startup",)),
    )

    [chunk] = _chunk(doc)

    assert chunk == Chunk(
        id=f"doc1:{HASH[:12]}:0",
        source="/plant/p101.md",
        title="Pump P-101 Manual",
        section="Startup",
        page=None,
        text="Open valve V-12.\n\nStart pump P-101.",
        assets=("V-12", "P-101"),
    )


def test_chunks_never_cross_a_heading_or_page_change() -> None:
    doc = _doc(
        TextBlock("Intro.", ()),
        TextBlock("Open valve V-12.", ("Manual", "Startup"), page=1),
        TextBlock("Start pump P-101.", ("Manual", "Startup"), page=2),
        TextBlock("Stop the pump.", ("Manual", "Shutdown"), page=2),
        TextBlock("Close valve V-12.", ("Manual", "Shutdown"), page=2),
    )

    chunks = _chunk(doc)

    assert [(c.section, c.page, c.text) for c in chunks] == [
        ("", None, "Intro."),
        ("Manual > Startup", 1, "Open valve V-12."),
        ("Manual > Startup", 2, "Start pump P-101."),
        ("Manual > Shutdown", 2, "Stop the pump.\n\nClose valve V-12."),
    ]
    assert [c.id for c in chunks] == [f"doc1:{HASH[:12]}:{i}" for i in range(4)]


def test_blocks_are_packed_up_to_the_target() -> None:
    blocks = [TextBlock(f"Step {n} of the procedure is written here.", ("S",)) for n in range(10)]

    chunks = _chunk(_doc(*blocks), target=100)

    assert all(len(c.text) <= 100 for c in chunks)
    assert [len(c.text.split("\n\n")) for c in chunks] == [2, 2, 2, 2, 2]


def test_a_long_block_is_split_at_sentence_boundaries() -> None:
    sentences = [f"Sentence number {n} says something about pump P-{100 + n}." for n in range(12)]
    block = TextBlock(" ".join(sentences), ("Long",))

    chunks = _chunk(_doc(block), target=150)

    assert len(chunks) > 1
    assert all(len(c.text) <= 150 for c in chunks)
    assert all(c.text.endswith(".") and c.text.startswith("Sentence") for c in chunks)
    assert _words(" ".join(c.text for c in chunks)) == _words(block.text)
    assert all(c.assets == tuple(re.findall(r"P-\d+", c.text)) for c in chunks)


def test_abbreviations_do_not_end_a_sentence() -> None:
    text = "Use oil, e.g. Mobil DTE 25, for the pump. " * 6

    chunks = _chunk(_doc(TextBlock(text.strip(), ("S",))), target=90)

    assert all(c.text.endswith("for the pump.") for c in chunks)


def test_a_sentence_longer_than_the_hard_limit_is_split_at_whitespace() -> None:
    words = " ".join(f"word{n}" for n in range(200))
    giant = "x" * 500

    chunks = _chunk(_doc(TextBlock(words, ("S",)), TextBlock(giant, ("T",))), target=100)

    assert all(len(c.text) <= 150 for c in chunks)
    assert _words(" ".join(c.text for c in chunks if c.section == "S")) == _words(words)
    assert "".join(c.text for c in chunks if c.section == "T") == giant


def test_a_sentence_up_to_one_and_a_half_targets_stays_whole() -> None:
    sentence = "A " + "very " * 26 + "long sentence."

    [chunk] = _chunk(_doc(TextBlock(sentence, ("S",))), target=100)

    assert 100 < len(chunk.text) <= 150
    assert chunk.text == sentence


def test_table_blocks_split_at_row_boundaries_and_repeat_the_header() -> None:
    header = "Tag | Limit | Kind"
    rows = [f"PT-{n} | {n} bar | pressure transmitter" for n in range(20)]

    chunks = _chunk(_doc(TextBlock("\n".join([header, *rows]), ("Limits",))), target=120)

    assert len(chunks) > 1
    for chunk in chunks:
        first, *rest = chunk.text.split("\n")
        assert first == header, "every part of a cut table keeps its header row"
        assert rest and all(line.startswith("PT-") for line in rest)
    assert [line for c in chunks for line in c.text.split("\n")[1:]] == rows


def test_assets_are_found_in_section_and_text() -> None:
    doc = _doc(TextBlock("Check the seal.", ("Pump P-101", "Seals")))

    [chunk] = _chunk(doc)

    assert chunk.assets == ("P-101",)


def test_embedding_text_puts_title_and_section_before_the_text() -> None:
    [chunk] = _chunk(_doc(TextBlock("Check the seal.", ("Pump", "Seals"))))
    [bare] = _chunk(_doc(TextBlock("Loose text.", ()), title=""))

    assert embedding_text(chunk) == "Pump P-101 Manual — Pump > Seals\n\nCheck the seal."
    assert embedding_text(bare) == "Loose text."
    assert chunk.text == "Check the seal."


def test_chunking_is_deterministic_and_ids_follow_the_content_hash() -> None:
    doc = _doc(*(TextBlock(f"Paragraph {n}. " * 20, (f"H{n % 3}",)) for n in range(9)))

    first = _chunk(doc, target=120)
    again = _chunk(doc, target=120)
    other = chunk_document(doc, "doc1", "f" * 64, 120, ASSETS)

    assert first == again
    assert [c.id.split(":")[1] for c in other] == ["f" * 12] * len(other)
    assert [c.text for c in other] == [c.text for c in first]


def test_target_must_be_positive() -> None:
    with pytest.raises(ValueError, match="target_chars"):
        _chunk(_doc(TextBlock("x", ())), target=0)


def test_osha_chunks_stay_under_the_hard_limit_and_keep_sections() -> None:
    doc = load_document(OSHA, 50 * 1024 * 1024)

    chunks = chunk_document(doc, "osha", HASH, 900, ASSETS)

    assert 30 <= len(chunks) <= 120
    assert all(0 < len(c.text) <= 1350 for c in chunks)
    sections = {c.section for c in chunks}
    assert "(c) General > (6) Periodic inspection" in sections
    assert "(d) Application of control > (5) Stored energy" in sections
    everything = " ".join(" ".join(c.text.split()) for c in chunks)
    for block in doc.blocks:
        assert " ".join(block.text.split()) in everything
    annual = [c for c in chunks if "at least annually" in c.text]
    assert [c.section for c in annual] == ["(c) General > (6) Periodic inspection"]
