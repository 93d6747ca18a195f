"""What code gathers for a draft before the model is asked, and the checks on what was asked.

The asset (checked against the plant, or the one a conversation names), the alarm event (of
that asset, from the history), the evidence (the event, the asset's abnormal live values, what
a conversation's answers cited, the retrieved passages, the cause's table row), the priority
floor from the alarm and the live states, the energy isolation, the steps and duration of a
retrieved procedure (an isolation step first when it has none), the suspected cause and the
title.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from assistant.chat.assets import AssetResolver
from assistant.domain import Chunk, TelemetryEvent
from assistant.errors import WorkOrderError
from assistant.journal import Journal
from assistant.knowledge.manifest import Manifest
from assistant.knowledge.retrieval import Retriever
from assistant.knowledge.store import ChunkStore
from assistant.plant import AssetSpec, PlantSpec
from assistant.settings import WorkOrderSettings
from assistant.telemetry.history import AlarmHistory
from assistant.telemetry.store import TelemetryStore
from assistant.workorders.evidence import (
    ConversationEvidence,
    DocumentReader,
    clip,
    conversation_evidence,
    mentions,
    passage_evidence,
    telemetry_evidence,
    unique_telemetry,
    with_cause,
)
from assistant.workorders.model import (
    MAX_CAUSE,
    MAX_STEPS,
    DocumentEvidence,
    Priority,
    Safety,
    TelemetryEvidence,
    higher,
)
from assistant.workorders.procedure import Procedure, find_procedure
from assistant.workorders.safety import find_safety, is_isolation_step, is_lockout, isolation_lead
from assistant.workorders.troubleshooting import (
    NOT_STATED,
    alarm_symptom,
    draft_title,
    find_row,
)

LEVEL_FLOOR: dict[str, Priority] = {
    "hihi": "high",
    "lolo": "high",
    "hi": "medium",
    "lo": "medium",
    "anomaly": "medium",
    "stale": "low",
}
"""The lowest priority an alarm level (or a live state) allows."""


@dataclass(frozen=True, slots=True)
class DraftContext:
    """What code gathered for a draft before the model is asked."""

    asset: AssetSpec
    event: TelemetryEvent | None
    telemetry: tuple[TelemetryEvidence, ...]
    documents: tuple[DocumentEvidence, ...]
    passages: tuple[Chunk, ...]
    floor: Priority
    floor_reason: str
    safety: Safety
    procedure_steps: tuple[str, ...]
    procedure_source: str | None
    request: str | None = None
    title: str = ""
    suspected_cause: str = NOT_STATED
    cause_evidence: DocumentEvidence | None = None
    estimated_duration_h: float | None = None


def priority_floor(
    event: TelemetryEvent | None, telemetry: Sequence[TelemetryEvidence]
) -> tuple[Priority, list[str]]:
    """Return the priority a raised alarm and the live alarm states call for, with reasons."""
    floor: Priority = "low"
    reasons: list[str] = []
    if event is not None and event.state == "raised":
        floor = higher(floor, LEVEL_FLOOR.get(event.level, "low"))
        reasons.append(f"alarm {event.level}: {event.message}")
    elif event is not None:
        reasons.append(f"alarm (cleared) {event.level}: {event.message}")
    for line in telemetry:
        if line.event_id is None and line.state in LEVEL_FLOOR:
            level_floor = LEVEL_FLOOR[line.state]
            if level_floor != floor and higher(floor, level_floor) == level_floor:
                reasons.append(f"{line.tag} in {line.state} alarm")
            floor = higher(floor, level_floor)
    return floor, reasons


@dataclass
class ContextGatherer:
    """Collects by code everything a draft states that the model does not write."""

    settings: WorkOrderSettings
    plant: PlantSpec
    retriever: Retriever
    history: AlarmHistory
    chunks: ChunkStore
    manifest: Manifest
    telemetry: TelemetryStore | None = None
    journal: Journal | None = None
    resolver: AssetResolver = field(init=False)

    def __post_init__(self) -> None:
        self.resolver = AssetResolver(self.plant)

    def gather(
        self,
        asset_id: str | None,
        alarm_id: str | None = None,
        question: str | None = None,
        conversation_id: str | None = None,
    ) -> DraftContext:
        """Collect the asset, evidence, priority floor, safety, procedure and cause by code."""
        if question is not None and len(question) > 1000:
            raise WorkOrderError("question: at most 1000 characters")
        talk = self._conversation(conversation_id) if conversation_id is not None else None
        asset = self._asset_of(asset_id, talk)
        if talk is not None and question is None:
            # the operator's latest questions say what the work order is about
            question = clip(" / ".join(talk.questions[-3:]), 1000)
        event = self._event(alarm_id, asset)
        read = DocumentReader(self.manifest, self.chunks)
        telemetry = telemetry_evidence(asset, event, self.telemetry)
        if talk is not None:
            telemetry += tuple(t for t in talk.telemetry if t.asset.upper() == asset.id.upper())
        telemetry = unique_telemetry(telemetry)
        floor, reasons = priority_floor(event, telemetry)
        retrieved, passages = self._passages(asset, event, question)
        cited: tuple[DocumentEvidence, ...] = ()
        if talk is not None:
            # what the conversation's answers cited comes first, then what retrieval adds
            cited = talk.documents
            mine = [d.chunk_id for d in cited]
            passages = tuple(self.chunks.get(mine)) + tuple(c for c in passages if c.id not in mine)
        symptom = alarm_symptom(asset, event)
        k = self.settings.top_k
        row = find_row(self.retriever, asset, symptom, passages, read, k * 2)
        cause_line = None
        if row is not None and row.cause:
            cause_line = passage_evidence(row.chunk, row.unit.text)
        documents = with_cause((*cited, *retrieved), cause_line, len(cited), k + 3)
        safety = find_safety(self.retriever, asset, read)
        procedure = find_procedure(passages, read)
        steps = list(procedure.steps) if procedure else []
        if (
            steps
            and safety.energy_isolation_required
            and not any(is_isolation_step(s) for s in steps)
        ):
            steps = [isolation_lead(asset, safety), *steps]
        return DraftContext(
            asset=asset,
            event=event,
            telemetry=telemetry,
            documents=documents,
            passages=passages,
            floor=floor,
            floor_reason="; ".join(reasons),
            safety=safety,
            procedure_steps=tuple(steps[:MAX_STEPS]),
            procedure_source=_where(procedure),
            request=question,
            title=draft_title(asset, event, symptom, row, question),
            suspected_cause=clip(row.cause, MAX_CAUSE) if row and row.cause else NOT_STATED,
            cause_evidence=cause_line,
            estimated_duration_h=procedure.duration_h if procedure else None,
        )

    def _conversation(self, conversation_id: str) -> ConversationEvidence:
        if self.journal is None or not self.journal.exists(conversation_id):
            raise WorkOrderError(f"no conversation '{conversation_id}' in the journal")
        turns = self.journal.turns(conversation_id)
        if not turns:
            raise WorkOrderError(f"conversation '{conversation_id}' has no answered question")
        return conversation_evidence(conversation_id, turns, self.resolver)

    def _asset_of(self, asset_id: str | None, talk: ConversationEvidence | None) -> AssetSpec:
        if asset_id is None or not asset_id.strip():
            if talk is None:
                raise WorkOrderError("draft needs an asset (--asset ID) or a conversation")
            if len(talk.assets) != 1:
                named = ", ".join(talk.assets) or "no asset"
                raise WorkOrderError(
                    f"conversation '{talk.conversation_id}' names {named}: "
                    "say which asset the work order is for (--asset ID)"
                )
            asset_id = talk.assets[0]
        asset = self.plant.asset(asset_id.strip())
        if asset is None:
            known = ", ".join(a.id for a in self.plant.assets)
            raise WorkOrderError(f"unknown asset '{asset_id}' (the plant has: {known})")
        return asset

    def _event(self, alarm_id: str | None, asset: AssetSpec) -> TelemetryEvent | None:
        if alarm_id is None:
            return None
        event = self.history.get(alarm_id)
        if event is None:
            raise WorkOrderError(f"no alarm event '{alarm_id}' in the alarm history")
        if event.asset.upper() != asset.id.upper():
            raise WorkOrderError(
                f"alarm event '{alarm_id}' is of asset {event.asset}, not {asset.id}"
            )
        return event

    def _passages(
        self, asset: AssetSpec, event: TelemetryEvent | None, question: str | None
    ) -> tuple[tuple[DocumentEvidence, ...], tuple[Chunk, ...]]:
        """Return up to top_k distinct retrieved passages, those naming the asset first;
        lockout procedures are left to the safety section."""
        parts = [question or "", asset.id, asset.name]
        if event is not None and event.tag:
            spec = asset.tag(event.tag)
            parts.append(f"{spec.name if spec and spec.name else event.tag} {event.level}")
        if not question:
            parts.append("troubleshooting maintenance")
        k = self.settings.top_k
        hits = self.retriever.search(" ".join(p for p in parts if p), k * 4)
        own = [h for h in hits if mentions(h.chunk, asset) and not is_lockout(h.chunk)]
        other = [h for h in hits if h not in own and not is_lockout(h.chunk)]
        chosen: list[Chunk] = []
        for hit in own + other:
            if len(chosen) == k:
                break
            if all(c.id != hit.chunk.id and c.text != hit.chunk.text for c in chosen):
                chosen.append(hit.chunk)
        return tuple(passage_evidence(c) for c in chosen), tuple(chosen)


def _where(procedure: Procedure | None) -> str | None:
    return None if procedure is None else f"{procedure.source}, {procedure.section}"
