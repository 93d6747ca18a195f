"""The sync service: collect (summarise, redact, queue) and deliver, for the CLI, API and TUI.

``collect`` finds conversations idle for ``sync.idle_s`` (or closed by the caller) and new
feedback, builds their records, redacts every field and queues them with the collection
cursor in the same outbox transaction. ``send`` drains the outbox through the configured
transport. Offline (``sync.offline``) or without a configured uplink, ``collect`` keeps
working and the backlog grows; ``send`` opens no connection at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.db import Database
from assistant.feedback import FeedbackStore
from assistant.journal import Journal
from assistant.ports import Transport, TransportFactory
from assistant.settings import Settings
from assistant.sync.outbox import Item, Outbox, OutboxStatus
from assistant.sync.records import (
    SUMMARY_PROMPT_VERSION,
    conversation_facts,
    feedback_record,
    iso_to_epoch,
    model_summary,
    turn_versions,
)
from assistant.sync.redact import RedactionReport, Redactor
from assistant.sync.uploader import DrainResult, Uploader
from assistant.workorders.store import WorkOrderStore
from models.backend import ChatBackend

log = logging.getLogger(__name__)

FEEDBACK_CURSOR = "feedback_after_id"


@dataclass
class CollectResult:
    """What one collection queued."""

    summaries: int = 0
    feedback: int = 0
    duplicates: int = 0
    dropped: int = 0
    rejected: int = 0
    redacted: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict."""
        return asdict(self)


