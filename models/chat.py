"""A local chat model over llama-cpp-python: any GGUF, its own chat format, one call at a time.

The prompt is rendered here (from the GGUF's chat template, a format guessed from its metadata,
or a named llama-cpp-python format; see ``models.chat_format``) and sent as a plain completion,
so callers can count its tokens exactly and so llama.cpp can reuse the evaluated prefix of the
previous call (it keeps the KV cache of the longest common prefix). Message content can never
inject the template's control tokens: they are removed from it first (``models.special_tokens``).
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from models.chat_format import MARKERS, ChatFormat, select_chat_format
from models.errors import ModelError
from models.gguf import check_gguf
from models.special_tokens import SpecialTexts, control_token_texts
from models.types import Completion, Message


class GenerationCancelled(ModelError):
    """The caller asked generation to stop before it finished."""


class PromptFormat:
    """A GGUF's chat format and tokenizer: renders messages and counts their tokens exactly.

    Shared by the in-process ``ChatModel`` and the ``ServerChatModel`` (which loads only the
    GGUF's vocabulary), so both build the same prompt, token for token.
    """

    def __init__(self, llm: Any, *, chat_format: str | None = None) -> None:
        """Choose the chat format of a loaded ``llama_cpp.Llama`` (full or ``vocab_only``)."""
        self._llm = llm
        metadata: Mapping[str, str] = llm.metadata
        eot = metadata.get("tokenizer.ggml.eot_token_id", "")
        self.chat_format: ChatFormat = select_chat_format(
            metadata,
            tokens=[marker for marker in MARKERS if self._is_one_token(marker)],
            bos_token=self._token_text(llm.token_bos()),
            eos_token=self._token_text(llm.token_eos()),
            extra_stops=[self._token_text(int(eot))] if eot.isdigit() else [],
            chat_format=chat_format,
        )
        self.template_source = self.chat_format.source
        self.stops: tuple[str, ...] = tuple(self.chat_format.stops)
        """The stop strings every generation uses (end of turn, EOS)."""
        self.special = SpecialTexts([*control_token_texts(llm), *self.chat_format.markers])
        """The control-token texts and format markers message content is cleared of."""

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return str(self._llm.detokenize([token], special=True).decode("utf-8", errors="ignore"))

    def _is_one_token(self, text: str) -> bool:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)) == 1

    def render(self, messages: Sequence[Message]) -> str:
        """Render messages in the chat format, ending with the assistant's turn.

        Each message's content is neutralised first (its control-token texts replaced by
        spaces), so only the template's own markers are special in the prompt.
        """
        return self.chat_format.render(
            [Message(m.role, self.special.strip(m.content)) for m in messages]
        )

    def tokens(self, text: str, *, add_bos: bool = False) -> list[int]:
        """Return the token ids of a text, special tokens parsed as generation parses a prompt."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))


