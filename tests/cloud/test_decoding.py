"""The batch decoder, fuzzed: whatever it is given it returns a batch or raises ValueError,
never anything else, and every body the receiver must refuse is refused."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.schema.sync import decode_batch, encode_batch
from tests.cloud.fuzz import JSON_VALUES, refusable
from tests.sync.conftest import SITE, TOKEN

FUZZ = settings(
    max_examples=1000,
    deadline=None,
    database=None,  # no .hypothesis folder in the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(body=refusable(SITE, TOKEN))
def test_every_refusable_body_raises_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode_batch(body, 1_000_000, 32)


@FUZZ
@given(body=st.binary(max_size=2000))
def test_random_bytes_raise_value_error_only(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode_batch(body, 1_000_000, 32)


@dataclass(frozen=True)
class _Out:
    key: str
    kind: str
    created_at: float
    body: str


FINITE_JSON = JSON_VALUES.filter(
    lambda v: not any(isinstance(x, float) and not math.isfinite(x) for x in _leaves(v))
)


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@settings(max_examples=300, deadline=None, database=None)
@given(
    records=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=200),
            st.text(min_size=1, max_size=64),
            st.floats(allow_nan=False, allow_infinity=False),
            st.dictionaries(st.text(max_size=8), FINITE_JSON, max_size=4),
        ),
        max_size=5,
    )
)
def test_valid_batches_decode_to_what_was_encoded(
    records: list[tuple[str, str, float, dict[str, object]]],
) -> None:
    out = [_Out(k, kind, at, json.dumps(body)) for k, kind, at, body in records]
    batch = decode_batch(encode_batch(SITE, TOKEN, out), 10_000_000, 32)
    assert (batch.site, batch.token) == (SITE, TOKEN)
    assert [(r.key, r.kind, r.created_at, r.body) for r in batch.records] == [
        (k, kind, at, json.loads(json.dumps(body))) for k, kind, at, body in records
    ]
