"""The FastAPI app: built from the same Services as the CLI, nothing global.

``create_app(services)`` wires the routers, auth, the inference queue, metrics and the error
mapping. Starting the telemetry pipeline is the caller's choice (``shiftmate serve`` starts it
when a plant and a broker are configured); the app only subscribes to it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from assistant import __version__
from assistant.api import errors
from assistant.api.auth import Operator
from assistant.api.body_limit import BodyLimit
from assistant.api.event_streams import EventStreams
from assistant.api.gatekeeper import Gatekeeper
from assistant.api.gauges import ServiceGauges
from assistant.api.inference import InferenceQueue
from assistant.api.keys import KeyStore
from assistant.api.metrics import AnswerQuality, Metrics, MetricsMiddleware
from assistant.api.routers import chat, documents, openai, system, telemetry, workorders
from assistant.api.state import ApiState, Ingestion
from assistant.services import Services

log = logging.getLogger(__name__)


def create_app(services: Services) -> FastAPI:
    """Return the HTTP API over these services."""
    api = services.settings.api
    _ = services.plant, services.live  # built here, not raced for by request threads
    state = ApiState(
        services=services,
        keys=KeyStore(services.db),
        queue=InferenceQueue(api.queue_size, api.retry_after_s),
        metrics=Metrics(),
        ingestion=Ingestion(services),
        streams=EventStreams(api.events_per_key, api.events_total, api.retry_after_s),
    )
    state.metrics.add(ServiceGauges(state))
    state.metrics.add(AnswerQuality(services.db))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.stopping.set()
        state.queue.close()
        state.ingestion.close()

    app = FastAPI(
        title="Shiftmate",
        version=__version__,
        description="On-premise plant-floor assistant: cited answers over plant documents and "
        "live telemetry, OpenAI-compatible chat, work orders. Every route but /health needs "
        "an API key (Authorization: Bearer ...).",
        lifespan=lifespan,
        openapi_url=None,  # served below, behind a key like every route but /health
        docs_url=None,
        redoc_url=None,
    )
    app.state.api = state

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_schema(key: Operator) -> JSONResponse:
        """Return the OpenAPI schema (needs a key)."""
        return JSONResponse(app.openapi())

    errors.install(app)
    for module in (system, chat, openai, documents, telemetry, workorders):
        app.include_router(module.router)
    # the last added runs first: metrics count everything, the key is checked before the body
    app.add_middleware(BodyLimit, upload_limit=int(api.max_upload_mb * 1024 * 1024))
    app.add_middleware(Gatekeeper, routes=app.router.routes, keys=state.keys)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app
