"""Turn plant documents (Markdown, text, PDF, HTML, DOCX, CSV) into our frozen text blocks.

Every loader returns a :class:`LoadedDocument` or raises :class:`DocumentError` with a reason
a person can act on; no parser exception escapes, so ingestion can go on with other files.
Documents without explicit headings (plain text, Markdown without ``#``, PDF) get their
structure from heuristics: legal and outline numbering such as ``(a)``/``(1)``/``(i)``,
section numbers such as ``1.2``, ``SECTION 3``, ALL-CAPS and Title Case lines.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docx
from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph
from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, PyPdfError

from assistant.domain import LoadedDocument, TextBlock
from assistant.errors import DocumentError

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".md", ".markdown", ".txt", ".text", ".log", ".pdf", ".html", ".htm", ".docx", ".csv"}
)

_EMPTY = "empty: no text to index"
_NO_PDF_TEXT = "no extractable text (scanned PDF?)"
_UNDECODABLE = "cannot decode as UTF-8 text"
_BINARY = "binary content, not text"
_CSV_ROWS_PER_BLOCK = 10
_PLACEHOLDER_TITLES = frozenset({"untitled", "untitled document", "word document", "anonymous"})


def load_document(path: Path, max_bytes: int) -> LoadedDocument:
    """Read one document file and return its title and text blocks, or raise DocumentError."""
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        shown = f"'{suffix}'" if suffix else "(no file suffix)"
        raise DocumentError(source, f"unsupported file type {shown} (supported: {supported})")
    data = _read_limited(path, max_bytes)
    if not data.strip():
        raise DocumentError(source, _EMPTY)
    title, blocks = _LOADERS[suffix](data, path)
    cleaned = tuple(_clean_blocks(blocks))
    if not cleaned:
        raise DocumentError(source, _NO_PDF_TEXT if suffix == ".pdf" else _EMPTY)
    title = _collapse(title) or _stem_title(path)
    return LoadedDocument(source=source, title=title, blocks=cleaned)


# ---------------------------------------------------------------------------------------------
# Bytes and text


def _read_limited(path: Path, max_bytes: int) -> bytes:
    source = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(
                source, f"too large: {_human_size(size)}, limit is {_human_size(max_bytes)}"
            )
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise DocumentError(source, f"cannot read file: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise DocumentError(source, f"too large: over the limit of {_human_size(max_bytes)}")
    return data


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


_CP1252_SYMBOLS = frozenset(
    "°±µ²³¹€£¥¢§¶©®™“”„—…•·÷¼½¾«»¿¡¦¬¯¨ºª†‡‰"
    "\u00a0\u2018\u2019\u201a\u2013\u00d7\u00b4\u00b8\u2039\u203a"
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


def _decode_text(data: bytes, source: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DocumentError(
                source, f"{_UNDECODABLE} (nor as UTF-16, despite its byte order mark)"
            ) from exc
    elif b"\x00" in data:
        raise DocumentError(source, _BINARY)
    else:
        text = _decode_8bit(data, source)
    if len(_CONTROL.findall(text)) > max(2, len(text) // 100):
        raise DocumentError(source, _BINARY)
    return text


def _decode_8bit(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise DocumentError(source, _UNDECODABLE) from exc
    if _plausible_cp1252(text) and text.encode("cp1252") == data:
        return text
    raise DocumentError(source, _UNDECODABLE)


def _plausible_cp1252(text: str) -> bool:
    """Tell whether a cp1252 reading looks like Western text rather than noise."""
    unusual = [ch for ch in text if ord(ch) > 127]
    if len(unusual) > len(text) // 10:
        return False
    return all(ch.isalpha() or ch in _CP1252_SYMBOLS for ch in unusual)


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _stem_title(path: Path) -> str:
    return _collapse(re.sub(r"[_-]+", " ", path.stem)) or path.name


_SPACES = re.compile(r"[^\S\n]+")


def _collapse(text: str) -> str:
    return _SPACES.sub(" ", text.replace("\n", " ")).strip()


def _clean_text(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _clean_blocks(blocks: Sequence[TextBlock]) -> list[TextBlock]:
    cleaned = []
    for block in blocks:
        text = _clean_text(block.text)
        if text:
            path = tuple(part for part in (_collapse(p) for p in block.heading_path) if part)
            cleaned.append(TextBlock(text=text, heading_path=path, page=block.page))
    return cleaned


def _short(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = text.strip().splitlines()
    message = lines[0] if lines else ""
    message = message if len(message) <= 160 else message[:157] + "..."
    return message or type(exc).__name__


# ---------------------------------------------------------------------------------------------
# Pieces: lines grouped into paragraphs, tables, lists, code and explicit headings


@dataclass(slots=True)
class _Piece:
    text: str
    page: int | None = None
    level: int | None = None  # explicit heading level (Markdown, HTML, DOCX)
    verbatim: bool = False  # table, list or code: never a heading
    lines: int = 1


_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-{2,})\s*$")
_RULE = re.compile(r"^\s*([-*_=~])(?:\s*\1){2,}\s*$")
_TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|?$")
_MD_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+\S")
_TEXT_BULLET = re.compile(r"^\s*[-*+•▪◦‣]\s+\S")
_ENDS_CLAUSE = re.compile(r"[.!?:;]['\")\]]*$")
_PARA, _TABLE, _LIST, _CODE = "para", "table", "list", "code"


class _Splitter:
    """Group the lines of one text (or one PDF page) into pieces."""

    def __init__(
        self,
        page: int | None = None,
        *,
        markdown: bool = False,
        heuristics: bool = True,
        line_mode: bool = False,
        wrap_width: int | None = None,
    ) -> None:
        self._page = page
        self._markdown = markdown
        self._heuristics = heuristics
        self._line_mode = line_mode
        self._wrap_width = wrap_width
        self._pieces: list[_Piece] = []
        self._lines: list[str] = []
        self._kind = _PARA
        self._in_code = False

    def split(self, text: str) -> list[_Piece]:
        """Return the pieces of ``text`` in reading order."""
        for raw in text.splitlines():
            self._line(raw.rstrip())
        self._flush()
        return self._pieces

    def _flush(self) -> None:
        if self._lines:
            verbatim = self._kind != _PARA
            joined = ("\n" if verbatim else " ").join(self._lines)
            self._pieces.append(
                _Piece(joined, self._page, verbatim=verbatim, lines=len(self._lines))
            )
        self._lines = []
        self._kind = _PARA

    def _start(self, kind: str) -> None:
        if self._kind != kind:
            self._flush()
            self._kind = kind

    def _alone(self, line: str) -> None:
        self._flush()
        self._lines.append(line)
        self._flush()

    def _line(self, raw: str) -> None:
        stripped = raw.strip()
        if self._markdown and _FENCE.match(raw):
            self._flush()
            self._in_code = not self._in_code
            self._kind = _CODE if self._in_code else _PARA
            return
        if self._in_code:
            self._lines.append(raw)
            return
        if not stripped:
            self._flush()
            return
        if self._markdown and self._markdown_structure(raw, stripped):
            return
        if _RULE.match(stripped):
            self._flush()
            return
        if stripped.startswith("|"):
            if not (self._markdown and _TABLE_RULE.match(stripped)):
                self._start(_TABLE)
                self._lines.append(stripped)
            return
        if (_MD_BULLET if self._markdown else _TEXT_BULLET).match(raw):
            self._start(_LIST)
            self._lines.append(stripped)
            return
        if self._kind == _LIST and raw[:1].isspace():
            self._lines.append(stripped)
            return
        if self._kind != _PARA:
            self._flush()
        if self._line_mode:
            self._alone(stripped)
            return
        if self._heuristics and self._structural_line(stripped):
            return
        self._lines.append(stripped)
        if (
            self._wrap_width
            and stripped.endswith((".", "!", "?", ":"))
            and len(stripped) < 0.75 * self._wrap_width
        ):
            self._flush()

    def _markdown_structure(self, raw: str, stripped: str) -> bool:
        heading = _MD_HEADING.match(raw)
        if heading:
            self._flush()
            self._pieces.append(_Piece(heading.group(2), self._page, level=len(heading.group(1))))
            return True
        underline = _SETEXT.match(raw)
        if underline and self._kind == _PARA and len(self._lines) == 1:
            level = 1 if stripped.startswith("=") else 2
            self._pieces.append(_Piece(self._lines[0], self._page, level=level))
            self._lines = []
            return True
        return False

    def _structural_line(self, stripped: str) -> bool:
        """Start a new piece at a numbered line or a heading-like line; say if one was taken."""
        label = _match_outline(stripped) or _match_section(stripped)
        if label is not None:
            if isinstance(label, _SectionLabel) and _split_title(label.rest)[0] is None:
                return False
            self._flush()
            self._lines.append(stripped)
            title, has_body = _split_title(label.rest)
            if title is not None and not has_body:
                self._flush()
            return True
        at_boundary = not self._lines or bool(_ENDS_CLAUSE.search(self._lines[-1]))
        if at_boundary and _unlabeled_kind(stripped)[0] in ("major", "minor", "leadin"):
            self._alone(stripped)
            return True
        return False


def _has_markdown_headings(text: str) -> bool:
    in_code = False
    previous = ""
    for raw in text.splitlines():
        if _FENCE.match(raw):
            in_code = not in_code
            continue
        if in_code:
            continue
        if _MD_HEADING.match(raw):
            return True
        if previous and _SETEXT.match(raw) and not _MD_BULLET.match(previous):
            return True
        previous = raw.strip()
    return False


# ---------------------------------------------------------------------------------------------
# Heading heuristics


@dataclass(frozen=True, slots=True)
class _OutlineLabel:
    shown: str
    token: str
    rest: str


@dataclass(frozen=True, slots=True)
class _SectionLabel:
    shown: str
    depth: int
    rest: str


_LABEL_TOKEN = r"(?P<tok>\d{1,3}|[a-z]{1,6}|[A-Z]{1,6})"
_OUTLINE_PAREN = re.compile(rf"^(?P<shown>\({_LABEL_TOKEN}\))\s+(?P<rest>\S.*)$")
_OUTLINE_RIGHT = re.compile(rf"^(?P<shown>{_LABEL_TOKEN}\))\s+(?P<rest>\S.*)$")
_SECTION_NUMBER = re.compile(r"^(?P<shown>(?P<tok>\d{1,3}(?:\.\d{1,3})*)\.?)\s+(?P<rest>[A-Z(].*)$")
_SECTION_LETTER = re.compile(r"^(?P<shown>(?P<tok>[A-Z]|[IVXLC]{1,6})\.)\s+(?P<rest>[A-Z].*)$")
_MAJOR = re.compile(
    r"^(?:section|chapter|part|appendix|annex|attachment|article)\s+"
    r"(?:\d{1,3}(?:\.\d{1,3})*|[A-Z]|[IVXLC]{1,6})\b",
    re.IGNORECASE,
)
_LEADIN = re.compile(
    r"^(?:notes?|caution|warning|danger|notice|important|tip|example|exceptions?)\s*[:!]?$"
    r"|^[A-Z][\w()/-]{0,24}:$",
    re.IGNORECASE,
)
_ROMAN = re.compile(r"^m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")
_TITLE_BODY_WIDE = re.compile(
    r"^(?P<title>.{2,100}?)(?:\.|\s*[\u2014\u2013]|:)\s{2,}(?P<body>\S.*)$"
)
_TITLE_BODY_NARROW = re.compile(r"^(?P<title>[^.:]{2,60}?)\.\s+(?P<body>[A-Z(].{30,})$")
_VERBS = _word_set(
    "is are was were be been being shall must will would should may might can cannot "
    "could does do did has have had not isn't aren't don't doesn't won't"
)
_SENTENCE_STARTERS = _word_set(
    "the this these those that each every all any if when where whenever before after "
    "it there we you they he she"
)
_DANGLING = _word_set("and or of the to for with a an by in on that which but nor")
_SMALL_WORDS = _word_set(
    "a an and as at but by for from in into nor of on or per the to via vs with"
)


def _match_outline(text: str) -> _OutlineLabel | None:
    match = _OUTLINE_PAREN.match(text) or _OUTLINE_RIGHT.match(text)
    if match is None or not _outline_candidates(match["tok"]):
        return None
    return _OutlineLabel(match["shown"], match["tok"], match["rest"])


def _match_section(text: str) -> _SectionLabel | None:
    match = _SECTION_NUMBER.match(text)
    if match is not None:
        return _SectionLabel(match["shown"], match["tok"].count(".") + 1, match["rest"])
    match = _SECTION_LETTER.match(text)
    if match is not None:
        return _SectionLabel(match["shown"], 1, match["rest"])
    return None


def _roman_value(token: str) -> int:
    lowered = token.lower()
    if not lowered or not _ROMAN.match(lowered):
        return 0
    values = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
    total = 0
    for index, char in enumerate(lowered):
        value = values[char]
        following = values[lowered[index + 1]] if index + 1 < len(lowered) else 0
        total += -value if value < following else value
    return total


def _outline_candidates(token: str) -> tuple[tuple[str, int], ...]:
    """Return the (numbering style, value) readings of a label such as ``1``, ``c`` or ``iv``."""
    if token.isdigit():
        return (("digit", int(token)),)
    case = "lower" if token.islower() else "upper"
    readings: list[tuple[str, int]] = []
    if len(token) == 1:
        readings.append((f"{case}-letter", ord(token.lower()) - ord("a") + 1))
    roman = _roman_value(token)
    if roman:
        readings.append((f"{case}-roman", roman))
    return tuple(readings)


class _Outline:
    """Track the nesting of outline labels: (a) > (1) > (i) > (A) > (1) ..."""

    def __init__(self) -> None:
        self._stack: list[tuple[str, int]] = []

    def reset(self) -> None:
        self._stack.clear()

    def place(self, token: str) -> int:
        """Return the 1-based depth of the label ``token`` and remember it."""
        readings = _outline_candidates(token)
        for depth in range(len(self._stack), 0, -1):
            style, value = self._stack[depth - 1]
            for reading in readings:
                if reading == (style, value + 1):
                    return self._set(depth, reading)
        for reading in readings:
            if reading[1] == 1:
                return self._set(len(self._stack) + 1, reading)
        styles = {style for style, _ in readings}
        for depth in range(len(self._stack), 0, -1):
            style = self._stack[depth - 1][0]
            if style in styles:
                return self._set(depth, next(r for r in readings if r[0] == style))
        return self._set(len(self._stack) + 1, readings[0])

    def _set(self, depth: int, reading: tuple[str, int]) -> int:
        del self._stack[depth - 1 :]
        self._stack.append(reading)
        return depth


def _words(text: str) -> list[str]:
    return [word.strip("()[],.;:!?\"'“”\u2018\u2019").lower() for word in text.split()]


def _is_titleish(text: str, max_words: int, max_chars: int = 80) -> bool:
    """Tell whether ``text`` reads like a short title rather than a sentence."""
    stripped = text.strip()
    if len(stripped) > max_chars + 8 or stripped.endswith((",", ";")):
        return False
    core = _trim_heading(stripped)
    if not core or len(core) > max_chars:
        return False
    if not (core[0].isupper() or core[0].isdigit() or core[0] in "(§"):
        return False
    words = [word for word in _words(core) if word]
    if not words or len(words) > max_words:
        return False
    if words[0] in _SENTENCE_STARTERS or words[-1] in _DANGLING:
        return False
    return not any(word in _VERBS for word in words)


def _trim_heading(text: str) -> str:
    return _collapse(re.sub(r"[\s.:;,\u2014\u2013-]+$", "", text))


def _is_title_case(text: str) -> bool:
    words = re.findall(r"[^\W\d_][\w'\u2019/-]*", text)
    significant = [word for word in words if word.lower() not in _SMALL_WORDS]
    return bool(significant) and all(word[0].isupper() for word in significant)


def _is_all_caps(text: str) -> bool:
    letters = [char for char in text if char.isalpha()]
    return len(letters) >= 3 and all(char.isupper() for char in letters)


def _split_title(rest: str) -> tuple[str | None, bool]:
    """Split the text after a label into (title, has_body); the title is None for a sentence."""
    stripped = rest.strip()
    if _is_titleish(stripped, max_words=8):
        return _trim_heading(stripped), False
    wide = _TITLE_BODY_WIDE.match(stripped)
    if wide and _is_titleish(wide["title"], max_words=12):
        return _trim_heading(wide["title"]), True
    narrow = _TITLE_BODY_NARROW.match(stripped)
    if narrow and _is_titleish(narrow["title"], max_words=5):
        return _trim_heading(narrow["title"]), True
    return None, False


def _unlabeled_kind(text: str) -> tuple[str | None, str, bool]:
    """Classify an unnumbered piece as ("major" | "minor" | "leadin" | None, title, has_body)."""
    stripped = text.strip()
    if _LEADIN.match(stripped):
        return "leadin", "", False
    if len(stripped) <= 120:
        if _MAJOR.match(stripped) and _is_titleish(stripped, max_words=16, max_chars=120):
            return "major", _trim_heading(stripped), False
        if _is_all_caps(stripped) and _is_titleish(stripped, max_words=10):
            return "major", _trim_heading(stripped), False
        if stripped.endswith(":") and len(stripped.split()) >= 2 and _is_titleish(stripped, 8):
            return "minor", _trim_heading(stripped), False
        if (
            not stripped.endswith((".", "!", "?", ":"))
            and _is_title_case(stripped)
            and _is_titleish(stripped, max_words=8, max_chars=60)
        ):
            return "minor", _trim_heading(stripped), False
    narrow = _TITLE_BODY_NARROW.match(stripped)
    if narrow:
        title = narrow["title"]
        capitalised = [word for word in title.split() if word[:1].isupper()]
        if len(capitalised) >= 2 and _is_title_case(title) and _is_titleish(title, 5):
            return "minor", _trim_heading(title), True
    return None, "", False


# ---------------------------------------------------------------------------------------------
# From pieces to blocks


@dataclass(slots=True)
class _Item:
    text: str  # block text; empty for a bare heading
    page: int | None
    heading: str | None = None
    level: int = 0
    line: str = ""  # the original line of a bare heading, kept in case it is demoted
    closes: bool = False  # a numbered paragraph closes the headings at its level and below
    outline: bool = False
    explicit: bool = False
    leadin: bool = False


@dataclass(slots=True)
class _HeadingState:
    outline: _Outline = field(default_factory=_Outline)
    base: int = 0  # level of the last heading that outline numbering nests under
    section: int = 0  # level of the last major or numbered-section heading

    def enter(self, level: int, *, sets_section: bool) -> None:
        self.outline.reset()
        self.base = level
        if sets_section:
            self.section = level


def _structure(
    pieces: Sequence[_Piece], *, heuristics: bool, first_line_title: bool
) -> tuple[str, list[TextBlock]]:
    """Turn pieces into blocks with heading paths; return (title from the first line, blocks)."""
    title = ""
    rest = list(pieces)
    if heuristics and first_line_title and len(rest) > 1 and _is_document_title(rest[0]):
        title = _trim_heading(rest[0].text)
        rest = rest[1:]
    items = _classify(rest, heuristics=heuristics)
    _demote_empty_headings(items)
    return title, _emit(items)


def _is_document_title(piece: _Piece) -> bool:
    text = piece.text.strip()
    return (
        piece.level is None
        and not piece.verbatim
        and piece.lines == 1
        and not text.endswith(":")
        and _match_outline(text) is None
        and _match_section(text) is None
        and _MAJOR.match(text) is None
        and _is_titleish(text, max_words=16, max_chars=150)
    )


def _classify(pieces: Sequence[_Piece], *, heuristics: bool) -> list[_Item]:
    items: list[_Item] = []
    state = _HeadingState()
    leadin: _Item | None = None
    for piece in pieces:
        if piece.level is not None:
            state.enter(piece.level, sets_section=True)
            item = _Item("", piece.page, heading=piece.text, level=piece.level, explicit=True)
        elif heuristics and not piece.verbatim:
            item = _classify_piece(piece, state)
        else:
            item = _Item(piece.text, piece.page)
        if item.leadin:
            if leadin is not None:
                items.append(leadin)
            leadin = item
            continue
        if leadin is not None:
            if item.heading is None and not item.closes:
                separator = "\n" if "\n" in item.text else " "
                item.text = f"{leadin.text}{separator}{item.text}"
            else:
                items.append(leadin)
            leadin = None
        items.append(item)
    if leadin is not None:
        items.append(leadin)
    return items


def _classify_piece(piece: _Piece, state: _HeadingState) -> _Item:
    text = piece.text
    outline = _match_outline(text)
    if outline is not None:
        level = state.base + state.outline.place(outline.token)
        title, has_body = _split_title(outline.rest)
        if title is None:
            return _Item(text, piece.page, level=level, closes=True, outline=True)
        heading = f"{outline.shown} {title}"
        body = text if has_body else ""
        return _Item(body, piece.page, heading=heading, level=level, line=text, outline=True)
    section = _match_section(text)
    if section is not None:
        title, has_body = _split_title(section.rest)
        if title is None:
            return _Item(text, piece.page)
        state.enter(section.depth, sets_section=True)
        heading = f"{section.shown} {title}"
        body = text if has_body else ""
        return _Item(body, piece.page, heading=heading, level=section.depth, line=text)
    kind, title, has_body = _unlabeled_kind(text)
    if kind == "leadin":
        return _Item(text, piece.page, leadin=True)
    if kind == "major":
        level = 1
        state.enter(level, sets_section=True)
    elif kind == "minor":
        level = state.section + 1
        state.enter(level, sets_section=False)
    else:
        return _Item(text, piece.page)
    body = text if has_body else ""
    return _Item(body, piece.page, heading=title, level=level, line=text)


def _demote_empty_headings(items: list[_Item]) -> None:
    """Turn a guessed heading with nothing under it back into a paragraph, so no text is lost."""
    for index, item in enumerate(items):
        if item.heading is None or item.explicit or item.text:
            continue
        following = items[index + 1] if index + 1 < len(items) else None
        if following is None or (
            (following.heading is not None or following.closes) and following.level <= item.level
        ):
            item.heading = None
            item.text = item.line
            item.closes = item.outline


def _emit(items: Sequence[_Item]) -> list[TextBlock]:
    """Build blocks, keeping each guessed heading line as text of the first block under it."""
    path: list[tuple[int, str]] = []
    blocks: list[TextBlock] = []
    pending: list[str] = []
    page: int | None = None
    for item in items:
        page = item.page
        if item.heading is not None or item.closes:
            path = [entry for entry in path if entry[0] < item.level]
        if item.heading is not None and _collapse(item.heading):
            path.append((item.level, _collapse(item.heading)))
        if item.heading is not None and not item.text and not item.explicit:
            pending.append(item.line)
        elif item.text:
            text = "\n".join([*pending, item.text])
            pending = []
            blocks.append(TextBlock(text, tuple(heading for _, heading in path), item.page))
    if pending:
        blocks.append(TextBlock("\n".join(pending), tuple(heading for _, heading in path), page))
    return blocks


# ---------------------------------------------------------------------------------------------
# Loaders: each returns (title or "", blocks)

_Loader = Callable[[bytes, Path], tuple[str, list[TextBlock]]]


def _load_markdown(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    text = _decode_text(data, str(path))
    if not _has_markdown_headings(text):
        pieces = _Splitter(markdown=True, heuristics=True).split(text)
        return _structure(pieces, heuristics=True, first_line_title=True)
    pieces = _Splitter(markdown=True, heuristics=False).split(text)
    _, blocks = _structure(pieces, heuristics=False, first_line_title=False)
    title = next((piece.text for piece in pieces if piece.level == 1), "")
    return title, blocks


def _load_text(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    text = _decode_text(data, str(path))
    line_mode = path.suffix.lower() == ".log"
    pieces = _Splitter(line_mode=line_mode).split(text)
    return _structure(pieces, heuristics=True, first_line_title=not line_mode)


def _load_pdf(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    source = str(path)
    try:
        reader = PdfReader(io.BytesIO(data))
        _unlock(reader, source)
        title = _pdf_title(reader)
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except PyPdfError as exc:
        raise DocumentError(source, f"corrupt or unreadable PDF: {_short(exc)}") from exc
    except Exception as exc:  # last guard: parsers raise anything on hostile files
        reason = f"corrupt or unreadable PDF: {type(exc).__name__}: {_short(exc)}"
        raise DocumentError(source, reason) from exc
    pieces: list[_Piece] = []
    for number, page_text in enumerate(pages, start=1):
        widths = [len(line.strip()) for line in page_text.splitlines()]
        wrap = max(widths, default=0)
        splitter = _Splitter(number, wrap_width=wrap if wrap >= 40 else None)
        pieces.extend(splitter.split(page_text))
    _, blocks = _structure(pieces, heuristics=True, first_line_title=False)
    return title, blocks


def _unlock(reader: PdfReader, source: str) -> None:
    if not reader.is_encrypted:
        return
    try:
        result = reader.decrypt("")
    except (DependencyError, PyPdfError, NotImplementedError) as exc:
        raise DocumentError(source, f"encrypted PDF: cannot decrypt ({_short(exc)})") from exc
    if result == PasswordType.NOT_DECRYPTED:
        raise DocumentError(source, "encrypted PDF: a password is required")


def _pdf_title(reader: PdfReader) -> str:
    metadata = reader.metadata
    title = _collapse(str(metadata.title or "")) if metadata is not None else ""
    return "" if title.lower() in _PLACEHOLDER_TITLES else title


_HTML_DROP = (
    "script",
    "style",
    "nav",
    "footer",
    "noscript",
    "template",
    "head",
    "title",
    "svg",
    "iframe",
    "object",
)
_HTML_INLINE = _word_set(
    "a abbr b bdi bdo cite code data del dfn em font i img input ins kbd label mark q "
    "s samp small span strike strong sub sup time tt u var wbr"
)
_HTML_PARAGRAPHS = _word_set("p dt dd figcaption summary address caption")
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


class _HtmlWalker:
    """Collect pieces from an HTML tree in reading order."""

    def __init__(self) -> None:
        self.pieces: list[_Piece] = []
        self._inline: list[str] = []

    def walk(self, node: Tag) -> None:
        """Add the pieces under ``node``."""
        for child in node.children:
            if isinstance(child, PreformattedString):
                continue
            if isinstance(child, NavigableString):
                self._inline.append(str(child))
            elif isinstance(child, Tag):
                self._tag(child)

    def finish(self) -> list[_Piece]:
        """Return all pieces, flushing any trailing loose text."""
        self._flush()
        return self.pieces

    def _flush(self) -> None:
        text = "".join(self._inline)
        self._inline = []
        if text.strip():
            self.pieces.append(_Piece(text))

    def _tag(self, tag: Tag) -> None:
        name = tag.name
        if name in _HTML_INLINE:
            self._inline.append(tag.get_text())
            return
        self._flush()
        if name in _HTML_HEADINGS:
            self.pieces.append(_Piece(tag.get_text(" "), level=_HTML_HEADINGS[name]))
        elif name == "table":
            self._table(tag)
        elif name == "pre":
            self.pieces.append(_Piece(tag.get_text(), verbatim=True))
        elif name in _HTML_PARAGRAPHS:
            self.pieces.append(_Piece(tag.get_text()))
        elif name == "li":
            self._list_item(tag)
        else:
            self.walk(tag)
            self._flush()

    def _list_item(self, item: Tag) -> None:
        nested: list[Tag] = []
        parts: list[str] = []
        for child in item.children:
            if isinstance(child, Tag) and child.name in ("ul", "ol", "table"):
                nested.append(child)
            elif isinstance(child, Tag):
                parts.append(child.get_text())
            elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
                parts.append(str(child))
        if "".join(parts).strip():
            self.pieces.append(_Piece("".join(parts)))
        for child in nested:
            self._tag(child)

    def _table(self, table: Tag) -> None:
        rows: list[str] = []
        caption = table.find("caption")
        if isinstance(caption, Tag) and caption.get_text(strip=True):
            rows.append(_collapse(caption.get_text(" ")))
        for row in table.find_all("tr"):
            if row.find_parent("table") is not table:
                continue  # a row of a nested table; its text is in the enclosing cell
            cells = [
                _collapse(cell.get_text(" "))
                for cell in row.find_all(["th", "td"], recursive=False)
            ]
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            self.pieces.append(_Piece("\n".join(rows), verbatim=True, lines=len(rows)))


def _load_html(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    source = str(path)
    text = _decode_text(data, source)
    if "<" not in text:
        return _load_text(data, path)
    try:
        soup = BeautifulSoup(_XML_DECLARATION.sub("", text), "html.parser")
        title = _html_title(soup)
        for tag in soup.find_all(_HTML_DROP):
            tag.decompose()
        for line_break in soup.find_all("br"):
            line_break.replace_with("\n")
        walker = _HtmlWalker()
        walker.walk(soup.body if soup.body is not None else soup)
        pieces = walker.finish()
    except Exception as exc:  # last guard: parsers raise anything on hostile files
        reason = f"corrupt or unreadable HTML: {type(exc).__name__}: {_short(exc)}"
        raise DocumentError(source, reason) from exc
    _, blocks = _structure(pieces, heuristics=False, first_line_title=False)
    return title, blocks


def _html_title(soup: BeautifulSoup) -> str:
    for candidate in (soup.title, soup.find("h1")):
        if isinstance(candidate, Tag) and candidate.get_text(strip=True):
            return _collapse(candidate.get_text(" "))
    return ""


_DOCX_HEADING = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _load_docx(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    source = str(path)
    try:
        document = docx.Document(io.BytesIO(data))
        core_title = _collapse(document.core_properties.title or "")
        pieces = [_docx_piece(part) for part in document.iter_inner_content()]
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError) as exc:
        raise DocumentError(source, f"corrupt or unreadable DOCX: {_short(exc)}") from exc
    except Exception as exc:  # last guard: parsers raise anything on hostile files
        reason = f"corrupt or unreadable DOCX: {type(exc).__name__}: {_short(exc)}"
        raise DocumentError(source, reason) from exc
    kept = [piece for piece in pieces if piece is not None]
    explicit = any(piece.level is not None for piece in kept)
    first_line, blocks = _structure(kept, heuristics=not explicit, first_line_title=not explicit)
    if core_title and core_title.lower() not in _PLACEHOLDER_TITLES:
        return core_title, blocks
    for level in (0, 1):
        heading = next((p.text for p in kept if p.level == level and p.text.strip()), "")
        if heading:
            return heading, blocks
    return first_line, blocks


def _docx_piece(part: Paragraph | Table) -> _Piece | None:
    if isinstance(part, Table):
        rows = _docx_rows(part)
        return _Piece("\n".join(rows), verbatim=True, lines=len(rows)) if rows else None
    text = part.text
    if not text.strip():
        return None
    style = part.style
    name = (style.name or "") if style is not None else ""
    if name.lower() == "title":
        return _Piece(text, level=0)
    heading = _DOCX_HEADING.match(name)
    return _Piece(text, level=int(heading.group(1)) if heading else None)


def _docx_rows(table: Table) -> list[str]:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is returned once per grid column
                continue
            seen.add(id(cell._tc))
            cells.append(_collapse(cell.text))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


_CSV_DELIMITERS = ",;\t|"


def _load_csv(data: bytes, path: Path) -> tuple[str, list[TextBlock]]:
    source = str(path)
    text = _decode_text(data, source)
    title = _stem_title(path)
    delimiter = _sniff_delimiter(text[:8192])
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise DocumentError(source, f"malformed CSV: {_short(exc)}") from exc
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        return title, []
    header = [_collapse(name) for name in rows[0]]
    rendered = [line for line in (_csv_row(header, row) for row in rows[1:]) if line]
    blocks = [
        TextBlock("\n".join(rendered[start : start + _CSV_ROWS_PER_BLOCK]), (title,))
        for start in range(0, len(rendered), _CSV_ROWS_PER_BLOCK)
    ]
    return title, blocks


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=_CSV_DELIMITERS).delimiter
    except csv.Error:
        first_line = sample.split("\n", 1)[0]
        counts = {delimiter: first_line.count(delimiter) for delimiter in _CSV_DELIMITERS}
        best = max(_CSV_DELIMITERS, key=lambda delimiter: counts[delimiter])
        return best if counts[best] else ","


def _csv_row(header: Sequence[str], row: Sequence[str]) -> str:
    pairs = []
    for index, raw in enumerate(row):
        value = _collapse(raw)
        if not value:
            continue
        name = header[index] if index < len(header) and header[index] else f"column {index + 1}"
        pairs.append(f"{name}: {value}")
    return "; ".join(pairs)


_LOADERS: dict[str, _Loader] = {
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".txt": _load_text,
    ".text": _load_text,
    ".log": _load_text,
    ".pdf": _load_pdf,
    ".html": _load_html,
    ".htm": _load_html,
    ".docx": _load_docx,
    ".csv": _load_csv,
}
