"""The framework internals the hot paths and the schema lean on, pinned in one place: an upgrade
of Django or drf-spectacular that changes one of them fails here, by name, rather than somewhere
far away (a wrong schema, a query that reads the wrong columns)."""

import inspect

import pytest
from django.db.models import Count
from drf_spectacular.openapi import AutoSchema

from apikeys.schema import ScopedAutoSchema
from workspaces.models import Project

pytestmark = pytest.mark.django_db


def overridden_private_methods() -> list[str]:
    """The private methods of drf-spectacular's AutoSchema that ours overrides."""
    return sorted(
        name
        for name, member in vars(ScopedAutoSchema).items()
        if name.startswith("_") and not name.startswith("__") and callable(member) and hasattr(AutoSchema, name)
    )


def test_the_schema_overrides_some_private_methods_of_drf_spectacular():
    assert {"_map_basic_serializer", "_map_serializer_field", "_get_request_body"} <= set(overridden_private_methods())


@pytest.mark.parametrize("name", overridden_private_methods())
def test_each_overridden_private_method_keeps_its_signature(name):
    """Ours is called where theirs was: the same parameters, in the same order."""
    theirs = inspect.signature(getattr(AutoSchema, name))
    ours = inspect.signature(getattr(ScopedAutoSchema, name))
    assert list(ours.parameters) == list(theirs.parameters), f"AutoSchema.{name}{theirs} changed"


def test_the_compiler_parts_that_prepared_sql_reads():
    """`workspaces.prepared` compiles a queryset once and reads these parts of Django's SQL
    compiler to turn rows into objects later: their names and shapes."""
    queryset = Project.objects.filter(slug="x").annotate(n=Count("images"))
    compiler = queryset.query.get_compiler(using="default")
    sql, params = compiler.as_sql()
    assert "x" in params and isinstance(sql, str)
    columns = [column for column, _, _ in compiler.select[: compiler.col_count]]
    assert columns and all(hasattr(column, "target") for column in columns[:1])
    assert isinstance(compiler.get_converters(columns), dict)
    select_fields = compiler.klass_info["select_fields"]
    assert select_fields == list(range(select_fields[0], select_fields[-1] + 1))
    assert "n" in compiler.annotation_col_map
    assert list(compiler.apply_converters([], {})) == []
    values = Project.objects.values("slug")
    assert values._fields == ("slug",) and values.query.get_compiler(using="default").klass_info is None
    assert queryset._fields is None


def test_the_parts_of_django_the_key_lookup_reads(enterprise):
    """`apikeys.lookup` builds its SQL from fields' columns, converts values with the backend's
    converters and makes instances with `from_db`: their names and shapes."""
    from django.db import connection
    from django.db.models import Model

    from apikeys.models import ApiKey

    field = ApiKey._meta.get_field("scopes")  # JSON: a column with converters on every backend
    col = field.get_col("k")
    assert col.alias == "k" and col.target is field
    converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
    assert converters and all(callable(c) and len(inspect.signature(c).parameters) == 3 for c in converters)
    assert list(inspect.signature(Model.from_db.__func__).parameters)[:4] == ["cls", "db", "field_names", "values"]
    relation = ApiKey._meta.get_field("workspace")
    key = ApiKey(workspace_id=enterprise.pk)
    relation.set_cached_value(key, enterprise)
    assert relation.is_cached(key) and key.workspace is enterprise
    aggregate = "string_agg" if connection.vendor == "postgresql" else "group_concat"
    with connection.cursor() as cursor:  # the aggregate the folder ids are read with, on this database
        cursor.execute(f"SELECT {aggregate}(v, ',') FROM (SELECT '1' AS v UNION ALL SELECT '2') t")  # noqa: S608 - one of two constant names
        assert sorted(cursor.fetchone()[0].split(",")) == ["1", "2"]


def test_the_key_lookup_loads_what_the_orm_loads(enterprise, make_key):
    """Every column of the key and of its workspace, converted as the ORM converts them (dates,
    JSON, addresses), and the folder ids, from one query."""
    from datetime import timedelta

    from django.utils import timezone

    from apikeys.lookup import find_for_request
    from apikeys.models import ApiKey
    from tests.factories import FolderFactory
    from workspaces.models import Workspace

    folders = sorted(FolderFactory(workspace=enterprise).pk for _ in range(3))
    key, _ = make_key(
        enterprise,
        scopes=["image:read"],
        folder_ids=folders,
        custom_metadata={"team": "ml", "n": 2},
        expires_at=timezone.now() + timedelta(days=3),
        allowed_ips=["10.0.0.0/8"],
    )
    ApiKey.objects.filter(pk=key.pk).update(last_used_ip="2001:db8::1", last_used_at=timezone.now())
    found = find_for_request(key_id=key.key_id)
    orm = ApiKey.objects.get(pk=key.pk)
    for field in ApiKey._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(orm, field.attname), field.name
    for field in Workspace._meta.concrete_fields:
        assert getattr(found.workspace, field.attname) == getattr(enterprise, field.attname), field.name
    assert found.folder_limit() == folders
    assert find_for_request(key_id="no-such-key") is None


