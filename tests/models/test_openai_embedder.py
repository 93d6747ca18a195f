"""ServerEmbedder against a real ``llama_cpp.server --embedding true`` serving the default GGUF."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import ModelError
from assistant.services import build_services
from assistant.settings import load_settings
from models.embedder import TextEmbedder
from models.errors import ModelServerError
from models.openai_embedder import EmbeddingServerError, ServerEmbedder
from tests.brokers import free_port
from tests.knowledge_servers import EmbeddingServer, embedding_server

__all__ = ["embedding_server"]

TEXTS = [
    "Close valve V-9 before opening the strainer housing.",
    "Compressor C-3 unloads at 7.5 bar.",
    "",
    "Check the differential pressure across strainer ST-101 every shift.",
    "Pump P-101 trips on low suction pressure.",
]


def test_vectors_are_normalised_float32_with_the_probed_dimension(
    embedding_server: EmbeddingServer,
) -> None:
    embedder = ServerEmbedder(embedding_server.base_url)
    try:
        assert isinstance(embedder, TextEmbedder)
        assert embedder.name == str(embedding_server.model)  # llama_cpp.server's model id
        assert embedder.dimension == 576  # SmolLM2-135M's hidden size
        vectors = embedder.embed(TEXTS)
        assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 576)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert len({v.tobytes() for v in vectors}) == len(TEXTS)  # no text got another's vector
        assert embedder.embed([]).shape == (0, 576)
    finally:
        embedder.close()


def test_batches_give_the_vectors_of_texts_sent_alone(embedding_server: EmbeddingServer) -> None:
    # llama_cpp.server 0.3.x mixes up several per-token inputs in one request; the probe
    # notices and sends one text per request, so a batch equals its texts sent one by one.
    embedder = ServerEmbedder(embedding_server.base_url, batch_size=2)
    try:
        assert embedder.batch_size == 1
        together = embedder.embed(TEXTS)
        alone = np.concatenate([embedder.embed([text]) for text in TEXTS])
        np.testing.assert_allclose(np.sum(together * alone, axis=1), 1.0, atol=1e-4)
    finally:
        embedder.close()


def test_services_ingest_and_search_with_server_embeddings(
    embedding_server: EmbeddingServer, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "v9.md").write_text("# Valve V-9\n\nV-9 is the bypass gate valve of line 2.\n")
    (docs / "p101.md").write_text("# Pump P-101\n\nP-101 trips on low suction pressure.\n")
    settings = load_settings(
        None,
        {
            "data_dir": tmp_path / "data",
            "models": {
                "embedder_backend": "openai",
                "embedder_base_url": embedding_server.base_url,
            },
        },
    )
    with build_services(settings) as services:
        assert isinstance(services.embedder, ServerEmbedder)
        report = services.ingestor.ingest([docs])
        assert not report.failed, report.failed
        hits = services.retriever.search("bypass gate valve", 3)
        assert hits and hits[0].chunk.source.endswith("v9.md")
        assert services.store.count() >= 1


def test_server_down_is_a_clear_model_error_naming_it() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    with pytest.raises(EmbeddingServerError, match=f"embedding server at {url} is not answering"):
        ServerEmbedder(url, retries=1)
    assert time.monotonic() - started < 5
    assert issubclass(EmbeddingServerError, ModelServerError)  # exit code 13, HTTP 503
    assert issubclass(EmbeddingServerError, ModelError)


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        started = time.monotonic()
        with pytest.raises(EmbeddingServerError, match=r"did not answer /models within 0\.5 s"):
            ServerEmbedder(url, timeout_s=0.5, retries=0)
        assert time.monotonic() - started < 5


def test_a_wrong_path_and_a_killed_server_are_named(tmp_path: Path) -> None:
    server = EmbeddingServer(tmp_path / "server.log")
    try:
        wrong = server.base_url.removesuffix("/v1")
        with pytest.raises(EmbeddingServerError, match=r"refused /models: HTTP 404"):
            ServerEmbedder(wrong, retries=0)
        embedder = ServerEmbedder(server.base_url, retries=1)
        assert embedder.embed(["before"]).shape == (1, 576)
        server.stop()
        with pytest.raises(EmbeddingServerError, match=f"{server.base_url} is not answering"):
            embedder.embed(["after"])
        embedder.close()
    finally:
        server.stop()