class SyncService:
    """Collects records into the outbox and sends them."""

    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        db: Database,
        journal: Journal,
        feedback: FeedbackStore,
        workorders: WorkOrderStore,
        model: Callable[[], ChatBackend],
        transport: TransportFactory,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self._db = db
        self._journal = journal
        self._feedback = feedback
        self._workorders = workorders
        self._model = model
        self._transport = transport
        self._clock = clock
        self.redactor = Redactor.from_settings(settings.sync)
        self._collect_lock = threading.Lock()

    @property
    def site(self) -> str:
        """Return this site's id."""
        return self.settings.sync.site_id

    @property
    def uplink_configured(self) -> bool:
        """Return whether a transport is configured (whatever the offline flag says)."""
        sync = self.settings.sync
        return bool(sync.mqtt.host if sync.transport == "mqtt" else sync.endpoint)

    def status(self) -> OutboxStatus:
        """Return the outbox status (offline when offline mode is on or no uplink is set)."""
        return self.outbox.status()

    # -- collection --------------------------------------------------------------------------

    def collect(self, *, close: Sequence[str] = (), now: float | None = None) -> CollectResult:
        """Queue new feedback, and summaries of idle or closed conversations."""
        with self._collect_lock:
            result = CollectResult()
            report = RedactionReport()
            self._collect_feedback(result, report)
            self._collect_summaries(result, report, set(close), now or self._clock())
            result.redacted = report.as_dict()
            self.outbox.count_redactions(result.redacted)
            return result

    def close_conversation(self, conversation_id: str) -> CollectResult:
        """Summarise and queue one conversation now, idle or not."""
        self._journal.require(conversation_id)
        return self.collect(close=[conversation_id])

    def _versions(self, conversation_id: str) -> dict[int, tuple[str, str]]:
        return turn_versions(
            self._db.query(
                "SELECT id, prompt_version, model_sha256 FROM turns WHERE conversation_id = ?",
                (conversation_id,),
            )
        )

    def _collect_feedback(self, result: CollectResult, report: RedactionReport) -> None:
        after = int(self.outbox.get_state(FEEDBACK_CURSOR) or 0)
        while True:
            batch = self._feedback.since(after, 200)
            if not batch:
                return
            items = []
            for fb in batch:
                turn = self._journal.turn(fb.turn_id)
                if turn is None:
                    continue
                versions = self._versions(turn.conversation_id).get(turn.id, ("", ""))
                body = feedback_record(fb, turn, versions)
                items.append(self._item("feedback", f"feedback:{fb.id}", body, report))
            after = batch[-1].id
            put = self.outbox.put(items, state={FEEDBACK_CURSOR: str(after)})
            result.feedback += put.added
            result.duplicates += put.duplicates
            result.dropped += put.dropped
            result.rejected += put.rejected

    def _collect_summaries(
        self, result: CollectResult, report: RedactionReport, close: set[str], now: float
    ) -> None:
        rows = self._db.query(
            "SELECT c.id, c.title, c.updated_at, MAX(t.id) AS last_turn FROM conversations c"
            " JOIN turns t ON t.conversation_id = c.id GROUP BY c.id ORDER BY c.updated_at, c.id"
        )
        orders: list[Any] | None = None
        idle_s = self.settings.sync.idle_s
        for row in rows:
            cid, last_turn = str(row["id"]), int(row["last_turn"])
            idle = now - iso_to_epoch(row["updated_at"]) >= idle_s
            if not (idle or cid in close) or last_turn <= self.outbox.summarised_turn(cid):
                continue
            turns = self._journal.turns(cid)
            if orders is None:
                orders = self._workorders.list()
            linked = [
                {
                    "id": o.id,
                    "asset": o.asset,
                    "status": o.status,
                    "priority": o.priority,
                    "title": o.title,
                    "created_at": o.created_at,
                }
                for o in orders
                if o.conversation_id == cid
            ]
            facts = conversation_facts(
                cid,
                str(row["title"]),
                turns,
                self._versions(cid),
                linked,
                self.settings.knowledge.asset_pattern,
            )
            model = self._model()
            prose = model_summary(model, turns, self.settings.sync.summary_max_tokens)
            body = {
                **facts,
                **prose,
                "closed": cid in close and not idle,
                "summary_prompt_version": SUMMARY_PROMPT_VERSION,
                "summary_model": model.name,
            }
            item = self._item("summary", f"summary:{cid}:{last_turn}", body, report)
            put = self.outbox.put([item], summarised=[(cid, last_turn)])
            result.summaries += put.added
            result.duplicates += put.duplicates
            result.dropped += put.dropped
            result.rejected += put.rejected

    def _item(
        self, kind: str, natural_key: str, body: dict[str, Any], total: RedactionReport
    ) -> Item:
        report = RedactionReport()
        clean = self.redactor.record(body, report)
        clean["redactions"] = report.as_dict()
        clean["kind"] = kind
        total.add(report)
        return Item(key=f"{self.site}:{natural_key}", kind=kind, body=clean)

    # -- delivery ----------------------------------------------------------------------------

    def send(
        self,
        *,
        stop: threading.Event | None = None,
        on_batch: Callable[[Any], None] | None = None,
        transport: Transport | None = None,
    ) -> DrainResult:
        """Drain the outbox now (ignoring the backoff); SyncError when offline or unset."""
        own = transport is None
        link = transport or self._transport()
        try:
            return Uploader(self.outbox, link, self.settings.sync).drain(
                stop=stop, on_batch=on_batch
            )
        finally:
            if own:
                link.close()

    def start_background(self) -> Callable[[], None]:
        """Run collect-and-send in a daemon thread; return the function that stops it.

        A failing cycle (a full disk, a model error) is logged and retried after the interval;
        the thread never dies of it, and nothing in the outbox is lost.
        """
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.run(stop)
                except Exception as exc:  # logged; the next cycle retries
                    log.error("cloud sync cycle failed: %s", exc)
                    stop.wait(self.settings.sync.interval_s)

        thread = threading.Thread(target=loop, name="cloud-sync", daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(timeout=30)

        return halt

    def run(
        self,
        stop: threading.Event,
        *,
        on_cycle: Callable[[CollectResult, DrainResult | None], None] | None = None,
    ) -> None:
        """Collect and send until ``stop`` is set, respecting the backoff and the interval."""
        sync = self.settings.sync
        while not stop.is_set():
            collected = self.collect()
            drained: DrainResult | None = None
            next_at = self.outbox.status().next_attempt_at
            can_send = not sync.offline and self.uplink_configured
            if can_send and (next_at is None or time.time() >= next_at):
                drained = self.send(stop=stop)
            if on_cycle is not None:
                on_cycle(collected, drained)
            wait = sync.interval_s
            if drained is not None and drained.retry_in_s is not None:
                wait = min(wait, drained.retry_in_s)
            stop.wait(wait)
