"""Usage counts add up exactly when two gunicorn workers count at once on Redis, with the
rate limit on (the count rides on its round trip) and off (its own round trip)."""

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

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(call, range(300))) == {200}
        assert len(served_by(access, start)) == 2  # both workers counted

        flushed = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "flush_key_usage"],
            env=env, cwd=ROOT, check=True, timeout=60, capture_output=True, text=True,
        ).stdout  # fmt: skip
        assert "Flushed 302 requests" in flushed  # the 300, the one that found the project, the create
        shown = requests.get(f"{url}/acme/api-keys/{created['keyId']}", headers=headers, timeout=10).json()
        used = shown["apiKey"]["usage"]
        assert used["requests30d"] == 301 and used["daily"][-1] == 301
        assert used["scopes"] == {"workspace:read": 201, "project:read": 100}
        assert used["lastIp"] == "127.0.0.1" and used["lastUserAgent"] == "probe/1.0"
