"""The JSON parser every route shares: whatever bytes arrive, it either hands on a value that
PostgreSQL can store and any client can read back (finite numbers, text without NUL or lone
surrogates, bounded depth), or refuses the body with a 4xx; it never passes the problem on."""

import io
import json
import math

from hypothesis import given
from hypothesis import strategies as st
from rest_framework.exceptions import APIException, ValidationError

from core.parsers import SafeJSONParser
from core.storable import NOT_FINITE

# Any float, infinities included, written as the literal a client would send: `1e999` and
# `-1e999` overflow to infinity when parsed (the literals Infinity and NaN are not JSON).
floats = st.floats(allow_nan=False)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), floats, st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=20,
)


def write(value) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    if isinstance(value, list):
        return "[" + ",".join(write(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{write(item)}" for key, item in value.items()) + "}"
    return json.dumps(value)


def parse(raw: str):
    return SafeJSONParser().parse(io.BytesIO(raw.encode("utf-8", "surrogatepass")))


def storable(value) -> bool:
    try:
        json.dumps(value, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return False
    return "\\u0000" not in json.dumps(value)


@given(st.dictionaries(st.text(max_size=4), values, max_size=4))
def test_the_parser_hands_on_only_what_can_be_stored(body):
    raw = write(body)
    try:
        parsed = parse(raw)
    except APIException as refused:
        assert 400 <= refused.status_code < 500
        return
    assert storable(parsed)


@given(st.sampled_from(["1e999", "-1e999", "1.5e400", "-2E+309"]), st.sampled_from(["a", "nested.deeper"]))
def test_a_number_that_overflows_is_refused_naming_its_field(literal, where):
    first, *rest = where.split(".")
    inner = literal
    for name in reversed(rest):
        inner = f'{{"{name}": [{inner}]}}'
    try:
        parse(f'{{"{first}": {inner}, "ok": 1}}')
    except ValidationError as refused:
        assert first in refused.detail
        assert NOT_FINITE in str(refused.detail[first][0])
    else:
        raise AssertionError(f"{literal} was accepted")


def test_large_finite_numbers_are_kept():
    assert parse('{"a": 1.7976931348623157e308, "b": -1e-400, "c": 123456789012345678901234567890}') == {
        "a": 1.7976931348623157e308,
        "b": -0.0,
        "c": 123456789012345678901234567890,
    }
