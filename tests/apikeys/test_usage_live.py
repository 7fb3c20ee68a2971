"""Usage counts add up exactly when two gunicorn workers count at once on Redis while flushes
run, with the rate limit on and off (the count rides on the request's one round trip either
way)."""

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.security.test_changes_apply_everywhere import ROOT, gunicorn, served_by

pytestmark = pytest.mark.live


@pytest.mark.parametrize("rate_limit", ["100000/min", "off"])
def test_counts_add_up_across_two_workers(tmp_path, rate_limit):
    with gunicorn(tmp_path, API_RATE_LIMIT=rate_limit) as (url, admin, access, env):
        headers = {"Authorization": f"Bearer {admin}"}
        subprocess.run(  # a clean slate: what earlier runs left in this Redis database
            [sys.executable, str(ROOT / "manage.py"), "flush_key_usage"], env=env, cwd=ROOT, check=True, timeout=60
        )
        created = requests.post(
            f"{url}/acme/api-keys",
            json={"name": "counted", "scopes": ["workspace:read", "project:read"]},
            headers=headers,
            timeout=10,
        ).json()
        probe = {"Authorization": f"Bearer {created['key']}", "User-Agent": "probe/1.0"}
        project = requests.get(f"{url}/acme", headers=probe, timeout=10).json()["workspace"]["projects"][0]["id"]
        slug = project.split("/")[-1]
        start = len(access.read_text().splitlines())

        def call(i: int) -> int:
            path = f"{url}/acme" if i % 3 else f"{url}/acme/{slug}"
            return requests.get(path, headers={**probe, "Connection": "close"}, timeout=10).status_code

        def flush() -> int:
            out = subprocess.run(
                [sys.executable, str(ROOT / "manage.py"), "flush_key_usage"],
                env=env, cwd=ROOT, check=True, timeout=60, capture_output=True, text=True,
            ).stdout  # fmt: skip
            return int(re.search(r"Flushed (\d+) requests", out)[1])  # type: ignore[index]

        # Flushes run while the requests do: each count is moved once, whichever flush takes it.
        with ThreadPoolExecutor(9) as pool:
            flushing = pool.submit(lambda: [flush() for _ in range(3)])
            assert set(pool.map(call, range(600))) == {200}
            moved = sum(flushing.result())
        assert len(served_by(access, start)) == 2  # both workers counted
        assert moved + flush() == 602  # the 600, the one that found the project, the create
        shown = requests.get(f"{url}/acme/api-keys/{created['keyId']}", headers=headers, timeout=10).json()
        used = shown["apiKey"]["usage"]
        assert used["requests30d"] == 601 and used["daily"][-1] == 601
        assert used["scopes"] == {"workspace:read": 401, "project:read": 200}
        assert used["lastIp"] == "127.0.0.1" and used["lastUserAgent"] == "probe/1.0"
