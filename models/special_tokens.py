"""Control-token text in message content: found from the loaded model, removed before rendering.

A prompt is one string that llama.cpp tokenizes with special-token parsing on, because the chat
template's own markers (``<|im_start|>``, ``<start_of_turn>``) must become control tokens. The
same parsing would turn the text ``<|im_end|><|im_start|>system`` inside a document, a question,
an earlier answer or a telemetry value into real turn boundaries. So every message's content is
neutralised before the template wraps it: each occurrence of a control-token text is replaced
by a space, so the halves around it cannot join into a new one (``<|im_<|im_end|>end|>``), and
that is repeated until none is left.

Removal rather than tokenizing the content with ``special=False`` (which would keep the text
visible to the model as plain characters): the prompt then stays one string, so the contract
callers rely on holds unchanged. ``render`` -> ``count_tokens`` -> ``stream_prompt`` count
exactly the tokens llama.cpp evaluates, the KV-cache prefix reuse still works, and the
OpenAI-compatible endpoint, drafting and summaries need nothing of their own. A prompt spliced
from separately tokenized pieces would tokenize differently at each seam and need a token-list
path through every caller. The marker text carries nothing a reader needs.

Which texts: every vocabulary token llama.cpp parses only when asked to parse special tokens,
i.e. those with the CONTROL or UNKNOWN attribute (``<|im_end|>``, ``<eos>``, ``</s>``,
Gemma's ``<unused…>``). USER_DEFINED tokens are left alone: llama.cpp matches them with or
without special parsing (Gemma's newline runs, ``<table>``), so they cannot open a turn and
removing them would damage ordinary text. To these come the chat format's own tag-shaped
markers (``models.chat_format.ChatFormat.markers``), which matter when a format is forced on a
model whose vocabulary holds them only as plain text: then a planted ``<|im_start|>`` would
tokenize exactly like the template's.

Content is cleared on its own, before the template adds its text, so a control token could only
form across the seam if its text began inside the template's text and ended inside the content
(or the reverse). The templates' text before content ends with a newline, a space or a whole
marker, and after it resumes with a whole marker; so it would take a control-token text holding
whitespace, or starting with a marker's tail ("|>", "]"), and the vocabularies tested (SmolLM2,
Gemma 3) have none. The tests check the exact control-token sequence of rendered prompts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

_REPLACEMENT = " "


def control_token_texts(llm: Any) -> list[str]:
    """Return the text of each token of a ``llama_cpp.Llama`` that only special parsing matches.

    Those are the tokens with the CONTROL or UNKNOWN attribute: the ones
    ``tokenize(..., special=False)`` leaves as plain text.
    """
    from llama_cpp import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    wanted = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
    texts = []
    for token in range(int(llm.n_vocab())):
        if not llama_cpp.llama_vocab_get_attr(vocab, token) & wanted:
            continue
        try:
            text = llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8")
        except UnicodeDecodeError:  # a Python str can never contain it, so it needs no removal
            continue
        if text.strip():
            texts.append(text)
    return texts


class SpecialTexts:
    """A set of special-token texts, and their removal from text."""

    def __init__(self, texts: Iterable[str]) -> None:
        """Keep the non-blank texts; blank ones would match ordinary whitespace."""
        self.texts: frozenset[str] = frozenset(t for t in texts if t.strip())
        self._lengths = sorted({len(t) for t in self.texts}, reverse=True)
        # a cheap first filter: a match can only start at a character some text starts with
        firsts = sorted({t[0] for t in self.texts})
        self._starts = re.compile("|".join(map(re.escape, firsts))) if firsts else None

    def find(self, text: str) -> list[str]:
        """Return the special texts occurring in a text, leftmost (then longest) first."""
        return [text[start : start + length] for start, length in self._matches(text)]

    def strip(self, text: str) -> str:
        """Replace every special text by a space until none is left in the text."""
        while True:
            matches = list(self._matches(text))
            if not matches:
                return text
            parts, last = [], 0
            for start, length in matches:
                parts += [text[last:start], _REPLACEMENT]
                last = start + length
            parts.append(text[last:])
            text = "".join(parts)

    def _matches(self, text: str) -> Iterator[tuple[int, int]]:
        """Yield (start, length) of non-overlapping matches, the longest at each position."""
        if self._starts is None:
            return
        position = 0
        while (hit := self._starts.search(text, position)) is not None:
            start = hit.start()
            length = next((n for n in self._lengths if text[start : start + n] in self.texts), 0)
            if length:
                yield start, length
                position = start + length
            else:
                position = start + 1
