"""The chat model over a real ``python -m llama_cpp.server`` on loopback, with the default GGUF:
streaming and not, stops, exact token counts, constrained JSON, cancel, retries, a wrong URL,
the server killed mid-answer (nothing journaled, no draft retried)."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from assistant.services import Services, build_services
from assistant.settings import load_settings
from assistant.sync.records import model_summary
from models.chat import ChatModel, GenerationCancelled
from models.embedder import Embedder
from models.errors import ModelServerError
from models.openai_chat import ServerChatModel
from models.types import Message
from tests.conftest import SAMPLE_PLANT
from tests.servers import LlamaServer, default_gguf, free_port, llama_server  # noqa: F401

COUNT = [Message("user", "Count from 1 to 30, separated by commas.")]
STORY = [Message("user", "Write a long story about a pump station, with many details.")]
ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 60},
        "priority": {"type": "string", "enum": ["low", "medium", "high"]},
        "hours": {"type": "integer", "minimum": 0, "maximum": 48},
    },
    "required": ["title", "priority", "hours"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def server_model(llama_server: LlamaServer) -> Iterator[ServerChatModel]:  # noqa: F811
    """Return a chat model on the module's server."""
    model = ServerChatModel(llama_server.base_url, default_gguf(), name="smollm2-135m-instruct")
    yield model
    model.close()


def _disconnects(server: LlamaServer) -> int:
    return server.log().count("Disconnected from client")


def test_the_probe_finds_llama_cpp_server_and_counts_match(
    server_model: ServerChatModel,
    chat_model: ChatModel,
    llama_server: LlamaServer,  # noqa: F811
) -> None:
    assert server_model.kind == "llama_cpp.server"
    prompt = server_model.render([Message("system", "Be brief."), *STORY])
    assert prompt == chat_model.render([Message("system", "Be brief."), *STORY])
    local = server_model.count_tokens(prompt)
    assert local == chat_model.count_tokens(prompt) > 20
    served = httpx.post(f"{server_model.root}/extras/tokenize", json={"input": prompt}).json()
    assert len(served["tokens"]) == local


def test_stream_and_complete(server_model: ServerChatModel) -> None:
    pieces = list(server_model.stream(COUNT, max_tokens=24, temperature=0.0))
    assert len(pieces) > 3 and "1" in "".join(pieces)
    done = server_model.complete(COUNT, max_tokens=24, temperature=0.0)
    assert done.text.strip() and done.completion_tokens <= 24
    assert done.prompt_tokens == server_model.count_tokens(server_model.render(COUNT))
    assert done.finish_reason in ("length", "stop")


def test_stop_sequences_end_the_answer(server_model: ServerChatModel) -> None:
    free = server_model.complete(COUNT, max_tokens=40, temperature=0.0).text
    assert "7" in free, free
    stopped = server_model.complete(COUNT, max_tokens=40, temperature=0.0, stop=["7"]).text
    assert "7" not in stopped and free.startswith(stopped.rstrip()), (free, stopped)
    streamed = "".join(server_model.stream(COUNT, max_tokens=40, temperature=0.0, stop=["7"]))
    assert "7" not in streamed


def test_constrained_output_follows_the_schema(server_model: ServerChatModel) -> None:
    messages = [Message("user", "Pump P-101 leaks at the seal. Describe the repair.")]
    free = server_model.complete(messages, max_tokens=60, temperature=0.0).text
    with pytest.raises(json.JSONDecodeError):
        json.loads(free)  # unconstrained, the 135M model writes prose
    value = server_model.complete_json(messages, ORDER_SCHEMA, max_tokens=120, temperature=0.0)
    jsonschema.validate(value, ORDER_SCHEMA)


def test_cancel_closes_the_stream_and_the_server_stops(
    server_model: ServerChatModel,
    llama_server: LlamaServer,  # noqa: F811
) -> None:
    before = _disconnects(llama_server)
    cancel = threading.Event()
    got: list[str] = []
    with pytest.raises(GenerationCancelled):
        for piece in server_model.stream(STORY, max_tokens=1500, temperature=0.8, cancel=cancel):
            got.append(piece)
            if len(got) == 3:
                cancel.set()
    assert len(got) == 3
    # closing the generator early stops generation too
    pieces = server_model.stream(STORY, max_tokens=1500, temperature=0.8)
    next(pieces)
    pieces.close()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while _disconnects(llama_server) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _disconnects(llama_server) == before + 2, llama_server.log()[-2000:]
    started = time.perf_counter()
    assert server_model.complete(COUNT, max_tokens=8, temperature=0.0).text
    assert time.perf_counter() - started < 10  # not stuck behind 1,500 abandoned tokens


