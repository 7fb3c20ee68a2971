import logging

import pytest

from apikeys.redaction import RedactSecrets, redact

SECRET = "sak_abcdefghijk1_" + "A1" * 19


def test_secrets_are_redacted_from_query_strings_and_text():
    line = f'"GET /acme/api-keys?includeFolders=true&api_key={SECRET} HTTP/1.1" 200 512'
    cleaned = redact(line)
    assert SECRET not in cleaned
    assert "api_key=[redacted]" in cleaned
    assert redact(f"key {SECRET} leaked") == "key sak_abcdefghijk1_[redacted] leaked"


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
