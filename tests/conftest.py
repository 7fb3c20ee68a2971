import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.servers import basehttp

from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory
from tests.keys import create_key
from tests.parallel import own_redis_database
from workspaces.models import Plan, Role


def pytest_configure(config):
    from django.conf import settings
    from django.core.signals import setting_changed

    # Background work runs in the request that asks for it, so a test reads the version it just
    # generated; the tests of the workers themselves (`tests/workspaces/test_background.py`,
    # the live tests) run the database backend with real worker processes.
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    setting_changed.send(sender=type(settings), setting="TASKS", value=settings.TASKS, enter=True)
    cache = settings.CACHES["default"]
    if "redis" in cache["BACKEND"].lower():
        cache["LOCATION"] = own_redis_database(cache["LOCATION"])


def pytest_terminal_summary(terminalreporter):
    """The sizes of the runs whose size is set (`FUZZ_EXAMPLES`), gathered from every worker."""
    sizes = [
        (report.nodeid, value)
        for report in terminalreporter.stats.get("passed", [])
        for name, value in getattr(report, "user_properties", [])
        if name == "requests sent"
    ]
    for nodeid, sent in sorted(sizes):
        terminalreporter.write_line(f"{nodeid}: {sent}")


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded files of a test land in its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


ROBOFLOW = Path(sys.executable).with_name("roboflow")


@pytest.fixture
def cli(live_server, tmp_path):
    """The official `roboflow` CLI, unchanged, as a subprocess against the live server: API_URL
    pointing at it, the key in ROBOFLOW_API_KEY, a temporary HOME, run in tmp_path. Returns
    stdout and stderr together; asserts the exit code (`expect`; None: any)."""

    def run(*args, key, workspace=None, expect=0, timeout=90):
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "API_URL": live_server.url,
            "ROBOFLOW_API_KEY": key,
        }
        command = [str(ROBOFLOW), *(["-w", workspace] if workspace else []), *args]
        result = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        output = result.stdout + result.stderr
        assert expect is None or result.returncode == expect, f"{command} exited {result.returncode}:\n{output}"
        return output

    return run


@pytest.fixture
def enterprise(db):
    return WorkspaceFactory(url="acme", name="Acme", plan=Plan.ENTERPRISE)


@pytest.fixture
def free(db):
    return WorkspaceFactory(url="hobby", name="Hobby", plan=Plan.FREE)


@pytest.fixture
def owner(enterprise, free):
    user = UserFactory(email="owner@example.com")
    MembershipFactory(user=user, workspace=enterprise, role=Role.OWNER)
    MembershipFactory(user=user, workspace=free, role=Role.OWNER)
    return user


@pytest.fixture
def member(enterprise):
    user = UserFactory(email="member@example.com")
    MembershipFactory(user=user, workspace=enterprise, role=Role.MEMBER)
    return user


@pytest.fixture
def outsider(db):
    return UserFactory(email="outsider@example.com")


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL=postgres://...)")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def make_key(db):
    """A key created through the services, as an operator would; returns (key, secret)."""
    from workspaces.actors import Actor

    def make(workspace, name="Test key", **fields):
        return create_key(workspace=workspace, actor=Actor(), name=name, **fields)

    return make


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters, kept key records and the like never leak from one test into the next."""
    from django.core.cache import cache

    from apikeys import lookup, models

    def clear():
        cache.clear()
        lookup.records = lookup.Records()
        models._last_noted.clear()

    clear()
    yield
    clear()


def command_names(packet: bytes) -> list[str]:
    """The names of the commands in a packet of the Redis protocol (arrays of bulk strings)."""
    names, at = [], 0
    while at < len(packet):
        end = packet.index(b"\r\n", at)
        count, at = int(packet[at + 1 : end]), end + 2  # *<count>
        for n in range(count):
            end = packet.index(b"\r\n", at)
            size, at = int(packet[at + 1 : end]), end + 2  # $<size>
            if n == 0:
                names.append(packet[at : at + size].decode())
            at += size + 2
    return names


@pytest.fixture
def redis_trips(monkeypatch):
    """The round trips this process makes to Redis, each as the name of its command (or
    `PIPELINE` for several in one), counted where every command leaves: the connection's
    send, whichever path sent it (redis-py's command path or `core.throttling.run_script`)."""
    from redis.connection import AbstractConnection

    sent: list[str] = []
    send = AbstractConnection.send_packed_command

    def counted(self, command, *args, **kwargs):
        names = command_names(command if isinstance(command, bytes) else b"".join(command))
        sent.append(names[0] if len(names) == 1 else "PIPELINE")
        return send(self, command, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def _no_delay_setup(handler, _setup=basehttp.WSGIRequestHandler.setup):
    # The live test server writes a response's headers and body in two sends; with Nagle's
    # algorithm on, the second waits for the client's delayed ACK: 40 ms per keep-alive request
    # on loopback. Real servers (gunicorn) set TCP_NODELAY; so does the test server here.
    handler.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _setup(handler)


basehttp.WSGIRequestHandler.setup = _no_delay_setup  # type: ignore[method-assign]
