"""Kept key records (`apikeys.lookup`) on a real Redis: no query and one round trip per request
once a process has read a key, and every change applies on the next request, in a process that
did not make it too (its own records are then not dropped by the change: only the shared
version tells it), including the classic race of a read before a change and a keep after it.
"""

from datetime import timedelta

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys import lookup
from apikeys.models import ApiKey
from apikeys.scopes import SCOPE_NAMES
from apikeys.services import api_key_disable, api_key_revoke
from tests.factories import FolderFactory, ProjectFactory
from tests.keys import roll_key, update_key
from tests.parallel import own_redis_database
from tests.security.test_changes_apply_everywhere import redis_up
from workspaces.actors import Actor
from workspaces.models import Plan, Workspace
from workspaces.services import folder_delete

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis(settings):
    """A real Redis as the shared cache (a database of this test worker's own), emptied."""
    if not redis_up():
        pytest.skip("needs Redis on 127.0.0.1:6379")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # The database of this test worker's own cache when that is Redis (tests run one at a
            # time on a worker, each clearing it); 11 and up belong to the live servers' tests.
            "LOCATION": own_redis_database("redis://127.0.0.1:6379/9"),
        }
    }
    caches["default"].clear()
    lookup.records = lookup.Records()
    yield caches["default"]
    caches["default"].clear()


@pytest.fixture
def trips(redis, redis_trips):
    """The commands sent to Redis, in order."""
    return redis_trips


def get(client, secret, path="/acme"):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def elsewhere(monkeypatch, django_capture_on_commit_callbacks):
    """Make a change as another server would: committed (its version raised and published),
    but this process's records are not dropped by it."""

    class Elsewhere:
        def __enter__(self):
            self.patch = pytest.MonkeyPatch()
            self.patch.setattr(lookup.Records, "forget", lambda self, workspace_id=None: None)
            self.commits = django_capture_on_commit_callbacks(execute=True)
            self.commits.__enter__()
            return self

        def __exit__(self, *exc):
            self.commits.__exit__(*exc)
            self.patch.undo()

    return Elsewhere()


@pytest.mark.parametrize("shape", ["full access", "22 scopes, 50 folders"])
def test_the_steady_state_is_no_query_and_one_round_trip(client, enterprise, make_key, trips, shape):
    if shape == "full access":
        _, secret = make_key(enterprise)
    else:
        folders = [FolderFactory(workspace=enterprise).pk for _ in range(50)]
        _, secret = make_key(enterprise, scopes=list(SCOPE_NAMES), folder_ids=folders)
    assert get(client, secret).status_code == 200  # read from the database (and lastUsedAt written)
    trips.clear()
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            assert get(client, secret, "/").status_code == 200
        assert queries.captured_queries == []
    assert trips == ["EVALSHA"] * 3  # the rate limit, the usage and the record's version: one script


def test_a_process_reads_a_key_once_then_keeps_it(client, enterprise, make_key, trips):
    _, secret = make_key(enterprise)
    get(client, secret, "/")
    lookup.records.forget()  # a process that has not served it
    with CaptureQueriesContext(connection) as first:
        assert get(client, secret, "/").status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert get(client, secret, "/").status_code == 200
    assert [q["sql"].split()[0] for q in first.captured_queries] == ["SELECT"]
    assert second.captured_queries == []


def test_an_unknown_key_costs_one_query_and_one_round_trip_every_time_and_is_never_kept(
    client, enterprise, make_key, trips
):
    key, secret = make_key(enterprise)
    unknown = secret.replace(key.key_id, "zzzzzzzzzzzz")
    from apikeys import keyformat

    body = unknown[: -keyformat.CHECKSUM_LENGTH]
    unknown = body + keyformat.checksum(body)
    get(client, unknown, "/")  # this thread's connection to Redis opened, the failure counter's script loaded
    for _ in range(2):
        trips.clear()
        with CaptureQueriesContext(connection) as queries:
            assert get(client, unknown, "/").status_code == 401
        assert len(queries.captured_queries) == 1
        assert trips == ["EVALSHA"]  # the failure counted against the address
    assert all(name[2] != "zzzzzzzzzzzz" for name in lookup.records.rows)


