"""Redaction of personal data before anything leaves the site.

Applied to every string of an outgoing record (keys are ours and are left alone), in this
order, each kind replaced by ``[KIND]`` and counted in a :class:`RedactionReport`:

1. ``email``: e-mail addresses, and obfuscated ones (``name(at)host``, ``name [at] host
   [dot] org``, ``name at host dot com``);
2. ``iban``: IBANs, plain or in groups of four, only when the country's length and the
   ISO 13616 mod-97 checksum hold (random letters and digits are never taken for one);
3. ``badge``: badge and employee ids (``sync.badge_patterns``);
4. ``national_id``: national id numbers (``sync.national_id_patterns``: US SSN, UK NI
   number, French NIR, Spanish DNI/NIE, Italian codice fiscale, Belgian national number);
5. ``ip``: IPv4 and IPv6 addresses (a dotted quad after ``version``, ``firmware`` ... is kept);
6. ``phone``: phone numbers written with spaces, hyphens or a leading ``+`` (not after a
   plant label such as ``PN 4471-0032``, see below);
7. ``digits``: runs of ``sync.digit_run_min`` (default 9) or more digits written together
   (phone numbers without separators, account and id numbers), unless the run is part of a
   decimal, a time, a version or an id (a ``.``, ``,``, ``:``, ``/``, ``#``, ``-`` or a letter
   touches it), a Unix time in seconds or milliseconds, a compact date-time
   (``YYYYMMDDhhmm[ss]``), a quantity (a unit follows: ``123456789 kWh``) or a labelled plant
   number (``part``, ``serial``, ``lot``, ``order`` ... precedes it);
8. ``address``: street addresses (``12 Main Street``, ``Hauptstraße 12``, ``12 rue de la
   Paix``, ``Calle Mayor 5``, ``PO Box 12``);
9. ``name``: names from the roster (``sync.roster``, ``sync.roster_file``): each full name
   and each part of four or more letters, any case; a part of three letters only as written
   in the roster; always as whole words and accent-insensitively (``Jose Nunez`` is caught
   for ``José Núñez`` and the other way round; the original span is replaced).

Order matters: e-mails first (they contain names), ids before phones and digit runs (which
would take their digits), names last. The values Shiftmate itself generates (a
conversation's hex id, a model's sha256) are left as they are under their own keys.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assistant.errors import ConfigError
from assistant.settings import DEFAULT_NATIONAL_ID_PATTERNS, SyncSettings

log = logging.getLogger(__name__)

KINDS = ("email", "badge", "national_id", "iban", "ip", "phone", "digits", "address", "name")

EMPTY_ROSTER_WARNING = (
    "sync.roster and sync.roster_file name nobody: people's names are NOT redacted from what "
    "is sent to the cloud (e-mails, phones, ids, IBANs and addresses still are)"
)

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_AT = r"(?i:\s*[(\[{<]\s*at\s*[)\]}>]\s*)"
_DOT = r"(?i:\s*[(\[{<]\s*dot\s*[)\]}>]\s*|\s+dot\s+)"
_LABEL = r"[A-Za-z0-9-]+"
# name(at)host, name [at] host [dot] org, and name at host dot com (the bare " at " form only
# with a spelt-out "dot", so "pump at station" never qualifies).
OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.+-])[A-Za-z0-9._%+-]+(?:{_AT}{_LABEL}(?:\.{_LABEL}|{_DOT}{_LABEL})*"
    rf"|(?i:\s+at\s+){_LABEL}(?:\.{_LABEL})*(?:{_DOT}{_LABEL})+)(?![\w-])"
)
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
VERSION_BEFORE = re.compile(
    r"\b(?:version|ver|firmware|fw|build|release|rev|revision|v)\.?\s*[:=]?\s*$", re.IGNORECASE
)
"""A dotted quad after one of these words is a version number (firmware 2.1.0.7), not an IP."""
_H = r"[0-9A-Fa-f]{1,4}"
# Full (eight groups) or compressed (with ``::``): times such as 14:59:05 never qualify.
IPV6 = re.compile(
    rf"(?<![\w:])(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{0,6}}(?:{_H})?::(?:{_H}:){{0,6}}{_H})(?![\w:])"
)
# International or national numbers of 7+ digits with spaces or hyphens, e.g. +1 (555)
# 010-2040, 555-0142, 0151 2345678. Decimals (4.12), times, asset tags (P-101) and ids that
# continue a word (WO-2026-0001) do not qualify; ISO dates are kept (see Redactor.text).
PHONE = re.compile(
    r"(?<![\w.+-])(?:\+\d{1,3}[\s-]?)?(?:\(\d{1,4}\)[\s-]?)?\d{2,5}(?:[\s-]\d{2,8}){1,4}(?![\w-]|\.\d)"
    r"|(?<![\w.+-])\+\d{7,15}(?![\w-]|\.\d)"
)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MIN_PHONE_DIGITS = 7
MIN_NAME_PART = 4
SHORT_NAME = 3
"""Parts of this many letters are names only as written in the roster (``Lee``, not ``lee``)."""

IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
"""IBAN length by country (ISO 13616 registry)."""
IBAN_START = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?=[ ]?[A-Za-z0-9])")
_IBAN_TAIL = re.compile(r"[ ]?([A-Za-z0-9])")

DIGIT_RUN_MIN = 9
_UNIT = (
    r"(?:m3|m³|nm3|kwh|mwh|wh|kg|t|l|ml|m|mm|km|h|s|ms|rpm|pa|kpa|mpa|bar|mbar|psi|n|nm|n·m|"
    r"a|ma|v|kv|w|kw|mw|hz|%|°c|°f|k|cycles?|pcs|units?|counts?|strokes?|revs?|bytes?|kb|mb|gb)"
)
QUANTITY_AFTER = re.compile(rf"\s?{_UNIT}(?![\w³])", re.IGNORECASE)
LABEL_BEFORE = re.compile(
    r"(?:\b(?:part|p/n|pn|serial|s/n|sn|lot|batch|material|mat|article|art|order|po|wo|"
    r"asset|tag|sku|item|ref|cert|certificate|sample|heat|invoice|ticket|case|meter|reading|"
    r"counter|total|totali[sz]er|sap|equipment|equip|notification|permit|drawing|dwg|doc|"
    r"document|job|task|loop|channel)"
    r"\.?\s*(?:no\.?|nr\.?|number|num|id)?\s*[:#=]?\s*)$",
    re.IGNORECASE,
)
EPOCH = re.compile(r"1\d{9}|1\d{12}")
"""Unix times in seconds (2001..2033) or milliseconds: timestamps, not personal numbers."""

_STREET_EN = (
    r"(?:Street|Road|Avenue|Lane|Drive|Boulevard|Court|Way|Place|Terrace|Crescent|Close|"
    r"Highway|Parkway|Square|Row|Mews|Gardens)\b"
    r"|(?:St|Rd|Ave|Ln|Dr|Blvd|Ct|Pl|Hwy|Pkwy|Sq)\b\.?"
)
_STREET_WORD = (
    r"straße|strasse|str\.|gasse|weg|allee|platz|damm|ufer|chaussee|straat|laan|gracht|"
    r"plein|steeg|kade|vej|gatan|gata|vägen|veien"
)
_CAP = "[A-ZÀ-ÖØ-Þ][\\w'\u2019.-]*"
# "Line 2 Main Drive motor" is equipment, not an address.
_EQUIPMENT_AFTER = (
    r"(?!\s+(?i:motor|belt|end|shaft|unit|valve|pump|gear|train|system|side|panel|cabinet|fan|"
    r"chain|coupling|bearing|module|controller|inverter|vfd)s?\b)"
)
ADDRESS = re.compile(
    # 12 Main Street, 221B Baker St., 1600 Pennsylvania Avenue
    rf"(?<![\w.,-])\d{{1,5}}[A-Za-z]?,?\s+(?:{_CAP}\s+){{1,4}}(?:{_STREET_EN}){_EQUIPMENT_AFTER}"
    # Hauptstraße 12, Kerkstraat 7a, Berliner Str. 5, Storgatan 3
    rf"|\b[A-ZÀ-ÖØ-Þ][\w-]{{2,}}?(?:{_STREET_WORD})\s*\d{{1,4}}(?:\s?[a-zA-Z](?!\w))?"
    rf"|\b(?:{_CAP}\s+){{1,3}}(?:Straße|Strasse|Str\.|Weg|Allee|Platz|Gasse|Damm)\s+"
    rf"\d{{1,4}}(?:\s?[a-zA-Z](?!\w))?"
    # 12 rue de la Paix, 3 bis avenue Foch
    rf"|(?<![\w.,-])\d{{1,4}}(?:\s?(?:bis|ter))?,?\s+(?:[Rr]ue|[Aa]venue|av\.|[Bb]oulevard|bd|"
    rf"[Cc]hemin|place|[Ii]mpasse|[Aa]llée|[Qq]uai|cours)\s+(?:(?:de|du|des|la|le|l'|d')\s*){{0,3}}{_CAP}"
    # Calle Mayor 5, Via Roma 12, Rua das Flores, 30
    rf"|\b(?:Calle|C/|Avenida|Avda\.|Plaza|Paseo|Carrer|Via|Viale|Piazza|Corso|Rua|Travessa)\s+"
    rf"(?:(?:de|del|della|di|da|dos|das|la|los|las)\s+){{0,2}}{_CAP}(?:\s+{_CAP}){{0,3}},?\s+"
    r"(?:n[º°o]\.?\s*)?\d{1,4}(?!\w)"
    # PO Box 1234
    r"|\b(?i:p\.?\s?o\.?\s?box)\s+\d{1,6}\b"
)

MACHINE_ID_KEYS = frozenset({"conversation_id", "model_sha256"})
"""Keys whose hex values Shiftmate generates (uuid, sha256): never personal, kept as they are."""
MACHINE_ID = re.compile(r"[0-9a-f]{12}|[0-9a-f]{64}")

_FOLD_EXTRA = str.maketrans(
    {"ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae",
     "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "Th", "\u0131": "i",
     "\u2019": "'", "\u2018": "'"}
)  # fmt: skip
"""Letters NFKD does not decompose, folded as a reader would (Sørensen ~ Sorensen)."""
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char.translate(_FOLD_EXTRA))
    return "".join(part for part in decomposed if not unicodedata.combining(part))


def fold(text: str) -> tuple[str, list[int]]:
    """Return the text NFKD-folded without accents, and each folded char's index in the text.

    ``José`` folds to ``Jose``; a match in the folded text maps back to the original span
    through the index list (a combining mark goes with the letter before it).
    """
    if text.isascii():
        return text, list(range(len(text)))
    folded: list[str] = []
    where: list[int] = []
    pos = 0
    for match in _NON_ASCII.finditer(text):
        index = match.start()
        folded.append(text[pos:index])
        where.extend(range(pos, index))
        part = _fold_char(text[index])
        folded.append(part)
        where.extend([index] * len(part))
        pos = index + 1
    folded.append(text[pos:])
    where.extend(range(pos, len(text)))
    return "".join(folded), where


def iban_valid(compact: str) -> bool:
    """Return whether a spaceless IBAN has its country's length and a valid mod-97 checksum."""
    iban = compact.upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum() or not iban.isascii():
        return False
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def _compact_datetime(digits: str) -> bool:
    for layout in ("%Y%m%d%H%M%S", "%Y%m%d%H%M"):
        if len(digits) == (14 if layout.endswith("S") else 12):
            try:
                moment = datetime.strptime(digits, layout)
            except ValueError:
                return False
            return 1970 <= moment.year <= 2100
    return False


