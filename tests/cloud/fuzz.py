"""Hypothesis strategies of bodies the receiver must refuse: garbage, near-valid batches with one
field broken, deep nesting, NaN and infinite numbers, lone surrogates, wrong types."""

from __future__ import annotations

import gzip
import json
from typing import Any

from hypothesis import strategies as st

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def valid_batch(site: str, token: str, records: int = 2) -> dict[str, Any]:
    """Return a valid batch of ``records`` small feedback records (keys ``fuzz-<n>``)."""
    return {
        "v": 1,
        "site": site,
        "token": token,
        "records": [
            {"key": f"fuzz-{n}", "kind": "feedback", "created_at": 1.0, "body": {"n": n}}
            for n in range(records)
        ],
    }


NOT_A_NUMBER = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
BROKEN_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "v": st.sampled_from([0, 2, "1", True, None, 1.5, [1]]),
    "site": st.sampled_from([None, 1, [], {}]),
    "token": st.sampled_from([None, 7, [], {}]),
    "records": st.sampled_from([None, {}, "records", 3]),
    "key": st.sampled_from(["", None, 5, [], "k" * 201]),
    "kind": st.sampled_from(["", None, 3, {}, "k" * 65]),
    "created_at": st.sampled_from(["1.0", True, False, None, [], {}]),
    "body": st.sampled_from([None, [], "body", 1, True]),
    "record": st.sampled_from([None, [], "record", 1]),
}


@st.composite
def broken_batch(draw: st.DrawFn, site: str, token: str) -> bytes:
    """A batch of the right site and token with exactly one thing wrong with it."""
    batch = valid_batch(site, token, draw(st.integers(1, 3)))
    index = draw(st.integers(0, len(batch["records"]) - 1))
    how = draw(st.sampled_from([*BROKEN_FIELDS, "not_a_number", "deep", "surrogate", "digits"]))
    text: str | None = None
    if how in ("v", "site", "token", "records"):
        batch[how] = draw(BROKEN_FIELDS[how])
    elif how == "record":
        batch["records"][index] = draw(BROKEN_FIELDS["record"])
    elif how in ("key", "kind", "created_at", "body"):
        batch["records"][index][how] = draw(BROKEN_FIELDS[how])
    elif how == "not_a_number":
        where = draw(st.sampled_from(["created_at", "body"]))
        batch["records"][index][where] = "@@"
        value = draw(NOT_A_NUMBER)
        text = json.dumps(batch).replace(
            '"@@"', value if where == "created_at" else f'{{"x": {value}}}'
        )
    elif how == "deep":
        depth = draw(st.integers(40, 5000))
        batch["records"][index]["body"] = {"x": "@@"}
        text = json.dumps(batch).replace('"@@"', "[" * depth + "]" * depth)
    elif how == "surrogate":
        batch["records"][index]["body"] = {"note": "@@"}
        text = json.dumps(batch).replace('"@@"', '"\\ud800 lone"')
    else:  # an integer JSON allows but Python will not read (over 4300 digits)
        batch["records"][index]["body"] = {"n": "@@"}
        text = json.dumps(batch).replace('"@@"', "7" * draw(st.integers(4301, 6000)))
    data = (text if text is not None else json.dumps(batch)).encode()
    return gzip.compress(data) if draw(st.booleans()) else data


def garbage() -> st.SearchStrategy[bytes]:
    """Bytes that are no batch at all: random bytes, random gzip, random JSON."""
    random_json = JSON_VALUES.map(lambda v: json.dumps(v).encode())
    return (
        st.binary(max_size=300)
        | st.binary(max_size=300).map(lambda b: b"\x1f\x8b" + b)
        | st.binary(max_size=300).map(gzip.compress)
        | random_json
        | random_json.map(gzip.compress)
    )


def refusable(site: str, token: str) -> st.SearchStrategy[bytes]:
    """Bodies from ``site`` (with its token where there is one) that must all be refused."""
    return garbage() | broken_batch(site, token)
