"""What the assistant uses of a chat model, whichever backend runs it.

``ChatModel`` (llama-cpp-python in-process) and ``ServerChatModel`` (an OpenAI-compatible
inference server) both satisfy :class:`ChatBackend`; the callers (chat, the OpenAI-style API,
work-order drafting, sync summaries, the TUI) are typed against it, never against either class.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from models.types import Completion, Message


@runtime_checkable
class ChatBackend(Protocol):
    """A chat model: renders prompts, counts their tokens, streams and completes answers.

    ``lock`` is held while a generation runs (the TUI shows the model busy while it is
    locked); ``stream_prompt`` returns a generator, and closing it stops the generation.
    """

    name: str
    lock: threading.Lock

    @property
    def n_ctx(self) -> int:
        """Return the context window in tokens."""
        ...

    def render(self, messages: Sequence[Message]) -> str:
        """Render messages in the model's chat format, ending with the assistant's turn."""
        ...

    def count_tokens(self, text: str) -> int:
        """Return how many tokens the model's tokenizer makes of a text."""
        ...

    def stream_prompt(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        temperature: float = 0.2,
        stop: Sequence[str] = (),
        json_schema: Mapping[str, Any] | None = None,
        cancel: threading.Event | None = None,
        repeat_penalty: float = 1.0,
    ) -> Generator[str, None, None]:
        """Yield text pieces for an already rendered prompt; closing it stops generation."""
        ...

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.2,
        stop: Sequence[str] = (),
        json_schema: Mapping[str, Any] | None = None,
    ) -> Completion:
        """Generate a whole answer and return it with token counts and timings."""
        ...

    def complete_json(
        self,
        messages: Sequence[Message],
        schema: Mapping[str, Any],
        *,
        max_tokens: int = 512,
        temperature: float = 0.2,
    ) -> Any:
        """Generate JSON constrained by a JSON schema and parse it."""
        ...
