"""The sync wire format shared by the site's uplinks and the cloud receiver.

A batch is one JSON object ``{"v": 1, "site": ..., "token": ..., "records": [...]}``, each
record ``{"key", "kind", "created_at", "body"}``, gzip-compressed on the wire when
``sync.gzip`` is on. Over HTTPS the token also travels as ``Authorization: Bearer``; over MQTT
it is the only proof of the site, so the receiver checks it for both. The receiver answers
``{"accepted": n, "duplicates": m, "records": n + m}``.

The receiver decodes strictly: a body it cannot decode (not JSON, nested deeper than its
limit, ``NaN`` or infinite numbers, wrong types, strings that are not valid UTF-8) raises
ValueError, never anything else. Over MQTT it answers on ``<topic>/ack`` with a *reply*
naming the batch by the sha256 of the message as published: the acknowledgement, or the
refusal with its HTTP-like status. 400, 403 and 413 are permanent (the sender quarantines
the records); any other refusal is retried.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from assistant.errors import SyncError

VERSION = 1
MAX_KEY = 200
MAX_KIND = 64
GZIP_MAGIC = b"\x1f\x8b"
PERMANENT = frozenset({400, 403, 413})
"""Refusals that a resend cannot cure: the records are quarantined instead of retried."""
TOKEN_MASK = b"[token]"


class UplinkError(SyncError):
    """A batch was not delivered (link down, refused, timed out, bad answer); it stays queued."""


class BatchRefused(UplinkError):
    """The receiver refused a batch for good (400, 403, 413): resending it cannot help."""

    def __init__(self, message: str, *, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class TooLarge(ValueError):
    """A body over the receiver's size limit (compressed or not)."""


def refusal(status: int, reason: str, message: str) -> UplinkError:
    """Return BatchRefused for a permanent status (400, 403, 413), else a plain UplinkError."""
    if status in PERMANENT:
        return BatchRefused(message, status=status, reason=reason)
    return UplinkError(message)


class OutgoingRecord(Protocol):
    """What a batch takes of a record to send (the outbox's ``Queued`` has these fields)."""

    @property
    def key(self) -> str:
        """Return the record's idempotency key."""
        ...

    @property
    def kind(self) -> str:
        """Return what the record is (``feedback``, ``summary``, ...)."""
        ...

    @property
    def created_at(self) -> float:
        """Return when the record was made (Unix seconds)."""
        ...

    @property
    def body(self) -> str:
        """Return the record's body, already encoded as a JSON object."""
        ...


@dataclass(frozen=True, slots=True)
class WireRecord:
    """One record as received."""

    key: str
    kind: str
    created_at: float
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch as received: the site it claims, its token and its records."""

    site: str
    token: str
    records: list[WireRecord]


@dataclass(frozen=True, slots=True)
class Ack:
    """The receiver's answer: records newly stored and records it already had."""

    accepted: int
    duplicates: int


def encode_batch(site: str, token: str, records: Sequence[OutgoingRecord]) -> bytes:
    """Return a batch as JSON bytes (the records' bodies are embedded without re-parsing)."""
    head = json.dumps({"v": VERSION, "site": site, "token": token})[:-1]
    parts = [
        '{"key":'
        + json.dumps(r.key)
        + ',"kind":'
        + json.dumps(r.kind)
        + ',"created_at":'
        + repr(float(r.created_at))
        + ',"body":'
        + r.body
        + "}"
        for r in records
    ]
    return (head + ',"records":[' + ",".join(parts) + "]}").encode("utf-8")


def compress(data: bytes) -> bytes:
    """Return gzip-compressed bytes (level 6: most of the gain at a fraction of the time)."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def inflate(data: bytes, max_bytes: int) -> bytes:
    """Return the body uncompressed (when gzipped); ValueError when invalid or over max_bytes."""
    if data[:2] != GZIP_MAGIC:
        if len(data) > max_bytes:
            raise TooLarge(f"body is larger than {max_bytes} bytes")
        return data
    try:
        with gzip.GzipFile(mode="rb", fileobj=io.BytesIO(data)) as handle:
            data = handle.read(max_bytes + 1)
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"body is not valid gzip: {exc}") from exc
    if len(data) > max_bytes:
        raise TooLarge(f"body is larger than {max_bytes} bytes uncompressed")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _check_tree(value: Any, max_depth: int) -> None:
    """Raise ValueError for nesting deeper than max_depth, non-finite floats, lone surrogates."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise ValueError(f"body is nested deeper than {max_depth} levels")
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for name, child in children:
                if isinstance(name, str):
                    _check_text(name)
                stack.append((child, depth + 1))
        elif isinstance(item, str):
            _check_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("body holds a number too large for a float")


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"body holds a string that is not valid UTF-8: {exc}") from exc


def parse_json(data: bytes, max_depth: int) -> Any:
    """Return a JSON document; ValueError if invalid, too deep or holding NaN or infinity."""
    try:
        raw = json.loads(data, parse_constant=_no_constant)
    except RecursionError as exc:
        raise ValueError(f"body is nested deeper than {max_depth} levels") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, digit limits
        raise ValueError(f"body is not JSON: {exc}") from exc
    _check_tree(raw, max_depth)
    return raw


