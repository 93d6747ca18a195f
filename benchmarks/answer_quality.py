"""Answer quality: are the facts stated, and does every figure come from a cited quote?

Two question sets, written in operators' words (benchmarks/data/answer_quality_*.toml): the
sample plant (its documents ingested as a folder) and OSHA 29 CFR 1910.147 (that file alone,
read from ../shared/data). Each question lists the facts the answer must state; a few per set
are not answered by the documents, and the right outcome for them is the not-covered answer.

For each set the documents are ingested once; then, for each ``chat.answer_mode``
(extractive, hybrid, generative), services on the same data directory ask every question in a
fresh conversation. Measured per set and mode:
  * fact stated: every required fact is in the answer's text (for a not-covered question:
    the answer is the not-covered one, ``answer.covered`` False);
  * answers with a figure or id (0.35, 2,000, V-101B, 4B, MCC-1) in no cited quote: the
    answer's figures, labels removed, are checked against the ``quote`` of each cited
    citation (its whole ``text`` when the quote is empty); figures in the question or in a
    telemetry line do not count;
  * said not covered, over all questions, and false not-covered on answerable ones;
  * time to first answer text (``timings.ttft_ms``, retrieval included), p50 and p95.
Beside them, the peer: raw llama-cpp-python on the same GGUF (same n_ctx, threads, batch,
seed and sampling), given the same top passages (score >= chat.min_score) under a plain
"answer from these passages" prompt in the model's chat template, streamed; its TTFT counts
its own retrieval too. Its figures are supported when they are in any passage it was given,
and it "said not covered" when its text says so (a phrase heuristic).

--verbose prints each question, the answer, its citations and quotes, the facts it missed,
the figures outside its quotes and, for a miss, the retrieved passages with their scores and how
many of the required facts each holds (was the answer retrieved at all, and where?).

Targets: fact stated >= 90% per set in extractive mode; zero answers with figures/ids outside
cited quotes in every mode; extractive time to first answer text p50 <= 300 ms on 2 cores.

    .venv/bin/python -m benchmarks.answer_quality [--set plant|osha|all]
        [--modes extractive hybrid generative] [--limit N] [--ids plant-01,osha-03]
        [--no-peer] [--verbose] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.domain import Answer, SearchHit
from assistant.services import Services, build_services
from assistant.settings import load_settings
from benchmarks.common import PROJECT_ROOT, percentile, print_table, temp_services
from benchmarks.quality_scoring import missing_facts, says_not_covered, unsupported_figures
from models.types import Message

DATA = Path(__file__).resolve().parent / "data"
SET_FILES = {"plant": DATA / "answer_quality_plant.toml", "osha": DATA / "answer_quality_osha.toml"}
MODES = ("extractive", "hybrid", "generative")
PEER = "raw llama-cpp-python"
PEER_SYSTEM = (
    "You are an assistant for plant operators. Answer the question from these passages only. "
    "If the passages do not answer it, say that the documents do not cover it."
)
FACT_TARGET = 0.90
TTFT_TARGET_MS = 300.0


@dataclass(frozen=True, slots=True)
class Question:
    """One benchmark question with the facts its answer must state."""

    id: str
    question: str
    form: str
    source: str
    section: str
    required: tuple[tuple[str, ...], ...] = ()
    expect_not_covered: bool = False
    note: str = ""

    @property
    def kind(self) -> str:
        """Return fact, procedure (step phrases required) or not-covered."""
        if self.expect_not_covered:
            return "not-covered"
        return "procedure" if self.form in ("how do I", "what are the steps") else "fact"


@dataclass(frozen=True, slots=True)
class QuestionSet:
    """A named set of questions over the documents it ingests."""

    name: str
    title: str
    folder: Path
    ingest: tuple[Path, ...]
    questions: tuple[Question, ...]


@dataclass(slots=True)
class Result:
    """How one answerer did on one question."""

    set: str
    answerer: str
    id: str
    question: str
    kind: str
    form: str
    expected_from: str
    expect_not_covered: bool
    text: str
    said_not_covered: bool
    fact_stated: bool
    missing: list[list[str]]
    unsupported: list[str]
    ttft_ms: float
    retrieval_ms: float | None
    citations: list[dict[str, Any]] = field(default_factory=list)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    reported_mode: str | None = None
    note: str = ""


def load_set(path: Path) -> QuestionSet:
    """Read and check a question set file."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    folder = (PROJECT_ROOT / raw["folder"]).resolve()
    questions = []
    for entry in raw["questions"]:
        question = Question(
            id=entry["id"],
            question=entry["question"],
            form=entry["form"],
            source=entry["source"],
            section=entry["section"],
            required=tuple(tuple(alts) for alts in entry.get("required", [])),
            expect_not_covered=bool(entry.get("expect_not_covered", False)),
            note=entry.get("note", ""),
        )
        if question.expect_not_covered == bool(question.required):
            raise ValueError(
                f"{path.name}: {question.id} needs required facts or expect_not_covered"
            )
        if any(not alts or not all(a.strip() for a in alts) for alts in question.required):
            raise ValueError(f"{path.name}: {question.id} has an empty required fact")
        questions.append(question)
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path.name}: question ids repeat")
    return QuestionSet(
        name=raw["name"],
        title=raw["title"],
        folder=folder,
        ingest=tuple(folder / p for p in raw["ingest"]),
        questions=tuple(questions),
    )