def test_the_key_lookup_makes_instances_as_from_db_does(enterprise, make_key, monkeypatch):
    """Instances are made without `Model.__init__` (`lookup._instance`): the same values and
    state as `from_db`, so long as nobody listens to `pre_init` or `post_init` for the two
    models. And each request's instances are its own, JSON values included."""
    from django.db import connection
    from django.db.models.signals import post_init, pre_init

    from apikeys import lookup
    from apikeys.models import ApiKey
    from workspaces.models import Workspace

    for model in (ApiKey, Workspace):
        assert not pre_init.has_listeners(model) and not post_init.has_listeners(model), model
    assert lookup.RequestLookup(connection, "key_id").plain
    noted = []
    post_init.connect(listener := lambda **kwargs: noted.append(kwargs["instance"]), sender=ApiKey)
    try:  # someone listens: instances are made by `from_db` (which sends the signal)
        assert not lookup.RequestLookup(connection, "key_id").plain
    finally:
        post_init.disconnect(listener, sender=ApiKey)
    key, _ = make_key(enterprise, scopes=["image:read"], allowed_ips=["10.0.0.0/8"], custom_metadata={"a": "b"})
    monkeypatch.setattr(lookup, "shared_cache", object)  # as with Redis: what is read is kept
    first = lookup.find_for_request(key_id=key.key_id)  # read, and kept
    again = lookup.find_for_request(key_id=key.key_id, cached=True)
    assert again.cached and not first.cached
    for found, model in ((first, ApiKey), (first.workspace, Workspace)):
        names = [f.attname for f in model._meta.concrete_fields]
        made = model.from_db("default", names, [getattr(found, n) for n in names])
        assert {k: v for k, v in vars(found).items() if k in names} == {
            k: v for k, v in vars(made).items() if k in names
        }
        assert (found._state.adding, found._state.db) == (made._state.adding, made._state.db) == (False, "default")
    first.scopes.append("model:delete")
    first.custom_metadata["a"] = "changed"
    assert again.scopes == ["image:read"] and again.custom_metadata == {"a": "b"}
    assert lookup.find_for_request(key_id=key.key_id, cached=True).allowed_ips == ["10.0.0.0/8"]


def test_the_task_worker_that_manage_py_work_runs():
    """`manage.py work` builds django-tasks-db's worker itself (it is the management command's
    class, not a documented API) and runs it beside the sweep: its keyword arguments and the
    methods called."""
    from django_tasks_db.management.commands.db_worker import Worker

    expected = ["queue_names", "interval", "batch", "backend_name", "startup_delay", "max_tasks", "worker_id"]
    assert list(inspect.signature(Worker.__init__).parameters)[1:] == [*expected, "excluded_queue_names"]
    assert callable(Worker.run) and callable(Worker.configure_signals)


def test_the_parts_of_redis_py_that_run_script_uses():
    """`core.throttling.run_script` makes a connection from a pool's class and arguments and
    talks through it alone: a command packed, sent, its reply read (tests/apikeys/
    test_key_records.py runs it against Redis: a forgotten script, a lost connection)."""
    from redis.connection import AbstractConnection, ConnectionPool
    from redis.exceptions import ConnectionError, NoScriptError, ResponseError

    pool = ConnectionPool.from_url("redis://127.0.0.1:6379/0", socket_timeout=1.0)
    assert pool.connection_kwargs["socket_timeout"] == 1.0 and issubclass(pool.connection_class, AbstractConnection)
    for name in ("pack_command", "send_packed_command", "read_response", "disconnect"):
        assert callable(getattr(pool.connection_class, name)), name
    packed = pool.connection_class(**pool.connection_kwargs).pack_command("EVALSHA", "f" * 40, 1, "k", 5)
    assert b"".join(packed) == b"*5\r\n$7\r\nEVALSHA\r\n$40\r\n" + b"f" * 40 + b"\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\n5\r\n"
    assert issubclass(NoScriptError, ResponseError) and not issubclass(ConnectionError, ResponseError)
