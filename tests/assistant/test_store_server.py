"""The knowledge base in a real Chroma server (``chroma run`` on a free loopback port).

One server serves the whole module; each test uses collections of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.errors import KnowledgeError
from assistant.knowledge.chroma_client import OWNER_FILE, ChromaConnection, connect_server
from assistant.knowledge.store import ChunkStore
from assistant.services import build_services
from assistant.settings import load_settings
from tests.brokers import free_port
from tests.conftest import PROJECT_ROOT, ServicesFactory
from tests.knowledge_servers import (
    ChromaServer,
    EmbeddingServer,
    chroma_server,
    embedding_server,
)

__all__ = ["chroma_server", "embedding_server"]

SHIFTMATE = Path(sys.executable).with_name("shiftmate")
DOCS = {
    "v9.md": "# Valve V-9\n\nV-9 is the bypass gate valve of line 2. Close V-9 before opening "
    "strainer ST-101.\n",
    "p101.md": "# Pump P-101\n\nPump P-101 trips when its suction pressure falls below 0.8 bar.\n",
    "c3.md": "# Compressor C-3\n\nCompressor C-3 unloads at 7.5 bar and loads again at 6.8 bar.\n",
}


def write_docs(folder: Path, names: list[str]) -> Path:
    """Write some of DOCS into a folder and return it."""
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_text(DOCS[name])
    return folder


@contextlib.contextmanager
def connected(url: str, token: str | None = None) -> Iterator[ChromaConnection]:
    """Connect to a Chroma server for the length of a block."""
    connection = connect_server(url, token=token, timeout_s=10)
    try:
        yield connection
    finally:
        connection.close()


def server_metadata(server: ChromaServer, collection: str) -> dict[str, Any]:
    """Return a collection's metadata as the server has it."""
    with connected(server.url) as connection:
        return dict(connection.client.get_collection(collection).metadata or {})


def server_count(server: ChromaServer, collection: str) -> int:
    """Return how many records a collection holds in the server."""
    with connected(server.url) as connection:
        return int(connection.client.get_collection(collection).count())