CASES = [
    "scopes taken away",
    "scopes given",
    "disabled",
    "revoked",
    "deleted",
    "limited to another folder",
    "its folder deleted",
    "an IP allowlist",
    "the workspace renamed",
    "the workspace deleted",
    "rolled without grace",
    "its replacement's scopes, in grace",
]


@pytest.mark.parametrize("case", CASES)
def test_a_change_made_by_another_server_applies_on_the_next_request(
    client, enterprise, make_key, redis, elsewhere, case
):
    folder = FolderFactory(workspace=enterprise)
    other = FolderFactory(workspace=enterprise)
    ProjectFactory(workspace=enterprise, slug="cats", folder=folder)
    scopes = ["project:read"] if case == "scopes given" else ["workspace:read", "project:read"]
    key, secret = make_key(enterprise, scopes=scopes, folder_ids=[folder.pk])
    path = "/acme"
    replacement = None
    if case == "its replacement's scopes, in grace":
        replacement, _ = roll_key(key=key, grace=timedelta(hours=1))
    expected_before = 403 if case == "scopes given" else 200
    for _ in range(2):
        assert get(client, secret, path).status_code == expected_before
    with elsewhere:
        match case:
            case "scopes taken away":
                update_key(key=key, scopes=["project:read"])
                expected = 403
            case "scopes given":
                update_key(key=key, scopes=["project:read", "workspace:read"])
                expected = 200
            case "disabled":
                api_key_disable(key=key, actor=Actor())
                expected = 401
            case "revoked":
                api_key_revoke(key=key, actor=Actor())
                expected = 401
            case "deleted":
                ApiKey.objects.get(pk=key.pk).delete()
                expected = 401
            case "limited to another folder":
                update_key(key=key, folder_ids=[other.pk])
                path, expected = "/acme/cats", 404
            case "its folder deleted":
                folder_delete(folder=folder, actor=Actor())
                path, expected = "/acme/cats", 404
            case "an IP allowlist":
                update_key(key=key, allowed_ips=["10.0.0.0/8"])
                expected = 403
            case "the workspace renamed":
                workspace = Workspace.objects.get(pk=enterprise.pk)
                workspace.url = "acme-renamed"
                workspace.save()
                expected = 404
            case "the workspace deleted":
                Workspace.objects.get(pk=enterprise.pk).delete()
                expected = 401
            case "rolled without grace":
                roll_key(key=key)
                expected = 401
            case "its replacement's scopes, in grace":
                update_key(key=replacement, scopes=["project:read"])
                expected = 403
    if case in ("its folder deleted", "limited to another folder"):
        assert get(client, secret, "/acme").status_code == 200
    assert get(client, secret, path).status_code == expected


def test_expiry_passing_needs_no_change_at_all(client, enterprise, make_key, redis, monkeypatch):
    key, secret = make_key(enterprise, expires_at=timezone.now() + timedelta(days=1))
    assert get(client, secret).status_code == 200
    later = key.expires_at + timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    response = get(client, secret)
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_a_read_before_a_revoke_commits_and_kept_after_it_is_never_served_again(
    client, enterprise, make_key, redis, monkeypatch, django_capture_on_commit_callbacks
):
    """The classic race, interleaved on purpose: the request reads the key from the database,
    the revoke commits and publishes (its answer could be sent now), then the request keeps
    what it read and checks it: behind the revoke, so settled again on the database, refused."""
    key, secret = make_key(enterprise)
    fetch = lookup.RequestLookup.fetch
    raced = []

    def read_then_revoke(self, connection_, value):
        row = fetch(self, connection_, value)
        if not raced:
            raced.append(row)
            with django_capture_on_commit_callbacks(execute=True):
                api_key_revoke(key=ApiKey.objects.get(pk=key.pk), actor=Actor())
        return row  # read before the revoke; `find_for_request` keeps it after

    monkeypatch.setattr(lookup.RequestLookup, "fetch", read_then_revoke)
    with CaptureQueriesContext(connection) as queries:
        response = get(client, secret)
    assert raced and response.status_code == 401 and "revoked" in response.json()["error"]["message"]
    lookups = [q for q in queries.captured_queries if q["sql"].endswith(f"WHERE k.\"key_id\" = '{key.key_id}'")]
    assert len(lookups) == 2  # read, then read again
    for _ in range(2):
        response = get(client, secret)
        assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_a_kept_record_is_not_trusted_once_redis_lost_the_versions(client, enterprise, make_key, redis, elsewhere):
    key, secret = make_key(enterprise)
    assert get(client, secret).status_code == 200
    with elsewhere:
        api_key_disable(key=key, actor=Actor())
    redis.clear()  # a Redis restart: versions gone, as if the disable was never published
    with CaptureQueriesContext(connection) as queries:
        assert get(client, secret).status_code == 401
    assert queries.captured_queries  # read from the database again


