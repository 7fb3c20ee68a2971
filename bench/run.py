"""`make bench`: key authentication side by side with DRF's TokenAuthentication and
djangorestframework-api-key, measured from outside.

    .venv/bin/python -m bench.run [--duration 4] [--reps 5] [--quick] [--only REGEX]

Two gunicorn servers (2 sync workers each; the per-key rate limit on in one, off in the
other) on PostgreSQL and Redis, persistent database connections, driven by `wrk -t1 -c4` on
loopback. Every scenario runs `--reps` times, interleaved with the others, and the table
gives medians (and min-max) of requests/s, p50 and p99 latency, and the workers' CPU time per
request (from /proc). Queries and writes per request are counted in-process, on the same
database, with Django's query capture. The key table then grows to 100 k and 1 M rows
(bulk-loaded in SQL) and the key scenarios run again.

Writes docs/benchmarks.md. Needs PostgreSQL and Redis (BENCH_DATABASE_URL, BENCH_REDIS_URL);
installs Debian's wrk when it is missing. Bounded to about twelve minutes with the defaults.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from apikeys.keyformat import checksum  # noqa: E402 - a pure function, no settings needed

PYTHON = sys.executable
PG = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
CLOCK = os.sysconf("SC_CLK_TCK")
STATIC_ROOT = Path(os.environ.get("BENCH_STATIC_ROOT", "/tmp/bench-static"))


@dataclass
class Scenario:
    label: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    server: str = "on"  # which gunicorn: the per-key rate limit "on" or "off"
    group: str = "main"


@dataclass
class Result:
    rps: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    errors: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("Installing wrk (Debian's package)...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


def env_for(database_url: str, rate_limit: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "API_KEY_PEPPER": "bench-pepper",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "CACHE_URL": REDIS,
        "CONN_MAX_AGE": "600",
        "API_RATE_LIMIT": rate_limit,
        "API_AUTH_FAILURE_LIMIT": "100000000/min",
        "LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(ROOT),
        # The pages need their static files collected (DEBUG off: hashed names, from a manifest).
        "STATIC_ROOT": str(STATIC_ROOT),
    }


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PYTHON, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


SEED = r"""
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework_api_key.models import APIKey
from workspaces.actors import Actor
from apikeys.services import api_key_create
from apikeys.scopes import SCOPE_NAMES
from apikeys.spec import KeySpec
from workspaces.models import Folder, Plan, Project, Workspace
from workspaces.services import workspace_create

owner = get_user_model().objects.create_user("bench@example.com", "bench@example.com", "bench-password")
ws = workspace_create(name="Acme", url="acme", owner=owner, plan=Plan.ENTERPRISE)
folders = [Folder.objects.create(workspace=ws, name=f"Folder {i}") for i in range(50)]
Project.objects.create(workspace=ws, slug="cats", name="Cats", annotation="pets", folder=folders[0])
make = lambda spec: api_key_create(workspace=ws, actor=Actor(), spec=spec)[1]
keys = {
    "full": make(KeySpec(name="full")),
    "one_scope": make(KeySpec(name="one scope", scopes=("workspace:read",))),
    "all_scopes": make(KeySpec(name="every scope", scopes=tuple(SCOPE_NAMES))),
    "folders": make(KeySpec(name="50 folders", scopes=tuple(SCOPE_NAMES), folders=tuple(folders))),
}
for i in range(995):  # a workspace of a thousand keys
    api_key_create(workspace=ws, actor=Actor(), spec=KeySpec(name=f"listed {i}", scopes=("image:read",)))
