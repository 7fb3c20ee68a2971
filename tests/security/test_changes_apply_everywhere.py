"""A change to a key applies on the very next request in every worker: gunicorn with two
worker processes on Redis (as in production), a key used until both workers have served it,
then its scopes taken away, then it is disabled, then revoked; every request after each
change, whichever worker serves it, sees the change; the same with a key changed 23 times under
load; and with Redis stopped in the middle. (Each worker keeps the keys it has read, and the
request's one round trip to Redis checks the kept record is current: `apikeys.lookup`.)"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
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


def new_key(url: str, admin: str, name: str) -> tuple[str, str]:
    """A key that may read the workspace, made through the API: its secret and its key id."""
    body = {"name": name, "scopes": ["workspace:read"]}
    created = requests.post(
        f"{url}/acme/api-keys", json=body, headers={"Authorization": f"Bearer {admin}"}, timeout=10
    ).json()
    return created["key"], created["keyId"]


def served_by(access: Path, since: int) -> Counter:
    """The worker pids that served the requests logged after line `since`."""
    lines = access.read_text().splitlines()[since:]
    return Counter(line.split()[0] for line in lines)


def test_scope_changes_disabling_and_revocation_apply_at_once_in_every_worker(server):
    url, admin, access = server
    headers = {"Authorization": f"Bearer {admin}"}
    probe, key_id = new_key(url, admin, "probe")

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


CHANGES = [  # (the PATCH body, then the status of GET /acme)
    ({"scopes": []}, 403),
    ({"scopes": ["workspace:read"]}, 200),
    ({"disabled": True}, 401),
    ({"disabled": False}, 200),
    ({"allowedIps": ["10.0.0.0/8"]}, 403),
    ({"allowedIps": []}, 200),
]


def test_23_changes_under_load_each_apply_on_the_next_request_in_every_worker(server):
    """Four clients call without pause while a key is changed 23 times; every request that
    started after a change's answer (and before the next change was sent) got what that
    change says. Requests in flight during a change may see either side of it."""
    url, admin, access = server
    headers = {"Authorization": f"Bearer {admin}"}
    probe, key_id = new_key(url, admin, "probe")
    done = threading.Event()
    calls: list[tuple[float, float, int]] = []

    def load() -> None:
        session = requests.Session()
        while not done.is_set() and len(calls) < 20_000:
            start = time.monotonic()
            status = session.get(
                f"{url}/acme", headers={"Authorization": f"Bearer {probe}", "Connection": "close"}, timeout=10
            ).status_code
            calls.append((start, time.monotonic(), status))

    steps: list[tuple[float, float, int]] = [(0.0, 0.0, 200)]  # (sent, answered, then expected)
    begin = len(access.read_text().splitlines())
    with ThreadPoolExecutor(4) as pool:
        loaders = [pool.submit(load) for _ in range(4)]
        time.sleep(0.5)
        for n in range(23):
            body, expected = CHANGES[n % len(CHANGES)]
            sent = time.monotonic()
            answer = requests.patch(f"{url}/acme/api-keys/{key_id}", json=body, headers=headers, timeout=10)
            assert answer.status_code == 200, answer.text
            steps.append((sent, time.monotonic(), expected))
            time.sleep(0.25)
        done.set()
        for loader in loaders:
            loader.result()
    checked = 0
    for start, end, status in calls:
        # The last change answered before this request started; no later change sent before it ended.
        before = [s for s in steps if s[1] <= start]
        after = [s for s in steps if s[0] > before[-1][0] and s[0] < end]
        if after:
            continue  # in flight during a change
        assert status == before[-1][2], (start, status, before[-1])
        checked += 1
    assert checked > 200 and checked > len(calls) * 0.5, (checked, len(calls))
    assert len(served_by(access, begin)) == 2  # both workers served the probe


@contextlib.contextmanager
def redis_server(port: int, directory: Path):
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def test_with_redis_stopped_keys_are_read_from_the_database_and_still_refused(tmp_path):
    """Redis stopped in the middle: keys still work (read from the database on each request;
    the limits fail open), a revoke made meanwhile applies at once in both workers, and
    after Redis comes back (empty) nothing stale is served."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cache_url = f"redis://127.0.0.1:{port}/0"
    with redis_server(port, tmp_path) as redis, gunicorn(tmp_path, CACHE_URL=cache_url) as (url, admin, access, _):
        headers = {"Authorization": f"Bearer {admin}"}

        (probe, probe_id), (other, _) = new_key(url, admin, "probe"), new_key(url, admin, "other")

        def statuses(secret: str, n: int = 40) -> Counter:
            def one(_):
                return requests.get(
                    f"{url}/acme", headers={"Authorization": f"Bearer {secret}", "Connection": "close"}, timeout=10
                ).status_code

            start = len(access.read_text().splitlines())
            with ThreadPoolExecutor(8) as pool:
                found = Counter(pool.map(one, range(n)))
            time.sleep(0.3)
            assert len(served_by(access, start)) == 2  # both workers answered
            return found

        assert statuses(probe) == {200: 40}  # kept by both workers
        redis.kill()
        redis.wait(timeout=10)
        assert statuses(probe) == {200: 40}
        revoked = requests.delete(f"{url}/acme/api-keys/{probe_id}", headers=headers, timeout=10)
        assert revoked.status_code == 200  # a revoke works without Redis
        assert statuses(probe) == {401: 40}
        with redis_server(port, tmp_path):
            assert statuses(probe) == {401: 40}
            assert statuses(other) == {200: 40}