def test_records_older_than_their_max_age_are_read_again(client, enterprise, make_key, redis, monkeypatch):
    _, secret = make_key(enterprise)
    get(client, secret)
    monkeypatch.setattr(lookup, "RECORD_MAX_AGE", -1.0)
    with CaptureQueriesContext(connection) as queries:
        assert get(client, secret, "/").status_code == 200
    assert len(queries.captured_queries) == 1


def test_without_redis_every_request_reads_its_key(client, enterprise, make_key, redis, settings):
    """Redis unreachable: the key is read from the database on every request (one query) and
    refused when it must be; the counts and limits fail open, as documented."""
    key, secret = make_key(enterprise)
    assert get(client, secret).status_code == 200  # kept
    down = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    with override_settings(CACHES=down):
        for _ in range(2):
            with CaptureQueriesContext(connection) as queries:
                assert get(client, secret, "/").status_code == 200
            assert len([q for q in queries.captured_queries if "key_id" in q["sql"]]) == 1
        api_key_revoke(key=key, actor=Actor())
        assert get(client, secret, "/").status_code == 401


def test_neither_the_records_nor_redis_hold_a_secret(client, enterprise, make_key, redis):
    key, secret = make_key(enterprise)
    get(client, secret)
    get(client, secret)
    kept = repr(lookup.records.rows)
    assert secret not in kept and secret[4:] not in kept
    from core.throttling import redis_client

    stored = redis_client(redis)
    for name in stored.scan_iter():
        value = stored.dump(name) or b""
        for text in (secret, secret.split("_")[-1], key.digest):
            assert text.encode() not in name and text.encode() not in value


def test_a_plan_change_is_a_change_too(client, enterprise, make_key, redis, elsewhere):
    _, secret = make_key(enterprise, scopes=["workspace:read"])
    for _ in range(2):
        assert get(client, secret).json()["workspace"]["plan"] == Plan.ENTERPRISE
    version = Workspace.objects.get(pk=enterprise.pk).key_version
    with elsewhere:
        workspace = Workspace.objects.get(pk=enterprise.pk)
        workspace.plan = Plan.FREE
        workspace.save()
    assert Workspace.objects.get(pk=enterprise.pk).key_version == version + 1
    assert get(client, secret).json()["workspace"]["plan"] == Plan.FREE


def test_saving_a_workspace_read_before_a_change_never_lowers_its_version(enterprise, make_key, redis, elsewhere):
    key, _ = make_key(enterprise)
    read_before = Workspace.objects.get(pk=enterprise.pk)
    with elsewhere:
        api_key_disable(key=key, actor=Actor())
    raised = Workspace.objects.get(pk=enterprise.pk).key_version
    with elsewhere:
        read_before.name = "Acme Renamed"
        read_before.save()
    after = Workspace.objects.get(pk=enterprise.pk)
    assert after.name == "Acme Renamed" and after.key_version == raised + 1


def test_the_round_trip_counts_usage_that_a_flush_moves_to_rows(client, enterprise, make_key, redis):
    from apikeys import usage
    from apikeys.models import KeyUsage

    key, secret = make_key(enterprise, scopes=["workspace:read"])
    for _ in range(3):
        assert (
            get(
                client,
                secret,
                "/acme",
            ).status_code
            == 200
        )
    assert usage._counter_prefix(redis) + "7:20261204:" == redis.make_key("usage:n:7:20261204:")
    assert usage.move({key.pk}).requests == 3
    counted = dict(KeyUsage.objects.filter(api_key=key).values_list("scope", "requests"))
    assert counted == {usage.TOTAL: 3, "workspace:read": 3}
    assert ApiKey.objects.get(pk=key.pk).last_used_ip == "127.0.0.1"