class PromptModel(ABC):
    """What every chat backend shares: rendering, token counts, ``complete`` and JSON output.

    A subclass sets ``name``, ``lock`` and ``prompt_format`` and implements ``n_ctx`` and
    ``stream_prompt``.
    """

    name: str
    lock: threading.Lock
    prompt_format: PromptFormat

    @property
    @abstractmethod
    def n_ctx(self) -> int:
        """Return the context window in tokens."""

    @property
    def chat_format(self) -> ChatFormat:
        """Return the chosen chat format."""
        return self.prompt_format.chat_format

    @property
    def template_source(self) -> str:
        """Return where the chat format came from (setting, gguf, metadata, fallback)."""
        return self.prompt_format.template_source

    @property
    def special(self) -> SpecialTexts:
        """Return the control-token texts and format markers message content is cleared of."""
        return self.prompt_format.special

    @property
    def stops(self) -> tuple[str, ...]:
        """Return the stop strings every generation uses (end of turn, EOS)."""
        return self.prompt_format.stops

    def render(self, messages: Sequence[Message]) -> str:
        """Render messages in the model's chat format, ending with the assistant's turn.

        Each message's content is neutralised first (its control-token texts replaced by
        spaces), so only the template's own markers are special in the prompt.
        """
        return self.prompt_format.render(messages)

    def tokens(self, text: str) -> list[int]:
        """Return the token ids of a text, special tokens parsed as generation parses a prompt.

        So a rendered prompt gives exactly what ``stream_prompt`` evaluates (less the BOS token
        llama.cpp may put in front).
        """
        return self.prompt_format.tokens(text)

    def count_tokens(self, text: str) -> int:
        """Return how many tokens the model's tokenizer makes of a text (see ``tokens``)."""
        return len(self.tokens(text))

    def check_budget(self, prompt: str, max_tokens: int) -> None:
        """Raise ModelError when the prompt and the answer together exceed the context."""
        prompt_tokens = self.count_tokens(prompt)
        if prompt_tokens + max_tokens > self.n_ctx:
            raise ModelError(
                f"prompt of {prompt_tokens} tokens plus {max_tokens} for the answer exceeds "
                f"the context window of {self.n_ctx} tokens"
            )

    @abstractmethod
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

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.2,
        stop: Sequence[str] = (),
        json_schema: Mapping[str, Any] | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer's text pieces as they are generated."""
        yield from self.stream_prompt(
            self.render(messages),
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            json_schema=json_schema,
            cancel=cancel,
        )

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
        prompt = self.render(messages)
        started = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        for piece in self.stream_prompt(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            json_schema=json_schema,
        ):
            if first is None:
                first = time.perf_counter()
            parts.append(piece)
        done = time.perf_counter()
        text = "".join(parts)
        completion_tokens = self.count_tokens(text) if text else 0
        return Completion(
            text=text,
            prompt_tokens=self.count_tokens(prompt),
            completion_tokens=completion_tokens,
            ttft_ms=((first or done) - started) * 1000,
            total_ms=(done - started) * 1000,
            finish_reason="length" if completion_tokens >= max_tokens else "stop",
        )

    def complete_json(
        self,
        messages: Sequence[Message],
        schema: Mapping[str, Any],
        *,
        max_tokens: int = 512,
        temperature: float = 0.2,
    ) -> Any:
        """Generate JSON constrained by a JSON schema (llama.cpp grammar) and parse it."""
        result = self.complete(
            messages, max_tokens=max_tokens, temperature=temperature, json_schema=schema
        )
        try:
            # strict=False: a raw tab or newline inside a string is text, not an error
            return json.loads(result.text, strict=False)
        except json.JSONDecodeError as exc:
            # re-tokenising the text may count a few tokens fewer than were generated
            cut = result.finish_reason == "length" or result.completion_tokens >= max_tokens - 8
            where = (
                f"the answer was cut at max_tokens ({max_tokens}); raise it"
                if cut
                else f"after {result.completion_tokens} tokens"
            )
            raise ModelError(
                f"constrained output did not parse as JSON ({exc.msg} at character {exc.pos}); "
                + where
            ) from exc


class ChatModel(PromptModel):
    """One loaded GGUF model; every generation holds its lock, so calls run one at a time."""

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 256,
        seed: int = 0,
        name: str | None = None,
        chat_format: str | None = None,
    ) -> None:
        """Load a GGUF; ``chat_format`` names a llama-cpp-python format (None: from metadata)."""
        check_gguf(path)
        from llama_cpp import Llama

        try:
            self._llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_batch=n_batch,
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp could not load {path}: {exc}") from exc
        self.path = path
        self.name = name or path.stem
        self.seed = seed
        self.lock = threading.Lock()
        try:
            self.prompt_format = PromptFormat(self._llm, chat_format=chat_format)
        except ModelError:
            self._llm.close()
            raise

    def reset_cache(self) -> None:
        """Forget the evaluated prefix, so the next prompt is evaluated from scratch (cold)."""
        with self.lock:
            self._llm.reset()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Free the model's memory now rather than at interpreter exit."""
        with self.lock:
            self._llm.close()

    @property
    def n_ctx(self) -> int:
        """Return the context window in tokens."""
        return int(self._llm.n_ctx())

    @property
    def metadata(self) -> Mapping[str, str]:
        """Return the GGUF metadata key/values."""
        return dict(self._llm.metadata)

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
        """Yield text pieces for an already rendered prompt (the lock is held while iterating).

        Closing the iterator early stops generation and frees the model.
        """
        self.check_budget(prompt, max_tokens)
        grammar = None
        if json_schema is not None:
            from llama_cpp.llama_grammar import LlamaGrammar

            grammar = LlamaGrammar.from_json_schema(json.dumps(json_schema), verbose=False)
        with self.lock:
            pieces = self._llm.create_completion(
                prompt=prompt,
                max_tokens=max_tokens,
                temperature=temperature,
                stop=[*self.stops, *stop],
                stream=True,
                seed=self.seed,
                grammar=grammar,
                repeat_penalty=repeat_penalty,
            )
            try:
                for piece in pieces:
                    if cancel is not None and cancel.is_set():
                        raise GenerationCancelled("generation cancelled")
                    text = piece["choices"][0]["text"]  # type: ignore[index]
                    if text:
                        yield str(text)
            finally:
                close = getattr(pieces, "close", None)
                if close is not None:
                    close()
