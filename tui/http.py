"""The terminal as a client of a running ``shiftmate serve``: the same Backend over the HTTP API.

Bearer-key authentication; answers stream as server-sent events (``token`` then ``answer``);
new alarms arrive on the ``/v1/events`` stream, read by a background thread that reconnects
with ``Last-Event-ID``. Closing an answer's stream when the operator stops it makes the server
cancel the generation. Errors come back as Shiftmate's own exceptions, so the screens treat a
remote failure like a local one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from assistant.actions.model import WorkOrder
from assistant.domain import Answer, Citation, TelemetryEvent, TelemetryLine, Timings
from assistant.errors import (
    AuthError,
    ChatError,
    ConfigError,
    ConnectorError,
    FeedbackError,
    ModelError,
    ShiftmateError,
    TelemetryError,
    WorkOrderError,
)
from models.chat import GenerationCancelled
from tui.backend import (
    SPARK_WINDOW_S,
    AssetView,
    EventListener,
    ExportView,
    StatusView,
    TagView,
    TokenSink,
    downsample,
)

ERRORS: dict[str, type[ShiftmateError]] = {
    "forbidden": AuthError,
    "unauthorized": AuthError,
    "invalid_question": ChatError,
    "invalid_feedback": FeedbackError,
    "workorder_conflict": WorkOrderError,
    "telemetry_not_found": TelemetryError,
    "unknown_asset": TelemetryError,
    "not_configured": ConfigError,
    "model_unavailable": ModelError,
    "broker_unavailable": ConnectorError,
}
TIMEOUT = httpx.Timeout(10.0, read=600.0)


def _error(response: httpx.Response) -> ShiftmateError:
    """Return the Shiftmate error an API error response stands for."""
    try:
        body = response.json()["error"]
        code, message = str(body.get("code", "")), str(body.get("message", ""))
    except (ValueError, KeyError, TypeError):
        code, message = "", response.text[:200]
    if response.status_code in (401, 403):
        return AuthError(f"the server refused the key: {message}")
    cls = ERRORS.get(code, ConnectorError)
    return cls(message or f"the server answered {response.status_code}")


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str, str | None]]:
    """Yield (event, data, id) from server-sent-event lines."""
    name, event_id = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data), event_id
            name, event_id = "message", None
            data = []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value


def event_from_json(data: dict[str, Any]) -> TelemetryEvent:
    """Rebuild a telemetry event from the API's JSON."""
    return TelemetryEvent(
        id=str(data["id"]),
        asset=str(data["asset"]),
        tag=str(data.get("tag", "")),
        kind=data["kind"],
        level=str(data["level"]),
        state=data["state"],
        ts=float(data["ts"]),
        value=None if data.get("value") is None else float(data["value"]),
        message=str(data.get("message", "")),
        values=tuple((str(k), float(v)) for k, v in dict(data.get("values") or {}).items()),
    )


def answer_from_json(data: dict[str, Any], question: str) -> Answer:
    """Rebuild an answer from the API's JSON (the shape of ``ask --json``)."""
    checks = data.get("checks") or {}
    lines = []
    for t in data.get("telemetry") or []:
        value = "no data" if t.get("value") is None else f"{t['value']:.4g} {t.get('unit', '')}"
        lines.append(
            TelemetryLine(
                id=t["id"],
                asset=t["asset"],
                tag=t["tag"],
                value=t.get("value"),
                unit=t.get("unit", ""),
                ts=t.get("ts"),
                state=t.get("state", ""),
                trend=t.get("trend", ""),
                text=str(
                    t.get("text")
                    or f"{t['asset']} {t['tag']}: {value.strip()}, "
                    f"{t.get('state', '')}, {t.get('trend', '')}"
                ),
            )
        )
    return Answer(
        conversation_id=str(data["conversation_id"]),
        question=question,
        text=str(data["answer"]),
        citations=tuple(citation_from_json(c) for c in data.get("citations") or []),
        timings=Timings(**data["timings"]),
        dropped_citations=int(checks.get("dropped_citations", 0)),
        unsupported_numbers=tuple(checks.get("unsupported_numbers", ())),
        unsupported_claims=tuple(checks.get("unsupported_claims", ())),
        withheld=tuple(str(w) for w in checks.get("withheld", ())),
        stopped_looping=bool(checks.get("stopped_looping", False)),
        telemetry=tuple(lines),
        cut=tuple(data.get("cut") or ()),
        covered=bool(checks.get("covered", True)),
        turn_id=int(data.get("turn_id", 0)),
        mode=str(data.get("mode", "extractive")),
    )


