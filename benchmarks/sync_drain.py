"""Cloud sync drain rate and bytes per conversation, against a real ``shiftmate cloud serve``.

    .venv/bin/python -m benchmarks.sync_drain [--conversations 10] [--records 3000]

1. Writes ``--conversations`` realistic conversations (two turns each, a user prompt of three
   sample-plant passages plus live values, one rated and one corrected answer) into a real
   journal, collects them (the default local model writes each summary; code adds the facts;
   everything is redacted) and sends them: bytes per conversation as queued (redacted JSON)
   and on the wire (gzip).
2. Replicates those records to ``--records`` under new keys and drains them through the outbox
   and the HTTPS uplink (batches of 100 and of 10), and, as the peer measured in the same run,
   POSTs the same records in the same batches with a bare ``httpx.Client`` (gzip, no outbox,
   no SQLite, no acknowledgement bookkeeping), to a fresh receiver each time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from assistant.journal import PassageRef
from assistant.sync.outbox import Item
from benchmarks.common import SAMPLE_PLANT, print_table, temp_services
from tests.cloud.receiver import CloudReceiver

SITE, TOKEN = "bench-site", "bench-token-0123456789"
NAMES = ("Dana Reyes", "Lee Okafor", "Kim Sorensen")


def _passages() -> list[str]:
    text = (SAMPLE_PLANT / "pump-p101-p102-om-manual.md").read_text(encoding="utf-8")
    parts = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 200]
    return parts


def _seed(services: object, conversations: int) -> None:
    from assistant.services import Services

    assert isinstance(services, Services)
    passages = _passages()
    for c in range(conversations):
        name = NAMES[c % len(NAMES)]
        cid = services.journal.new_conversation(f"P-101 question {c}")
        for t in range(2):
            chosen = [passages[(c * 3 + t + i) % len(passages)] for i in range(3)]
            question = (
                f"{name} here (badge {40000 + c}): what does section {c}.{t} say about P-101?"
            )
            prompt = (
                "Passages:\n"
                + "\n\n".join(f"[D{i + 1}] {p}" for i, p in enumerate(chosen))
                + "\n\nLive telemetry:\n[T1] P-101 Flow: 4.12 m3/h at 14:59:05 UTC, normal"
                + f"\n\nQuestion: {question}"
            )
            answer = chosen[0][:300] + " [D1]."
            tid = services.journal.add_turn(
                cid,
                question=question,
                answer=answer,
                raw_answer=answer,
                prompt_user=prompt,
                passages=[PassageRef(f"D{i + 1}", f"chunk-{c}-{t}-{i}", True) for i in range(3)],
                citations=[{"id": "D1", "chunk_id": f"chunk-{c}-{t}-0", "source": "manual.md",
                            "section": "7.3", "page": None, "text": chosen[0][:200]}],
                telemetry=[{"id": "T1", "asset": "P-101", "tag": "flow", "value": 4.12,
                            "unit": "m3/h", "ts": time.time(), "state": "normal",
                            "trend": "steady", "text": "P-101 Flow: 4.12 m3/h, normal"}],
                timings={"retrieval_ms": 10.0, "ttft_ms": 250.0, "total_ms": 900.0,
                         "prompt_tokens": 800, "completion_tokens": 70},
                checks={"covered": True},
                prompt_version="ask-v1",
                model_sha256="ab" * 32,
            )  # fmt: skip
            services.feedback.add(
                tid,
                "helpful" if t == 0 else "not_helpful",
                reason="" if t == 0 else "incomplete",
                comment=f"checked by {name}",
                corrected_answer="" if t == 0 else f"Ask {name} (+1 555 010 2040) first [D1].",
                by=name,
            )


def _queued(services: object) -> list[Item]:
    from assistant.services import Services

    assert isinstance(services, Services)
    return [Item(r.key, r.kind, json.loads(r.body)) for r in services.outbox.batch(10**6, 10**12)]


def _replicate(rows: list[Item], copies_to: int) -> list[Item]:
    assert rows, "nothing was queued"
    items = []
    n = 0
    while len(items) < copies_to:
        for row in rows:
            items.append(Item(f"{row.key}#{n}", row.kind, row.body))
            if len(items) >= copies_to:
                break
        n += 1
    return items


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--records", type=int, default=3000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="shiftmate-sync-bench-"))
    receivers: list[CloudReceiver] = []
    try:

        def receiver(name: str) -> CloudReceiver:
            made = CloudReceiver(root / name, {SITE: TOKEN}, keep_raw=False).start()
            receivers.append(made)
            return made

        sync = {"site_id": SITE, "token": TOKEN, "roster": list(NAMES), "idle_s": 0.0}
        first = receiver("r0")
        site = temp_services(sync={**sync, "endpoint": first.url, "batch_records": 100})
        _seed(site, args.conversations)
        print(f"collecting {args.conversations} conversations ...", file=sys.stderr)
        started = time.perf_counter()
        collected = site.sync.collect()
        collect_s = time.perf_counter() - started
        queued_bytes = site.outbox.status().bytes
        queued = _queued(site)
        result = site.sync.send()
        assert result.error is None and result.backlog == 0, result
        per_conv_json = queued_bytes / args.conversations
        per_conv_wire = result.wire_bytes / args.conversations
        items = _replicate(queued, args.records)
        site.close()

        rows = []
        for batch in (100, 10):
            print(f"draining {len(items)} records in batches of {batch} ...", file=sys.stderr)
            # the outbox path: queue, batch, POST, acknowledge, delete
            target = receiver(f"outbox-{batch}")
            bench = temp_services(sync={**sync, "endpoint": target.url, "batch_records": batch})
            bench.outbox.put(items)
            started = time.perf_counter()
            drained = bench.sync.send()
            outbox_s = time.perf_counter() - started
            assert drained.error is None and drained.sent == len(items), drained
            assert sum(
                target.health()["sites"][SITE].get(k, 0) for k in ("feedback", "summary")
            ) == len(items)
            bench.close()

            # the peer: the same records, the same batches, a bare httpx client
            peer_target = receiver(f"raw-{batch}")
            bodies = [json.dumps(i.body, separators=(",", ":")) for i in items]
            client = httpx.Client(
                trust_env=False,
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Encoding": "gzip",
                         "Content-Type": "application/json"},
            )  # fmt: skip
            started = time.perf_counter()
            for i in range(0, len(items), batch):
                chunk = items[i : i + batch]
                records = ",".join(
                    json.dumps({"key": it.key, "kind": it.kind, "created_at": 0.0})[:-1]
                    + ',"body":'
                    + body
                    + "}"
                    for it, body in zip(chunk, bodies[i : i + batch], strict=True)
                )
                payload = (
                    json.dumps({"v": 1, "site": SITE, "token": TOKEN})[:-1]
                    + ',"records":['
                    + records
                    + "]}"
                ).encode()
                response = client.post(
                    f"{peer_target.url}/v1/records", content=gzip.compress(payload, 6)
                )
                response.raise_for_status()
            raw_s = time.perf_counter() - started
            client.close()
            rows.append(
                [f"{batch}", len(items), f"{len(items) / outbox_s:,.0f}",
                 f"{len(items) / raw_s:,.0f}", f"{raw_s / outbox_s:.2f}"]
            )  # fmt: skip
        print_table(
            f"Sync: bytes per conversation ({args.conversations} conversations, 2 turns, "
            f"2 feedback + 1 summary each; collection {collect_s / args.conversations:.2f} s "
            f"per conversation with the default model)",
            ["as queued (redacted JSON)", "on the wire (gzip)", "compression"],
            [[f"{per_conv_json:,.0f} B", f"{per_conv_wire:,.0f} B",
              f"{per_conv_json / per_conv_wire:.1f}x"]],
        )  # fmt: skip
        print_table(
            "Sync: drain rate to a local `shiftmate cloud serve` (records/s, same run)",
            ["batch", "records", "outbox + HTTPS uplink", "peer: bare httpx POST",
             "outbox / peer"],
            rows,
        )  # fmt: skip
        print(
            f"\ncollected: {collected.summaries} summaries, {collected.feedback} feedback; "
            f"redacted: {collected.redacted}"
        )
    finally:
        for made in receivers:
            made.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
