"""Draft a work order: code fills what the documents and the telemetry say, the model writes
only the prose that cannot be copied.

Filled by code (:mod:`.context`): the asset, the evidence, timestamps, the priority floor, the
energy isolation, the steps and duration of a retrieved procedure, the suspected cause and the
title. The model writes the problem, the priority (which can only raise the floor) and its
reason, steps (only without a procedure), parts and tools, constrained by the JSON schema of
:mod:`.schema`; a draft that fails validation is asked for again, within a bound, shorter and
warmer. Retrieved text is given to the model as quoted data (:mod:`.prompt`); nothing in it is
ever executed: drafting only creates drafts, it never changes a status.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from assistant.clock import now_iso
from assistant.errors import ModelError, WorkOrderError
from assistant.journal import Journal
from assistant.knowledge.manifest import Manifest
from assistant.knowledge.retrieval import Retriever
from assistant.knowledge.store import ChunkStore
from assistant.plant import PlantSpec
from assistant.settings import WorkOrderSettings
from assistant.telemetry.history import AlarmHistory
from assistant.telemetry.store import TelemetryStore
from assistant.workorders.actor import Actor, as_actor
from assistant.workorders.context import ContextGatherer, DraftContext
from assistant.workorders.evidence import WORDS, clip
from assistant.workorders.model import (
    MAX_STEP,
    MAX_STEPS,
    PRIORITIES,
    Evidence,
    WorkOrder,
    higher,
    validate,
)
from assistant.workorders.prompt import draft_messages
from assistant.workorders.safety import is_isolation_step, isolation_lead
from assistant.workorders.schema import prose_schema
from assistant.workorders.store import WorkOrderStore
from models.backend import ChatBackend
from models.errors import ModelServerError

LEADING_NUMBER = re.compile(r"^\s*(?:\d{1,2}[.)]\s*)+")
PATH_LIKE = re.compile(r"[./\\_]")


def clean_item(text: str) -> str:
    """Return a list item without leading numbering and extra spaces."""
    return " ".join(LEADING_NUMBER.sub("", str(text)).split())


def clean_items(items: Any, sources: Sequence[str] = ()) -> list[str]:
    """Return distinct, cleaned list items that contain words.

    An item that is only a piece of a cited source's file name or path (a model copying the
    citation label) is no item.
    """
    seen: list[str] = []
    paths = [s.lower() for s in sources]
    for item in items if isinstance(items, list) else []:
        text = clean_item(item)
        label = " " not in text and PATH_LIKE.search(text) is not None
        if label and any(text.lower() in p for p in paths):
            continue
        if WORDS.search(text) and text.lower() not in (s.lower() for s in seen):
            seen.append(text)
    return seen


class Drafter:
    """Turns an asset, an alarm and a question into a validated draft work order."""

    def __init__(
        self,
        settings: WorkOrderSettings,
        plant: PlantSpec,
        chat_model: ChatBackend,
        retriever: Retriever,
        history: AlarmHistory,
        store: WorkOrderStore,
        chunks: ChunkStore,
        manifest: Manifest,
        telemetry: TelemetryStore | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.settings = settings
        self.chat_model = chat_model
        self.store = store
        self.gatherer = ContextGatherer(
            settings, plant, retriever, history, chunks, manifest, telemetry, journal
        )

    def draft(
        self,
        asset_id: str | None,
        *,
        alarm_id: str | None = None,
        question: str | None = None,
        conversation_id: str | None = None,
        created_by: str | Actor,
    ) -> WorkOrder:
        """Draft, validate (retrying within a bound) and store a work order; return it.

        From a conversation, the asset may be left out when the conversation names exactly
        one; its latest questions become the request and its cited sources the evidence.
        The creator is recorded with what vouched for them (the API key, or the local account).
        """
        by = as_actor(created_by).named("draft")
        context = self.gatherer.gather(asset_id, alarm_id, question, conversation_id)
        messages = draft_messages(context)
        failures: list[str] = []
        for tries in range(1, self.settings.max_tries + 1):
            temperature = 0.2 if tries == 1 else min(1.0, 0.2 + 0.4 * (tries - 1))
            schema = prose_schema(not context.procedure_steps, scale=0.6 ** (tries - 1))
            try:
                prose = self.chat_model.complete_json(
                    messages,
                    schema,
                    max_tokens=self.settings.max_tokens,
                    temperature=temperature,
                )
                order = self._assemble(context, prose, by, alarm_id, tries, conversation_id)
            except ModelServerError:
                raise  # the server failed, not the draft: another try cannot fix it
            except (WorkOrderError, ModelError) as exc:
                failures.append(f"try {tries}: {exc}")
            else:
                return self.store.create(order)
        raise WorkOrderError(
            f"the model's draft for {context.asset.id} failed validation "
            f"{len(failures)} times: " + " | ".join(failures)
        )

    def _steps(self, context: DraftContext, prose: dict[str, Any], known: str) -> list[str]:
        """Return the procedure's steps, else the model's, with one isolation step first."""
        if context.procedure_steps:
            return list(context.procedure_steps)
        inspect = f"Inspect {context.asset.id} and confirm the reported condition: {known}"
        steps = clean_items(prose.get("steps", [])) or [clip(inspect, MAX_STEP)]
        if context.safety.energy_isolation_required:
            # code states the isolation, with its points; the model's own version is dropped
            lead = isolation_lead(context.asset, context.safety)
            steps = [lead, *(s for s in steps if not is_isolation_step(s))]
        return steps[:MAX_STEPS]

    def _assemble(
        self,
        context: DraftContext,
        prose: Any,
        by: Actor,
        alarm_id: str | None,
        tries: int,
        conversation_id: str | None,
    ) -> WorkOrder:
        """Return the validated work order of what code gathered and what the model wrote."""
        if not isinstance(prose, dict):
            raise WorkOrderError("the model's answer is not a JSON object")
        question = context.request
        known = (
            context.event.message
            if context.event is not None
            else question or f"Inspect {context.asset.id} ({context.asset.name})"
        )
        sources = [d.source for d in context.documents]
        problem = prose.get("problem")
        if not isinstance(problem, str) or not WORDS.search(problem):
            # a problem made only of tags and numbers: state what code knows
            problem = clip(f"{context.asset.id}: {known}", 900)
        reason = prose.get("priority_reason")
        if not isinstance(reason, str) or not WORDS.search(reason):
            # said plainly rather than invented: the reviewer fills it in
            reason = "Not stated by the draft; review the priority."
        model_priority = prose.get("priority")
        if model_priority not in PRIORITIES:
            raise WorkOrderError(f"priority: not one of {', '.join(PRIORITIES)}")
        priority = higher(model_priority, context.floor)
        reason = " ".join(reason.split())
        if priority != model_priority:
            reason = f"At least {context.floor} because of the {context.floor_reason}"
        data: dict[str, Any] = {
            "id": f"WO-{time.strftime('%Y%m%d')}-{uuid.uuid4().hex[:8]}",
            "asset": context.asset.id,
            "title": context.title or clip(f"{context.asset.id}: {known}", 120),
            "problem": " ".join(problem.split()),
            "suspected_cause": context.suspected_cause,
            "priority_floor": context.floor,
            "priority": priority,
            "priority_reason": clip(reason, 300),
            "safety": context.safety.model_dump(mode="json"),
            "steps": self._steps(context, prose, known),
            "parts": clean_items(prose.get("parts", []), sources),
            "tools": clean_items(prose.get("tools", []), sources),
            "estimated_duration_h": context.estimated_duration_h,
            "evidence": Evidence(
                telemetry=context.telemetry, documents=context.documents
            ).model_dump(mode="json"),
            "status": "draft",
            "alarm_id": alarm_id,
            "question": question,
            "conversation_id": conversation_id,
            "created_by": by.name,
            "created_key_id": by.key_id,
            "created_key_name": by.key_name,
            "created_at": now_iso(),
            "draft_tries": tries,
        }
        return validate(data)
