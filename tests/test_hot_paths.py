"""Queries and cache round trips of the hot paths, counted (the speed itself is `make bench`'s
to measure, never a timed assertion here)."""

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import FolderFactory, ImageFactory, ProjectFactory, VersionFactory

pytestmark = pytest.mark.django_db


def queries(client, path, secret) -> list[str]:
    client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}")  # lastUsedAt written, at most once a minute
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200, response.content
    return [q["sql"] for q in captured.captured_queries]


@pytest.fixture
def world(enterprise, make_key):
    folder = FolderFactory(workspace=enterprise)
    project = ProjectFactory(workspace=enterprise, slug="cats", folder=folder)
    for _ in range(3):
        ImageFactory(project=project)
    VersionFactory(project=project, number=1)
    VersionFactory(project=project, number=2)
    return {"folder": folder, "project": project, "full": make_key(enterprise, name="full")[1]}


@pytest.mark.parametrize(("path", "most"), [("/acme", 3), ("/acme/cats", 3), ("/", 1)])
def test_resource_reads_take_at_most_three_queries_and_write_nothing(client, world, path, most):
    sql = queries(client, path, world["full"])
    assert len(sql) <= most, sql
    assert not [q for q in sql if not q.lstrip().upper().startswith("SELECT")]


def test_a_folder_limited_key_costs_no_more_queries(client, world, enterprise, make_key):
    folders = [world["folder"].pk] + [FolderFactory(workspace=enterprise).pk for _ in range(49)]
    _, limited = make_key(enterprise, name="limited", scopes=["workspace:read", "project:read"], folder_ids=folders)
    assert len(queries(client, "/acme/cats", limited)) == len(queries(client, "/acme/cats", world["full"]))


def test_the_key_list_takes_the_same_queries_for_five_keys_and_five_hundred(client, world, enterprise, make_key):
    from apikeys.models import ApiKey

    for n in range(4):
        make_key(enterprise, name=f"k{n}", scopes=["image:read"], folder_ids=[world["folder"].pk])
    few = queries(client, "/acme/api-keys?includeFolders=true", world["full"])
    ApiKey.objects.bulk_create(
        ApiKey(workspace=enterprise, key_id=f"bulk{n:08d}", digest="0" * 64, name=f"bulk {n}") for n in range(495)
    )
    many = queries(client, "/acme/api-keys?includeFolders=true", world["full"])
    # The key; the flush of the cache's usage counts (this request's own among them), in one
    # transaction: which keys still exist (and where they were last used from), one upsert of
    # the counts (no update: the same client as before); then the key rows, their usage and
    # the folder names. Six statements, and the flush's transaction (a savepoint in a test).
    assert len(many) == len(few), many
    assert [q.split(" ", 1)[0] for q in many if "SAVEPOINT" in q] == ["SAVEPOINT", "RELEASE"], many
    assert len(many) - 2 <= 6, many


@pytest.mark.parametrize("limit", ["1000/min", "off"])
def test_the_rate_limit_and_the_usage_count_are_one_cache_round_trip(
    client, world, settings, monkeypatch, redis_trips, limit
):
    from django.core.cache.backends.redis import RedisCache

    settings.API_RATE_LIMIT = limit
    backend = caches["default"]
    trips: list[str] = []
    secret = world["full"]
    client.get("/acme", HTTP_AUTHORIZATION=f"Bearer {secret}")  # the script loaded, lastUsedAt written
    if isinstance(backend, RedisCache):
        redis_trips.clear()
        trips = redis_trips
    else:
        for name in ("add", "incr", "get", "set"):
            original = getattr(backend, name)
            monkeypatch.setattr(backend, name, lambda *a, _n=name, _f=original, **k: (trips.append(_n), _f(*a, **k))[1])
    assert client.get("/acme", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    if isinstance(backend, RedisCache):
        # One command: the script that counts the limit's hit and the key's usage (its
        # counters for all requests and for workspace:read, where it came from, the pending set).
        assert trips == ["EVALSHA"]
    else:  # in process: the usage counters under one lock, then the limit's add and incr
        limited = ["add", "incr"] if limit != "off" else []
        assert trips == ["add", "incr", "add", "incr", "set", "get", "set", *limited]


@pytest.mark.parametrize(
    "page", ["/admin/apikeys/apikey/", "/admin/apikeys/auditevent/", "/admin/apikeys/keyusage/", "/admin/"]
)
def test_the_admin_lists_take_the_same_queries_for_few_keys_and_many(client, enterprise, make_key, page):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apikeys.models import KeyUsage
    from apikeys.services import api_key_disable, api_key_enable

    operator = get_user_model().objects.create_superuser("ops@example.com", "ops@example.com", "x-long-password")
    client.force_login(operator)

    def count() -> int:
        client.get(page)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(page).status_code == 200
        return len(captured.captured_queries)

    def add(n):
        for i in range(n):
            key, _ = make_key(enterprise, name=f"k{i}", scopes=["image:read"])
            api_key_disable(key=key, actor=Actor(user=operator))
            api_key_enable(key=key, actor=Actor(user=operator))
            KeyUsage.objects.create(api_key=key, day=timezone.now().date(), scope="", requests=i + 1)
            KeyUsage.objects.create(api_key=key, day=timezone.now().date(), scope="image:read", requests=i + 1)

    from workspaces.actors import Actor

    add(3)
    few = count()
    add(60)
    assert count() == few


def test_postgresql_plans_a_repeated_read_once_per_connection(client, world):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgres://...)")
    for _ in range(7):
        assert client.get("/acme/cats", HTTP_AUTHORIZATION=f"Bearer {world['full']}").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("workspaces_project" in sql for sql in prepared), prepared