def services_on(base: Services, **overrides: Any) -> Services:
    """Build services on base's data directory and loaded models, with settings overrides."""
    settings = load_settings(None, {"data_dir": base.data_dir, **overrides})
    return build_services(settings, chat_model=base.chat_model, embedder=base.embedder)


def score(
    qs: QuestionSet,
    q: Question,
    answerer: str,
    text: str,
    said_not_covered: bool,
    supports: Sequence[str],
    ignore: Sequence[str],
    ttft_ms: float,
    retrieval_ms: float | None,
) -> Result:
    """Score one answer text against its question."""
    missing = [] if q.expect_not_covered else missing_facts(text, q.required)
    stated = said_not_covered if q.expect_not_covered else not missing and not said_not_covered
    return Result(
        set=qs.name,
        answerer=answerer,
        id=q.id,
        question=q.question,
        kind=q.kind,
        form=q.form,
        expected_from=f"{q.source} > {q.section}",
        expect_not_covered=q.expect_not_covered,
        text=text,
        said_not_covered=said_not_covered,
        fact_stated=stated,
        missing=missing,
        unsupported=unsupported_figures(text, supports, ignore),
        ttft_ms=ttft_ms,
        retrieval_ms=retrieval_ms,
        note=q.note,
    )


def ask_shiftmate(services: Services, qs: QuestionSet, q: Question, mode: str) -> Result:
    """Ask one question in a fresh conversation and score the answer."""
    answer: Answer = services.chat.ask(q.question)
    supports = [c.quote or c.text for c in answer.citations]
    ignore = [q.question, *(line.text for line in answer.telemetry)]
    result = score(
        qs,
        q,
        mode,
        answer.text,
        not answer.covered,
        supports,
        ignore,
        answer.timings.ttft_ms,
        answer.timings.retrieval_ms,
    )
    result.citations = [
        {
            "id": c.id,
            "source": Path(c.source).name,
            "section": c.section,
            "page": c.page,
            "quote": c.quote,
            "spans": [list(s) for s in c.spans],
        }
        for c in answer.citations
    ]
    c = services.settings.chat
    result.retrieved = retrieved(q, services.retriever.search(q.question, c.top_k), c.min_score)
    result.reported_mode = getattr(answer, "mode", None)
    return result


