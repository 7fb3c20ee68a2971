"""A change to a key applies on the very next request in every worker: gunicorn with two
worker processes on Redis (as in production), a key used until both workers have served it,
then its scopes taken away, then it is disabled, then revoked; every request after each
change, whichever worker serves it, sees the change. (Nothing about a key is cached between
requests: each one reads it, in one indexed query.)"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.parallel import own_redis_database

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS = own_redis_database(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/11"))


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def gunicorn(tmp_path: Path, **overrides: str):
    """gunicorn with two workers on Redis, a seeded demo: yields its url, the acme key, its
    access log and its environment (for management commands on the same database)."""
    if not redis_up():
        pytest.skip("needs Redis on 127.0.0.1:6379")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CACHE_URL": REDIS,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "API_RATE_LIMIT": "off",
        "API_AUTH_FAILURE_LIMIT": "100000/min",
        **overrides,
    }
    manage = [str(BIN / "python"), str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True, timeout=120)
    seeded = subprocess.run(
        [*manage, "seed_demo", "--json"], env=env, cwd=ROOT, check=True, timeout=120, capture_output=True, text=True
    )
    key = next(w["apiKey"] for w in json.loads(seeded.stdout)["workspaces"] if w["url"] == "acme")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    access = tmp_path / "access.log"
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "-w", "2",
         "--access-logfile", str(access), "--access-logformat", "%(p)s %(s)s %(U)s", "config.wsgi"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{url}/api/schema", timeout=5)
            break
        except requests.RequestException:
            time.sleep(0.1)
    try:
        yield url, key, access, env
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture
def server(tmp_path):
    with gunicorn(tmp_path) as (url, key, access, _env):
        yield url, key, access


def served_by(access: Path, since: int) -> Counter:
    """The worker pids that served the requests logged after line `since`."""
    lines = access.read_text().splitlines()[since:]
    return Counter(line.split()[0] for line in lines)


def test_scope_changes_disabling_and_revocation_apply_at_once_in_every_worker(server):
    url, admin, access = server
    headers = {"Authorization": f"Bearer {admin}"}
    created = requests.post(
        f"{url}/acme/api-keys", json={"name": "probe", "scopes": ["workspace:read"]}, headers=headers, timeout=10
    ).json()
    probe, key_id = created["key"], created["keyId"]

    def one(expected: int, message: str | None) -> None:
        response = requests.get(
            f"{url}/acme", headers={"Authorization": f"Bearer {probe}", "Connection": "close"}, timeout=10
        )
        assert response.status_code == expected, response.text
        if message:
            assert message in response.json()["error"]["message"]

    def burst(expected: int, message: str | None = None) -> Counter:
        """Requests 8 at a time on new connections, until both workers have answered (each
        answer as expected)."""
        time.sleep(0.3)  # let the log catch up
        start = len(access.read_text().splitlines())
        workers: Counter = Counter()
        with ThreadPoolExecutor(8) as pool:
            for _ in range(25):
                list(pool.map(lambda _: one(expected, message), range(8)))
                time.sleep(0.2)
                workers = served_by(access, start)
                if len(workers) == 2:
                    return workers
        raise AssertionError(f"one worker served every request: {workers}")

    burst(200)
    patched = requests.patch(f"{url}/acme/api-keys/{key_id}", json={"scopes": []}, headers=headers, timeout=10)
    assert patched.status_code == 200
    burst(403, "workspace:read")
    requests.patch(f"{url}/acme/api-keys/{key_id}", json={"scopes": ["workspace:read"]}, headers=headers, timeout=10)
    burst(200)
    requests.patch(f"{url}/acme/api-keys/{key_id}", json={"disabled": True}, headers=headers, timeout=10)
    burst(401, "disabled")
    requests.patch(f"{url}/acme/api-keys/{key_id}", json={"disabled": False}, headers=headers, timeout=10)
    burst(200)
    assert requests.delete(f"{url}/acme/api-keys/{key_id}", headers=headers, timeout=10).status_code == 200
    burst(401, "revoked")
