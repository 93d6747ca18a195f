"""Work-order draft latency with the default model, and the share valid on the first try.

The same 20 drafts as the test suite (12 alarms raised by ramping a tag past its limit in a
live store, 8 operator questions) on the ingested sample plant. For each draft:
  * ``Drafter.draft`` end to end (code gathers asset, evidence, safety and procedure; the model
    writes the prose against the JSON schema; validation, retries within the bound; storage),
  * the peer: one constrained ``complete_json`` call on the identical first-try prompt and
    schema, nothing else (the bare cost of generating the JSON).

    .venv/bin/python -m benchmarks.workorder_drafts
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from assistant.errors import ModelError, WorkOrderError
from assistant.workorders.prompt import draft_messages
from assistant.workorders.schema import prose_schema
from benchmarks.common import SAMPLE_PLANT, median, percentile, print_table, temp_services
from tests.assistant.workorders.helpers import raise_alarm
from tests.assistant.workorders.test_drafting import ALARMS, QUESTIONS


def main() -> None:
    """Run the drafts and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    services = temp_services(plant={"file": Path(SAMPLE_PLANT / "plant.toml")})
    services.ingestor.ingest([SAMPLE_PLANT])
    drafter = services.drafter
    model = services.chat_model
    draft_ms: list[float] = []
    peer_ms: list[float] = []
    tries: list[int] = []
    failed = 0
    peer_failed = 0
    jobs: list[tuple[str, str | None, str | None]] = []
    for asset, tag, start, end, unit, _floor in ALARMS:
        event = raise_alarm(services, asset, tag, start, end, unit)
        jobs.append((asset, event.id, None))
    jobs += [(asset, None, question) for asset, question in QUESTIONS]
    for n, (asset, alarm_id, question) in enumerate(jobs, 1):
        started = time.perf_counter()
        try:
            order = drafter.draft(asset, alarm_id=alarm_id, question=question, created_by="bench")
        except WorkOrderError as exc:
            failed += 1
            print(f"  {n:2}/{len(jobs)} {asset:<7} FAILED: {exc}", flush=True)
            continue
        draft_ms.append((time.perf_counter() - started) * 1000)
        tries.append(order.draft_tries)
        context = drafter.gatherer.gather(asset, alarm_id, question)
        messages = draft_messages(context)
        started = time.perf_counter()
        try:
            model.complete_json(
                messages,
                prose_schema(not context.procedure_steps),
                max_tokens=services.settings.workorders.max_tokens,
                temperature=0.2,
            )
        except ModelError:
            peer_failed += 1  # cut at max_tokens: the time still counts
        peer_ms.append((time.perf_counter() - started) * 1000)
        print(
            f"  {n:2}/{len(jobs)} {asset:<7} {draft_ms[-1]:8.0f} ms  tries {order.draft_tries}",
            flush=True,
        )
    first = sum(1 for t in tries if t == 1)
    print_table(
        f"Work-order drafts, default model ({len(jobs)} drafts: 12 alarms, 8 questions)",
        ["measure", "draft (ours)", "one constrained call (peer)", "ratio"],
        [
            [
                "p50 latency (ms)",
                median(draft_ms),
                median(peer_ms),
                median(draft_ms) / median(peer_ms),
            ],
            [
                "p95 latency (ms)",
                percentile(draft_ms, 95),
                percentile(peer_ms, 95),
                percentile(draft_ms, 95) / percentile(peer_ms, 95),
            ],
            [
                "valid on the first try",
                f"{first}/{len(jobs)} ({first / len(jobs):.0%})",
                f"{len(jobs) - peer_failed}/{len(jobs)} parsed",
                "-",
            ],
            ["valid within the bound", f"{len(tries)}/{len(jobs)} ({failed} failed)", "-", "-"],
            ["mean tries", sum(tries) / len(tries), 1.0, sum(tries) / len(tries)],
        ],
    )
    services.close()


if __name__ == "__main__":
    main()
