"""Answer latency: time to first token and tokens/s of ``ask``, against raw llama-cpp-python.

For each question, with the model's cache reset (cold):
  * ``ask`` end to end (retrieval, prompt layout, generation, checks, journal), then
  * the peer: a separate raw ``llama_cpp.Llama`` on the same GGUF, cache reset, given the
    identical rendered prompt with the same sampling settings.
Then a follow-up question in the same conversation: warm (llama.cpp reuses the evaluated
prefix, which the prompt layout keeps stable) against the identical follow-up prompt cold.

Targets: ask TTFT within 1.15x of raw; follow-up at least 4x faster to first token than cold.

    .venv/bin/python -m benchmarks.answer_latency [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from assistant.chat.prompt import SYSTEM_PROMPT
from benchmarks.common import SAMPLE_PLANT, median, print_table, temp_services
from models.types import Message

PAIRS = [
    ("How do I lock out pump P-101?", "Which valves are closed during that lockout?"),
    ("When should strainer ST-101 be cleaned?", "How long does the cleaning take?"),
    (
        "What are the load and unload pressures of C-3?",
        "What happens at the high temperature alarm?",
    ),
    ("What is the grease quantity for the P-101 bearings?", "How often is that done?"),
]


def raw_generate(
    llm: Any, prompt: str, max_tokens: int, temperature: float, seed: int, penalty: float
) -> tuple[float, float, int]:
    """Return (ttft_ms, total_ms, tokens) for a raw streamed completion, cold."""
    llm.reset()
    started = time.perf_counter()
    first = None
    tokens = 0
    for piece in llm.create_completion(
        prompt=prompt,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        stream=True,
        stop=["<|im_end|>"],
        repeat_penalty=penalty,
    ):
        if first is None:
            first = time.perf_counter()
        if piece["choices"][0]["text"]:
            tokens += 1
    done = time.perf_counter()
    return ((first or done) - started) * 1000, (done - started) * 1000, tokens


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    services = temp_services()
    services.ingestor.ingest([SAMPLE_PLANT])
    chat, model = services.chat, services.chat_model
    from llama_cpp import Llama

    m = services.settings.models
    peer = Llama(
        model_path=str(model.path),
        n_ctx=m.n_ctx,
        n_threads=m.n_threads,
        n_batch=m.n_batch,
        seed=m.seed,
        verbose=False,
    )
    c = services.settings.chat
    ours_ttft, raw_ttft, ours_tps, raw_tps = [], [], [], []
    warm_ttft, cold_follow_ttft, first_ttft, prompt_sizes = [], [], [], []
    for _ in range(args.rounds):
        for first_q, follow_q in PAIRS:
            model.reset_cache()
            answer = chat.ask(first_q)
            turns = services.journal.turns(answer.conversation_id)
            prompt = model.render(
                [Message("system", SYSTEM_PROMPT), Message("user", turns[0].prompt_user)]
            )
            r_ttft, r_total, r_tokens = raw_generate(
                peer, prompt, c.max_tokens, c.temperature, m.seed, c.repeat_penalty
            )
            t = answer.timings
            ours_ttft.append(t.ttft_ms)
            first_ttft.append(t.ttft_ms)
            raw_ttft.append(r_ttft)
            if t.completion_tokens > 1:
                ours_tps.append(t.completion_tokens / max(t.total_ms - t.ttft_ms, 1e-6) * 1000)
            if r_tokens > 1:
                raw_tps.append(r_tokens / max(r_total - r_ttft, 1e-6) * 1000)

            follow = chat.ask(follow_q, answer.conversation_id)  # warm: prefix reused
            warm_ttft.append(follow.timings.ttft_ms)
            turns = services.journal.turns(answer.conversation_id)
            follow_prompt = model.render(
                [
                    Message("system", SYSTEM_PROMPT),
                    Message("user", turns[0].prompt_user),
                    Message("assistant", turns[0].raw_answer),
                    Message("user", turns[1].prompt_user),
                ]
            )
            cold_ttft, _, _ = raw_generate(
                peer, follow_prompt, c.max_tokens, c.temperature, m.seed, c.repeat_penalty
            )
            cold_follow_ttft.append(cold_ttft)
            prompt_sizes.append(follow.timings.prompt_tokens)

    n = len(ours_ttft)
    print_table(
        f"Answer latency, default model, {n} questions + {n} follow-ups (medians)",
        ["measure", "shiftmate", "peer", "ratio", "target"],
        [
            [
                "TTFT, cold question (ms)",
                median(ours_ttft),
                median(raw_ttft),
                f"{median(ours_ttft) / median(raw_ttft):.2f}x of raw",
                "<= 1.15x",
            ],
            [
                "tokens/s after first token",
                median(ours_tps),
                median(raw_tps),
                f"{median(ours_tps) / median(raw_tps):.2f}x of raw",
                "~1x",
            ],
            [
                f"follow-up TTFT vs same prompt cold (ms, {median(prompt_sizes):.0f} tok)",
                median(warm_ttft),
                median(cold_follow_ttft),
                f"{median(cold_follow_ttft) / median(warm_ttft):.1f}x faster",
                ">= 4x",
            ],
            [
                "follow-up TTFT vs first question cold (ms)",
                median(warm_ttft),
                median(first_ttft),
                f"{median(first_ttft) / median(warm_ttft):.1f}x faster",
                "-",
            ],
        ],
    )


if __name__ == "__main__":
    main()