def retrieved(q: Question, hits: Sequence[SearchHit], min_score: float) -> list[dict[str, Any]]:
    """Describe the retrieved passages: rank, score, where, and how many required facts each has."""
    return [
        {
            "rank": rank,
            "score": round(h.score, 3),
            "kept": h.score >= min_score,
            "source": Path(h.chunk.source).name,
            "section": h.chunk.section,
            "facts": len(q.required) - len(missing_facts(h.chunk.text, q.required)),
            "required": len(q.required),
        }
        for rank, h in enumerate(hits, 1)
    ]


class Peer:
    """Raw llama-cpp-python on the same GGUF and settings, answering from the same passages."""

    def __init__(self, services: Services) -> None:
        from llama_cpp import Llama

        m = services.settings.models
        self._llm = Llama(
            model_path=str(services.chat_model.path),
            n_ctx=m.n_ctx,
            n_threads=m.n_threads,
            n_batch=m.n_batch,
            seed=m.seed,
            verbose=False,
        )
        eos = self._llm.token_eos()
        self._stop = [self._llm.detokenize([eos], special=True).decode()] if eos >= 0 else []
        self._seed = m.seed

    def close(self) -> None:
        """Free the peer model."""
        self._llm.close()

    def ask(self, services: Services, qs: QuestionSet, q: Question) -> Result:
        """Answer one question from the top passages and score it."""
        c = services.settings.chat
        started = time.perf_counter()
        hits = [h for h in services.retriever.search(q.question, c.top_k) if h.score >= c.min_score]
        retrieval_ms = (time.perf_counter() - started) * 1000
        prompt, given = self._prompt(services, q.question, hits, c.max_tokens)
        first: float | None = None
        parts: list[str] = []
        for piece in self._llm.create_completion(
            prompt=prompt,
            max_tokens=c.max_tokens,
            temperature=c.temperature,
            repeat_penalty=c.repeat_penalty,
            seed=self._seed,
            stop=[*self._stop, *c.stop],
            stream=True,
        ):
            text = piece["choices"][0]["text"]  # type: ignore[index]
            if text and first is None:
                first = time.perf_counter()
            parts.append(str(text))
        done = time.perf_counter()
        answer = "".join(parts).strip()
        result = score(
            qs,
            q,
            PEER,
            answer,
            says_not_covered(answer),
            [h.chunk.text for h in given],
            [q.question],
            round(((first or done) - started) * 1000, 1),
            round(retrieval_ms, 1),
        )
        result.retrieved = retrieved(q, given, c.min_score)
        return result

    def _prompt(
        self, services: Services, question: str, hits: list[SearchHit], max_tokens: int
    ) -> tuple[str, list[SearchHit]]:
        """Render the plain prompt, dropping the last passages if it would not fit."""
        given = list(hits)
        while True:
            blocks = [
                f"[D{i}] {Path(h.chunk.source).name}, {h.chunk.section}\n{h.chunk.text}"
                for i, h in enumerate(given, 1)
            ]
            passages = "\n\n".join(blocks) if blocks else "(no passages found)"
            user = f"Passages:\n\n{passages}\n\nQuestion: {question}"
            prompt = services.chat_model.render(
                [Message("system", PEER_SYSTEM), Message("user", user)]
            )
            tokens = len(self._llm.tokenize(prompt.encode(), add_bos=False, special=True))
            if tokens + max_tokens <= self._llm.n_ctx() or not given:
                return prompt, given
            given.pop()


