"""A real Shiftmate API server (uvicorn on a free loopback port) over the sample plant, a real
Mosquitto broker feeding its telemetry, the real default models, and one key per role."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from assistant.api import create_app
from assistant.api.keys import KeyStore
from assistant.api.state import ApiState
from assistant.services import Services, build_services
from assistant.settings import load_settings
from models.chat import ChatModel
from models.embedder import Embedder
from tests.brokers import HOST, Mosquitto, free_port
from tests.conftest import SAMPLE_PLANT


@dataclass
class LiveServer:
    """A running API server and what the tests need to talk to it."""

    url: str
    app: FastAPI
    services: Services
    keys: dict[str, str]
    broker: Mosquitto | None

    @property
    def state(self) -> ApiState:
        """Return the app's shared state (queue counters, metrics)."""
        state: ApiState = self.app.state.api
        return state

    def headers(self, role: str = "operator") -> dict[str, str]:
        """Return the Authorization header of the key of a role."""
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def client(self, role: str | None = "operator", timeout: float = 120.0) -> httpx.Client:
        """Return an httpx client for the server, with a role's key (or none)."""
        headers = self.headers(role) if role is not None else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def start_server(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Run an app under uvicorn on a free loopback port in a thread; return when it listens."""
    port = free_port()
    config = uvicorn.Config(
        app, host=HOST, port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    return server, thread, f"http://{HOST}:{port}"


def stop_server(server: uvicorn.Server, thread: threading.Thread) -> None:
    """Stop a server started by start_server."""
    server.should_exit = True
    thread.join(timeout=30)


ServerFactory = Callable[..., LiveServer]


@pytest.fixture(scope="module")
def make_server(
    tmp_path_factory: pytest.TempPathFactory,
    plant_template: Path,
    chat_model: ChatModel,
    embedder: Embedder,
) -> Iterator[ServerFactory]:
    """Start API servers on demand (module scope); all are stopped afterwards."""
    running: list[tuple[uvicorn.Server, threading.Thread, Services, Mosquitto | None]] = []

    def factory(*, plant: bool = True, broker: bool = True, **overrides: Any) -> LiveServer:
        data_dir = tmp_path_factory.mktemp("api") / "data"
        if plant:
            shutil.copytree(plant_template, data_dir)
        values: dict[str, Any] = {"data_dir": data_dir, "models": {"verify": False}}
        mosquitto: Mosquitto | None = None
        if plant:
            values["plant"] = {"file": SAMPLE_PLANT / "plant.toml"}
        if broker:
            mosquitto = Mosquitto().start()
            values["mqtt"] = mosquitto.mqtt_settings(client_id=f"api-{free_port()}").model_dump()
        for key, value in overrides.items():
            values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
        settings = load_settings(None, values)
        services = build_services(settings, chat_model=chat_model, embedder=embedder)
        if broker:
            services.start_telemetry()
        _ = services.chat
        store = KeyStore(services.db)
        keys = {
            role: store.create(role, f"{role}-1")[1] for role in ("operator", "supervisor", "admin")
        }
        app = create_app(services)
        server, thread, url = start_server(app)
        running.append((server, thread, services, mosquitto))
        return LiveServer(url, app, services, keys, mosquitto)

    yield factory
    for server, thread, services, mosquitto in running:
        stop_server(server, thread)
        services.close()
        if mosquitto is not None:
            mosquitto.close()


@pytest.fixture(scope="module")
def server(make_server: ServerFactory) -> LiveServer:
    """Return the module's API server over the sample plant with a broker."""
    return make_server(
        chat={"max_tokens": 48},
        api={"queue_size": 2, "max_upload_mb": 0.25, "events_max_s": 5.0, "heartbeat_s": 0.5},
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    """Return the error object of a JSON error response, checking its shape."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"]
    return error
