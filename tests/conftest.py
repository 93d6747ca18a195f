"""Fixtures shared by the whole suite: the real default models, loaded once, and services
built in temporary data directories."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from models.offline import enforce_offline

enforce_offline()  # before anything imports transformers

from assistant.services import Services, build_services  # noqa: E402
from assistant.settings import load_settings  # noqa: E402
from models import registry  # noqa: E402
from models.chat import ChatModel  # noqa: E402
from models.embedder import Embedder  # noqa: E402
from tests.brokers import BrokerError, Mosquitto, MosquittoFactory  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT / ".." / "shared" / "data"
SAMPLE_PLANT = PROJECT_ROOT / "assistant" / "sample_plant"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's SHIFTMATE_* variables and home data dir out of every test."""
    for key in list(os.environ):
        if key.startswith("SHIFTMATE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return ../shared/data, the real data nobody here wrote."""
    path = SHARED_DATA.resolve()
    assert path.is_dir(), f"the shared data folder is missing: {path}"
    return path


@pytest.fixture(scope="session")
def chat_model() -> Iterator[ChatModel]:
    """Load the real default GGUF chat model once for the session."""
    resolved = registry.resolve("smollm2-135m-instruct", "llm")
    model = ChatModel(resolved.path, n_ctx=4096, name=resolved.name)
    yield model
    model.close()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """Load the real default embedder once for the session."""
    resolved = registry.resolve("all-minilm-l6-v2", "embedder")
    return Embedder(resolved.path, name=resolved.name)


ServicesFactory = Callable[..., Services]


@pytest.fixture
def make_services(
    tmp_path: Path, chat_model: ChatModel, embedder: Embedder
) -> Iterator[ServicesFactory]:
    """Build Services in a fresh temp data dir with the shared real models."""
    built: list[Services] = []

    def factory(name: str = "data", **overrides: Any) -> Services:
        settings = load_settings(None, {"data_dir": tmp_path / name, **overrides})
        services = build_services(settings, chat_model=chat_model, embedder=embedder)
        built.append(services)
        return services

    yield factory
    for services in built:
        services.close()


@pytest.fixture
def services(make_services: ServicesFactory) -> Services:
    """Return Services over an empty temp data dir."""
    return make_services()


@pytest.fixture(scope="session")
def plant_template(
    tmp_path_factory: pytest.TempPathFactory, chat_model: ChatModel, embedder: Embedder
) -> Path:
    """Ingest the sample plant once per session into a data dir that tests copy."""
    data_dir = tmp_path_factory.mktemp("plant-template") / "data"
    settings = load_settings(None, {"data_dir": data_dir})
    services = build_services(settings, chat_model=chat_model, embedder=embedder)
    report = services.ingestor.ingest([SAMPLE_PLANT])
    assert not report.failed, report.failed
    services.close()
    return data_dir


@pytest.fixture
def plant_services(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> Services:
    """Return Services over a private copy of a data dir with the sample plant ingested."""
    shutil.copytree(plant_template, tmp_path / "plant")
    return make_services("plant")


@pytest.fixture
def make_mosquitto() -> Iterator[MosquittoFactory]:
    """Start brokers on demand (``make_mosquitto(users={...})``); all are stopped afterwards."""
    started: list[Mosquitto] = []

    def factory(**options: Any) -> Mosquitto:
        try:
            broker = Mosquitto(**options)
        except BrokerError as exc:
            pytest.fail(str(exc))
        started.append(broker)
        try:
            return broker.start()
        except BrokerError as exc:
            pytest.fail(str(exc))

    yield factory
    for broker in started:
        broker.close()


@pytest.fixture
def mosquitto(make_mosquitto: MosquittoFactory) -> Mosquitto:
    """Return a running anonymous Mosquitto with persistence, private to the test."""
    return make_mosquitto()