keys["token"] = Token.objects.create(user=owner).key
from django.test import Client
browser = Client()
browser.force_login(owner)
keys["session"] = browser.cookies["sessionid"].value
keys["hasapikey"] = APIKey.objects.create_key(name="bench")[1]
print(json.dumps(keys))
"""

COUNT = r"""
import json, sys
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from redis.connection import AbstractConnection
sent = []
send = AbstractConnection.send_packed_command
AbstractConnection.send_packed_command = lambda self, *a, **k: (sent.append(1), send(self, *a, **k))[1]
scenarios = json.loads(sys.stdin.read())
client = Client(HTTP_HOST="127.0.0.1")
out = {}
for label, path, headers in scenarios:
    extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    for _ in range(3):
        client.get(path, **extra)  # warm: lastUsedAt written, caches filled
    sent.clear()
    with CaptureQueriesContext(connection) as captured:
        for _ in range(20):
            client.get(path, **extra)
    sql = [q["sql"].lstrip().split(" ", 1)[0].upper() for q in captured.captured_queries]
    writes = sum(1 for s in sql if s in {"INSERT", "UPDATE", "DELETE"})
    out[label] = {"queries": len(sql) / 20, "writes": writes / 20, "trips": len(sent) / 20}
print(json.dumps(out))
"""


def grow_keys(env: dict[str, str], total: int) -> None:
    """Bulk-load key rows (in SQL) until the key table holds `total` rows."""
    script = f"""
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*), min(workspace_id) FROM apikeys_apikey")
    count, workspace = cursor.fetchone()
    cursor.execute('''
        INSERT INTO apikeys_apikey (workspace_id, key_id, digest, name, scopes, folders_limited, is_default,
            protected, disabled, custom_metadata, allowed_ips, created, last_used_user_agent, usage_since,
            rotation_reminder)
        SELECT %s, 'z' || lpad(i::text, 11, '0'), md5(i::text) || md5(i::text), 'bulk', '["image:read"]'::jsonb,
            false, false, false, false, '{{}}'::jsonb, '[]'::jsonb, now(), '', now(), ''
        FROM generate_series(%s::bigint, %s::bigint) AS i''', [workspace, count + 1, {total}])
    cursor.execute("ANALYZE apikeys_apikey")