def roster_names(settings: SyncSettings) -> list[str]:
    """Return the roster of the settings: ``sync.roster`` and the lines of ``sync.roster_file``."""
    roster = [name for name in settings.roster if name.strip()]
    if settings.roster_file is not None:
        try:
            text = settings.roster_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"sync.roster_file {settings.roster_file} cannot be read: {exc.strerror}"
            ) from exc
        roster += [line.strip() for line in text.splitlines() if line.strip()]
    return roster


@dataclass
class RedactionReport:
    """How many values of each kind were replaced (``email``, ``badge``, ``ip``, ...)."""

    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Return the number of replacements."""
        return sum(self.counts.values())

    def add(self, other: RedactionReport) -> None:
        """Add another report's counts to this one."""
        self.counts.update(other.counts)

    def as_dict(self) -> dict[str, int]:
        """Return the counts of every kind (zeros included), for records and status."""
        return {kind: int(self.counts.get(kind, 0)) for kind in KINDS}


def _names_pattern(names: Iterable[str], flags: int) -> re.Pattern[str] | None:
    # Longest first, so a full name wins over its parts.
    ordered = sorted(set(names), key=len, reverse=True)
    if not ordered:
        return None
    body = "|".join(r"\s+".join(map(re.escape, n.split())) for n in ordered)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", flags)


