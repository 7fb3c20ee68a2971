"""Start-up with bad settings stops with one clear line naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 60 + "-production-like-secret-key",
    "API_KEY_PEPPER": "production-pepper",
    "ALLOWED_HOSTS": "keys.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://keys.example.com",
    "DATABASE_URL": "sqlite:////tmp/never-opened.sqlite3",
}


def manage(*args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k not in {"CACHE_URL", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "false", "SECRET_KEY": ""}, "SECRET_KEY must be set when DEBUG is off"),
        ({"DEBUG": "maybe"}, "DEBUG is not valid"),
        ({"DEBUG": "true", "DATABASE_URL": "mysql://db/x"}, "DATABASE_URL must be a URL with one of the schemes"),
        ({"DEBUG": "true", "CACHE_URL": "memcache://x"}, "CACHE_URL must be a URL with one of the schemes"),
        ({"DEBUG": "true", "CSRF_TRUSTED_ORIGINS": "keys.example.com"}, "CSRF_TRUSTED_ORIGINS entries must start"),
        ({"DEBUG": "true", "MAX_UPLOAD_BYTES": "lots"}, "MAX_UPLOAD_BYTES is not valid"),
        ({"DEBUG": "true", "API_RATE_LIMIT": "fast"}, "API_RATE_LIMIT must look like 600/min"),
        ({"DEBUG": "true", "API_AUTH_FAILURE_LIMIT": "10/week"}, "API_AUTH_FAILURE_LIMIT must look like"),
        ({**PRODUCTION, "API_KEY_PEPPER": ""}, "API_KEY_PEPPER must be set when DEBUG is off"),
    ],
)
def test_bad_settings_stop_with_one_clear_line(env, message):
    result = manage("check", **env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_redis_cache_url_uses_djangos_redis_backend():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])",
        DEBUG="true",
        CACHE_URL="redis://127.0.0.1:6379/3",
    )
    assert result.stdout.strip().splitlines()[-1] == "django.core.cache.backends.redis.RedisCache"