def show(result: Result) -> None:
    """Print one question, its answer, its citations and what was missed, for debugging."""
    flags = ["OK" if result.fact_stated else "MISSED"]
    if result.unsupported:
        flags.append("FIGURES OUTSIDE QUOTES")
    print(
        f"\n--- {result.set} / {result.answerer} / {result.id} [{result.kind}, {result.form}] "
        f"{' + '.join(flags)}  (first text {result.ttft_ms:,.0f} ms)"
    )
    print(f"Q: {result.question}")
    lines = (result.text or "(empty answer)").splitlines() or [""]
    for index, line in enumerate(lines):
        lead = "A: " if index == 0 else "   "
        print(textwrap.fill(line, 100, initial_indent=lead, subsequent_indent="   ") or lead)
    for c in result.citations:
        quote = f': "{_short(c["quote"])}"' if c.get("quote") else " (whole passage)"
        print(f"   cites [{c['id']}] {_where(c['source'], c['section'])}{quote}")
    if result.expect_not_covered:
        print(f"   expected: not covered; said not covered: {result.said_not_covered}")
    elif result.said_not_covered:
        print("   said not covered, but the documents answer it")
    if result.missing:
        missed = "; ".join(" | ".join(f'"{a}"' for a in alts) for alts in result.missing)
        print(f"   missing facts: {missed}")
    if result.unsupported:
        print(f"   figures/ids in no cited quote: {', '.join(result.unsupported)}")
    print(f"   answer is in: {result.expected_from}")
    if result.note:
        print(f"   note: {result.note}")
    if not result.fact_stated or result.unsupported:
        label = "given" if result.answerer == PEER else "retrieved"
        print(f"   {label}:")
        for hit in result.retrieved:
            kept = "" if hit["kept"] else "  (below min_score)"
            print(
                f"     {hit['rank']}. {hit['score']:.2f} {_where(hit['source'], hit['section'])}"
                f"{_facts(result, hit)}{kept}"
            )


def _facts(result: Result, hit: dict[str, Any]) -> str:
    total = 0 if result.expect_not_covered else hit["required"]
    return f"  [has {hit['facts']}/{total} facts]" if total else ""


def _where(source: str, section: str) -> str:
    parts = [p for p in section.split(" > ") if p]
    return f"{source} > {' > '.join(parts[-2:]) or '-'}"


