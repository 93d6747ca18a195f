"""The CLI's knowledge commands: ``ingest``, ``docs list|remove|check``, ``search``, ``ask``
and ``feedback``."""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from assistant.chat.prompt import describe
from assistant.cli import exit_codes
from assistant.cli.output import err, print_json
from assistant.domain import Answer
from assistant.feedback import RATINGS, REASONS
from assistant.knowledge.consistency import check_index, repair_index
from assistant.knowledge.ingest import IngestReport
from assistant.schema.answers import AnswerOut
from assistant.services import Services, build_services
from assistant.settings import Settings


def add_parsers(commands: Any) -> None:
    """Add the knowledge commands to the CLI's sub-parsers."""
    ingest = commands.add_parser("ingest", help="add or update documents (files or folders)")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument(
        "--prune",
        action="store_true",
        help="also remove indexed files under PATH that no longer exist",
    )
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")

    docs = commands.add_parser("docs", help="list, remove or check ingested documents")
    docs_commands = docs.add_subparsers(dest="docs_command", metavar="ACTION", required=True)
    docs_list = docs_commands.add_parser("list", help="list ingested documents")
    docs_list.add_argument("--json", action="store_true")
    docs_remove = docs_commands.add_parser("remove", help="remove a document from the index")
    docs_remove.add_argument("path")
    docs_check = docs_commands.add_parser(
        "check", help="find chunks the indexes and the manifest disagree on (exit 1 if any)"
    )
    docs_check.add_argument(
        "--repair",
        action="store_true",
        help="delete orphan chunks and re-ingest incomplete documents",
    )
    docs_check.add_argument("--json", action="store_true")

    search = commands.add_parser("search", help="show the passages that match questions")
    search.add_argument("queries", nargs="+", metavar="QUESTION")
    search.add_argument("-k", type=int, default=5, help="passages per question (default 5)")
    search.add_argument("--json", action="store_true", help="one JSON object per question")

    ask = commands.add_parser("ask", help="answer a question with citations")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    ask.add_argument("--conversation", metavar="ID", help="continue this conversation")
    ask.add_argument("-k", type=int, help="passages to retrieve (default chat.top_k)")
    ask.add_argument(
        "--listen",
        type=float,
        default=3.0,
        metavar="S",
        help="with a plant and broker configured: seconds of live data to collect first (3)",
    )

    feedback = commands.add_parser("feedback", help="rate an answer (by the number ask prints)")
    feedback.add_argument("turn_id", type=int, metavar="ANSWER", help="the answer's number")
    feedback.add_argument("--rating", required=True, choices=RATINGS)
    feedback.add_argument("--reason", default="", choices=[r for r in REASONS if r])
    feedback.add_argument("--comment", default="", help="what was wrong or helpful")
    feedback.add_argument("--correction", default="", help="the answer it should have given")
    feedback.add_argument("--by", required=True, help="your name")


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
        err(f"failed: {outcome.path}: {outcome.reason}")
    for outcome in report.outcomes:
        if outcome.status == "removed":
            err(f"removed: {outcome.path} ({outcome.chunks} chunks)")
    err(
        f"{report.count('added')} added, {report.count('updated')} updated, "
        f"{report.count('unchanged')} unchanged, {report.count('removed')} removed, "
        f"{report.count('failed')} failed; {report.chunks_written} chunks written, "
        f"{services.store.count()} in the knowledge base"
    )
    return report


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Ingest documents; exit 1 when some failed."""
    with build_services(settings) as services:
        report = run_ingest(services, list(args.paths), prune=args.prune, quiet=args.quiet)
        return exit_codes.SOME_FAILED if report.failed else 0


def check_docs(services: Services, *, repair: bool, as_json: bool) -> int:
    """Check (and with repair, fix) the indexes against the manifest; 0 when consistent."""
    found = check_index(services.db, services.store)
    done: list[str] = []
    failed: list[str] = []
    if repair and not found.consistent:
        fixed = repair_index(found, services.db, services.store, services.ingestor)
        done, failed = fixed.done, fixed.failed
    after = check_index(services.db, services.store) if done or failed else found
    if as_json:
        print_json(
            {
                **found.as_json(),
                "repaired": done,
                "not_repaired": failed,
                "consistent_after": after.consistent,
            }
        )
    else:
        for line in found.lines():
            print(line)
        for line in done:
            print(f"repaired: {line}")
        for line in failed:
            err(f"not repaired: {line}")
        if found.consistent:
            print(f"consistent: {found.documents} documents, {found.chunks} chunks")
        elif after.consistent:
            print(f"consistent after repair: {after.documents} documents, {after.chunks} chunks")
        elif not repair:
            err("inconsistent: run 'shiftmate docs check --repair'")
    return 0 if after.consistent else exit_codes.SOME_FAILED


def cmd_docs(settings: Settings, args: argparse.Namespace) -> int:
    """List, remove or check ingested documents."""
    with build_services(settings) as services:
        if args.docs_command == "check":
            return check_docs(services, repair=args.repair, as_json=args.json)
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
            err("no documents ingested yet: run 'shiftmate ingest PATH'")
            return 0
        for e in entries:
            print(
                f"{len(e.chunk_ids):>5} chunks  {e.ingested_at}  {e.title}\n             {e.path}"
            )
        return 0


def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    """Print the top passages for each question."""
    with build_services(settings) as services:
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
    return AnswerOut.from_domain(answer).model_dump(mode="json")


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
    err(
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
    with build_services(settings) as services:
        if args.listen > 0:
            services.start(telemetry=f"-ask-{os.getpid()}", transient=True)
        if services.listening:
            time.sleep(args.listen)
        ask_and_print(services, args.question, args.conversation, args.json, args.k)
    return 0


def cmd_feedback(settings: Settings, args: argparse.Namespace) -> int:
    """Record an operator's rating of an answer (by its turn id)."""
    with build_services(settings) as services:
        fb = services.feedback.add(
            args.turn_id,
            args.rating,
            reason=args.reason,
            comment=args.comment,
            corrected_answer=args.correction,
            by=args.by,
        )
    err(f"feedback {fb.id} recorded on answer {fb.turn_id}: {fb.rating}")
    return 0
