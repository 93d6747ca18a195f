"""Cited answers over HTTP: ``/v1/ask`` as JSON and as server-sent events, conversations,
feedback, and the official ``openai`` client against the OpenAI-compatible routes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.api.conftest import LiveServer, error_of

QUESTION = "How do I clean strainer ST-101?"


def sse_events(response: httpx.Response) -> list[tuple[str, Any]]:
    """Parse a server-sent event stream into (event, data) pairs."""
    events: list[tuple[str, Any]] = []
    name, data = "message", []
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            events.append((name, json.loads("\n".join(data))))
            name, data = "message", []
    return events


def test_ask_returns_the_cli_json_shape_and_continues_the_conversation(
    server: LiveServer,
) -> None:
    with server.client() as client:
        first = client.post("/v1/ask", json={"question": QUESTION})
        assert first.status_code == 200, first.text
        body = first.json()
        assert set(body) == {
            "answer",
            "conversation_id",
            "turn_id",
            "mode",
            "citations",
            "telemetry",
            "timings",
            "checks",
            "cut",
        }
        assert body["answer"] and body["turn_id"] > 0
        assert body["citations"], "the sample plant covers strainer cleaning"
        assert all(c["source"].endswith(".md") for c in body["citations"])
        assert_quotes(body)
        # an extractive answer quotes without the model: it takes no tokens
        tokens = body["timings"]["prompt_tokens"] + body["timings"]["completion_tokens"]
        assert (tokens == 0) == (body["mode"] == "extractive")
        cid = body["conversation_id"]

        follow = client.post(
            f"/v1/conversations/{cid}/ask", json={"question": "How long does it take?"}
        )
        assert follow.status_code == 200, follow.text
        assert follow.json()["conversation_id"] == cid

        listed = client.get("/v1/conversations").json()["conversations"]
        assert any(c["id"] == cid and c["turns"] == 2 for c in listed)
        shown = client.get(f"/v1/conversations/{cid}").json()
        assert [t["question"] for t in shown["turns"]] == [QUESTION, "How long does it take?"]
        assert shown["turns"][0]["turn_id"] == body["turn_id"]
        # a turn read back from the journal carries the citations as the answer gave them
        assert shown["turns"][0]["citations"] == body["citations"]

        rated = client.post(
            "/v1/feedback",
            json={
                "turn_id": body["turn_id"],
                "rating": "not_helpful",
                "reason": "incomplete",
                "comment": "misses the differential pressure check",
                "corrected_answer": "Switch to the standby pump first.",
            },
        )
        assert rated.status_code == 201, rated.text
        assert rated.json()["by"] == "operator-1"  # the key's name by default
    row = server.services.db.query_one(
        "SELECT rating, reason, by_name FROM feedback WHERE turn_id = ?", (body["turn_id"],)
    )
    assert row is not None and tuple(row) == ("not_helpful", "incomplete", "operator-1")


def assert_quotes(body: dict[str, Any]) -> None:
    """Check an answer's quote fields: each quote is its passage's own text at its offsets."""
    assert body["mode"] in ("extractive", "hybrid", "generative")
    assert {"withheld", "stopped_looping"} <= set(body["checks"])
    citations = body["citations"]
    assert any(c["quote"] for c in citations), body["answer"]
    for c in citations:
        assert {"chunk_id", "quote", "start", "end", "spans"} <= set(c)
        if not c["quote"]:
            assert c["start"] is None and c["end"] is None and c["spans"] == []
            continue
        assert c["quote"] == c["text"][c["start"] : c["end"]]
        assert all(c["start"] <= a < b <= c["end"] for a, b in c["spans"])
        assert c["chunk_id"]


def test_old_turns_read_back_with_their_citations_cited_whole(server: LiveServer) -> None:
    journal = server.services.journal
    conversation = journal.new_conversation("before quoting")
    old = {"id": "D1", "chunk_id": "c-old", "source": "/docs/a.md", "section": "1", "page": 2}
    journal.add_turn(
        conversation,
        question="How?",
        answer="Like this [D1].",
        raw_answer="Like this [D1].",
        prompt_user="Question: How?",
        passages=[],
        citations=[{**old, "text": "Like this."}],
        telemetry=[],
        timings={},
        checks={},
        prompt_version="old",
        model_sha256="",
    )
    with server.client() as client:
        shown = client.get(f"/v1/conversations/{conversation}")
    assert shown.status_code == 200, shown.text
    [turn] = shown.json()["turns"]
    assert turn["citations"] == [
        {**old, "text": "Like this.", "quote": "", "start": None, "end": None, "spans": []}
    ]


def test_the_schema_shows_the_quote_fields(server: LiveServer) -> None:
    schema = httpx.get(f"{server.url}/openapi.json", headers=server.headers("admin")).json()
    parts = schema["components"]["schemas"]
    citation = parts["CitationOut"]
    assert {"quote", "start", "end", "spans", "chunk_id"} <= set(citation["required"])
    assert citation["additionalProperties"] is False
    assert "mode" in parts["AnswerOut"]["required"]
    assert {"withheld", "stopped_looping"} <= set(parts["ChecksOut"]["required"])
    extension = parts["ShiftmateExtension"]
    assert extension["properties"]["citations"]["items"] == {
        "$ref": "#/components/schemas/CitationOut"
    }


def test_ask_streams_tokens_then_the_answer(server: LiveServer) -> None:
    with (
        server.client() as client,
        client.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    names = [name for name, _ in events]
    assert names[-1] == "answer" and names.count("answer") == 1
    assert names[:-1] and set(names[:-1]) == {"token"}
    final = events[-1][1]
    streamed = "".join(data["text"] for name, data in events if name == "token")
    # What streamed is the answer (the service joins its closing note with a space).
    assert "".join(streamed.split()) == "".join(final["answer"].split())
    assert final["citations"] and final["turn_id"] > 0
    assert_quotes(final)


def test_bad_requests_get_json_errors(server: LiveServer) -> None:
    with server.client() as client:
        invalid = client.post("/v1/ask", json={"question": ""})
        assert invalid.status_code == 422
        assert "question" in error_of(invalid)["message"]
        assert error_of(client.post("/v1/ask", json={"q": "x"}))["code"] == "invalid_request"
        not_json = client.post(
            "/v1/ask", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 422 and error_of(not_json)
        unknown = client.post("/v1/ask", json={"question": "hi", "conversation_id": "nope"})
        assert unknown.status_code == 404
        assert error_of(unknown)["code"] == "unknown_conversation"
        missing = client.get("/v1/conversations/nope")
        assert missing.status_code == 404 and error_of(missing)
        no_route = client.get("/v1/nowhere")
        assert no_route.status_code == 404 and error_of(no_route)["code"] == "not_found"
        wrong_method = client.delete("/v1/ask")
        assert wrong_method.status_code == 405 and error_of(wrong_method)
        assert wrong_method.headers["allow"] == "POST"
        feedback = client.post("/v1/feedback", json={"turn_id": 999999, "rating": "helpful"})
        assert feedback.status_code == 404 and error_of(feedback)["code"] == "unknown_answer"
        rating = client.post("/v1/feedback", json={"turn_id": 1, "rating": "great"})
        assert rating.status_code == 422 and error_of(rating)
        huge = client.post("/v1/ask", content=b"x" * (3 * 1024 * 1024))
        assert huge.status_code == 413 and error_of(huge)["code"] == "too_large"
        long_question = client.post("/v1/ask", json={"question": "why " * 2000})
        assert long_question.status_code == 413
        assert error_of(long_question)["code"] == "question_too_long"


@pytest.fixture
def oai(server: LiveServer) -> openai.OpenAI:
    """Return the official OpenAI client pointed at the server with an operator key."""
    return openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=server.keys["operator"], max_retries=0, timeout=120
    )


def test_openai_client_lists_models_and_completes_with_both(
    server: LiveServer, oai: openai.OpenAI
) -> None:
    ids = [m.id for m in oai.models.list()]
    plain = server.services.chat_model.name
    assert ids == ["shiftmate", plain]
    assert oai.models.retrieve("shiftmate").id == "shiftmate"

    cited = oai.chat.completions.create(
        model="shiftmate", messages=[{"role": "user", "content": QUESTION}]
    )
    assert cited.choices[0].message.content
    extension = (cited.model_extra or {})["shiftmate"]
    assert extension["citations"] and extension["turn_id"] > 0
    assert_quotes(extension)
    # the quotes are the stored passages' own words, at the offsets given
    ids = [c["chunk_id"] for c in extension["citations"]]
    stored = {chunk.id: chunk.text for chunk in server.services.store.get(ids)}
    for c in extension["citations"]:
        assert not c["quote"] or stored[c["chunk_id"]][c["start"] : c["end"]] == c["quote"]
    assert cited.usage is not None
    assert cited.usage.prompt_tokens == extension["timings"]["prompt_tokens"]
    assert cited.usage.completion_tokens == extension["timings"]["completion_tokens"]

    raw = oai.chat.completions.create(
        model=plain,
        messages=[
            {"role": "system", "content": "You are brief."},
            {"role": "user", "content": "Say hello."},
        ],
        max_tokens=12,
    )
    assert raw.choices[0].message.content
    assert raw.usage is not None and 0 < raw.usage.completion_tokens <= 12
    assert "shiftmate" not in (raw.model_extra or {})

    with pytest.raises(openai.NotFoundError) as missing:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert "no model" in str(missing.value)
    bad_key = openai.OpenAI(base_url=f"{server.url}/v1", api_key="smk_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.models.list()


def test_openai_client_streams_a_cited_answer_and_continues_it(
    server: LiveServer, oai: openai.OpenAI
) -> None:
    stream = oai.chat.completions.create(
        model="shiftmate",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    extension: dict[str, Any] = {}
    usage = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.model_extra and "shiftmate" in chunk.model_extra:
            extension = chunk.model_extra["shiftmate"]
        usage = chunk.usage or usage
    answer = "".join(pieces)
    assert answer and extension["citations"]
    assert_quotes(extension)
    assert usage is not None
    assert usage.completion_tokens == extension["timings"]["completion_tokens"]
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    cid = extension["conversation_id"]

    # An OpenAI UI resends the whole chat: the journal conversation is continued.
    follow = oai.chat.completions.create(
        model="shiftmate",
        messages=[
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "What pressure difference means it is clogged?"},
        ],
    )
    assert (follow.model_extra or {})["shiftmate"]["conversation_id"] == cid

    plain = oai.chat.completions.create(
        model=server.services.chat_model.name,
        messages=[{"role": "user", "content": "Name a color."}],
        max_tokens=10,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in plain if c.choices)
    assert text.strip()
