"""The draft's constrained output: a pydantic model whose JSON schema llama.cpp turns into a
grammar, and whose grammar the real model generates valid drafts against."""

from __future__ import annotations

import json
import re

import pytest
from llama_cpp.llama_grammar import LlamaGrammar

from assistant.workorders.model import PRIORITIES
from assistant.workorders.prompt import SYSTEM
from assistant.workorders.schema import prose_model, prose_schema
from models.chat import ChatModel
from models.types import Message

FIELDS = ["problem", "priority", "priority_reason", "parts", "tools"]


def char_bounds(rule: str) -> tuple[int, int]:
    """Return the fewest and the most characters a bounded string rule of the grammar allows
    (llama.cpp writes ``x{2,4}`` as ``x x (x (x)?)?``)."""
    return rule.split("(")[0].count("char"), rule.count("char")


@pytest.mark.parametrize("with_steps", [True, False])
@pytest.mark.parametrize("scale", [1.0, 0.6, 0.36])
def test_schema_is_flat_and_converts_to_a_bounded_grammar(with_steps: bool, scale: float) -> None:
    schema = prose_schema(with_steps, scale)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text
    expected = [*FIELDS[:3], "steps", *FIELDS[3:]] if with_steps else FIELDS
    assert list(schema["properties"]) == expected
    assert schema["required"] == expected
    assert schema["properties"]["priority"]["enum"] == list(PRIORITIES)

    grammar = LlamaGrammar.from_json_schema(text, verbose=False)._grammar
    rules = {m[1]: m[2] for m in re.finditer(r"^([\w-]+) ::= (.*)$", grammar, re.MULTILINE)}
    keys = [f"{name.replace('_', '-')}-kv" for name in expected]
    assert re.findall(r"[\w-]+-kv", rules["root"]) == keys
    for name, key in zip(expected, keys, strict=True):
        assert rules[key].startswith(f'"\\"{name}\\""'), rules[key]
    assert rules["priority"] == " | ".join(f'"\\"{p}\\""' for p in PRIORITIES)
    problem = schema["properties"]["problem"]
    assert char_bounds(rules["problem"]) == (problem["minLength"], problem["maxLength"])
    item = schema["properties"]["parts"]["items"]
    assert char_bounds(rules["parts-item"]) == (item["minLength"], item["maxLength"])
    assert ("steps" in rules) is with_steps


def test_retries_ask_for_shorter_text() -> None:
    first = prose_schema(True)["properties"]
    third = prose_schema(True, 0.36)["properties"]
    assert first["problem"]["maxLength"] == 150
    assert third["problem"]["maxLength"] == 54
    assert third["steps"]["items"]["maxLength"] == 28
    assert third["parts"]["items"]["maxLength"] == 12  # never below the minimum plus ten


def test_the_model_writes_prose_that_validates_against_the_schema(chat_model: ChatModel) -> None:
    request = (
        "Asset: P-101 (Feed pump, centrifugal pump, Building A)\n"
        "Request: Replace the mechanical seal of P-101, it is leaking\n"
        "Write the work order JSON: problem, priority, priority_reason, steps, parts, tools."
    )
    # the grammar bounds the answer (about 850 characters at most); this leaves room for all
    prose = chat_model.complete_json(
        [Message("system", SYSTEM), Message("user", request)], prose_schema(True), max_tokens=1500
    )
    parsed = prose_model(True).model_validate(prose)
    assert list(parsed.model_dump()) == [*FIELDS[:3], "steps", *FIELDS[3:]]
