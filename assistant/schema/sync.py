"""The sync wire format shared by the site's uplinks and the cloud receiver.

A batch is one JSON object ``{"v": 1, "site": ..., "token": ..., "records": [...]}``, each
record ``{"key", "kind", "created_at", "body"}``, gzip-compressed on the wire when
``sync.gzip`` is on. Over HTTPS the token also travels as ``Authorization: Bearer``; over MQTT
it is the only proof of the site, so the receiver checks it for both. The receiver answers
``{"accepted": n, "duplicates": m, "records": n + m}``.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from assistant.errors import SyncError

VERSION = 1
MAX_KEY = 200
GZIP_MAGIC = b"\x1f\x8b"


class UplinkError(SyncError):
    """A batch was not delivered (link down, refused, timed out, bad answer); it stays queued."""


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


def decode_batch(data: bytes, max_bytes: int) -> Batch:
    """Parse a (possibly gzipped) batch; ValueError says what is wrong with it."""
    if data[:2] == GZIP_MAGIC:
        try:
            with gzip.GzipFile(mode="rb", fileobj=io.BytesIO(data)) as handle:
                data = handle.read(max_bytes + 1)
        except (OSError, EOFError) as exc:
            raise ValueError(f"body is not valid gzip: {exc}") from exc
        if len(data) > max_bytes:
            raise ValueError(f"body is larger than {max_bytes} bytes uncompressed")
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("v") != VERSION:
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
        if not isinstance(kind, str) or not isinstance(body, dict):
            raise ValueError(f"records[{index}] needs a kind and an object body")
        if not isinstance(created, int | float):
            raise ValueError(f"records[{index}].created_at must be a number")
        out.append(WireRecord(key, kind, float(created), body))
    return Batch(site, token, out)


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
