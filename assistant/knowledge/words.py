"""The words of a text as search and the answer checks see them: lower-cased, no stop words."""

from __future__ import annotations

import re

WORD = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_STOPWORD_TEXT = (
    "a an the and or of to in on at for by with from is are was were be been it its this that "
    "these those as if then than so not no do does should must can may will you your we our "
    "there their they he she them his her which what when where who how also into out up"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def content_words(text: str) -> set[str]:
    """Return the lower-cased content words of a text (no stop words)."""
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS}