class Redactor:
    """Replaces personal data in strings and in nested records."""

    def __init__(
        self,
        roster: Iterable[str] = (),
        badge_patterns: Iterable[str] = (),
        national_id_patterns: Iterable[str] = DEFAULT_NATIONAL_ID_PATTERNS,
        digit_run_min: int = DIGIT_RUN_MIN,
    ) -> None:
        any_case: set[str] = set()
        as_written: set[str] = set()
        entries = 0
        for raw in roster:
            full = " ".join(fold(raw)[0].split())
            if not full:
                continue
            entries += 1
            (any_case if " " in full or len(full) >= MIN_NAME_PART else as_written).add(full)
            for part in full.split():
                if len(part) >= MIN_NAME_PART:
                    any_case.add(part)
                elif len(part) == SHORT_NAME:
                    as_written.add(part)
        self.roster_size = entries
        self._names_any_case = _names_pattern(any_case, re.IGNORECASE)
        self._names_as_written = _names_pattern(as_written - any_case, 0)
        self._badges = [re.compile(p) for p in badge_patterns]
        self._national_ids = [re.compile(p) for p in national_id_patterns]
        self._digit_run = re.compile(rf"(?<![\w.,:/#+-])\d{{{digit_run_min},}}(?![\w:/#-]|[.,]\d)")

    @classmethod
    def from_settings(cls, settings: SyncSettings) -> Redactor:
        """Build the redactor of the sync settings (roster and roster file, patterns).

        Logs a warning when the roster names nobody: this runs wherever records are
        collected (background sync of ``serve``/``tui``/the demo, ``sync collect|now|run``).
        """
        roster = roster_names(settings)
        if not roster:
            log.warning(EMPTY_ROSTER_WARNING)
        return cls(
            roster,
            settings.badge_patterns,
            settings.national_id_patterns,
            settings.digit_run_min,
        )

    def text(self, value: str, report: RedactionReport | None = None) -> str:
        """Return the string with personal data replaced, counting into report."""
        counts = report.counts if report is not None else Counter()

        def sub(pattern: re.Pattern[str], kind: str, text: str) -> str:
            def repl(match: re.Match[str]) -> str:
                counts[kind] += 1
                return f"[{kind.upper()}]"

            return pattern.sub(repl, text)

        def keep_if(
            pattern: re.Pattern[str], kind: str, text: str, keep: Callable[[re.Match[str]], bool]
        ) -> str:
            def repl(match: re.Match[str]) -> str:
                if keep(match):
                    return match.group(0)
                counts[kind] += 1
                return f"[{kind.upper()}]"

            return pattern.sub(repl, text)

        def labelled(match: re.Match[str]) -> bool:
            before = match.string[max(0, match.start() - 40) : match.start()]
            return bool(LABEL_BEFORE.search(before))

        def not_a_phone(match: re.Match[str]) -> bool:
            found = match.group(0)
            return (
                sum(ch.isdigit() for ch in found) < MIN_PHONE_DIGITS
                or bool(DATE.match(found))
                or labelled(match)
            )

        def a_version(match: re.Match[str]) -> bool:
            before = match.string[max(0, match.start() - 20) : match.start()]
            return bool(VERSION_BEFORE.search(before))

        def not_personal_digits(match: re.Match[str]) -> bool:
            run, text = match.group(0), match.string
            return (
                bool(EPOCH.fullmatch(run))
                or _compact_datetime(run)
                or bool(QUANTITY_AFTER.match(text, match.end()))
                or labelled(match)
            )

        text = sub(EMAIL, "email", value)
        text = sub(OBFUSCATED_EMAIL, "email", text)
        text = self._ibans(text, counts)
        for pattern in self._badges:
            text = sub(pattern, "badge", text)
        for pattern in self._national_ids:
            text = sub(pattern, "national_id", text)
        text = keep_if(IPV4, "ip", text, a_version)
        text = sub(IPV6, "ip", text)
        text = keep_if(PHONE, "phone", text, not_a_phone)
        text = keep_if(self._digit_run, "digits", text, not_personal_digits)
        text = sub(ADDRESS, "address", text)
        return self._names(text, counts)

    def _ibans(self, text: str, counts: Counter[str]) -> str:
        out: list[str] = []
        pos = 0
        for start in IBAN_START.finditer(text):
            if start.start() < pos:
                continue
            length = IBAN_LENGTHS.get(start.group(0)[:2].upper())
            if length is None:
                continue
            chars, end = [start.group(0)], start.end()
            while len(chars) < length - 3:
                tail = _IBAN_TAIL.match(text, end)
                if tail is None:
                    break
                chars.append(tail.group(1))
                end = tail.end()
            if end < len(text) and text[end].isalnum():
                continue
            if iban_valid("".join(chars)):
                out += [text[pos : start.start()], "[IBAN]"]
                counts["iban"] += 1
                pos = end
        return "".join(out) + text[pos:]

    def _names(self, text: str, counts: Counter[str]) -> str:
        for pattern in (self._names_any_case, self._names_as_written):
            if pattern is None:
                continue
            folded, where = fold(text)
            spans = []
            for match in pattern.finditer(folded):
                start = where[match.start()]
                end = where[match.end()] if match.end() < len(where) else len(text)
                spans.append((start, max(end, where[match.end() - 1] + 1)))
            for start, end in reversed(spans):
                text = text[:start] + "[NAME]" + text[end:]
                counts["name"] += 1
        return text

    def record(self, value: Any, report: RedactionReport | None = None) -> Any:
        """Return a copy of a JSON-like value with every string redacted (keys kept)."""
        return self._walk(value, report, None)

    def _walk(self, value: Any, report: RedactionReport | None, key: str | None) -> Any:
        if isinstance(value, str):
            if key in MACHINE_ID_KEYS and MACHINE_ID.fullmatch(value):
                return value
            return self.text(value, report)
        if isinstance(value, Mapping):
            return {k: self._walk(item, report, str(k)) for k, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(item, report, key) for item in value]
        return value
