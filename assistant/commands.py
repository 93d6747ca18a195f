"""The CLI's commands: each takes the settings and parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from assistant.chat.prompt import describe
from assistant.domain import Answer, TelemetryEvent
from assistant.errors import ChatError, ConfigError
from assistant.knowledge.ingest import IngestReport
from assistant.plant import load_plant
from assistant.services import Services, build_services
from assistant.settings import Settings, to_toml

SAMPLE_PLANT = Path(__file__).parent / "sample_plant"
EXIT_SOME_FAILED = 1


def print_json(value: Any, out: TextIO | None = None) -> None:
    """Print one compact JSON value on a line."""
    stream = out or sys.stdout
    stream.write(json.dumps(value, ensure_ascii=False) + "\n")
    stream.flush()


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    """Print the effective settings as TOML (or JSON)."""
    values = settings.model_dump(mode="json")
    if args.json:
        print_json(values)
    else:
        print(to_toml(values), end="")
    return 0


def cmd_models(settings: Settings, args: argparse.Namespace) -> int:
    """List or verify the models."""
    from models import registry

    services = build_services(settings)
    m = settings.models
    rows = []
    for spec in registry.embedded_specs():
        configured = spec.name in (m.llm, m.embedder)
        rows.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "embedded": True,
                "configured": configured,
                "description": spec.description,
                "package": spec.distribution,
                "sha256": spec.sha256,
            }
        )
    for setting, kind in ((m.llm, "llm"), (m.embedder, "embedder")):
        if not any(r["name"] == setting for r in rows):
            rows.append(
                {
                    "name": setting,
                    "kind": kind,
                    "embedded": False,
                    "configured": True,
                    "description": "user model by path",
                    "package": None,
                    "sha256": m.llm_sha256 if kind == "llm" else None,
                }
            )
    if args.models_command == "list":
        if args.json:
            print_json(rows)
        else:
            for r in rows:
                mark = "*" if r["configured"] else " "
                origin = f"package {r['package']}" if r["embedded"] else "path"
                print(f"{mark} {r['kind']:<8} {r['name']:<28} {origin}: {r['description']}")
            print("(* = configured in models.llm / models.embedder)")
        return 0
    failures = 0
    for setting, kind, expected in ((m.llm, "llm", m.llm_sha256), (m.embedder, "embedder", None)):
        resolved = registry.resolve(setting, kind, expected)  # type: ignore[arg-type]
        result = registry.verify(resolved, services.verify_cache)
        status = "ok" if result.ok else "FAILED"
        print(f"{status:<6} {kind:<8} {resolved.name}: {resolved.checksum_file}")
        print(f"       sha256 {result.actual_sha256} ({result.detail})")
        failures += 0 if result.ok else 1
    return 3 if failures else 0


def _progress_printer(quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(
        TextColumn("ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        transient=True,
    )
    task = progress.add_task("", total=None)

    def update(done: int, total: int, name: str) -> None:
        progress.update(task, completed=done, total=total, description=name)

    return progress, update


def run_ingest(services: Services, paths: list[Path], *, prune: bool, quiet: bool) -> IngestReport:
    """Ingest paths with a progress bar on a terminal, and print the outcome to stderr."""
    progress, update = _progress_printer(quiet)
    if progress is not None:
        with progress:
            report = services.ingestor.ingest(paths, prune=prune, progress=update)
    else:
        report = services.ingestor.ingest(paths, prune=prune)
    for outcome in report.failed:
        _err(f"failed: {outcome.path}: {outcome.reason}")
    for outcome in report.outcomes:
        if outcome.status == "removed":
            _err(f"removed: {outcome.path} ({outcome.chunks} chunks)")
    _err(
        f"{report.count('added')} added, {report.count('updated')} updated, "
        f"{report.count('unchanged')} unchanged, {report.count('removed')} removed, "
        f"{report.count('failed')} failed; {report.chunks_written} chunks written, "
        f"{services.store.count()} in the knowledge base"
    )
    return report


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Ingest documents; exit 1 when some failed."""
    services = build_services(settings)
    report = run_ingest(services, list(args.paths), prune=args.prune, quiet=args.quiet)
    return EXIT_SOME_FAILED if report.failed else 0


def cmd_docs(settings: Settings, args: argparse.Namespace) -> int:
    """List or remove ingested documents."""
    services = build_services(settings)
    if args.docs_command == "remove":
        entry = services.ingestor.remove(args.path)
        print(f"removed {entry.path} ({len(entry.chunk_ids)} chunks)")
        return 0
    entries = services.manifest.entries()
    if args.json:
        print_json(
            [
                {
                    "path": e.path,
                    "title": e.title,
                    "chunks": len(e.chunk_ids),
                    "sha256": e.sha256,
                    "size": e.size,
                    "ingested_at": e.ingested_at,
                }
                for e in entries
            ]
        )
        return 0
    if not entries:
        _err("no documents ingested yet: run 'shiftmate ingest PATH'")
        return 0
    for e in entries:
        print(f"{len(e.chunk_ids):>5} chunks  {e.ingested_at}  {e.title}\n             {e.path}")
    return 0


