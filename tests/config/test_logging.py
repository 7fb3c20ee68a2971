import itertools
import logging
import math

import pytest

from apikeys import keyformat
from core.redaction import REDACTED, RedactSecrets, looks_random, redact

SECRET = "sak_abcdefghijk1_" + "A1" * 19


def test_secrets_are_redacted_from_query_strings_and_text():
    line = f'"GET /acme/api-keys?includeFolders=true&api_key={SECRET} HTTP/1.1" 200 512'
    cleaned = redact(line)
    assert SECRET not in cleaned
    assert "api_key=[redacted]" in cleaned
    assert redact(f"key {SECRET} leaked") == "key sak_abcdefghijk1_[redacted] leaked"


def test_a_secret_part_pasted_without_its_prefix_is_redacted():
    """The secret part alone (or with its key id) is what rebuilds a key once the public key id is
    known; no 24-character stretch of it survives, wherever a line quotes it."""
    for _ in range(2000):
        key = keyformat.new_key(keyformat.new_key_id())
        key_id, secret_part = key[4:].split("_", 1)
        for line in [
            f'"GET /acme/api-keys/{secret_part} HTTP/1.1" 404 120',
            f"Not Found: /acme/{key_id}_{secret_part}/images",
            f"/app/acme/settings/api-keys/{secret_part[:32]}/edit",  # the secret without its checksum
            f"next=%2Fx%2F{secret_part}%3Fa%3D1",
        ]:
            cleaned = redact(line)
            assert REDACTED in cleaned
            assert not any(secret_part[i : i + 16] in cleaned for i in range(len(secret_part) - 15)), cleaned


# The base62 alphabet in the classes `looks_random` tells apart, each with a representative and
# how many characters it stands for: capitals, lowercase vowels, other lowercase, digits.
CLASSES = [("B", 26), ("a", 6), ("b", 20), ("1", 10)]


def odds_of_reading_as_words(length: int) -> float:
    """The chance that `length` random base62 characters have both cases and read as words (so are
    not redacted), counted over states: the open word's length (0 before the first), whether it
    has a vowel yet, whether a capital was seen. A capital starts a word when none is open or the
    open one is complete."""
    states = {(0, False, False): 1.0}
    for _ in range(length):
        following: dict[tuple[int, bool, bool], float] = {}
        for (size, vowel, capital), odds in states.items():
            steps = [((size + 1, True, capital), 6), ((size + 1, vowel, capital), 20)]
            if size == 0 or (size >= 2 and vowel):
                steps.append(((1, False, True), 26))
            for state, count in steps:
                following[state] = following.get(state, 0.0) + odds * count / 62
        states = following
    return sum(odds for (size, vowel, capital), odds in states.items() if size >= 2 and vowel and capital)


@pytest.mark.parametrize("length", [3, 5, 8])
def test_the_odds_count_agrees_with_the_rule_on_every_short_run(length):
    """Every run of `length` characters over the class representatives, weighted by how many
    characters each stands for, against `looks_random` itself."""
    readable = 0
    for run in itertools.product(CLASSES, repeat=length):
        text = "".join(char for char, _ in run)
        if "B" in text and ("a" in text or "b" in text) and not looks_random(text):
            readable += math.prod(count for _, count in run)
    assert odds_of_reading_as_words(length) == pytest.approx(readable / 62**length)


def test_a_random_secret_part_reads_as_words_less_than_once_in_a_hundred_million():
    assert odds_of_reading_as_words(keyformat.SECRET_LENGTH) < 1e-8


@pytest.mark.parametrize(
    "run",
    [
        "NBtuCoSodtcuEaqmgytptpwdmamcOPns",  # seven capitals and no digit: was left readable
        "MoneyTalksLoudlyAcrossTheWholeRoomXz",  # words, then one without a vowel
        "ImproperlyConfiguredDatabaseAliasX",  # words, then a lone capital
    ],
)
def test_secret_shaped_runs_are_redacted(run):
    assert redact(f"/acme/api-keys/{run}/edit") == f"/acme/api-keys/{REDACTED}/edit"


def test_long_names_made_of_words_stay_readable():
    line = "ImproperlyConfiguredDatabaseAliasError at /acme/stringDataRightTruncationForUploadedFile"
    assert redact(line) == line


@pytest.mark.parametrize(
    "text",
    [
        "GET /acme/defect-detection-with-a-long-project-name/3/coco HTTP/1.1",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "uuid 6ba7b8109dad11d180b400c04fd430c8",
        "SCREAMING_CONSTANT_WITH_DIGITS_0123456789",
        "roboflow-python/1.7.3 python-requests/2.32.5",
    ],
)
def test_what_is_not_secret_shaped_stays_readable(text):
    assert redact(text) == text


@pytest.mark.django_db
def test_request_logs_never_carry_the_key(client, caplog, enterprise, make_key):
    _, secret = make_key(enterprise, disabled=True)
    handler_filter = RedactSecrets()
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get(f"/acme/api-keys?api_key={secret}")
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records
    for record in records:
        handler_filter.filter(record)
        assert secret not in record.getMessage()


def test_the_logging_config_filters_every_console_line():
    from django.conf import settings

    assert "redact_secrets" in settings.LOGGING["handlers"]["console"]["filters"]
    for name in ["django.server", "django.request"]:
        assert settings.LOGGING["loggers"][name]["handlers"] == ["console"]


def test_djangos_own_loggers_are_redacted_too_with_debug_on():
    import subprocess
    import sys
    from pathlib import Path

    script = "import logging; logging.getLogger('django.security.DisallowedHost').error('Invalid host: %s', KEY)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script.replace("KEY", repr(SECRET))],
        cwd=Path(__file__).resolve().parents[2],
        env={"PATH": "/usr/bin:/bin", "DEBUG": "true", "DATABASE_URL": "sqlite:////tmp/unused.sqlite3"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Invalid host: sak_abcdefghijk1_[redacted]" in result.stderr
    assert SECRET not in result.stderr + result.stdout
