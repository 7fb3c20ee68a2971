"""Secret hygiene, end to end: the app under gunicorn (its production config) with DEBUG and
DEBUG-level logging on, driven over HTTP the way clients and careless people drive it. Keys
are created, rolled, used, revoked, sent in headers, query strings and bodies, pasted into URL
paths by mistake, and mistyped; an operator browses the admin. Afterwards no secret (whole, or
its secret part alone) and no digest appears in:

- a full dump of the database (the audit log included);
- everything gunicorn and the app wrote (access, error and application logs);
- any response but the one that minted the secret: API answers, error pages, admin pages,
  the OpenAPI schema and the docs.

The run is checked to have logged what it should (so that redaction, not silence, is what
keeps the secrets out).
"""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app(tmp_path):
    """A migrated SQLite database with the demo seeded, served by gunicorn; yields what it needs."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DEBUG": "true",
        "LOG_LEVEL": "DEBUG",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CACHE_URL": "locmemcache://",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "API_KEY_PEPPER": "hygiene-pepper",
        "SECRET_KEY": "hygiene-secret-key-" + "x" * 40,
    }
    manage = [str(BIN / "python"), str(ROOT / "manage.py")]
    run = lambda *args: subprocess.run(  # noqa: E731
        [*manage, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    run("migrate", "--noinput", "-v0")
    seeded = json.loads(run("seed_demo", "--json").stdout)
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "-w", "2", "config.wsgi"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{url}/api/schema", timeout=5)
            break
        except requests.RequestException:
            time.sleep(0.1)
    try:
        yield {"url": url, "seeded": seeded, "db": tmp_path / "db.sqlite3", "log": tmp_path / "gunicorn.log"}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def test_no_secret_reaches_a_log_the_database_or_a_page(app):
    url = app["url"]
    acme = next(w for w in app["seeded"]["workspaces"] if w["url"] == "acme")["apiKey"]
    secrets_seen = [acme, *(w["apiKey"] for w in app["seeded"]["workspaces"])]
    pages: list[str] = []  # every response body that must not carry a secret

    def call(method, path, *, key=acme, how="header", expect=None, keep=True, **kwargs):
        headers = kwargs.pop("headers", {})
        params = kwargs.pop("params", {})
        if how == "header":
            headers["Authorization"] = f"Bearer {key}"
        elif how == "query":
            params["api_key"] = key
        response = requests.request(method, url + path, headers=headers, params=params, timeout=30, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.status_code, response.text[:300])
        if keep:
            pages.extend(f"{r.headers}\n{r.text}" for r in [*response.history, response])
        return response

    # The key in each transport.
    call("POST", "/", expect=200)
    call("POST", "/", how="query", expect=200)
    call("POST", "/", how="body", json={"api_key": acme}, expect=200)
    # Create, use, roll with a grace period, use both secrets, revoke.
    created = call(
        "POST",
        "/acme/api-keys",
        json={"name": "ci", "scopes": ["workspace:read", "image:read"]},
        expect=201,
        keep=False,
    )
    child, child_id = created.json()["key"], created.json()["keyId"]
    secrets_seen.append(child)
    call("GET", "/acme", key=child, how="query", expect=200)
    rolled = call("POST", f"/acme/api-keys/{child_id}/roll", json={"oldKeyExpiresIn": 600}, expect=200, keep=False)
    replacement = rolled.json()["key"]
    secrets_seen.append(replacement)
    call("GET", "/acme", key=child, expect=200)
    call("GET", "/acme", key=replacement, how="query", expect=200)
    call("DELETE", f"/acme/api-keys/{rolled.json()['keyId']}", expect=200)
    call("GET", "/acme", key=replacement, how="query", expect=401)
    # Mistakes: whole keys pasted into paths and queries, mistyped and truncated keys.
    call("GET", f"/acme/api-keys/{acme}", expect=404)
    call("GET", f"/{acme}", expect=404)
    call("GET", f"/acme/{acme}/images/1", expect=404)
    call("GET", "/acme/api-keys", params={"keyId": acme}, expect=200)
    acme_id, acme_secret = acme[4:].split("_", 1)
    call("GET", f"/acme/api-keys/{acme_secret}", expect=404)  # the secret part alone, or with its id
    call("GET", f"/acme/{acme_id}_{acme_secret}/things", expect=404)
    call("GET", f"/app/acme/settings/api-keys/{acme}/edit", expect=404)  # into pages
    call("GET", f"/admin/{acme_secret}", expect=404)
    call("GET", "/accounts/login", params={"next": f"/app/acme/{acme}"}, expect=200)
    call("GET", "/acme", key=acme[:-1] + ("A" if acme[-1] != "A" else "B"), expect=401)
    call("GET", "/acme", key=acme[:30], how="query", expect=401)
    call("GET", "/nowhere/at/all", expect=404)
    call("POST", "/acme/projects", data="{not json", headers={"Content-Type": "application/json"}, expect=400)
    # Docs and schema.
    call("GET", "/api/schema", expect=200)
    call("GET", "/api/docs", expect=200)
    # The operator in the admin: key list, a key, the audit log and an event.
    [operator] = app["seeded"]["operators"]
    session = requests.Session()
    login_page = session.get(f"{url}/admin/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)[1]
    logged_in = session.post(
        f"{url}/admin/login/",
        data={
            "username": operator["email"],
            "password": operator["password"],
            "csrfmiddlewaretoken": token,
            "next": "/admin/",
        },
        headers={"Referer": f"{url}/admin/login/"},
        timeout=30,
    )
    assert logged_in.url.endswith("/admin/"), logged_in.text[:500]
    for path in ["/admin/apikeys/apikey/", "/admin/apikeys/auditevent/", f"/admin/apikeys/apikey/?q={acme}"]:
        page = session.get(url + path, timeout=30)
        assert page.status_code == 200
        pages.append(page.text)
    for link in re.findall(r'href="(/admin/apikeys/(?:apikey|auditevent)/\d+/change/)"', "".join(pages))[:20]:
        page = session.get(url + link, timeout=30)
        assert page.status_code == 200
        pages.append(page.text)
    time.sleep(0.5)  # let the workers flush their last log lines

    log = app["log"].read_text()
    dump = "\n".join(sqlite3.connect(app["db"]).iterdump())
    digests = re.findall(r"'([0-9a-f]{64})'", dump)
    assert len(secrets_seen) >= 4 and digests
    fragments = [*secrets_seen, *(s.split("_", 2)[2] for s in secrets_seen), *digests]
    for fragment in fragments:
        assert fragment not in log, "a secret or digest in the gunicorn and app logs"
        for page in pages:
            assert fragment not in page, f"a secret or digest in a response: {page[:200]}"
    for fragment in secrets_seen + [s.split("_", 2)[2] for s in secrets_seen]:
        assert fragment not in dump, "a secret in the database"
    # Not silence: the requests were logged, with the secrets redacted.
    assert "[redacted]" in log
    assert "/acme/api-keys/sak_" in log and "GET /acme HTTP/1.1" in log
    assert "Not Found" in log
