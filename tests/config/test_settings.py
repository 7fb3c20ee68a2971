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
    "CACHE_URL": "redis://127.0.0.1:6379/3",
    "EMAIL_URL": "smtp+tls://keys%40example.com:mail-password@mail.example.com:587",
    "SITE_URL": "https://keys.example.com",
    "S3_BUCKET": "keys-media",
    "S3_ENDPOINT_URL": "https://s3.example.com",
}


def manage(*args, **env):
    ignored = {"CACHE_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}  # the last: set for the browser tests
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k not in ignored}
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
        ({"DEBUG": "true", "EMAIL_URL": "sendmail://x"}, "EMAIL_URL must be a URL with one of the schemes"),
        ({"DEBUG": "true", "SITE_URL": "keys.example.com"}, "SITE_URL must start with http"),
        ({"DEBUG": "true", "CACHE_URL": "redis://127.0.0.1/0", "REDIS_TIMEOUT": "soon"}, "REDIS_TIMEOUT is not valid"),
        ({"DEBUG": "true", "CACHE_URL": "redis://127.0.0.1/0", "REDIS_TIMEOUT": "nan"}, "REDIS_TIMEOUT is not valid"),
        ({"DEBUG": "true", "CACHE_URL": "redis://127.0.0.1/0", "REDIS_TIMEOUT": "0"}, "REDIS_TIMEOUT is not valid"),
        ({"DEBUG": "true", "CACHE_URL": "redis://127.0.0.1/0", "REDIS_TIMEOUT": "3600"}, "REDIS_TIMEOUT is not valid"),
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


def test_check_deploy_refuses_mail_that_is_never_sent():
    result = manage("check", "--deploy", **(PRODUCTION | {"EMAIL_URL": "consolemail://"}))
    assert "mail.E001" in result.stderr + result.stdout


def test_check_deploy_warns_about_a_per_process_cache():
    result = manage("check", "--deploy", **(PRODUCTION | {"CACHE_URL": "locmemcache://"}))
    assert "workspaces.W001" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"S3_BUCKET": ""}, "workspaces.E002"),  # files on the local disk
        ({"TASK_BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}, "workspaces.E003"),
        ({"TASK_BACKEND": "django.tasks.backends.dummy.DummyBackend"}, "workspaces.E003"),
    ],
)
def test_check_deploy_refuses_local_files_and_in_process_tasks(change, refusal):
    result = manage("check", "--deploy", **(PRODUCTION | change))
    assert result.returncode != 0 and refusal in result.stderr + result.stdout
    assert refusal not in manage("check", "--deploy", **(PRODUCTION | change | {"DEBUG": "true"})).stderr


def test_redis_cache_url_uses_djangos_redis_backend_with_timeouts():
    show = "from django.conf import settings; c = settings.CACHES['default']; print(c['BACKEND'], c['OPTIONS'])"
    result = manage("shell", "-c", show, DEBUG="true", CACHE_URL="redis://127.0.0.1:6379/3", REDIS_TIMEOUT="0.25")
    assert result.stdout.strip().splitlines()[-1] == (
        "django.core.cache.backends.redis.RedisCache {'socket_connect_timeout': 0.25, 'socket_timeout': 0.25}"
    )


def test_postgresql_binds_values_on_the_server_and_prepares_repeated_queries():
    """psycopg prepares a query a connection ran five times (Django's default is never): the
    hot reads are planned once per connection."""
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; o = settings.DATABASES['default']['OPTIONS']; "
        "print(o['server_side_binding'], o['prepare_threshold'])",
        DEBUG="true",
        DATABASE_URL="postgres://nobody@127.0.0.1:1/never",
    )
    assert result.stdout.strip().splitlines()[-1] == "True 5", result.stderr


HEADERS_SCRIPT = """
import json
from django.test import Client
client = Client(HTTP_HOST="keys.example.com")
result = {}
for path in ["/accounts/login", "/admin/login/", "/api/docs", "/nowhere/at/all"]:
    response = client.get(path, secure=True)
    result[path] = {"status": response.status_code, "headers": dict(response.headers),
                    "cookies": {k: dict(v) for k, v in response.cookies.items()}}
plain = client.get("/accounts/login")
result["http"] = {"status": plain.status_code, "location": plain.get("Location")}
print(json.dumps(result))
"""