def test_a_request_while_a_flush_holds_a_counter_is_counted_once_and_a_lost_entry_heals(
    client, enterprise, make_key, redis
):
    """A flush takes an entry out of the pending set, then its counter's value; a request in
    between adds to the value the flush takes and makes the entry pending again (the next
    flush finds no value and moves nothing twice). An entry lost for good (a flush cut off
    between the two, an evicted set) is pending again at the key's next request."""
    from apikeys import usage
    from apikeys.models import KeyUsage
    from core.throttling import redis_client

    key, secret = make_key(enterprise, scopes=["workspace:read"])
    store, pending = redis_client(redis), redis.make_key(usage.PENDING)
    assert get(client, secret).status_code == 200
    members = sorted(m.decode() for m in store.smembers(pending))
    assert members == sorted([*usage.Use(key.pk, ("workspace:read",), None, "").counters(), f"last:{key.pk}"])
    store.srem(pending, *members)  # a flush holds them ...
    assert get(client, secret).status_code == 200  # ... when a request lands
    taken = {m: store.getdel(redis.make_key(usage._entry(m))) for m in members}  # the flush takes them
    assert taken[usage.Use(key.pk, (), None, "").counters()[0]] == b"2"
    assert usage.move({key.pk}).requests == 0  # pending again, but nothing left to move
    assert get(client, secret).status_code == 200  # counted ...
    store.delete(pending)  # ... and its entries lost (evicted, say)
    assert get(client, secret).status_code == 200
    assert usage.move({key.pk}).requests == 2
    assert dict(KeyUsage.objects.filter(api_key=key).values_list("scope", "requests")) == {
        usage.TOTAL: 2,  # (the first two were taken by the hand-made flush above)
        "workspace:read": 2,
    }


def test_the_round_trip_survives_redis_forgetting_the_script_and_a_lost_connection(
    client, enterprise, make_key, redis, trips
):
    from apikeys import usage
    from core import throttling

    key, secret = make_key(enterprise, scopes=["workspace:read"])
    assert get(client, secret).status_code == 200
    store = throttling.redis_client(redis)
    store.script_flush()  # Redis restarted, say: it knows no script
    trips.clear()
    assert get(client, secret).status_code == 200
    assert trips == ["EVALSHA", "EVAL"]  # by digest, refused, then whole (and known again)
    own = throttling._own_connection(redis)
    own.send_command("CLIENT", "ID")
    store.client_kill_filter(_id=own.read_response())  # the server dropped this process's connection
    trips.clear()
    assert get(client, secret).status_code == 200
    # Sent, lost; sent again on a new connection (which first says HELLO).
    assert [name for name in trips if name.startswith("EVAL")] == ["EVALSHA", "EVALSHA"] and "HELLO" in trips
    assert usage.move({key.pk}).requests == 3  # each request counted once


def test_a_forked_process_opens_its_own_connection(redis, monkeypatch):
    from core import throttling

    mine = throttling._own_connection(redis)
    assert throttling._own_connection(redis) is mine
    monkeypatch.setattr(throttling.os, "getpid", lambda: -1)  # a child of this process
    assert throttling._own_connection(redis) is not mine


def test_a_database_behind_redis_is_served_from_the_database_and_never_kept(client, enterprise, make_key, redis):
    """After a restore from a backup, say, Redis holds versions the database never reached: a
    request is settled again once, then served on what the database holds (no loop, no 500)."""
    from core.throttling import run_script

    key, secret = make_key(enterprise, scopes=["workspace:read"])
    ahead = Workspace.objects.get(pk=enterprise.pk).key_version + 10
    run_script(redis, lookup.PUBLISH, [lookup.version_key(redis, enterprise.pk)], [ahead])
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert get(client, secret).status_code == 200
        lookups = [q for q in queries.captured_queries if q["sql"].endswith(f"WHERE k.\"key_id\" = '{key.key_id}'")]
        assert len(lookups) == 2  # read, behind; read again, served
        assert not lookup.records.rows
    from apikeys import usage

    assert usage.move({key.pk}).requests == 2  # each counted once


