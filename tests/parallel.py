"""The suite runs in parallel (pytest-xdist, `-n auto`): what each worker must keep to itself."""

import os
import re


def worker_index() -> int:
    """0 for the first worker (gw0) or a run without workers; n for gw<n>."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def own_redis_database(url: str) -> str:
    """`url` (redis://host:port/<db>) moved to a database of this worker's own: the tests clear
    the cache they use, and a gunicorn's counters are keyed by ids that another worker's
    database reuses."""
    return re.sub(r"/(\d+)$", lambda m: f"/{int(m[1]) + worker_index()}", url)