def citation_from_json(data: dict[str, Any]) -> Citation:
    """Rebuild a citation, with what the answer quoted of its passage, from the API's JSON."""
    start, end = data.get("start"), data.get("end")
    return Citation(
        id=str(data["id"]),
        chunk_id=str(data.get("chunk_id", "")),
        source=str(data["source"]),
        section=str(data.get("section", "")),
        page=data.get("page"),
        text=str(data.get("text", "")),
        quote=str(data.get("quote") or ""),
        start=None if start is None else int(start),
        end=None if end is None else int(end),
        spans=tuple((int(a), int(b)) for a, b in data.get("spans") or ()),
    )


class HttpBackend:
    """A client of a running ``shiftmate serve`` (httpx, Bearer key)."""

    mode = "client"

    def __init__(self, url: str, key: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {key}"}
        self._client = httpx.Client(
            base_url=self.url, headers=headers, timeout=TIMEOUT, transport=transport
        )
        self._stale = 0

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConnectorError(f"cannot reach the Shiftmate server at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response.json()

    def status(self) -> StatusView:
        """Return the server's model, broker, alarms and documents (offline when unreachable)."""
        try:
            data = self._request("GET", "/v1/status")
        except ConnectorError as exc:
            return StatusView(
                mode=self.mode,
                model="?",
                model_busy=False,
                broker="unknown",
                broker_ok=False,
                broker_error=str(exc),
                alarms=0,
                documents=None,
                stale_tags=0,
                reachable=False,
            )
        broker = str(data.get("broker", "not configured"))
        queue = data.get("queue") or {}
        sync = data.get("sync") or {}
        return StatusView(
            mode=self.mode,
            model=str(data.get("model", "?")),
            model_busy=int(queue.get("depth", 0)) > 0,
            broker=broker,
            broker_ok=broker.startswith("connected"),
            broker_error=data.get("broker_error"),
            alarms=int(data.get("active_alarms", 0)),
            documents=data.get("documents"),
            stale_tags=self._stale,
            sync_backlog=sync.get("backlog") if isinstance(sync, dict) else None,
            sync_state=sync.get("last_error") if isinstance(sync, dict) else None,
            offline=bool(sync.get("offline")) if isinstance(sync, dict) else False,
        )

    def assets(self) -> list[AssetView]:
        """Return every asset with its tags' live values and sparklines."""
        listing = self._request("GET", "/v1/assets")
        views = []
        for summary in listing.get("assets", []):
            data = self._request(
                "GET",
                f"/v1/assets/{summary['id']}",
                params={"window_s": SPARK_WINDOW_S, "max_points": 120},
            )
            tags = tuple(
                TagView(
                    asset=data["id"],
                    tag=t["tag"],
                    name=t["name"],
                    unit=t["unit"],
                    value=t["value"],
                    ts=t["ts"],
                    age_s=t["age_s"],
                    state=t["state"],
                    trend=t["trend"],
                    normal=tuple(t["normal"]) if t.get("normal") else None,  # type: ignore[arg-type]
                    spark=downsample([float(v) for _, v in t.get("window", [])]),
                )
                for t in data["tags"]
            )
            views.append(AssetView(data["id"], data["name"], data["type"], data["location"], tags))
        self._stale = sum(1 for a in views for t in a.tags if t.state == "stale")
        return views

    def tag_window(self, asset: str, tag: str, seconds: float) -> list[tuple[float, float]]:
        """Return the (ts, value) samples of one tag over the last seconds."""
        data = self._request(
            "GET", f"/v1/assets/{asset}", params={"window_s": seconds, "max_points": 600}
        )
        for t in data["tags"]:
            if t["tag"] == tag:
                return [(float(ts), float(v)) for ts, v in t.get("window", [])]
        raise TelemetryError(f"asset {asset} has no tag '{tag}'")

    def alarms(self) -> list[TelemetryEvent]:
        """Return the events currently raised, oldest first."""
        data = self._request("GET", "/v1/alarms", params={"limit": 1})
        return sorted((event_from_json(e) for e in data["active"]), key=lambda e: e.ts)

    def alarm_history(self, limit: int = 50) -> list[TelemetryEvent]:
        """Return recent alarm events (raised and cleared), newest first."""
        data = self._request("GET", "/v1/alarms", params={"limit": limit})
        return [event_from_json(e) for e in data["history"]]

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Follow /v1/events on a background thread; return a function that stops it."""
        stop = threading.Event()
        thread = threading.Thread(
            target=self._follow_events, args=(listener, stop), name="tui-events", daemon=True
        )
        thread.start()
        return stop.set

    def _follow_events(self, listener: EventListener, stop: threading.Event) -> None:
        last_id: str | None = None
        while not stop.is_set():
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                with self._client.stream("GET", "/v1/events", headers=headers) as response:
                    if response.status_code >= 400:
                        response.read()
                        stop.wait(5.0)
                        continue
                    for name, data, event_id in sse_events(response.iter_lines()):
                        if stop.is_set():
                            return
                        last_id = event_id or last_id
                        if name == "alarm":
                            listener(event_from_json(json.loads(data)))
            except httpx.HTTPError:
                stop.wait(2.0)  # the status bar shows the server as unreachable meanwhile

    def ask(
        self,
        question: str,
        conversation_id: str | None,
        on_token: TokenSink,
        cancel: threading.Event,
    ) -> Answer:
        """Ask the server, streaming tokens; closing the stream on cancel stops the server."""
        body: dict[str, Any] = {"question": question, "stream": True}
        if conversation_id:
            body["conversation_id"] = conversation_id
        try:
            with self._client.stream("POST", "/v1/ask", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                for name, data, _ in sse_events(response.iter_lines()):
                    if cancel.is_set():
                        raise GenerationCancelled("generation cancelled")
                    payload = json.loads(data)
                    if name == "token":
                        on_token(str(payload.get("text", "")))
                    elif name == "answer":
                        return answer_from_json(payload, question)
                    elif name == "error":
                        error = payload.get("error", {})
                        cls = ERRORS.get(str(error.get("code", "")), ChatError)
                        raise cls(str(error.get("message", "the server could not answer")))
        except httpx.HTTPError as exc:
            raise ConnectorError(f"the answer stream from {self.url} broke: {exc}") from exc
        if cancel.is_set():
            raise GenerationCancelled("generation cancelled")
        raise ConnectorError("the server ended the answer stream without an answer")

    def feedback(
        self,
        turn_id: int,
        rating: str,
        reason: str,
        comment: str,
        corrected_answer: str,
        by: str,
    ) -> None:
        """Record an operator's rating of an answer on the server."""
        self._request(
            "POST",
            "/v1/feedback",
            json={
                "turn_id": turn_id,
                "rating": rating,
                "reason": reason,
                "comment": comment,
                "corrected_answer": corrected_answer,
                "by": by,
            },
        )

    def draft(
        self,
        asset: str,
        *,
        alarm_id: str | None,
        question: str | None,
        conversation_id: str | None,
        by: str,
    ) -> WorkOrder:
        """Draft a work order on the server."""
        body = {
            "asset": asset,
            "alarm_id": alarm_id,
            "question": question,
            "conversation_id": conversation_id,
            "by": by,
        }
        data = self._request(
            "POST", "/v1/workorders", json={k: v for k, v in body.items() if v is not None}
        )
        return WorkOrder.model_validate(data)

    def workorders(self) -> list[WorkOrder]:
        """Return every work order, newest first."""
        data = self._request("GET", "/v1/workorders")
        return [WorkOrder.model_validate(o) for o in data["workorders"]]

    def workorder(self, order_id: str) -> WorkOrder:
        """Return one work order."""
        return WorkOrder.model_validate(self._request("GET", f"/v1/workorders/{order_id}"))

    def edit(self, order_id: str, field: str, value: str, by: str) -> WorkOrder:
        """Change one field of a draft."""
        data = self._request(
            "PATCH", f"/v1/workorders/{order_id}", json={"field": field, "value": value, "by": by}
        )
        return WorkOrder.model_validate(data)

    def approve(self, order_id: str, by: str) -> WorkOrder:
        """Approve a draft."""
        data = self._request("POST", f"/v1/workorders/{order_id}/approve", json={"by": by})
        return WorkOrder.model_validate(data)

    def reject(self, order_id: str, by: str, reason: str) -> WorkOrder:
        """Reject a draft with a reason."""
        data = self._request(
            "POST", f"/v1/workorders/{order_id}/reject", json={"by": by, "reason": reason}
        )
        return WorkOrder.model_validate(data)

    def export(self, order_id: str, by: str) -> ExportView:
        """Export an approved work order on the server."""
        data = self._request("POST", f"/v1/workorders/{order_id}/export", json={"by": by})
        return ExportView(
            WorkOrder.model_validate(data["workorder"]),
            str(data["json_path"]),
            str(data["csv_path"]),
            data.get("mqtt_topic"),
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()
