"""Redaction of personal data before anything leaves the site.

Applied to every string of an outgoing record (keys are ours and are left alone): names from
the configured roster, e-mail addresses, phone numbers, badge and employee ids (configurable
patterns) and IP addresses are replaced by ``[NAME]``, ``[EMAIL]``, ``[PHONE]``, ``[BADGE]``
and ``[IP]``. A :class:`RedactionReport` counts what was replaced, by kind.

Order matters: e-mail addresses go first (they contain names), then badge ids (before phone
numbers, which would otherwise take their digits), IP addresses, phone numbers, and names
last. Names match case-insensitively on word boundaries, each full name and each part of it
of four or more letters (a surname alone is still a name), so ``Reyes`` and ``DANA REYES``
are caught as well as ``Dana Reyes``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.errors import ConfigError
from assistant.settings import SyncSettings

KINDS = ("email", "badge", "ip", "phone", "name")

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
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


class Redactor:
    """Replaces personal data in strings and in nested records."""

    def __init__(self, roster: Iterable[str] = (), badge_patterns: Iterable[str] = ()) -> None:
        names: set[str] = set()
        for raw in roster:
            full = " ".join(raw.split())
            if not full:
                continue
            names.add(full)
            names.update(part for part in full.split() if len(part) >= MIN_NAME_PART)
        # Longest first, so a full name wins over its parts.
        ordered = sorted(names, key=len, reverse=True)
        self._names = (
            re.compile(
                r"(?<!\w)(?:"
                + "|".join(r"\s+".join(map(re.escape, n.split())) for n in ordered)
                + r")(?!\w)",
                re.IGNORECASE,
            )
            if ordered
            else None
        )
        self._badges = [re.compile(p) for p in badge_patterns]

    @classmethod
    def from_settings(cls, settings: SyncSettings) -> Redactor:
        """Build the redactor of the sync settings (roster and roster file, badge patterns)."""
        roster = list(settings.roster)
        if settings.roster_file is not None:
            try:
                text = settings.roster_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"sync.roster_file {settings.roster_file} cannot be read: {exc.strerror}"
                ) from exc
            roster += [line.strip() for line in text.splitlines() if line.strip()]
        return cls(roster, settings.badge_patterns)

    def text(self, value: str, report: RedactionReport | None = None) -> str:
        """Return the string with personal data replaced, counting into report."""
        counts = report.counts if report is not None else Counter()

        def sub(pattern: re.Pattern[str], kind: str, text: str) -> str:
            def repl(match: re.Match[str]) -> str:
                counts[kind] += 1
                return f"[{kind.upper()}]"

            return pattern.sub(repl, text)

        def phone(match: re.Match[str]) -> str:
            found = match.group(0)
            if sum(ch.isdigit() for ch in found) < MIN_PHONE_DIGITS or DATE.match(found):
                return found
            counts["phone"] += 1
            return "[PHONE]"

        text = sub(EMAIL, "email", value)
        for pattern in self._badges:
            text = sub(pattern, "badge", text)
        text = sub(IPV4, "ip", text)
        text = sub(IPV6, "ip", text)
        text = PHONE.sub(phone, text)
        if self._names is not None:
            text = sub(self._names, "name", text)
        return text

    def record(self, value: Any, report: RedactionReport | None = None) -> Any:
        """Return a copy of a JSON-like value with every string redacted (keys kept)."""
        if isinstance(value, str):
            return self.text(value, report)
        if isinstance(value, Mapping):
            return {key: self.record(item, report) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.record(item, report) for item in value]
        return value