def test_pages_carry_the_hardening_headers_in_production(tmp_path):
    import json

    env = PRODUCTION | {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "STATIC_ROOT": str(tmp_path / "static")}
    assert manage("collectstatic", "--noinput", "-v0", **env).returncode == 0
    result = manage("shell", "-c", HEADERS_SCRIPT, **env)
    assert result.returncode == 0, result.stderr
    pages = json.loads(result.stdout.strip().splitlines()[-1])
    assert pages["http"] == {"status": 301, "location": "https://keys.example.com/accounts/login"}
    for path in ["/accounts/login", "/admin/login/", "/api/docs", "/nowhere/at/all"]:
        headers = pages[path]["headers"]
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "same-origin", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin", path
        policy = dict(d.strip().split(" ", 1) for d in headers["Content-Security-Policy"].split(";") if d.strip())
        assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'", path
        assert policy["script-src"].startswith("'self'") and "unsafe" not in policy["script-src"], path
        assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'", path
    for path in ["/accounts/login", "/admin/login/"]:
        csrf = pages[path]["cookies"]["csrftoken"]
        assert csrf["secure"] is True and csrf["samesite"] == "Lax", path


def dry_run(*args, **env) -> str:
    """The runserver line `make run` would run."""
    clean = {k: v for k, v in os.environ.items() if k not in {"SITE_URL", "DEFAULT_SITE_URL", "HOST", "PORT"}}
    result = subprocess.run(
        ["make", "-n", "run", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=60
    )
    return next(line for line in result.stdout.splitlines() if "runserver" in line)


@pytest.mark.parametrize(
    ("args", "site"),
    [
        (["PORT=8123"], "http://127.0.0.1:8123"),
        (["HOST=0.0.0.0", "PORT=8123"], "http://127.0.0.1:8123"),
        (["HOST=localhost"], "http://localhost:8000"),
        (["HOST=::1", "PORT=9000"], "http://[::1]:9000"),
    ],
)
def test_make_run_links_mails_to_the_address_it_serves(args, site):
    line = dry_run(*args)
    assert line.startswith(f"DEFAULT_SITE_URL={site} ")
    shown = manage("shell", "-c", "from django.conf import settings; print(settings.SITE_URL)", DEBUG="true",
                   DEFAULT_SITE_URL=site)  # fmt: skip
    assert shown.stdout.strip().splitlines()[-1] == site, shown.stderr


def test_a_site_url_that_is_set_wins_over_make_runs_default():
    """SITE_URL in the environment, or in .env (which django-environ loads into it), is the
    operator's choice: `make run`'s address is only the default."""
    shown = manage("shell", "-c", "from django.conf import settings; print(settings.SITE_URL)", DEBUG="true",
                   DEFAULT_SITE_URL="http://127.0.0.1:8123", SITE_URL="https://keys.example.com")  # fmt: skip
    assert shown.stdout.strip().splitlines()[-1] == "https://keys.example.com", shown.stderr


@pytest.mark.parametrize("url", ["http://:::8000", "http://", "https://:80", "http://host:99999"])
def test_a_site_url_without_a_host_is_refused(url):
    result = manage("check", DEBUG="true", SITE_URL=url)
    assert result.returncode != 0
    assert "SITE_URL must be an address" in result.stderr


def test_mail_on_the_console_prints_links_whole_in_development():
    """`make run`'s mails (sign-up, reset) go to the console: a long link must be printed on
    one line, as it can be followed, not folded by quoted-printable."""
    link = "http://127.0.0.1:8765/accounts/signup/" + "ab" * 32
    code = (
        "from django.core.mail import EmailMessage; "
        f"EmailMessage(subject='Confirm', body='Hello, café.\\n\\n{link}\\n', to=['a@example.com']).send()"
    )
    shown = manage("shell", "-c", code, DEBUG="true", EMAIL_URL="consolemail://")
    assert shown.returncode == 0, shown.stderr
    assert f"\n{link}\n" in shown.stdout
    assert "Subject: Confirm" in shown.stdout and "To: a@example.com" in shown.stdout and "café" in shown.stdout