def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    """Print the top passages for each question."""
    services = build_services(settings)
    results = services.retriever.search_many(args.queries, args.k)
    for query, hits in zip(args.queries, results, strict=True):
        if args.json:
            print_json(
                {
                    "query": query,
                    "results": [
                        {
                            "id": h.chunk.id,
                            "source": h.chunk.source,
                            "section": h.chunk.section,
                            "page": h.chunk.page,
                            "text": h.chunk.text,
                            "score": h.score,
                        }
                        for h in hits
                    ],
                }
            )
            continue
        print(f"\n{query}")
        if not hits:
            print("  (no passages: is anything ingested? see 'shiftmate docs list')")
        for rank, h in enumerate(hits, 1):
            print(f"  {rank}. {h.score:.3f}  {describe(h.chunk)}")
            print(textwrap.indent(textwrap.shorten(h.chunk.text, 240), "       "))
    return 0


def answer_json(answer: Answer) -> dict[str, Any]:
    """Return the JSON shape of an answer, as ``ask --json`` prints it.

    Each citation carries the passage ``text`` and what the answer quoted from it: ``quote``
    is ``text[start:end]`` ("" with ``start``/``end`` null when the passage is cited whole),
    and ``spans`` the [start, end] of each quoted unit.
    """
    return {
        "answer": answer.text,
        "conversation_id": answer.conversation_id,
        "turn_id": answer.turn_id,
        "mode": answer.mode,
        "citations": [
            {
                "id": c.id,
                "chunk_id": c.chunk_id,
                "source": c.source,
                "section": c.section,
                "page": c.page,
                "text": c.text,
                "quote": c.quote,
                "start": c.start,
                "end": c.end,
                "spans": [[a, b] for a, b in c.spans],
            }
            for c in answer.citations
        ],
        "telemetry": [
            {
                "id": t.id,
                "asset": t.asset,
                "tag": t.tag,
                "value": t.value,
                "unit": t.unit,
                "ts": t.ts,
                "state": t.state,
                "trend": t.trend,
                "text": t.text,
            }
            for t in answer.telemetry
        ],
        "timings": asdict(answer.timings),
        "checks": {
            "covered": answer.covered,
            "dropped_citations": answer.dropped_citations,
            "unsupported_numbers": list(answer.unsupported_numbers),
            "unsupported_claims": list(answer.unsupported_claims),
            "withheld": list(answer.withheld),
            "stopped_looping": answer.stopped_looping,
        },
        "cut": list(answer.cut),
    }


def print_answer_footer(answer: Answer) -> None:
    """Print the checked citations and any warnings after a streamed answer."""
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            where = ", ".join(
                p for p in (Path(c.source).name, c.section, f"p. {c.page}" if c.page else "") if p
            )
            print(f"  [{c.id}] {where}")
            if c.quote:
                parts = max(len(c.spans), 1)
                whole = c.quote.strip() == c.text.strip()
                print(
                    "       quoted above: the whole passage"
                    if whole
                    else f"       quoted above: {parts} part(s) of this passage"
                )
            print(textwrap.indent(textwrap.fill(textwrap.shorten(c.text, 400), 90), "       "))
    cited = set(re.findall(r"\[(T\d+)\]", answer.text))
    live = [t for t in answer.telemetry if t.id in cited]
    if live:
        print("\nLive values:")
        for line in live:
            print(f"  {line.text}")
    notes = []
    if answer.dropped_citations:
        notes.append(f"{answer.dropped_citations} citation(s) to passages not given were dropped")
    if answer.withheld:
        notes.append(
            f"{len(answer.withheld)} sentence(s) withheld: figures not found in any source ("
            + ", ".join(answer.unsupported_numbers)
            + ") or repeated"
            if answer.unsupported_numbers
            else f"{len(answer.withheld)} repeated sentence(s) withheld"
        )
    if answer.stopped_looping:
        notes.append("generation stopped: the model started repeating itself")
    if answer.unsupported_claims:
        notes.append(f"{len(answer.unsupported_claims)} sentence(s) not supported by a passage")
    if answer.cut:
        notes.append("left out to fit the context: " + "; ".join(answer.cut))
    for note in notes:
        print(f"  ! {note}")
    t = answer.timings
    _err(
        f"[{t.ttft_ms:.0f} ms to first token, {t.total_ms:.0f} ms total, "
        f"{t.prompt_tokens} prompt + {t.completion_tokens} answer tokens; "
        f"conversation {answer.conversation_id}, answer {answer.turn_id}: rate it with "
        f"'shiftmate feedback {answer.turn_id} --rating helpful|not_helpful --by NAME']"
    )