def test_a_wrong_base_url_fails_fast_and_names_it(llama_server: LlamaServer) -> None:  # noqa: F811
    nobody = f"http://127.0.0.1:{free_port()}/v1"
    started = time.perf_counter()
    with pytest.raises(ModelServerError, match=f"model server at {nobody} could not be reached"):
        ServerChatModel(nobody, default_gguf(), retries=1, backoff_s=0.1)
    assert time.perf_counter() - started < 5
    wrong_path = f"http://127.0.0.1:{llama_server.port}/api/v1"
    with pytest.raises(ModelServerError, match=r"refused GET /models \(404\)"):
        ServerChatModel(wrong_path, default_gguf(), retries=0)


class _FlakyProxy:
    """A real HTTP proxy to the server that answers 503 to the first ``failures`` completions."""

    def __init__(self, target: str, failures: int) -> None:
        self.failures = failures
        self.completions = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/completions"):
                    proxy.completions += 1
                    if proxy.completions <= proxy.failures:
                        self.send_response(503)
                        self.send_header("Content-Length", "4")
                        self.end_headers()
                        self.wfile.write(b"busy")
                        return
                answer = httpx.post(
                    target + self.path,
                    content=body,
                    headers={"Content-Type": "application/json"},
                    timeout=60,
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_failures_before_the_first_token_are_retried(llama_server: LlamaServer) -> None:  # noqa: F811
    root = llama_server.base_url.removesuffix("/v1")
    proxy = _FlakyProxy(root, failures=2)
    try:
        model = ServerChatModel(proxy.url, default_gguf(), retries=2, backoff_s=0.05)
        assert model.complete(COUNT, max_tokens=8, temperature=0.0).text
        assert proxy.completions == 3
        proxy.completions = 0
        short = ServerChatModel(proxy.url, default_gguf(), retries=1, backoff_s=0.05)
        with pytest.raises(ModelServerError, match=f"{proxy.url} answered 503: busy"):
            "".join(short.stream(COUNT, max_tokens=8))
        assert proxy.completions == 2
    finally:
        proxy.close()


def _services(data: Path, model: ServerChatModel, embedder: Embedder, **chat: object) -> Services:
    settings = load_settings(
        None,
        {
            "data_dir": data,
            "plant": {"file": SAMPLE_PLANT / "plant.toml"},
            "chat": {"answer_mode": "generative", **chat},
        },
    )
    return build_services(settings, chat_model=model, embedder=embedder)


def test_an_answer_and_a_summary_over_the_server(
    server_model: ServerChatModel, embedder: Embedder, plant_template: Path, tmp_path: Path
) -> None:
    shutil.copytree(plant_template, tmp_path / "plant")
    with _services(tmp_path / "plant", server_model, embedder, max_tokens=48) as services:
        answer = services.chat.ask("How do I clean strainer ST-101?")
        assert answer.text and answer.timings.completion_tokens > 0
        turns = services.journal.turns(answer.conversation_id)
        assert [t.question for t in turns] == ["How do I clean strainer ST-101?"]
        summary = model_summary(server_model, turns, 60)
        assert summary["summary_source"] == "model" and summary["summary"], summary


def test_the_server_killed_mid_answer(
    tmp_path: Path, embedder: Embedder, plant_template: Path
) -> None:
    server = LlamaServer(tmp_path / "dying.log")
    try:
        model = ServerChatModel(server.base_url, default_gguf(), retries=1, backoff_s=0.05)
        pieces = model.stream(STORY, max_tokens=1500, temperature=0.8)
        next(pieces)
        server.kill()
        with pytest.raises(ModelServerError) as caught:
            for _ in pieces:
                pass
        assert f"the model server at {server.base_url} closed the stream mid-answer" in str(
            caught.value
        )
        shutil.copytree(plant_template, tmp_path / "plant")
        with _services(tmp_path / "plant", model, embedder) as services:
            with pytest.raises(ModelServerError, match=server.base_url):
                services.chat.ask("How do I clean strainer ST-101?")
            assert services.journal.conversations() == []  # nothing journaled as an answer
            with pytest.raises(ModelServerError, match=server.base_url):  # not retried as invalid
                services.drafter.draft(
                    "ST-101", question="How do I clean strainer ST-101?", created_by="ann"
                )
            assert services.workorders.list() == []
    finally:
        server.stop()
