"""``/metrics`` in the Prometheus text format: every series Shiftmate has ever exposed keeps its
name, type and labels (dashboards and alert rules depend on them), each app counts in a
registry of its own, and the live gauges are read at scrape time."""

from __future__ import annotations

import re
from collections import defaultdict

from assistant.api.metrics import LATENCY_BUCKETS, METHODS, Metrics, method_label
from tests.api.conftest import LiveServer

SERIES: dict[str, tuple[str, frozenset[str]]] = {
    "shiftmate_http_requests_total": ("counter", frozenset({"method", "route", "status"})),
    "shiftmate_http_request_duration_seconds": ("histogram", frozenset({"method", "route"})),
    "shiftmate_time_to_first_token_seconds": ("histogram", frozenset({"endpoint"})),
    "shiftmate_generation_tokens_per_second": ("histogram", frozenset({"model"})),
    "shiftmate_completion_tokens_total": ("counter", frozenset({"model"})),
    "shiftmate_cancelled_tokens_total": ("counter", frozenset({"model"})),
    "shiftmate_inference_queue_depth": ("gauge", frozenset()),
    "shiftmate_inference_jobs": ("gauge", frozenset({"outcome"})),
    "shiftmate_mqtt_messages": ("gauge", frozenset({"counter"})),
    "shiftmate_telemetry_readings": ("gauge", frozenset({"counter"})),
    "shiftmate_active_alarms": ("gauge", frozenset()),
    "shiftmate_mqtt_connected": ("gauge", frozenset()),
    "shiftmate_sync_backlog_records": ("gauge", frozenset()),
    "shiftmate_sync_backlog_bytes": ("gauge", frozenset()),
    "shiftmate_sync_records": ("gauge", frozenset({"outcome"})),
    "shiftmate_sync_offline": ("gauge", frozenset()),
    "shiftmate_ingestion_files": ("gauge", frozenset({"outcome"})),
    "shiftmate_ingestion_chunks": ("gauge", frozenset()),
}
"""Every series /metrics had when it was written by hand, with its type and label names."""

OUTCOMES = {
    "shiftmate_inference_jobs": {"completed", "refused", "cancelled", "failed"},
    "shiftmate_sync_records": {"sent", "dropped"},
    "shiftmate_ingestion_files": {"added", "updated", "unchanged", "failed"},
}
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> tuple[dict[str, str], dict[str, list[tuple[dict[str, str], float]]]]:
    """Return the declared type of each metric and the samples of each series name."""
    types: dict[str, str] = {}
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match, line
            name, labels, value = match.groups()
            samples[name].append((dict(LABEL.findall(labels or "")), float(value)))
    return types, samples


def test_every_series_keeps_its_name_type_and_labels(server: LiveServer) -> None:
    with server.client() as client:
        assert client.get("/v1/assets").status_code == 200
        assert client.post("/v1/ask", json={"question": "How do I clean ST-101?"}).is_success
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    types, samples = parse(response.text)
    for name, (kind, labels) in SERIES.items():
        assert types.get(name) == kind, f"{name}: {types.get(name)}, not {kind}"
        series = name if kind != "histogram" else f"{name}_count"
        for found, _ in samples.get(series, []):
            assert set(found) == labels, f"{name}: labels {sorted(found)}"
    for name in ("shiftmate_http_requests_total", "shiftmate_inference_queue_depth"):
        assert samples[name], f"no {name} sample"
    for name, outcomes in OUTCOMES.items():
        assert {labels["outcome"] for labels, _ in samples[name]} == outcomes
    buckets = {
        labels["le"]
        for labels, _ in samples["shiftmate_http_request_duration_seconds_bucket"]
        if labels["route"] == "/v1/assets"
    }
    assert buckets == {str(float(b)) for b in LATENCY_BUCKETS} | {"+Inf"}
    [(_, ttft_count)] = [
        (labels, value)
        for labels, value in samples["shiftmate_time_to_first_token_seconds_count"]
        if labels == {"endpoint": "ask"}
    ]
    assert ttft_count >= 1
    assert samples["shiftmate_mqtt_connected"] == [({}, 1.0)]
    assert samples["shiftmate_sync_offline"] == [({}, 1.0)]


def test_each_app_counts_in_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.tokens.labels(model="plain").inc(5)
    _, samples = parse(first.render())
    assert samples["shiftmate_completion_tokens_total"] == [({"model": "plain"}, 5.0)]
    _, other = parse(second.render())
    assert other["shiftmate_completion_tokens_total"] == []


def test_odd_methods_and_paths_collapse_into_bounded_labels(server: LiveServer) -> None:
    # WebDAV and other methods the HTTP parser knows reach the app; made-up ones are refused
    # by the parser (400) before it. Neither may add a label value of its own.
    known = ["PROPFIND", "PURGE", "MKCOL", "REPORT", "LOCK", "SEARCH"]
    made_up = ["FOOBAR", *(f"X{n:04X}" for n in range(50))]
    with server.client() as client:
        before = _other(client.get("/metrics").text)
        for n, method in enumerate(known * 2 + made_up):
            path = "/v1/assets" if n % 2 else f"/no/such/path/{n}"
            assert client.request(method, path).status_code in (400, 404, 405)
        response = client.get("/metrics")
    _, samples = parse(response.text)
    requests = samples["shiftmate_http_requests_total"]
    assert {labels["method"] for labels, _ in requests} <= METHODS | {"other"}
    assert {labels["route"] for labels, _ in requests if "/no/such/" in labels["route"]} == set()
    after = _other(response.text)
    assert after[("/v1/assets", "405")] - before.get(("/v1/assets", "405"), 0) == len(known)
    assert after[("unmatched", "404")] - before.get(("unmatched", "404"), 0) == len(known)
    assert method_label("FOOBAR") == method_label("X0001") == "other"
    assert [method_label(m) for m in ("GET", "HEAD", "OPTIONS")] == ["GET", "HEAD", "OPTIONS"]


def _other(text: str) -> dict[tuple[str, str], float]:
    """Return the request counts labelled method="other", by (route, status)."""
    _, samples = parse(text)
    return {
        (labels["route"], labels["status"]): value
        for labels, value in samples["shiftmate_http_requests_total"]
        if labels["method"] == "other"
    }
