"""The real receiver (``shiftmate cloud serve`` under uvicorn): auth, de-duplication, export."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.cloud.receiver import CloudReceiver, clean_env, shiftmate
from tests.sync.conftest import SITE, TOKEN, ReceiverFactory


def _batch(site: str, token: str, records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"v": 1, "site": site, "token": token, "records": records}).encode()


def _record(key: str, body: dict[str, Any], kind: str = "feedback") -> dict[str, Any]:
    return {"key": key, "kind": kind, "created_at": 1.0, "body": body}


def _post(receiver: CloudReceiver, body: bytes, token: str | None = TOKEN, **headers: str) -> Any:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(
        f"{receiver.url}/v1/records", content=body, headers=headers, timeout=10, trust_env=False
    )


def test_sites_are_authenticated_and_batches_checked(make_receiver: ReceiverFactory) -> None:
    receiver = make_receiver()
    good = _batch(SITE, TOKEN, [_record("k1", {"a": 1})])
    assert _post(receiver, good, token=None).status_code == 401
    assert _post(receiver, good, token="not-a-token").status_code == 401
    # site-b's valid token cannot post as site-a, nor site-a's token inside site-b's request
    assert _post(receiver, good, token="token-b").status_code == 403
    assert _post(receiver, _batch("site-b", TOKEN, []), token="token-b").status_code == 403
    assert _post(receiver, b"\x1f\x8bnot gzip at all").status_code == 400
    assert _post(receiver, b"{not json").status_code == 400
    assert _post(receiver, _batch(SITE, TOKEN, [{"key": "", "kind": "x"}])).status_code == 400
    assert receiver.records() == []
    health = receiver.health()
    assert health["refused"] == {"unauthorized": 2, "site_mismatch": 2, "invalid": 3}


def test_records_are_stored_once_per_site_and_key(make_receiver: ReceiverFactory) -> None:
    receiver = make_receiver()
    first = _post(receiver, gzip.compress(_batch(SITE, TOKEN, [_record("k1", {"n": 1})])))
    assert first.status_code == 200
    assert first.json() == {"accepted": 1, "duplicates": 0, "records": 1}
    again = [_record("k1", {"n": 1}), _record("k2", {"n": 2})]
    assert _post(receiver, _batch(SITE, TOKEN, again)).json() == {
        "accepted": 1,
        "duplicates": 1,
        "records": 2,
    }
    other = _post(receiver, _batch("site-b", "token-b", [_record("k1", {"n": 3})]), "token-b")
    assert other.json()["accepted"] == 1  # the same key from another site is another record
    stored = sorted((r.site, r.key, r.body["n"]) for r in receiver.records())
    assert stored == [("site-a", "k1", 1), ("site-a", "k2", 2), ("site-b", "k1", 3)]
    assert receiver.health()["sites"]["site-a"] == {"feedback": 2, "receipts": 3}


def _feedback(turn: int, rating: str, corrected: str = "") -> dict[str, Any]:
    return {
        "kind": "feedback",
        "turn_id": turn,
        "feedback_id": turn,
        "rating": rating,
        "reason": "wrong" if corrected else "",
        "corrected_answer": corrected,
        "question": f"question {turn}?",
        "answer": f"original answer {turn} [D1].",
        "prompt": f"Passages:\n[D1] ...\nQuestion: question {turn}?",
        "system_prompt": "You are Shiftmate.",
        "prompt_version": "ask-v1",
        "model_sha256": "ab" * 32,
    }


def test_export_writes_sft_and_dpo_json_lines(
    make_receiver: ReceiverFactory, tmp_path: Path
) -> None:
    receiver = make_receiver()
    records = [
        _record("f1", _feedback(1, "helpful")),
        _record("f2", _feedback(2, "not_helpful", "corrected answer 2 [D1].")),
        _record("f3", _feedback(3, "not_helpful")),  # neither well rated nor corrected
        _record("f4", _feedback(4, "helpful", "better answer 4 [D1].")),
        _record("s1", {"kind": "summary", "summary": "..."}, kind="summary"),
    ]
    assert _post(receiver, _batch(SITE, TOKEN, records)).status_code == 200
    outputs = {}
    for fmt in ("sft", "dpo"):
        out = tmp_path / f"{fmt}.jsonl"
        done = subprocess.run(
            shiftmate(receiver.config, receiver.data_dir, "cloud", "export", "--format", fmt,
                      str(out)),
            capture_output=True, text=True, env=clean_env(), timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs[fmt] = [json.loads(line) for line in out.read_text().splitlines()]
    sft = outputs["sft"]
    assert [e["metadata"]["turn_id"] for e in sft] == [1, 2, 4]
    for example in sft:
        roles = [m["role"] for m in example["messages"]]
        assert roles == ["system", "user", "assistant"]
        assert example["messages"][1]["content"].endswith("?")
    assert [e["messages"][2]["content"] for e in sft] == [
        "original answer 1 [D1].",
        "corrected answer 2 [D1].",
        "better answer 4 [D1].",
    ]
    assert [e["metadata"]["target"] for e in sft] == ["answer", "correction", "correction"]
    dpo = outputs["dpo"]
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in dpo] == [
        ("corrected answer 2 [D1].", "original answer 2 [D1]."),
        ("better answer 4 [D1].", "original answer 4 [D1]."),
    ]
    for pair in dpo:
        assert set(pair) == {"prompt", "chosen", "rejected", "metadata"}
        assert [m["role"] for m in pair["prompt"]] == ["system", "user"]
        assert pair["metadata"]["site"] == SITE
