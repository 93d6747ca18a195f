"""Chat formats: how a model's messages become one prompt string, and where its turns stop.

The format is chosen in this order:

1. a format named by the caller (``models.chat_format``): one of llama-cpp-python's registered
   formats ("gemma", "chatml", "llama-2", "llama-3", "mistral-instruct", ...);
2. the GGUF's own Jinja template (``tokenizer.chat_template``);
3. a guess from the GGUF's metadata: the turn markers its vocabulary holds as single tokens
   (``<start_of_turn>``, ``<|start_header_id|>``, ``[INST]``, ``<|im_start|>``), then
   ``general.architecture`` / ``general.name``;
4. ChatML, which most small instruct models use.

Some of llama-cpp-python's formats drop system messages (Gemma has no system role, the Mistral
format only knows user and assistant); for those the system text is put at the head of the
first user message, as Gemma's own template does, so instructions are never lost.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from models.errors import ModelError
from models.types import Message

Source = Literal["setting", "gguf", "metadata", "fallback"]

FALLBACK_FORMAT = "chatml"

# Turn markers whose presence in the vocabulary (as one token) identifies a format; first wins.
MARKER_FORMATS: tuple[tuple[str, str], ...] = (
    ("<start_of_turn>", "gemma"),
    ("<|start_header_id|>", "llama-3"),
    ("[INST]", "mistral-instruct"),
    ("<|im_start|>", "chatml"),
)
MARKERS: tuple[str, ...] = tuple(marker for marker, _ in MARKER_FORMATS)

# Patterns over "architecture name basename" (lower case) for models without such markers.
NAME_FORMATS: tuple[tuple[str, str], ...] = (
    (r"gemma", "gemma"),
    (r"llama[-_ ]?3", "llama-3"),
    (r"mistral|mixtral", "mistral-instruct"),
    (r"llama[-_ ]?2", "llama-2"),
    (r"qwen|smollm", "chatml"),
)

_SYSTEM_PROBE = "\x00system-probe\x00"
_TURN_PROBE = "\x00turn-probe\x00"

# Tag-shaped text in a template: "<|im_start|>", "<start_of_turn>", "<<SYS>>", "[INST]", "</s>".
_TAG = re.compile(r"<<?/?[^<>\s]+>>?|\[/?[A-Za-z_]+\]")

Formatter = Callable[..., Any]
"""A llama-cpp-python chat formatter: ``formatter(messages=[...])`` -> ChatFormatterResponse."""


def _registered_formatter(name: str) -> Formatter | None:
    """Return the prompt formatter llama-cpp-python registered under a name, if it is one.

    ``register_chat_format`` wraps each formatter into a completion handler; the formatter is
    the handler's ``chat_formatter`` closure variable. Handlers registered directly (function
    calling, multimodal) have none and are not prompt formats.
    """
    from llama_cpp import llama_chat_format

    try:
        handler = llama_chat_format.get_chat_completion_handler(name)
    except llama_chat_format.LlamaChatCompletionHandlerNotFoundException:
        return None
    formatter = inspect.getclosurevars(handler).nonlocals.get("chat_formatter")
    return formatter if callable(formatter) else None


def known_chat_formats() -> tuple[str, ...]:
    """Return the names of llama-cpp-python's registered chat formats, sorted."""
    from llama_cpp import llama_chat_format

    # the registry keeps its names in a class-level dict and offers no public listing
    names = list(llama_chat_format.LlamaChatCompletionHandlerRegistry._chat_handlers)
    return tuple(sorted(n for n in names if _registered_formatter(n) is not None))


def unknown_format_message(name: str) -> str:
    """Return the message for a chat format name llama-cpp-python does not know."""
    return f"unknown chat format {name!r}; known formats: {', '.join(known_chat_formats())}"


def guess_chat_format(metadata: Mapping[str, str], tokens: Collection[str]) -> str | None:
    """Return the format a GGUF without a chat template most likely uses, or None.

    ``tokens`` are the ``MARKERS`` the model's vocabulary holds as single tokens.
    """
    for marker, name in MARKER_FORMATS:
        if marker in tokens:
            return name
    keys = ("general.architecture", "general.name", "general.basename")
    text = " ".join(metadata.get(key, "") for key in keys).lower()
    for pattern, name in NAME_FORMATS:
        if re.search(pattern, text):
            return name
    return None


def _as_stops(stop: str | Sequence[str] | None) -> list[str]:
    values = [stop] if isinstance(stop, str) else list(stop or ())
    # "<end_of_turn>\n" would miss "<end_of_turn>" at the very end; keep "\n"-only stops whole.
    return [value.strip() or value for value in values if value]


