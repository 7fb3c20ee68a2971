import pytest

from apikeys import keyformat


def test_a_new_key_is_well_formed_and_has_lowercase_letters():
    key_id = keyformat.new_key_id()
    raw = keyformat.new_key(key_id)
    assert raw.startswith(f"sak_{key_id}_")
    assert len(raw) == keyformat.KEY_LENGTH
    assert any(c.islower() for c in raw)
    assert keyformat.parse(raw) == keyformat.ParsedKey(key_id=key_id, raw=raw)


def test_key_ids_always_hold_a_letter():
    assert all(any(c.isalpha() for c in keyformat.new_key_id()) for _ in range(500))


def test_secrets_carry_at_least_160_bits():
    import math

    assert keyformat.SECRET_LENGTH * math.log2(len(keyformat.BASE62)) >= 160


def test_keys_are_unique():
    key_id = keyformat.new_key_id()
    assert len({keyformat.new_key(key_id) for _ in range(1000)}) == 1000


def tampered(raw: str, index: int) -> str:
    replacement = "A" if raw[index] != "A" else "B"
    if raw[index].islower() and index < 4 + keyformat.KEY_ID_LENGTH:
        replacement = "a" if raw[index] != "a" else "b"
    return raw[:index] + replacement + raw[index + 1 :]


@pytest.mark.parametrize("index", [5, 10, 20, 30, 40, -3, -1])
def test_a_tampered_key_fails_the_checksum(index):
    raw = keyformat.new_key(keyformat.new_key_id())
    assert keyformat.parse(tampered(raw, index)) is None


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "sak_",
        "not a key",
        "SAK_ABCDEFGHIJKL_" + "A" * 38,
        "ghp_abcdefghijkl_" + "a" * 38,
    ],
)
def test_malformed_keys_are_refused(raw):
    assert keyformat.parse(raw) is None


def test_truncated_and_extended_keys_are_refused():
    raw = keyformat.new_key(keyformat.new_key_id())
    assert keyformat.parse(raw[:-1]) is None
    assert keyformat.parse(raw + "x") is None
    assert keyformat.parse(raw[1:]) is None


def test_the_digest_is_keyed_by_the_pepper(settings):
    raw = keyformat.new_key(keyformat.new_key_id())
    first = keyformat.digest(raw)
    assert raw not in first
    assert keyformat.matches(raw, first)
    settings.API_KEY_PEPPER = "another pepper"
    assert not keyformat.matches(raw, first)