"""
    manage(env, "shell", "-c", script)


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def wrk(binary: str, url: str, headers: dict[str, str], seconds: int) -> tuple[float, float, float, int, int]:
    command = [binary, "-t1", "-c4", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        command[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def ms(text: str) -> float:
        found = re.match(r"([\d.]+)(us|ms|s|m)$", text)
        if found is None:
            sys.exit(f"Cannot read wrk's latency {text!r} in:\n{out}")
        return float(found[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[found[2]]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p50, p99, requests, int(errors[1]) if errors else 0


def start(env: dict[str, str], port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(Path(PYTHON).with_name("gunicorn")), "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "error",
         "config.wsgi"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    sys.exit("gunicorn did not start")


def run_round(binary, scenarios, servers, results, seconds):
    for scenario in scenarios:
        port, master = servers[scenario.server]
        pids = workers_of(master)
        before = cpu_ticks(pids)
        rps, p50, p99, requests, errors = wrk(
            binary, f"http://127.0.0.1:{port}{scenario.path}", scenario.headers, seconds
        )
        used = (cpu_ticks(pids) - before) / CLOCK
        result = results.setdefault(scenario.label, Result())
        result.rps.append(rps)
        result.p50.append(p50)
        result.p99.append(p99)
        result.cpu_us.append(used / max(requests, 1) * 1e6)
        result.errors += errors
        print(f"  {scenario.label:55} {rps:8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms", flush=True)


def median_range(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run (1 to 60)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (1 to 9)")
    parser.add_argument("--quick", action="store_true", help="skip the 1 M-row key table")
    parser.add_argument(
        "--only", metavar="REGEX", help="run only the scenarios whose label matches; print, write no report"
    )
    args = parser.parse_args()
    # Stopped (kill, hangup), the servers and the scratch database go too: `finally` runs.
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, lambda number, _frame: sys.exit(128 + number))
    if not (1 <= args.duration <= 60 and 1 <= args.reps <= 9):
        parser.error("--duration must be 1 to 60 and --reps 1 to 9")
    binary = ensure_wrk()
    name = f"bench_{int(time.time())}_{os.getpid()}"
    subprocess.run(["psql", PG + "postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    database = PG + name
    subprocess.run(["redis-cli", "-u", REDIS, "FLUSHDB"], check=True, stdout=subprocess.DEVNULL)
    servers: dict[str, tuple[int, int]] = {}
    processes = []
    try:
        on, off = env_for(database, "100000000/min"), env_for(database, "off")
        print("Migrating and seeding...", flush=True)
        manage(on, "migrate", "--noinput", "-v0")
        manage(on, "collectstatic", "--noinput", "--clear", "-v0")
        keys = json.loads(manage(on, "shell", "-c", SEED).strip().splitlines()[-1])
        # Statistics, as a database in service has them (autovacuum would take a minute).
        subprocess.run(["psql", database, "-qc", "ANALYZE"], check=True)
        for mode, env in (("on", on), ("off", off)):
            port = free_port()
            process = start(env, port)
            processes.append(process)
            servers[mode] = (port, process.pid)
        bearer = lambda key: {"Authorization": f"Bearer {key}"}  # noqa: E731
        session = {"Cookie": f"sessionid={keys['session']}"}  # the owner, signed in
        malformed = "sak_notakey"
        unknown = "sak_" + "q" * 12 + "_" + "A" * 32
        from_unknown = unknown + checksum(unknown)
        main_scenarios = [
            Scenario("(a) no authentication", "/bench/none"),
            Scenario("(b) DRF TokenAuthentication", "/bench/token", {"Authorization": f"Token {keys['token']}"}),
            Scenario(
                "(c) djangorestframework-api-key HasAPIKey",
                "/bench/hasapikey",
                {"Authorization": f"Api-Key {keys['hasapikey']}"},
            ),
            Scenario("(d) ours, full access, rate limit off", "/bench/acme/ours", bearer(keys["full"]), "off"),
            Scenario("(d) ours, full access, rate limit on", "/bench/acme/ours", bearer(keys["full"])),
            Scenario("(d) ours, 1 scope", "/bench/acme/ours", bearer(keys["one_scope"])),
            Scenario("(d) ours, every scope (22)", "/bench/acme/ours", bearer(keys["all_scopes"])),
            Scenario("(d) ours, every scope, 50 folders", "/bench/acme/ours", bearer(keys["folders"])),
            Scenario("(e) ours, a malformed key (401)", "/bench/acme/ours", bearer(malformed)),
            Scenario("(e) ours, a well-formed unknown key (401)", "/bench/acme/ours", bearer(from_unknown)),
            Scenario("GET /acme", "/acme", bearer(keys["full"])),
            Scenario("GET /acme/cats", "/acme/cats", bearer(keys["full"])),
            Scenario("GET /acme/api-keys (1,000 keys, the whole list)", "/acme/api-keys", bearer(keys["full"])),
            Scenario("GET /acme/api-keys?limit=50 (1,000 keys)", "/acme/api-keys?limit=50", bearer(keys["full"])),
            Scenario("keys page, first page (1,000 keys)", "/app/acme/settings/api-keys", session),
            Scenario("keys page, searched (1,000 keys)", "/app/acme/settings/api-keys?search=listed+12", session),
            Scenario("keys page, sorted by name (1,000 keys)", "/app/acme/settings/api-keys?sort=name", session),
            Scenario(
                "keys page, sorted by requests (1,000 keys)", "/app/acme/settings/api-keys?sort=-requests", session
            ),
        ]
        if args.only:
            main_scenarios = [s for s in main_scenarios if re.search(args.only, s.label)]
            if not main_scenarios:
                parser.error(f"no scenario matches {args.only!r}")
        counted = subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", COUNT], env=on, cwd=ROOT, check=False, capture_output=True,
            text=True, input=json.dumps([(s.label, s.path, s.headers) for s in main_scenarios]),
        )  # fmt: skip
        if counted.returncode:
            sys.exit(f"Counting queries failed:\n{counted.stderr}")
        counts = json.loads(counted.stdout.strip().splitlines()[-1])
        print("Warming up...", flush=True)
        run_round(binary, main_scenarios, servers, {}, 1)
        results: dict[str, Result] = {}
        for rep in range(args.reps):
            print(f"Round {rep + 1} of {args.reps}", flush=True)
            run_round(binary, main_scenarios, servers, results, args.duration)
        if args.only:
            return
        scale_scenarios = lambda size: [  # noqa: E731
            Scenario(f"(d) ours, full access, {size} keys", "/bench/acme/ours", bearer(keys["full"]), "off", "scale"),
            Scenario(f"(e) unknown key, {size} keys", "/bench/acme/ours", bearer(from_unknown), "off", "scale"),
        ]
        sizes = [("1 k", 1_000), ("100 k", 100_000)] + ([] if args.quick else [("1 M", 1_000_000)])
        for label, total in sizes:
            print(f"Key table of {label} rows...", flush=True)
            grow_keys(on, total)
            for _ in range(args.reps):
                run_round(binary, scale_scenarios(label), servers, results, args.duration)
        write_report(args, results, counts, main_scenarios, sizes)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        subprocess.run(["psql", PG + "postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"], check=False)


def write_report(args, results, counts, main_scenarios, sizes) -> None:
    med = {label: statistics.median(r.rps) for label, r in results.items()}
    a, b, c = (
        med["(a) no authentication"],
        med["(b) DRF TokenAuthentication"],
        med["(c) djangorestframework-api-key HasAPIKey"],
    )
    lines = [
        "# Benchmarks",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `make bench` "
        f"(`python -m bench.run --duration {args.duration} --reps {args.reps}{' --quick' if args.quick else ''}`).",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.machine()}, {platform.platform()}; everything on one host (loopback).",
        f"- Python {platform.python_version()}, Django {_version('django')}, DRF {_version('djangorestframework')}, "
        f"djangorestframework-api-key {_version('djangorestframework-api-key')}, gunicorn {_version('gunicorn')}, "
        f"psycopg {_version('psycopg')}, redis-py {_version('redis')}; PostgreSQL and Redis from Debian.",
        "- gunicorn: 2 sync workers per server, persistent database connections (`CONN_MAX_AGE=600`), DEBUG off.",
        "- Load: `wrk -t1 -c4` (persistent connections) for each run; the scenarios are interleaved; each cell is "
        "the median of the repetitions, with min–max in brackets.",
        "- CPU per request: the gunicorn workers' user + system time (from /proc) over the requests served.",
        "- CPU over (a): a request's CPU beyond the same view's without authentication, what the checks cost.",
        "- Queries, writes and Redis round trips per request: counted in-process on the same database and Redis "
        "(20 requests after 3 warm-up ones).",
        "",
        "| scenario | requests/s | ÷ (a) | ÷ (b) | ÷ (c) | p50 ms | p99 ms | CPU µs/request | CPU over (a) µs "
        "| queries | writes | Redis trips |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    cpu_a = statistics.median(results["(a) no authentication"].cpu_us)
    for label, result in results.items():
        count = counts.get(label, {})
        rps = med[label]
        lines.append(
            f"| {label} | {median_range(result.rps, '{:.0f}')} | {rps / a:.2f} | {rps / b:.2f} | {rps / c:.2f} | "
            f"{median_range(result.p50, '{:.2f}')} | {median_range(result.p99, '{:.2f}')} | "
            f"{median_range(result.cpu_us, '{:.0f}')} | {statistics.median(result.cpu_us) - cpu_a:.0f} | "
            f"{count.get('queries', '–')} | {count.get('writes', '–')} | {count.get('trips', '–')} |"
        )
    errors = {label: r.errors for label, r in results.items() if r.errors and "(e)" not in label}
    lines += ["", f"Non-2xx answers outside the (e) scenarios: {errors or 'none'}.", ""]
    report = ROOT / "docs" / "benchmarks.md"
    existing = report.read_text() if report.exists() else ""
    notes = existing.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in existing else "\n"
    report.write_text("\n".join(lines) + "\n<!-- notes -->" + notes)
    print("\n".join(lines))
    print(f"\nWritten to {report}")


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
