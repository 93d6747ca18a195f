"""The cloud receiver: authenticates sites by token, de-duplicates by key, stores per site.

Over HTTPS (``POST /v1/records``, a FastAPI app served by uvicorn) the site is the one whose
token the ``Authorization: Bearer`` header carries, checked by :class:`RequestGuard` before a
byte of the body is read, and the batch must name that site and carry its token. Over MQTT
(``<cloud.mqtt_topic>/<site>``) the token inside the batch is the only proof of the site.
Either way the batch is stored in one transaction before the answer (HTTP 200, or the reply
on ``<topic>/ack`` and then the broker's acknowledgement) goes back.

Anything the receiver cannot decode (not gzip or JSON, nested deeper than
``cloud.max_json_depth``, ``NaN`` or infinite numbers, wrong types, over
``cloud.max_body_bytes``) is refused: counted by reason, kept as a dead letter with its tokens
masked, answered (400, 403 or 413, also over MQTT) and acknowledged to the broker, so that it
is never delivered again. ``GET /v1/health`` needs ``cloud.health_token`` (everything) or a
site's token (its own counts); so does ``GET /v1/models/quality`` (answer quality per site,
model sha256 and day: :mod:`assistant.cloud.quality`).
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from assistant.cloud.guard import PRINCIPAL, RequestGuard
from assistant.cloud.models_route import mount_models
from assistant.cloud.quality import quality_table
from assistant.cloud.store import RecordStore
from assistant.schema.sync import (
    Ack,
    TooLarge,
    ack_topic,
    batch_digest,
    batch_from_json,
    encode_ack,
    encode_reply,
    inflate,
    mask_tokens,
    parse_json,
)
from assistant.settings import CloudSettings

log = logging.getLogger(__name__)

ALL_SITES = "*"
"""The principal of ``cloud.health_token``: sees every site's counts, sends nothing."""


class Refused(Exception):
    """A batch the receiver will not store; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, reason: str = "refused") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass
class ReceiverCounters:
    """What the receiver has seen since it started."""

    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def refuse(self, reason: str) -> None:
        """Count one refused batch (or request)."""
        with self._lock:
            self.refused[reason] = self.refused.get(reason, 0) + 1

    def stored(self, ack: Ack) -> None:
        """Count one stored batch."""
        with self._lock:
            self.batches += 1
            self.accepted += ack.accepted
            self.duplicates += ack.duplicates


def cloud_dir(settings: CloudSettings, data_dir: Path) -> Path:
    """Return the receiver's data directory (cloud.data_dir, else <data_dir>/cloud)."""
    return settings.data_dir or data_dir / "cloud"


