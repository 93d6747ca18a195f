"""The smoke test of a new model, run in a child process so a crash or a hang cannot hurt us.

``python -m assistant.updates.smoke MODEL.gguf`` loads the GGUF with ``models.chat.ChatModel``,
asks it the fixed question within ``SMOKE_MAX_TOKENS`` tokens (the answer must contain
``SMOKE_ANSWERS``) and prints one JSON line
(``answer``, ``completion_tokens``, ``load_ms``, ``total_ms``); it exits non-zero with the
error on stderr when the model does not load or gives no answer. The parent
(:func:`assistant.updates.install.smoke_test`) holds it to a time budget.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SMOKE_QUESTION = "What is 2 plus 2? Answer with one number."
SMOKE_ANSWERS = ("4", "four")
"""An answer must contain one of these (case-insensitive) to pass."""
SMOKE_MAX_TOKENS = 24
SMOKE_N_CTX = 512


def run(path: Path) -> dict[str, object]:
    """Load the model, ask the fixed question and return what happened; raise if it fails."""
    from models.chat import ChatModel
    from models.errors import ModelError
    from models.types import Message

    started = time.perf_counter()
    model = ChatModel(path, n_ctx=SMOKE_N_CTX, n_batch=64, seed=0)
    loaded = time.perf_counter()
    try:
        result = model.complete(
            [Message("user", SMOKE_QUESTION)], max_tokens=SMOKE_MAX_TOKENS, temperature=0.0
        )
    finally:
        model.close()
    answer = result.text.strip()
    if not answer:
        raise ModelError("the model gave an empty answer to the smoke question")
    if not any(expected in answer.lower() for expected in SMOKE_ANSWERS):
        raise ModelError(f"the model answered {SMOKE_QUESTION!r} with {answer[:80]!r}")
    return {
        "answer": answer,
        "completion_tokens": result.completion_tokens,
        "load_ms": round((loaded - started) * 1000, 1),
        "total_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the smoke test of the GGUF named on the command line; 0 when it passed."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m assistant.updates.smoke MODEL.gguf", file=sys.stderr)
        return 2
    try:
        outcome = run(Path(args[0]))
    except Exception as exc:  # every failure is a failed smoke test, reported to the parent
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