def _short(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def summary_row(qs: QuestionSet, answerer: str, results: list[Result]) -> list[Any]:
    """Return one table row for a set and answerer."""
    n = len(results)
    stated = sum(r.fact_stated for r in results)
    outside = sum(bool(r.unsupported) for r in results)
    not_covered = sum(r.said_not_covered for r in results)
    false_nc = sum(r.said_not_covered and not r.expect_not_covered for r in results)
    answerable = sum(not r.expect_not_covered for r in results)
    ttft = [r.ttft_ms for r in results]
    return [
        qs.name,
        answerer,
        n,
        f"{stated}/{n} ({stated / n:.0%})",
        outside,
        f"{not_covered}/{n} ({not_covered / n:.0%})",
        f"{false_nc}/{answerable}",
        f"{percentile(ttft, 50):,.0f}",
        f"{percentile(ttft, 95):,.0f}",
    ]


def check_targets(by_key: dict[tuple[str, str], list[Result]]) -> list[str]:
    """Return a line per target: met or not, and by how much."""
    lines = []
    for (set_name, answerer), results in by_key.items():
        if answerer == PEER:
            continue
        outside = sum(bool(r.unsupported) for r in results)
        lines.append(
            f"{set_name}/{answerer}: figures/ids outside cited quotes in {outside} answers "
            f"(target 0): {'met' if outside == 0 else 'NOT met'}"
        )
        if answerer == "extractive":
            share = sum(r.fact_stated for r in results) / len(results)
            p50 = percentile([r.ttft_ms for r in results], 50)
            lines.append(
                f"{set_name}/extractive: fact stated {share:.0%} (target >= {FACT_TARGET:.0%}): "
                f"{'met' if share >= FACT_TARGET else 'NOT met'}"
            )
            lines.append(
                f"{set_name}/extractive: first answer text p50 {p50:,.0f} ms "
                f"(target <= {TTFT_TARGET_MS:.0f} ms on 2 cores): "
                f"{'met' if p50 <= TTFT_TARGET_MS else 'NOT met'}"
            )
        other = [r for r in results if r.reported_mode != answerer]
        if other:
            modes = sorted({str(r.reported_mode) for r in other})
            refusals = sum(r.said_not_covered for r in other)
            lines.append(
                f"{set_name}/{answerer}: {len(other)} of {len(results)} answers report "
                f"answer.mode {', '.join(modes)} ({refusals} of them not-covered answers)"
            )
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--set", choices=["plant", "osha", "all"], default="all")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=list(MODES),
        help="answer modes to run (space or comma separated; default all three)",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N questions of each set")
    parser.add_argument("--ids", default="", help="only these question ids (comma separated)")
    parser.add_argument("--no-peer", action="store_true", help="skip raw llama-cpp-python")
    parser.add_argument("--verbose", action="store_true", help="print every question and answer")
    parser.add_argument("--json", type=Path, default=None, help="write per-question results")
    args = parser.parse_args(argv)
    args.modes = [m for part in args.modes for m in part.split(",") if m]
    unknown = [m for m in args.modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    return args


def select(qs: QuestionSet, limit: int | None, ids: set[str]) -> list[Question]:
    """Return the questions of a set to run."""
    chosen = [q for q in qs.questions if not ids or q.id in ids]
    return chosen[:limit] if limit is not None else chosen


def run_set(
    qs: QuestionSet,
    questions: list[Question],
    answerers: list[str],
    peer: Peer | None,
    verbose: bool,
) -> tuple[dict[str, list[Result]], Peer | None]:
    """Ingest a set once, then ask its questions with each answerer; return the results."""
    base = temp_services()
    report = base.ingestor.ingest(list(qs.ingest))
    print(
        f"[{qs.name}] ingested {report.count('added')} files into {base.data_dir}", file=sys.stderr
    )
    results: dict[str, list[Result]] = {}
    for answerer in answerers:
        services = None if answerer == PEER else services_on(base, chat={"answer_mode": answerer})
        if answerer == PEER and peer is None:
            peer = Peer(base)
        done: list[Result] = []
        for index, q in enumerate(questions, 1):
            print(f"[{qs.name}/{answerer}] {index}/{len(questions)} {q.id}", file=sys.stderr)
            if services is not None:
                result = ask_shiftmate(services, qs, q, answerer)
            else:
                assert peer is not None
                result = peer.ask(base, qs, q)
            done.append(result)
            if verbose:
                show(result)
        results[answerer] = done
    return results, peer


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    args = parse_args(argv)
    names = ["plant", "osha"] if args.set == "all" else [args.set]
    ids = {i.strip() for i in args.ids.split(",") if i.strip()}
    answerers = [*args.modes, *([] if args.no_peer else [PEER])]
    by_key: dict[tuple[str, str], list[Result]] = {}
    rows: list[list[Any]] = []
    counts: list[str] = []
    peer: Peer | None = None
    try:
        for name in names:
            qs = load_set(SET_FILES[name])
            questions = select(qs, args.limit, ids)
            if not questions:
                continue
            counts.append(f"{name} {len(questions)}")
            results, peer = run_set(qs, questions, answerers, peer, args.verbose)
            for answerer, done in results.items():
                by_key[(name, answerer)] = done
                rows.append(summary_row(qs, answerer, done))
    finally:
        if peer is not None:
            peer.close()
    if not rows:
        print("no questions selected", file=sys.stderr)
        return
    print_table(
        f"Answer quality, default model, {', '.join(counts)} questions, {os.cpu_count()} cores",
        [
            "set",
            "answerer",
            "questions",
            "fact stated",
            "answers w/ figure outside quotes",
            "said not covered",
            "false not covered",
            "first text p50 (ms)",
            "first text p95 (ms)",
        ],
        rows,
    )
    print()
    for line in check_targets(by_key):
        print(f"- {line}")
    if args.json is not None:
        payload = {
            "modes": args.modes,
            "sets": names,
            "results": [asdict(r) for done in by_key.values() for r in done],
        }
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        print(f"\nper-question results: {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
