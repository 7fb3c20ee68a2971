"""Measure the API's hot paths in-process: latency and queries per request.

    DEBUG=true .venv/bin/python scripts/bench_api.py [--requests 300]

Runs against a throwaway SQLite database (or DATABASE_URL, whose test database it creates
and drops), so it never touches real data. Reports per endpoint: median and p95 latency,
requests per second on one thread, and database queries per request.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint (10 to 10000)")
    args = parser.parse_args()
    if not 10 <= args.requests <= 10000:
        parser.error("--requests must be between 10 and 10000")

    import tempfile

    import django
    from django.conf import settings

    django.setup()
    settings.MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="bench-media-"))
    settings.API_RATE_LIMIT = "1000000/min"
    settings.API_AUTH_FAILURE_LIMIT = "1000000/min"
    import logging

    logging.getLogger("django.request").setLevel(logging.ERROR)
    settings.ALLOWED_HOSTS = ["*"]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        run(args.requests, CaptureQueriesContext, connection)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(count, CaptureQueriesContext, connection) -> None:
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from apikeys.services import Actor, api_key_create
    from apikeys.spec import KeySpec
    from workspaces.demo import demo_png
    from workspaces.models import Plan, Project
    from workspaces.services import workspace_create

    owner = get_user_model().objects.create_user("bench@example.com", "bench@example.com", "x")
    workspace = workspace_create(name="Bench", url="bench", owner=owner, plan=Plan.ENTERPRISE)
    Project.objects.create(workspace=workspace, slug="p", name="P", annotation="x")
    for i in range(20):
        api_key_create(workspace=workspace, actor=Actor(), spec=KeySpec(name=f"key {i}", scopes=("image:read",)))
    _, secret = api_key_create(workspace=workspace, actor=Actor(), spec=KeySpec(name="bench"))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def upload(i):
        data = demo_png(f"bench-{i}", size=(64, 48))
        return client.post("/dataset/p/upload", {"file": SimpleUploadedFile("x.png", data), "split": "train"})

    cases = {
        "POST / (authenticate)": lambda i: client.post("/"),
        "GET /bench (workspace)": lambda i: client.get("/bench"),
        "GET /bench/api-keys (22 keys)": lambda i: client.get("/bench/api-keys"),
        "GET /bench/p (project)": lambda i: client.get("/bench/p"),
        "POST /dataset/p/upload (64x48 PNG)": upload,
        "bad key (401)": lambda i: Client().post("/", HTTP_AUTHORIZATION="Bearer sak_nope"),
    }
    print(f"{'endpoint':38} {'median ms':>9} {'p95 ms':>8} {'req/s':>7} {'queries':>7}")
    for name, call in cases.items():
        call(-1)  # warm up
        times, queries = [], []
        for i in range(count):
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                response = call(i)
                times.append(time.perf_counter() - start)
            queries.append(len(captured))
            if response.status_code >= 500:
                raise SystemExit(f"{name}: HTTP {response.status_code}")
        times.sort()
        median, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
        print(
            f"{name:38} {median * 1000:9.2f} {p95 * 1000:8.2f} {1 / statistics.mean(times):7.0f} {statistics.median(queries):7.0f}"
        )


if __name__ == "__main__":
    main()