@dataclass(frozen=True, slots=True)
class ChatFormat:
    """A chosen chat format: renders messages to a prompt ending with the assistant's turn."""

    name: str
    """The llama-cpp-python format name, or "gguf" for the file's own template."""
    source: Source
    stops: tuple[str, ...]
    """Stop strings that end the assistant's turn (the end-of-turn marker, EOS, EOT)."""
    fold_system: bool
    """Whether system messages are put into the first user message (the format drops them)."""
    markers: tuple[str, ...]
    """The tag-shaped turn markers the format writes around messages ("<|im_start|>", ...)."""
    formatter: Formatter = field(repr=False)

    def render(self, messages: Sequence[Message]) -> str:
        """Render messages into a prompt that ends where the assistant's answer begins."""
        items = [{"role": m.role, "content": m.content} for m in messages]
        if self.fold_system:
            items = _folded(items)
        return str(_format(self.formatter, items, self.name).prompt)


def _format(formatter: Formatter, items: list[dict[str, str]], name: str) -> Any:
    """Call a formatter; a template that refuses the messages raises ModelError."""
    from jinja2 import TemplateError

    try:
        return formatter(messages=items)
    except (TemplateError, ValueError, TypeError, KeyError) as exc:
        raise ModelError(f"chat format {name!r} cannot render these messages: {exc}") from exc


def _folded(items: list[dict[str, str]]) -> list[dict[str, str]]:
    """Put the system messages' text at the head of the first user message."""
    system = "\n\n".join(m["content"] for m in items if m["role"] == "system")
    rest = [m for m in items if m["role"] != "system"]
    if not system:
        return rest
    for index, item in enumerate(rest):
        if item["role"] == "user":
            rest[index] = {"role": "user", "content": f"{system}\n\n{item['content']}"}
            return rest
    return [{"role": "user", "content": system}, *rest]


def _build(
    name: str, source: Source, formatter: Formatter, extra_stops: Sequence[str]
) -> ChatFormat:
    """Probe the formatter once: does it keep a system message, and what are its stops."""
    user = {"role": "user", "content": "?"}
    try:
        probe = _format(formatter, [{"role": "system", "content": _SYSTEM_PROBE}, user], name)
        fold_system = _SYSTEM_PROBE not in str(probe.prompt)
    except ModelError:  # a template that raises on a system role (Mistral's do)
        probe = _format(formatter, [user], name)
        fold_system = True
    stops = dict.fromkeys([*_as_stops(probe.stop), *(s for s in extra_stops if s)])
    return ChatFormat(
        name=name,
        source=source,
        stops=tuple(stops),
        fold_system=fold_system,
        markers=_markers(formatter, name, fold_system, stops),
        formatter=formatter,
    )


def _markers(
    formatter: Formatter, name: str, fold_system: bool, stops: Collection[str]
) -> tuple[str, ...]:
    """Return the tag-shaped text a format writes around a conversation's messages, and its stops.

    Plain-text headings ("### Response:") are not markers here: removing them from documents
    would damage ordinary text.
    """
    roles = ("system", "user", "assistant", "user")
    items = [{"role": role, "content": _TURN_PROBE} for role in roles]
    try:
        prompt = str(_format(formatter, _folded(items) if fold_system else items, name).prompt)
    except ModelError:  # a template with rules on the turn order: one user turn is enough
        prompt = str(_format(formatter, [{"role": "user", "content": _TURN_PROBE}], name).prompt)
    text = "\n".join([*prompt.split(_TURN_PROBE), *stops])
    return tuple(dict.fromkeys(match.group(0) for match in _TAG.finditer(text)))


def select_chat_format(
    metadata: Mapping[str, str],
    *,
    tokens: Collection[str],
    bos_token: str,
    eos_token: str,
    extra_stops: Sequence[str] = (),
    chat_format: str | None = None,
) -> ChatFormat:
    """Choose the chat format: the named one, else the GGUF's template, else a guess, else ChatML.

    ``tokens`` are the ``MARKERS`` the vocabulary holds as single tokens; ``extra_stops`` (the
    EOS and end-of-turn token texts) are added to the format's own stops.
    """
    stops = [eos_token, *extra_stops]
    if chat_format is not None:
        formatter = _registered_formatter(chat_format)
        if formatter is None:
            raise ModelError(unknown_format_message(chat_format))
        return _build(chat_format, "setting", formatter, stops)
    template = metadata.get("tokenizer.chat_template")
    if template:
        from llama_cpp import llama_chat_format

        jinja = llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=eos_token, bos_token=bos_token
        )
        return _build("gguf", "gguf", jinja, stops)
    guessed = guess_chat_format(metadata, tokens)
    name = guessed or FALLBACK_FORMAT
    source: Source = "metadata" if guessed else "fallback"
    formatter = _registered_formatter(name)
    if formatter is None:  # pragma: no cover - llama-cpp-python renamed a format we rely on
        raise ModelError(unknown_format_message(name))
    return _build(name, source, formatter, stops)