def test_a_redis_that_stops_answering_is_waited_for_once_then_left_alone_a_moment(
    client, enterprise, make_key, redis_trips, monkeypatch
):
    """Redis accepts connections but answers nothing: the first request waits REDIS_TIMEOUT and
    is served (limits fail open, the key read from the database); the next ones in the pause do
    not try Redis at all, then it is tried again. A revoke still applies, on the database."""
    import socket

    key, secret = make_key(enterprise, scopes=["workspace:read"])
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # connections complete in the kernel; nothing is ever read or written
        silent_redis = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
            "OPTIONS": {"socket_connect_timeout": 0.1, "socket_timeout": 0.1},
        }
        with override_settings(CACHES={"default": silent_redis}):
            lookup.records = lookup.Records()
            assert get(client, secret).status_code == 200
            assert redis_trips  # tried, and timed out
            redis_trips.clear()
            for _ in range(3):
                with CaptureQueriesContext(connection) as queries:
                    assert get(client, secret).status_code == 200
                assert len([q for q in queries.captured_queries if "apikeys_apikey" in q["sql"]]) == 1
            assert redis_trips == []  # in the pause: not tried
            monkeypatch.setattr(lookup.records, "paused_until", 0.0)  # the pause is over
            assert get(client, secret).status_code == 200
            assert redis_trips  # tried again
            api_key_revoke(key=ApiKey.objects.get(pk=key.pk), actor=Actor())
            assert get(client, secret).status_code == 401


def test_a_flush_takes_its_entries_in_batches_and_keeps_what_it_took_when_one_fails(
    client, enterprise, make_key, redis, monkeypatch
):
    from redis.client import Pipeline

    from apikeys import usage
    from apikeys.models import KeyUsage

    monkeypatch.setattr(usage, "TAKE_BATCH", 2)
    keys = [make_key(enterprise, name=f"k{n}", scopes=["workspace:read"]) for n in range(3)]
    for _, secret in keys:
        assert get(client, secret).status_code == 200
    execute, batches = Pipeline.execute, []

    def second_fails(self, *args, **kwargs):
        batches.append(len(self.command_stack))
        if len(batches) == 2:
            raise ConnectionError("the cache went away")
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", second_fails)
    moved = usage.flush()
    monkeypatch.undo()
    assert batches[:2] == [4, 4]  # 2 entries a batch, each taken out of the set and read: 4 commands
    assert 0 < moved < 3  # the first batch moved; the rest is still pending
    assert moved + usage.flush() == 3
    assert sum(KeyUsage.objects.filter(scope=usage.TOTAL).values_list("requests", flat=True)) == 3


@pytest.mark.parametrize("changes", [2, 3])
def test_changes_landing_between_each_read_and_its_check_are_settled_again_each_time(
    client, enterprise, make_key, redis, monkeypatch, django_capture_on_commit_callbacks, changes
):
    """Between the request's read and its check a change commits and publishes, and again after
    the request read the database again: settled a third time, it sees the revoke (2 changes).
    Changes that keep coming (3): a 503 after three reads, never a request let through."""
    key, secret = make_key(enterprise, scopes=["workspace:read"])
    fetch = lookup.RequestLookup.fetch
    made = []

    def read_then_change(self, connection_, value):
        row = fetch(self, connection_, value)
        if len(made) < changes:
            made.append(row)
            with django_capture_on_commit_callbacks(execute=True):
                if changes == 2 and len(made) == 2:
                    api_key_revoke(key=ApiKey.objects.get(pk=key.pk), actor=Actor())
                else:
                    update_key(key=key, name=f"renamed {len(made)}")
        return row

    monkeypatch.setattr(lookup.RequestLookup, "fetch", read_then_change)
    response = get(client, secret)
    assert len(made) == changes
    if changes == 2:
        assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]
    else:
        assert response.status_code == 503 and response.json()["error"]["type"] == "key_changing"
