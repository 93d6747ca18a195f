"""The chat model over llama-cpp-python, exercised with the real default GGUF."""

from __future__ import annotations

import threading

import pytest

from assistant.errors import ModelError
from models.chat import ChatModel, GenerationCancelled
from models.embedder import Embedder
from models.types import Message


def test_chat_template_comes_from_the_gguf_metadata(chat_model: ChatModel) -> None:
    assert chat_model.template_source == "gguf"
    prompt = chat_model.render([Message("system", "Be brief."), Message("user", "Hi")])
    assert prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n")


def test_streaming_yields_pieces_and_respects_max_tokens(chat_model: ChatModel) -> None:
    pieces = list(chat_model.stream([Message("user", "Count from 1 to 50.")], max_tokens=12))
    assert len(pieces) > 1
    assert chat_model.count_tokens("".join(pieces)) <= 13


def test_stop_sequence_ends_generation(chat_model: ChatModel) -> None:
    result = chat_model.complete(
        [Message("user", "List the numbers from 1 to 10, separated by commas.")],
        max_tokens=60,
        temperature=0.0,
        stop=["5"],
    )
    assert "5" not in result.text
    assert "6" not in result.text


def test_json_schema_constrains_the_output(chat_model: ChatModel) -> None:
    schema = {
        "type": "object",
        "properties": {
            "asset": {"type": "string", "maxLength": 40},
            "priority": {"enum": ["low", "medium", "high", "emergency"]},
            "steps": {"type": "array", "items": {"type": "string", "maxLength": 80}, "maxItems": 3},
        },
        "required": ["asset", "priority", "steps"],
    }
    value = chat_model.complete_json(
        [Message("user", "Write a work order for a leaking pump seal on P-101 as JSON.")],
        schema,
        max_tokens=200,
    )
    assert set(value) == {"asset", "priority", "steps"}
    assert value["priority"] in {"low", "medium", "high", "emergency"}


def test_prompt_over_the_context_window_is_refused(chat_model: ChatModel) -> None:
    long_text = "pump " * (chat_model.n_ctx + 10)
    with pytest.raises(ModelError, match="exceeds the context window"):
        list(chat_model.stream([Message("user", long_text)], max_tokens=16))


def test_cancel_stops_generation_and_frees_the_model(chat_model: ChatModel) -> None:
    cancel = threading.Event()
    received = []
    with pytest.raises(GenerationCancelled):
        for piece in chat_model.stream(
            [Message("user", "Write a long essay about pumps.")], max_tokens=200, cancel=cancel
        ):
            received.append(piece)
            cancel.set()
    assert len(received) == 1
    assert not chat_model.lock.locked()


def test_embedder_returns_normalised_vectors(embedder: Embedder) -> None:
    vectors = embedder.embed(["pump cavitation", "pump cavitation noise", "payroll"])
    assert vectors.shape == (3, 384)
    norms = (vectors**2).sum(axis=1)
    assert all(abs(n - 1.0) < 1e-4 for n in norms)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_json_cut_at_max_tokens_says_so(chat_model: ChatModel) -> None:
    schema = {
        "type": "object",
        "properties": {"notes": {"type": "string", "minLength": 400, "maxLength": 800}},
        "required": ["notes"],
    }
    with pytest.raises(ModelError, match=r"cut at max_tokens \(12\); raise it"):
        chat_model.complete_json(
            [Message("user", "Describe pump P-101 in detail as JSON.")], schema, max_tokens=12
        )
