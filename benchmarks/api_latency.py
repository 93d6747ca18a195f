"""HTTP latency: ``shiftmate serve`` against llama-cpp-python's own OpenAI-compatible server
(``llama_cpp.server``) on the same GGUF, both running at once, measured in the same run.

1. Plain chat completions, streamed (the plain model, no retrieval): TTFT and streamed tokens/s,
   the identical messages and sampling sent to both servers, alternating who goes first.
2. ``POST /v1/ask`` streamed: its time to the first model token (retrieval and prompt layout
   included; the answer's own ``timings.ttft_ms``) against the peer's TTFT, timed at the client,
   on the identical final prompt (read back from the journal) with the same sampling, through
   ``/v1/completions``. Also the time to the first checked text the client sees: answers stream
   sentence by sentence, each checked before it is shown.

Targets: plain chat at least as fast as the peer; /v1/ask TTFT within 1.15x of the peer's.

    .venv/bin/python -m benchmarks.api_latency [--rounds 2]
"""

from __future__ import annotations

import argparse
import sqlite3

import httpx

from assistant.chat.prompt import SCAFFOLD_STOPS, SYSTEM_PROMPT
from assistant.settings import ChatSettings
from benchmarks.api_servers import (
    Streamed,
    peer_server,
    prepare,
    shiftmate_server,
    stream_ask,
    stream_openai,
)
from benchmarks.common import median, print_table
from models.chat import ChatModel
from models.types import Message

PLAIN = [
    "Explain in a few sentences why a centrifugal pump cavitates.",
    "List five checks before starting an air compressor.",
    "What does a differential pressure gauge across a strainer tell an operator?",
    "Describe how a shell-and-tube heat exchanger fouls over time.",
    "Give three reasons a motor bearing runs hot.",
    "Why is lockout/tagout needed before maintenance on a pump?",
]
QUESTIONS = [
    "How do I lock out pump P-101?",
    "When should strainer ST-101 be cleaned?",
    "What are the load and unload pressures of C-3?",
    "What is the grease quantity for the P-101 bearings?",
    "What does the heat exchanger HX-12 manual say about fouling?",
    "Which permits are needed for work on compressor C-3?",
]


def main() -> None:
    """Run both servers, measure, print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    prepared = prepare()
    renderer = ChatModel(prepared.model_path, n_ctx=prepared.n_ctx)  # renders prompts only
    chat = ChatSettings()
    plain_ours: list[Streamed] = []
    plain_peer: list[Streamed] = []
    ask_ours: list[Streamed] = []
    ask_peer: list[Streamed] = []
    server_ttft: list[float] = []
    server_tps: list[float] = []
    headers = {"Authorization": f"Bearer {prepared.key}"}
    with (
        shiftmate_server(prepared) as (ours_url, _),
        peer_server(prepared) as (peer_url, _),
        httpx.Client(base_url=ours_url, headers=headers, timeout=300) as ours,
        httpx.Client(base_url=peer_url, timeout=300) as peer,
    ):
        model = ours.get("/v1/models").json()["data"][1]["id"]
        # Warm both (first-call allocations), outside the figures.
        warm = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8}
        stream_openai(ours, "/v1/chat/completions", {"model": model, **warm})
        stream_openai(peer, "/v1/chat/completions", {"model": model, **warm})
        for round_ in range(args.rounds):
            for n, text in enumerate(PLAIN):
                body = {
                    "model": model,
                    "messages": [{"role": "user", "content": text}],
                    "max_tokens": args.max_tokens,
                    "temperature": 0.0,
                    "repeat_penalty": 1.0,
                    "seed": 0,
                }
                pair = [(ours, plain_ours), (peer, plain_peer)]
                if (round_ + n) % 2:
                    pair.reverse()
                for client, results in pair:
                    results.append(stream_openai(client, "/v1/chat/completions", body))
            for question in QUESTIONS:
                streamed = stream_ask(ours, f"{question} (round {round_ + 1})")
                assert streamed.final is not None
                ask_ours.append(streamed)
                timings = streamed.final["timings"]
                server_ttft.append(timings["ttft_ms"])
                generating = (timings["total_ms"] - timings["ttft_ms"]) / 1000
                if timings["completion_tokens"] > 1 and generating > 0:
                    server_tps.append(timings["completion_tokens"] / generating)
                with sqlite3.connect(prepared.data_dir / "journal.sqlite3") as db:
                    (prompt_user,) = db.execute(
                        "SELECT prompt_user FROM turns WHERE id = ?",
                        (streamed.final["turn_id"],),
                    ).fetchone()
                prompt = renderer.render(
                    [Message("system", SYSTEM_PROMPT), Message("user", prompt_user)]
                )
                ask_peer.append(
                    stream_openai(
                        peer,
                        "/v1/completions",
                        {
                            "prompt": prompt,
                            "max_tokens": chat.max_tokens,
                            "temperature": chat.temperature,
                            "repeat_penalty": chat.repeat_penalty,
                            "seed": 0,
                            "stop": ["<|im_end|>", *SCAFFOLD_STOPS],
                        },
                    )
                )
    renderer.close()

    def med(results: list[Streamed], field: str) -> float:
        return median([getattr(r, field) for r in results])

    p_ttft, q_ttft = med(plain_ours, "ttft_ms"), med(plain_peer, "ttft_ms")
    p_tps, q_tps = med(plain_ours, "tokens_per_s"), med(plain_peer, "tokens_per_s")
    a_ttft, b_ttft = med(ask_ours, "ttft_ms"), med(ask_peer, "ttft_ms")
    print_table(
        f"HTTP latency vs llama_cpp.server, same GGUF, same run ({len(plain_ours)} plain chats, "
        f"{len(ask_ours)} questions; medians)",
        ["measure", "shiftmate serve", "llama_cpp.server", "ratio", "target"],
        [
            [
                "plain chat TTFT, streamed (ms)",
                p_ttft,
                q_ttft,
                f"{p_ttft / q_ttft:.2f}x",
                "<= 1.00x",
            ],
            ["plain chat tokens/s, streamed", p_tps, q_tps, f"{p_tps / q_tps:.2f}x", ">= 1.00x"],
            [
                "/v1/ask TTFT: retrieval + prompt + first model token (ms)",
                median(server_ttft),
                b_ttft,
                f"{median(server_ttft) / b_ttft:.2f}x",
                "<= 1.15x",
            ],
            [
                "/v1/ask first checked text at the client (ms)",
                a_ttft,
                b_ttft,
                f"{a_ttft / b_ttft:.2f}x",
                "-",
            ],
            [
                "/v1/ask tokens/s after the first (server-side vs peer)",
                median(server_tps),
                med(ask_peer, "tokens_per_s"),
                f"{median(server_tps) / med(ask_peer, 'tokens_per_s'):.2f}x",
                "~1x",
            ],
        ],
    )


if __name__ == "__main__":
    main()
