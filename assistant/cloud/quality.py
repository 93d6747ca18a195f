"""Drift you can see: answer quality per site, per model sha256 and per day, from the records.

From summaries (every answer, ``turn_checks`` of each, once per (site, turn)): answers, the
not-covered share (answers that said the documents do not cover the question) and the
withheld share (sentences withheld by the checks of all sentences written, shown + withheld).
A summary sent before ``turn_checks`` existed counts when it names one model: its
conversation's totals go to the day it started (answers and not covered only: it does not
say how many sentences were shown). From feedback (once per rating): rated
answers, the helpful rate (rated helpful of rated) and the correction rate (with a corrected
answer of rated), on the day the rated answer was given. A rate is None when nothing was
counted for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from assistant.cloud.store import StoredRecord


@dataclass(slots=True)
class Quality:
    """The counts of one (site, model, day) and the rates taken from them."""

    site: str
    model_sha256: str
    day: str
    answers: int = 0
    not_covered: int = 0
    sentences: int = 0
    withheld: int = 0
    rated: int = 0
    helpful: int = 0
    corrected: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the counts and the rates (None where nothing was counted)."""
        written = self.sentences + self.withheld
        return {
            **asdict(self),
            "not_covered_rate": _rate(self.not_covered, self.answers),
            "withheld_rate": _rate(self.withheld, written),
            "helpful_rate": _rate(self.helpful, self.rated),
            "correction_rate": _rate(self.corrected, self.rated),
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def day_of(stamp: Any) -> str:
    """Return the UTC day (YYYY-MM-DD) of an ISO 8601 timestamp or Unix time; "" if neither."""
    try:
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            return datetime.fromtimestamp(float(stamp), UTC).date().isoformat()
        moment = datetime.fromisoformat(str(stamp))
    except (ValueError, OverflowError, OSError):
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date().isoformat()


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def quality(records: Iterable[StoredRecord]) -> list[Quality]:
    """Return the quality figures of summaries and feedback, by site, model and day."""
    table: dict[tuple[str, str, str], Quality] = {}
    turns: set[tuple[str, Any]] = set()
    ratings: set[tuple[str, Any]] = set()

    def cell(site: str, model: Any, day: str) -> Quality:
        key = (site, str(model or "unknown"), day)
        if key not in table:
            table[key] = Quality(*key)
        return table[key]

    for record in records:
        body = record.body
        if record.kind == "summary":
            checks = body.get("turn_checks")
            if isinstance(checks, list):
                for entry in checks:
                    if not isinstance(entry, dict) or (record.site, entry.get("turn_id")) in turns:
                        continue
                    turns.add((record.site, entry.get("turn_id")))
                    row = cell(
                        record.site, entry.get("model_sha256"), day_of(entry.get("asked_at"))
                    )
                    row.answers += 1
                    row.not_covered += 0 if entry.get("covered") is not False else 1
                    row.sentences += _int(entry.get("sentences"))
                    row.withheld += _int(entry.get("withheld"))
                continue
            models = body.get("model_sha256")
            ids = body.get("turn_ids")
            if not isinstance(models, list) or len(models) != 1 or not isinstance(ids, list):
                continue  # an older summary of several models cannot be split between them
            fresh = [i for i in ids if (record.site, i) not in turns]
            if len(fresh) != len(ids):
                continue
            turns.update((record.site, i) for i in ids)
            row = cell(record.site, models[0], day_of(body.get("started_at")))
            totals = body.get("checks")
            totals = totals if isinstance(totals, dict) else {}
            row.answers += len(ids)
            row.not_covered += _int(totals.get("not_covered"))
            # no withheld share: older summaries do not say how many sentences were shown
        elif record.kind == "feedback":
            ident = (record.site, body.get("feedback_id", record.key))
            if ident in ratings:
                continue
            ratings.add(ident)
            row = cell(record.site, body.get("model_sha256"), day_of(body.get("asked_at")))
            row.rated += 1
            row.helpful += 1 if body.get("rating") == "helpful" else 0
            row.corrected += 1 if str(body.get("corrected_answer") or "").strip() else 0
    return sorted(table.values(), key=lambda q: (q.site, q.model_sha256, q.day))


def quality_table(records: Iterable[StoredRecord]) -> list[dict[str, Any]]:
    """Return :func:`quality` as JSON-ready rows."""
    return [q.as_dict() for q in quality(records)]
