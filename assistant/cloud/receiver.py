"""The cloud receiver: authenticates sites by token, de-duplicates by key, stores per site.

Over HTTPS (``POST /v1/records``, a FastAPI app served by uvicorn) the site is the one whose
token the ``Authorization: Bearer`` header carries, and the batch must name that site. Over
MQTT (``<cloud.mqtt_topic>/<site>``) the token inside the batch must be the site's. Either
way the batch is stored in one transaction before the answer (HTTP 200, or the MQTT
acknowledgement) goes back.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from assistant.cloud.store import CloudStore
from assistant.schema.sync import Ack, decode_batch, encode_ack
from assistant.settings import CloudSettings

log = logging.getLogger(__name__)


class Refused(Exception):
    """A batch the receiver will not store; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ReceiverCounters:
    """What the receiver has seen since it started."""

    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def refuse(self, reason: str) -> None:
        """Count one refused batch."""
        self.refused[reason] = self.refused.get(reason, 0) + 1


def cloud_dir(settings: CloudSettings, data_dir: Path) -> Path:
    """Return the receiver's data directory (cloud.data_dir, else <data_dir>/cloud)."""
    return settings.data_dir or data_dir / "cloud"


class Receiver:
    """Checks and stores batches, whichever transport brought them."""

    def __init__(self, settings: CloudSettings, store: CloudStore) -> None:
        self.settings = settings
        self.store = store
        self.counters = ReceiverCounters()
        self.mqtt_subscribed: Callable[[], bool] | None = None
        self._tokens = {site: token.get_secret_value() for site, token in settings.tokens.items()}

    def site_of(self, token: str) -> str | None:
        """Return the site this token belongs to, or None."""
        found = None
        for site, expected in self._tokens.items():
            if hmac.compare_digest(expected.encode(), token.encode()):
                found = site
        return found

    def receive(self, body: bytes, *, token: str | None, topic_site: str | None, via: str) -> Ack:
        """Authenticate, parse and store one batch; Refused says why it was not stored."""
        site = self.site_of(token) if token is not None else topic_site
        if site is None:
            self.counters.refuse("unauthorized")
            raise Refused(401, "unknown or missing token")
        if self.settings.keep_raw:
            self.store.keep_raw(site, body)
        try:
            batch = decode_batch(body, self.settings.max_body_bytes)
        except ValueError as exc:
            self.counters.refuse("invalid")
            raise Refused(400, f"invalid batch: {exc}") from exc
        if batch.site != site or self.site_of(batch.token) != site:
            self.counters.refuse("site_mismatch")
            raise Refused(403, f"the batch's site or token does not match site '{site}'")
        ack = self.store.store(site, batch.records, via)
        self.counters.batches += 1
        self.counters.accepted += ack.accepted
        self.counters.duplicates += ack.duplicates
        return ack

    def on_mqtt(self, topic: str, payload: bytes) -> bool:
        """Store a batch that came through the cloud broker; return whether to acknowledge."""
        site = topic.rsplit("/", 1)[-1]
        if site not in self._tokens:
            self.counters.refuse("unknown_site")
            log.warning("batch on '%s' from an unknown site: dropped", topic)
            return True
        try:
            self.receive(payload, token=None, topic_site=site, via="mqtt")
        except Refused as exc:
            log.warning("batch on '%s' refused: %s", topic, exc)
        return True


def create_app(receiver: Receiver) -> FastAPI:
    """Return the receiver's HTTP app."""
    app = FastAPI(title="Shiftmate cloud receiver", docs_url=None, redoc_url=None)
    limit = receiver.settings.max_body_bytes

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        """Return the receiver's counters and what it holds per site."""
        counters = receiver.counters
        return {
            "status": "ok",
            "batches": counters.batches,
            "accepted": counters.accepted,
            "duplicates": counters.duplicates,
            "refused": counters.refused,
            "mqtt": None
            if receiver.mqtt_subscribed is None
            else ("subscribed" if receiver.mqtt_subscribed() else "connecting"),
            "sites": receiver.store.counts(),
        }

    @app.post("/v1/records")
    async def records(request: Request) -> Response:
        """Store a batch of records from an authenticated site."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            receiver.counters.refuse("unauthorized")
            return JSONResponse({"error": "a bearer token is required"}, status_code=401)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            receiver.counters.refuse("too_large")
            return JSONResponse({"error": f"body over {limit} bytes"}, status_code=413)
        body = await request.body()
        if len(body) > limit:
            receiver.counters.refuse("too_large")
            return JSONResponse({"error": f"body over {limit} bytes"}, status_code=413)
        try:
            ack = await run_in_threadpool(
                receiver.receive, body, token=token.strip(), topic_site=None, via="https"
            )
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return Response(encode_ack(ack), media_type="application/json")

    return app