def ask_and_print(
    services: Services, question: str, conversation: str | None, as_json: bool, k: int | None = None
) -> Answer:
    """Ask a question and print the streamed answer (or JSON)."""

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    answer = services.chat.ask(question, conversation, k=k, on_token=None if as_json else stream)
    if as_json:
        print_json(answer_json(answer))
    else:
        print()
        print_answer_footer(answer)
    return answer


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    """Answer one question with citations (listening to the broker first, if one is set)."""
    services = build_services(settings)
    try:
        if services.plant is not None and settings.mqtt.host is not None and args.listen > 0:
            import os

            services.start_telemetry(client_id_suffix=f"-ask-{os.getpid()}", transient=True)
            time.sleep(args.listen)
        ask_and_print(services, args.question, args.conversation, args.json, args.k)
    finally:
        services.close()
    return 0


def cmd_feedback(settings: Settings, args: argparse.Namespace) -> int:
    """Record an operator's rating of an answer (by its turn id)."""
    services = build_services(settings)
    try:
        fb = services.feedback.add(
            args.turn_id,
            args.rating,
            reason=args.reason,
            comment=args.comment,
            corrected_answer=args.correction,
            by=args.by,
        )
    finally:
        services.close()
    _err(f"feedback {fb.id} recorded on answer {fb.turn_id}: {fb.rating}")
    return 0


def _run_until_stopped(live_plant: Any) -> bool:
    """Keep the demo's live plant running until Ctrl-C or SIGTERM; False if it failed."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _err("headless: the live plant runs until Ctrl-C or SIGTERM")
    try:
        while not stop.wait(1.0):
            if live_plant.error:
                _err(f"shiftmate: {live_plant.error}")
                return False
    except KeyboardInterrupt:
        pass
    return True


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Ingest the sample plant into <data_dir>/demo, start the live plant and ask questions."""
    from assistant.demo import DemoPlant, demo_settings, write_companion_config
    from assistant.telemetry_commands import event_line, print_table

    if args.fault_after < 0 or args.fault_ramp <= 0:
        raise ConfigError("--fault-after must be 0 or more and --fault-ramp more than 0 seconds")
    demo = demo_settings(settings)
    _err(f"Shiftmate demo: Riverbend Water Works sample plant, data in {demo.data_dir}")
    assert demo.plant.file is not None
    plant = load_plant(demo.plant.file)
    live_plant = DemoPlant(
        plant, demo.mqtt, fault_after_s=args.fault_after, fault_ramp_s=args.fault_ramp
    )
    mqtt = live_plant.start()
    where = "embedded broker" if live_plant.broker is not None else "broker"
    _err(f"live plant: simulator publishing to the {where} at {mqtt.host}:{mqtt.port}")
    companion = write_companion_config(demo, mqtt)
    _err(f"other terminals: shiftmate --config {companion} alarms | draft | workorders ...")
    try:
        services = build_services(demo.model_copy(update={"mqtt": mqtt}))
    except BaseException:
        live_plant.stop()
        raise
    try:
        report = run_ingest(services, [SAMPLE_PLANT], prune=True, quiet=False)
        if report.failed:
            return EXIT_SOME_FAILED
        live = services.start_telemetry()
        events: list[TelemetryEvent] = []
        live.subscribe(events.append)
        _err("loading the local model ...")
        _ = services.chat
        if args.headless:
            return 0 if _run_until_stopped(live_plant) else 1
        if args.question:
            time.sleep(args.wait)
            for question in args.question:
                print(f"\n> {question}")
                ask_and_print(services, question, None, False)
            return 0
        if sys.stdin.isatty() and sys.stdout.isatty():
            from tui.backend import LocalBackend
            from tui.commands import run_app

            stop_sync = services.sync.start_background() if demo.sync.background else None
            try:
                return run_app(LocalBackend(services), settings, args.operator)
            finally:
                if stop_sync is not None:
                    stop_sync()
        # Not a terminal (questions piped in): the line-by-line loop, for scripts.
        _err(
            "Ask about the plant (for example: 'How do I lock out P-101?' or 'Why is ST-101 "
            "alarming?'). 'status' shows live values, 'alarms' the active alarms, 'new' starts "
            "a new conversation; an empty line or Ctrl-D quits."
        )
        conversation: str | None = None
        while True:
            while events:
                print(f"  * {event_line(events.pop(0))}")
            try:
                question = input("\nshiftmate> ").strip()
            except EOFError:
                print()
                return 0
            if question in ("", "quit", "exit"):
                return 0
            if question == "new":
                conversation = None
            elif question == "status":
                print_table(live.store, plant)
            elif question == "alarms":
                active = live.store.active_events()
                for event in active:
                    print(f"  {event_line(event)}")
                if not active:
                    print("  no active alarms")
            else:
                try:
                    answer = ask_and_print(services, question, conversation, False)
                    conversation = answer.conversation_id
                except ChatError as exc:
                    _err(f"shiftmate: {exc}")
    finally:
        services.close()
        live_plant.stop()
