"""The terminal as a client of a running ``shiftmate serve``: the same Backend over the HTTP API.

Bearer-key authentication; answers stream as server-sent events (``token`` then ``answer``);
new alarms arrive on the ``/v1/events`` stream, read by a background thread that reconnects
with ``Last-Event-ID``. Closing an answer's stream when the operator stops it makes the server
cancel the generation. Errors come back as Shiftmate's own exceptions, so the screens treat a
remote failure like a local one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from assistant.domain import Answer, TelemetryEvent
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
from assistant.schema.answers import AnswerOut, StreamErrorEvent, TokenEvent
from assistant.schema.status import StatusOut
from assistant.schema.telemetry import AckList, AckOut, AlarmsOut, AssetList, AssetOut, EventOut
from assistant.schema.workorders import ExportOut, WorkOrderList, WorkOrderOut
from assistant.telemetry.acks import AlarmAck
from assistant.workorders.model import WorkOrder
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
    "unknown_alarm": TelemetryError,
    "not_acknowledgeable": TelemetryError,
    "not_configured": ConfigError,
    "model_unavailable": ModelError,
    "broker_unavailable": ConnectorError,
}
TIMEOUT = httpx.Timeout(10.0, read=600.0)
ACK_LOOKUP = 200
"""Event ids asked for per ``/v1/alarms/acks`` request (the server takes up to 500)."""


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
        status = StatusOut.model_validate(data)
        return StatusView(
            mode=self.mode,
            model=status.model,
            model_busy=status.queue.depth > 0,
            broker=status.broker,
            broker_ok=status.broker.startswith("connected"),
            broker_error=status.broker_error,
            alarms=status.active_alarms,
            documents=status.documents,
            stale_tags=self._stale,
            sync_backlog=status.sync.backlog,
            sync_state=status.sync.last_error,
            offline=status.sync.offline,
        )

    def assets(self) -> list[AssetView]:
        """Return every asset with its tags' live values and sparklines."""
        listing = AssetList.model_validate(self._request("GET", "/v1/assets"))
        views = []
        for summary in listing.assets:
            asset = AssetOut.model_validate(
                self._request(
                    "GET",
                    f"/v1/assets/{summary.id}",
                    params={"window_s": SPARK_WINDOW_S, "max_points": 120},
                )
            )
            tags = tuple(
                TagView(
                    asset=asset.id,
                    tag=t.tag,
                    name=t.name,
                    unit=t.unit,
                    value=t.value,
                    ts=t.ts,
                    age_s=t.age_s,
                    state=t.state,
                    trend=t.trend,
                    normal=(t.normal[0], t.normal[1]) if t.normal else None,
                    spark=downsample([v for _, v in t.window]),
                )
                for t in asset.tags
            )
            views.append(AssetView(asset.id, asset.name, asset.type, asset.location, tags))
        self._stale = sum(1 for a in views for t in a.tags if t.state == "stale")
        return views

    def tag_window(self, asset: str, tag: str, seconds: float) -> list[tuple[float, float]]:
        """Return the (ts, value) samples of one tag over the last seconds."""
        data = self._request(
            "GET", f"/v1/assets/{asset}", params={"window_s": seconds, "max_points": 600}
        )
        for t in AssetOut.model_validate(data).tags:
            if t.tag == tag:
                return [(ts, v) for ts, v in t.window]
        raise TelemetryError(f"asset {asset} has no tag '{tag}'")

    def alarms(self) -> list[TelemetryEvent]:
        """Return the events currently raised, oldest first."""
        data = AlarmsOut.model_validate(self._request("GET", "/v1/alarms", params={"limit": 1}))
        return sorted((e.to_domain() for e in data.active), key=lambda e: e.ts)

    def alarm_history(self, limit: int = 50) -> list[TelemetryEvent]:
        """Return recent alarm events (raised and cleared), newest first."""
        data = AlarmsOut.model_validate(self._request("GET", "/v1/alarms", params={"limit": limit}))
        return [e.to_domain() for e in data.history]

    def acks(self, event_ids: Sequence[str]) -> dict[str, AlarmAck]:
        """Return the server's acknowledgements of those of these events that have one."""
        found: dict[str, AlarmAck] = {}
        for start in range(0, len(event_ids), ACK_LOOKUP):
            ids = ",".join(event_ids[start : start + ACK_LOOKUP])
            data = self._request("GET", "/v1/alarms/acks", params={"event_ids": ids})
            found.update((a.event_id, a.to_domain()) for a in AckList.model_validate(data).acks)
        return found

    def acknowledge(self, event_id: str, by: str) -> AlarmAck:
        """Acknowledge on the server (recorded there with this key); return the first record."""
        data = self._request("POST", f"/v1/alarms/{quote(event_id, safe='')}/ack", json={"by": by})
        return AckOut.model_validate(data).to_domain()

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
                            listener(EventOut.model_validate_json(data).to_domain())
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
                    if name == "token":
                        on_token(TokenEvent.model_validate_json(data).text)
                    elif name == "answer":
                        return AnswerOut.model_validate_json(data).to_domain(question)
                    elif name == "error":
                        error = StreamErrorEvent.model_validate_json(data).error
                        cls = ERRORS.get(error.code, ChatError)
                        raise cls(error.message or "the server could not answer")
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
        return WorkOrderOut.model_validate(data).to_domain()

    def workorders(self) -> list[WorkOrder]:
        """Return every work order, newest first."""
        data = WorkOrderList.model_validate(self._request("GET", "/v1/workorders"))
        return [o.to_domain() for o in data.workorders]

    def workorder(self, order_id: str) -> WorkOrder:
        """Return one work order."""
        data = self._request("GET", f"/v1/workorders/{order_id}")
        return WorkOrderOut.model_validate(data).to_domain()

    def edit(self, order_id: str, field: str, value: str, by: str) -> WorkOrder:
        """Change one field of a draft."""
        data = self._request(
            "PATCH", f"/v1/workorders/{order_id}", json={"field": field, "value": value, "by": by}
        )
        return WorkOrderOut.model_validate(data).to_domain()

    def approve(self, order_id: str, by: str) -> WorkOrder:
        """Approve a draft."""
        data = self._request("POST", f"/v1/workorders/{order_id}/approve", json={"by": by})
        return WorkOrderOut.model_validate(data).to_domain()

    def reject(self, order_id: str, by: str, reason: str) -> WorkOrder:
        """Reject a draft with a reason."""
        data = self._request(
            "POST", f"/v1/workorders/{order_id}/reject", json={"by": by, "reason": reason}
        )
        return WorkOrderOut.model_validate(data).to_domain()

    def export(self, order_id: str, by: str) -> ExportView:
        """Export an approved work order on the server."""
        data = self._request("POST", f"/v1/workorders/{order_id}/export", json={"by": by})
        export = ExportOut.model_validate(data)
        return ExportView(
            export.workorder.to_domain(), export.json_path, export.csv_path, export.mqtt_topic
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()
