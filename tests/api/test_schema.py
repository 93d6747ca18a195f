"""Schemathesis (property-based, from the OpenAPI schema) against a live server with a valid
admin key: no 5xx on any route, and every response matches the schema. Model routes get fewer
examples (each is a real generation); no route is left out."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.api.conftest import LiveServer, ServerFactory

MODEL_ROUTES = r"^/v1/(ask|chat/completions|conversations/\{conversation_id\}/ask|workorders)$"
# Statuses the schema cannot rule out for schema-valid data: a file whose content or name is
# no supported document type (415) or that is over the size limit (413).
ACCEPTABLE = ["2xx", "3xx", "401", "403", "404", "409", "413", "415", "429", "5xx"]


@pytest.fixture(scope="module")
def fuzzed(make_server: ServerFactory) -> LiveServer:
    """Return a server with short answers and short event streams, for fuzzing."""
    return make_server(
        chat={"max_tokens": 16},
        workorders={"max_tokens": 160, "max_tries": 1},
        api={
            "max_completion_tokens": 16,
            "events_max_s": 0.3,
            "heartbeat_s": 0.1,
            "queue_size": 4,
        },
    )


def _schema(server: LiveServer, max_examples: int) -> Any:
    raw = httpx.get(f"{server.url}/openapi.json", headers=server.headers("admin")).json()
    schema = schemathesis.openapi.from_dict(raw)
    schema.config.update(base_url=server.url, request_timeout=120)
    # Unknown query parameters are ignored, as by most APIs: a request that adds one is not
    # invalid data the server must refuse.
    schema.config.generation.update(
        max_examples=max_examples, deterministic=True, allow_extra_parameters=False
    )
    schema.config.checks.positive_data_acceptance.expected_statuses = ACCEPTABLE
    return schema


@pytest.fixture(scope="module")
def quick_routes(fuzzed: LiveServer) -> Any:
    """Return the schema for the routes that do not run the model: many examples each."""
    return _schema(fuzzed, 12)


@pytest.fixture(scope="module")
def model_routes(fuzzed: LiveServer) -> Any:
    """Return the schema for the model routes: few examples each."""
    return _schema(fuzzed, 3)


quick = schemathesis.pytest.from_fixture("quick_routes").exclude(path_regex=MODEL_ROUTES)
slow = schemathesis.pytest.from_fixture("model_routes").include(path_regex=MODEL_ROUTES)
HYPOTHESIS = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)


@quick.parametrize()
@HYPOTHESIS
def test_routes_without_the_model_conform(case: Any, fuzzed: LiveServer) -> None:
    case.call_and_validate(headers=fuzzed.headers("admin"))


@slow.parametrize()
@HYPOTHESIS
def test_model_routes_conform(case: Any, fuzzed: LiveServer) -> None:
    case.call_and_validate(headers=fuzzed.headers("admin"))


def test_the_schema_needs_a_key(fuzzed: LiveServer) -> None:
    assert httpx.get(f"{fuzzed.url}/openapi.json").status_code == 401
    assert httpx.get(f"{fuzzed.url}/docs").status_code == 404