def batch_from_json(raw: Any) -> Batch:
    """Return the batch a parsed JSON document holds; ValueError says what is wrong with it."""
    if not isinstance(raw, dict) or raw.get("v") != VERSION or isinstance(raw.get("v"), bool):
        raise ValueError(f"not a version {VERSION} batch")
    site, token, records = raw.get("site"), raw.get("token"), raw.get("records")
    if not isinstance(site, str) or not isinstance(token, str) or not isinstance(records, list):
        raise ValueError("a batch needs site, token and records")
    out: list[WireRecord] = []
    for index, item in enumerate(records):
        if not isinstance(item, dict):
            raise ValueError(f"records[{index}] is not an object")
        key, kind, created, body = (item.get(k) for k in ("key", "kind", "created_at", "body"))
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY:
            raise ValueError(f"records[{index}].key must be a string of 1-{MAX_KEY} characters")
        if not isinstance(kind, str) or not 0 < len(kind) <= MAX_KIND:
            raise ValueError(f"records[{index}].kind must be a string of 1-{MAX_KIND} characters")
        if not isinstance(body, dict):
            raise ValueError(f"records[{index}].body must be an object")
        if not isinstance(created, int | float) or isinstance(created, bool):
            raise ValueError(f"records[{index}].created_at must be a number")
        try:
            stamp = float(created)
        except OverflowError:
            stamp = math.inf
        if not math.isfinite(stamp):
            raise ValueError(f"records[{index}].created_at must be a finite number")
        out.append(WireRecord(key, kind, stamp, body))
    return Batch(site, token, out)


def decode_batch(data: bytes, max_bytes: int, max_depth: int = 32) -> Batch:
    """Parse a (possibly gzipped) batch; ValueError says what is wrong with it."""
    return batch_from_json(parse_json(inflate(data, max_bytes), max_depth))


def mask_tokens(data: bytes, tokens: Iterable[str]) -> bytes:
    """Return ``data`` with every given token (as is and JSON-escaped) replaced by ``[token]``."""
    for token in tokens:
        if not token:
            continue
        for form in {token, json.dumps(token)[1:-1]}:
            data = data.replace(form.encode("utf-8", "surrogatepass"), TOKEN_MASK)
    return data


def batch_digest(message: bytes) -> str:
    """Return the id of a batch as published over MQTT: the sha256 of the message's bytes."""
    return hashlib.sha256(message).hexdigest()


def ack_topic(batch_topic: str) -> str:
    """Return the topic the receiver answers a batch topic on (``<prefix>/<site>/ack``)."""
    return batch_topic + "/ack"


def encode_reply(
    batch: str, ack: Ack | None, *, status: int = 200, reason: str = "", error: str = ""
) -> bytes:
    """Return the receiver's MQTT reply: the acknowledgement of a batch, or its refusal."""
    if ack is not None:
        return json.dumps(
            {
                "batch": batch,
                "status": 200,
                "accepted": ack.accepted,
                "duplicates": ack.duplicates,
                "records": ack.accepted + ack.duplicates,
            }
        ).encode()
    return json.dumps({"batch": batch, "status": status, "reason": reason, "error": error}).encode()


@dataclass(frozen=True, slots=True)
class Reply:
    """The receiver's MQTT answer to one batch: ``status`` 200 with the counts, or a refusal."""

    batch: str
    status: int
    body: bytes
    reason: str = ""
    error: str = ""

    def outcome(self, expected: int) -> Ack:
        """Return the acknowledgement of ``expected`` records; raise the refusal otherwise."""
        if self.status == 200:
            return decode_ack(self.body, expected)
        raise refusal(
            self.status,
            self.reason or f"status_{self.status}",
            f"the cloud receiver refused the batch ({self.status} {self.reason}): {self.error}",
        )


def decode_reply(data: bytes) -> Reply:
    """Parse the receiver's MQTT reply; ValueError when it is not one."""
    raw = parse_json(data, 4)
    if not isinstance(raw, dict) or not isinstance(raw.get("batch"), str):
        raise ValueError("a reply needs the batch it answers")
    status = raw.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        raise ValueError("a reply needs a status")
    return Reply(
        raw["batch"], status, data, str(raw.get("reason") or ""), str(raw.get("error") or "")
    )


def encode_ack(ack: Ack) -> bytes:
    """Return the receiver's answer as JSON bytes."""
    return json.dumps(
        {
            "accepted": ack.accepted,
            "duplicates": ack.duplicates,
            "records": ack.accepted + ack.duplicates,
        }
    ).encode()


def decode_ack(data: bytes, expected: int) -> Ack:
    """Parse the receiver's answer; UplinkError unless it covers every record sent."""
    try:
        raw = json.loads(data)
        ack = Ack(int(raw["accepted"]), int(raw["duplicates"]))
        records = int(raw["records"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UplinkError(f"the receiver's answer is not a valid acknowledgement: {exc}") from exc
    if records != expected or ack.accepted + ack.duplicates != expected:
        raise UplinkError(
            f"the receiver acknowledged {records} records of the {expected} sent; resending"
        )
    return ack