def shiftmate(data_dir: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the shiftmate console script (not waited for)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTMATE_")} | env
    return subprocess.Popen(
        [str(SHIFTMATE), "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=PROJECT_ROOT,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a process and return (exit code, stdout, stderr)."""
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def test_ingest_search_remove_through_the_server(
    chroma_server: ChromaServer, make_services: ServicesFactory, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs", list(DOCS))
    services = make_services(
        "a", knowledge={"chroma_url": chroma_server.url, "collection": "through_server"}
    )
    report = services.ingestor.ingest([docs])
    assert not report.failed and len(report.outcomes) == 3, report.outcomes
    hits = services.retriever.search("bypass gate valve", 3)
    assert hits[0].chunk.source == str(docs / "v9.md")
    assert not (services.data_dir / "chroma").exists()  # nothing in the embedded store
    chunks = sum(len(entry.chunk_ids) for entry in services.manifest.entries())
    assert server_count(chroma_server, "through_server") == chunks == services.store.count()
    metadata = server_metadata(chroma_server, "through_server")
    owner = (services.data_dir / OWNER_FILE).read_text().strip()
    assert len(owner) == 32
    assert metadata["owner"] == owner
    assert metadata["embedder"] == "all-minilm-l6-v2" and metadata["dimension"] == 384

    services.ingestor.remove(str(docs / "v9.md"))
    assert server_count(chroma_server, "through_server") < chunks
    sources = {hit.chunk.source for hit in services.retriever.search("bypass gate valve", 3)}
    assert str(docs / "v9.md") not in sources and sources


def test_two_shiftmate_processes_share_the_server(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    # Two real CLI processes, same data dir, ingesting at the same time; then a third searches.
    data = tmp_path / "data"
    env = {
        "SHIFTMATE_KNOWLEDGE__CHROMA_URL": chroma_server.url,
        "SHIFTMATE_KNOWLEDGE__COLLECTION": "two_processes",
    }
    # The journal is created first: two processes creating a fresh one at once race in its
    # migrations (a journal matter, not the vector store's).
    assert finish(shiftmate(data, "docs", "list", env=env))[0] == 0
    first = write_docs(tmp_path / "first", ["v9.md"])
    second = write_docs(tmp_path / "second", ["p101.md", "c3.md"])
    running = [shiftmate(data, "ingest", str(folder), env=env) for folder in (first, second)]
    for code, _, err in map(finish, running):
        assert code == 0, err
    code, out, err = finish(
        shiftmate(data, "search", "bypass gate valve", "compressor unload", "--json", env=env)
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["results"][0]["source"] == str(first / "v9.md")
    assert lines[1]["results"][0]["source"] == str(second / "c3.md")
    code, out, err = finish(shiftmate(data, "docs", "list", "--json", env=env))
    assert code == 0, err
    assert sorted(Path(d["path"]).name for d in json.loads(out)) == ["c3.md", "p101.md", "v9.md"]
    assert not (data / "chroma").exists()
    assert server_metadata(chroma_server, "two_processes")["owner"] == (
        (data / OWNER_FILE).read_text().strip()
    )


def test_another_data_dir_is_refused_the_collection(
    chroma_server: ChromaServer, make_services: ServicesFactory, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs", ["p101.md"])
    knowledge = {"chroma_url": chroma_server.url, "collection": "owned_by_a"}
    owner = make_services("a", knowledge=knowledge)
    assert not owner.ingestor.ingest([docs]).failed
    other = make_services("b", knowledge=knowledge)
    with pytest.raises(KnowledgeError) as refused:
        _ = other.store
    message = str(refused.value)
    assert "owned_by_a" in message and chroma_server.url in message
    assert "another Shiftmate data directory" in message and "knowledge.collection" in message
    assert server_count(chroma_server, "owned_by_a") >= 1  # nothing was touched
    mine = make_services("b2", knowledge={**knowledge, "collection": "owned_by_b"})
    assert mine.store.count() == 0


def test_server_down_is_a_clear_error_quickly(
    make_services: ServicesFactory, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    services = make_services(knowledge={"chroma_url": url})
    started = time.monotonic()
    with pytest.raises(KnowledgeError, match=f"the Chroma server at {url} is not answering"):
        _ = services.store
    assert time.monotonic() - started < 3
    # The command line: one line, the knowledge base's exit code, before any model loads.
    started = time.monotonic()
    code, _, err = finish(
        shiftmate(tmp_path / "cli", "search", "pump", env={"SHIFTMATE_KNOWLEDGE__CHROMA_URL": url})
    )
    assert code == 4 and "Traceback" not in err, err
    assert err.strip().startswith("shiftmate: error:") and f"{url} is not answering" in err
    assert time.monotonic() - started < 30


def test_a_server_that_never_answers_times_out(make_services: ServicesFactory) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        services = make_services(knowledge={"chroma_url": url, "chroma_timeout_s": 0.5})
        started = time.monotonic()
        with pytest.raises(KnowledgeError, match=r"not answering: no answer within 0\.5 s"):
            _ = services.store
        assert time.monotonic() - started < 3


def test_a_server_stopped_while_in_use_is_named(
    make_services: ServicesFactory, tmp_path: Path
) -> None:
    server = ChromaServer(tmp_path / "chroma", tmp_path / "chroma.log")
    try:
        services = make_services(knowledge={"chroma_url": server.url, "chroma_timeout_s": 2})
        assert services.store.count() == 0
        server.stop()
        with pytest.raises(KnowledgeError, match=f"the Chroma server at {server.url} failed"):
            services.store.count()
    finally:
        server.stop()


def test_an_embedder_of_another_dimension_is_refused(
    chroma_server: ChromaServer,
    embedding_server: EmbeddingServer,
    make_services: ServicesFactory,
    tmp_path: Path,
) -> None:
    docs = write_docs(tmp_path / "docs", ["c3.md"])
    knowledge = {"chroma_url": chroma_server.url, "collection": "minilm_vectors"}
    assert not make_services("a", knowledge=knowledge).ingestor.ingest([docs]).failed
    settings = load_settings(
        None,
        {
            "data_dir": tmp_path / "a",  # the same data dir: only the embedder differs
            "knowledge": knowledge,
            "models": {
                "embedder_backend": "openai",
                "embedder_base_url": embedding_server.base_url,
            },
        },
    )
    with build_services(settings) as services, pytest.raises(KnowledgeError) as refused:
        _ = services.store
    assert str(refused.value) == (
        f"the collection minilm_vectors in the Chroma server at {chroma_server.url} holds "
        f"384-dimensional vectors from all-minilm-l6-v2 but the embedder "
        f"({embedding_server.model}) makes 576; re-ingest into a new collection "
        "(knowledge.collection) or data directory"
    )
    assert server_metadata(chroma_server, "minilm_vectors")["dimension"] == 384  # untouched


def test_an_embedder_of_the_same_dimension_but_another_name_is_refused(
    chroma_server: ChromaServer,
) -> None:
    with connected(chroma_server.url) as connection:
        store = ChunkStore(Path("unused"), "named_vectors", 8, embedder="a", connection=connection)
        assert store.count() == 0
        with pytest.raises(KnowledgeError, match="8-dimensional vectors from a but the embedder"):
            ChunkStore(Path("unused"), "named_vectors", 8, embedder="b", connection=connection)


def test_a_collection_without_identity_gets_it_recorded_and_stays_cosine(tmp_path: Path) -> None:
    # A collection made before the identity was recorded (embedded store, as old versions did).
    from assistant.domain import Chunk

    legacy = ChunkStore(tmp_path / "chroma", "legacy_docs", 4)
    chunk = Chunk("c1", "a.md", "A", "", None, "text", ())
    legacy.upsert([chunk], np.asarray([[1.0, 0.0, 0.0, 0.0]], np.float32))
    assert "embedder" not in (legacy._collection.metadata or {})
    reopened = ChunkStore(tmp_path / "chroma", "legacy_docs", 4, embedder="all-minilm-l6-v2")
    metadata = reopened._collection.metadata or {}
    assert metadata["embedder"] == "all-minilm-l6-v2" and metadata["dimension"] == 4
    assert "owner" not in metadata  # the embedded store belongs to its data dir anyway
    query = np.asarray([[1.0, 1.0, 0.0, 0.0]], np.float32) / np.sqrt(2)
    hit = reopened.query(query.astype(np.float32), 1)[0][0]
    assert hit.chunk.id == "c1" and hit.score == pytest.approx(0.7071, abs=1e-3)  # cosine
    with pytest.raises(KnowledgeError, match="from all-minilm-l6-v2 but the embedder"):
        ChunkStore(tmp_path / "chroma", "legacy_docs", 4, embedder="another")


def test_the_token_goes_as_a_bearer_header(chroma_server: ChromaServer) -> None:
    # `chroma run` (1.x) does not check tokens; the client must still send it.
    with connected(chroma_server.url, token="tok-4815162342") as connection:
        session = connection.client._target._server._session
        assert session.headers["Authorization"] == "Bearer tok-4815162342"
        assert session.timeout.read == 10
        assert connection.client.heartbeat() > 0