class Receiver:
    """Checks and stores batches, whichever transport brought them."""

    def __init__(self, settings: CloudSettings, store: RecordStore) -> None:
        self.settings = settings
        self.store = store
        self.counters = ReceiverCounters()
        self.mqtt_subscribed: Callable[[], bool] | None = None
        self._tokens = {site: token.get_secret_value() for site, token in settings.tokens.items()}
        health = settings.health_token
        self._health_token = health.get_secret_value() if health is not None else None

    def site_of(self, token: str) -> str | None:
        """Return the site this token belongs to, or None."""
        found = None
        for site, expected in self._tokens.items():
            if hmac.compare_digest(expected.encode(), token.encode()):
                found = site
        return found

    def authenticate(self, token: str) -> str | None:
        """Return the site a bearer token belongs to, ALL_SITES for the health token, or None."""
        if self._health_token and hmac.compare_digest(self._health_token.encode(), token.encode()):
            return ALL_SITES
        return self.site_of(token)

    def _refuse(
        self, site: str, via: str, status: int, reason: str, message: str, body: bytes, *extra: str
    ) -> Refused:
        """Count a refusal, keep the body as a dead letter (tokens masked), return the error."""
        self.counters.refuse(reason)
        masked = mask_tokens(body, [*self._tokens.values(), *extra])
        self.store.dead_letter(site, via, reason, message, masked)
        return Refused(status, message, reason)

    def receive(self, body: bytes, *, site: str, via: str, bearer: bool) -> Ack:
        """Decode, check and store one batch from ``site``; Refused says why it was not stored.

        ``bearer``: the site was proven by its bearer token (HTTPS), so a batch carrying
        another token is a mismatch (403); over MQTT the token inside is the only proof (401).
        """
        settings = self.settings
        try:
            data = inflate(body, settings.max_body_bytes)
        except TooLarge as exc:
            raise self._refuse(site, via, 413, "too_large", str(exc), body) from exc
        except ValueError as exc:
            raise self._refuse(site, via, 400, "invalid", f"invalid batch: {exc}", body) from exc
        raw: Any = None
        try:
            raw = parse_json(data, settings.max_json_depth)
            batch = batch_from_json(raw)
        except Exception as exc:  # whatever cannot be decoded is a refusal, never a crash
            claimed = raw.get("token") if isinstance(raw, dict) else None
            extra = [claimed] if isinstance(claimed, str) else []
            message = f"invalid batch: {exc}"
            raise self._refuse(site, via, 400, "invalid", message, data, *extra) from exc
        if self.site_of(batch.token) != site:
            if bearer:
                message = f"the batch's token does not match site '{site}'"
                raise self._refuse(site, via, 403, "site_mismatch", message, data, batch.token)
            message = f"the batch's token is not the token of site '{site}'"
            raise self._refuse(site, via, 401, "unauthorized", message, data, batch.token)
        if batch.site != site:
            message = f"the batch names site '{batch.site}', not '{site}'"
            raise self._refuse(site, via, 403, "site_mismatch", message, data)
        if settings.keep_raw:
            self.store.keep_raw(site, mask_tokens(data, [batch.token]))
        ack = self.store.store(site, batch.records, via)
        self.counters.stored(ack)
        return ack

    def on_mqtt(self, topic: str, payload: bytes) -> tuple[str, bytes] | None:
        """Store or refuse a batch from the cloud broker; return the reply (topic, payload).

        The message is acknowledged to the broker once this returns; a failing store raises,
        so that the broker delivers it again.
        """
        site = topic.rsplit("/", 1)[-1]
        if site not in self._tokens:
            self._refuse(site, "mqtt", 403, "unknown_site", f"no site '{site}'", payload)
            log.warning("batch on '%s' from an unknown site: dead-lettered", topic)
            return None
        digest = batch_digest(payload)
        try:
            ack = self.receive(payload, site=site, via="mqtt", bearer=False)
        except Refused as exc:
            log.warning("batch on '%s' refused: %s", topic, exc)
            reply = encode_reply(digest, None, status=exc.status, reason=exc.reason, error=str(exc))
            return ack_topic(topic), reply
        return ack_topic(topic), encode_reply(digest, ack)


def create_app(receiver: Receiver) -> FastAPI:
    """Return the receiver's HTTP app (every route behind the token-first body guard)."""
    app = FastAPI(title="Shiftmate cloud receiver", docs_url=None, redoc_url=None)
    app.add_middleware(
        RequestGuard,
        authenticate=receiver.authenticate,
        max_body_bytes=receiver.settings.max_body_bytes,
        on_refused=receiver.counters.refuse,
    )
    mount_models(app, receiver)  # GET /v1/models and /v1/models/{name}/{version}

    @app.get("/v1/health")
    def health(request: Request) -> dict[str, Any]:
        """Return the receiver's counters and what it holds (per site, or the caller's site)."""
        principal = request.scope[PRINCIPAL]
        counters = receiver.counters
        sites = receiver.store.counts()
        if principal != ALL_SITES:
            sites = {site: n for site, n in sites.items() if site == principal}
        return {
            "status": "ok",
            "batches": counters.batches,
            "accepted": counters.accepted,
            "duplicates": counters.duplicates,
            "refused": dict(counters.refused),
            "dead_letters": receiver.store.dead_letter_count(),
            "mqtt": None
            if receiver.mqtt_subscribed is None
            else ("subscribed" if receiver.mqtt_subscribed() else "connecting"),
            "sites": sites,
        }

    @app.get("/v1/models/quality")
    def models_quality(request: Request) -> dict[str, Any]:
        """Return answer quality per site, model sha256 and day (the caller's site, or all)."""
        principal = request.scope[PRINCIPAL]
        site = None if principal == ALL_SITES else principal
        store = receiver.store  # a sync route: FastAPI runs it in a worker thread
        records = [*store.records("summary", site), *store.records("feedback", site)]
        return {"quality": quality_table(records)}

    @app.post("/v1/records")
    async def records(request: Request) -> Response:
        """Store a batch of records from an authenticated site."""
        site = request.scope[PRINCIPAL]
        if site == ALL_SITES:
            receiver.counters.refuse("site_mismatch")
            message = "the health token cannot send records"
            return JSONResponse({"error": message, "reason": "site_mismatch"}, status_code=403)
        body = await request.body()
        try:
            ack = await run_in_threadpool(
                receiver.receive, body, site=site, via="https", bearer=True
            )
        except Refused as exc:
            return JSONResponse({"error": str(exc), "reason": exc.reason}, status_code=exc.status)
        return Response(encode_ack(ack), media_type="application/json")

    return app
