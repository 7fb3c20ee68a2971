"""The hot path's key record: a key, its workspace and its folder ids, read by one query or
kept in this process between requests, and the versions that tell a server when a kept
record is out of date.

**Reading.** Raw SQL built once per database and column, turned into model instances by the
converters Django itself would use. It leans on parts of Django below the ORM's public face
(a field's `get_col`, the backends' converters, `Model.from_db`, a relation's field cache) and
on one aggregate per database (`string_agg` on PostgreSQL, `group_concat` on SQLite):
tests/test_framework_pins.py pins each, and that the instances match what the ORM loads, so
that an upgrade fails there, by name.

**Keeping.** With Redis as the shared cache, a process keeps the rows it read (never a
secret: the key's digest, as the database holds it) and serves later requests from them. A
kept record is never trusted alone: the request's one round trip to Redis, the one that counts
its rate limit and usage (`usage.record`), also compares the record's version with the
workspace's shared version, and a record behind it is dropped and the request settled again
on the database before anything else runs (`StaleRecord`). So nothing is read from the
database in the steady state, and a change applies on the next request in every process:

- Every committed change to what a workspace's keys may do (a key saved or deleted, its
  folders, the workspace saved or deleted, a folder deleted) raises the workspace's
  `key_version` in the database and then the shared version in Redis, before the change's
  answer is sent (`changed`, from the model signals in `apps.py`).
- A record carries the `key_version` read in the same query as the key. A request that read
  the database before a change committed, and checks its record after the change published
  its version, holds an older version than the shared one: its record is dropped and the
  request settled again on the database, which now holds the change. So once a change's
  answer is sent, no request is let through on what it changed, however the two interleave.
  A request settled again and still behind asks the database for the workspace's version: a
  newer one (yet another change) settles it again, up to a few times (then a 503); none
  newer means the database holds less than Redis (a restore from a backup, say), and the
  request is served on what the database holds, and nothing is kept.
- The shared version only grows (the largest any server published or read). If Redis lost it
  (a restart), a kept record is not trusted: the request reads the database, and publishes
  what it read.
- Records older than RECORD_MAX_AGE are read again, a bound on anything that changed the
  database without the models (a manual SQL edit) or whose publication failed (Redis down).
- Without Redis (the local-memory cache of development, or Redis unreachable), nothing is
  kept: every request reads its key, in one query.
"""

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connections, router, transaction
from django.db.models import F, JSONField
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from core.throttling import run_script
from workspaces.models import Workspace

from .models import ApiKey

log = logging.getLogger(__name__)

RECORD_MAX_AGE = 60.0  # seconds a kept record is served before it is read again
MAX_RECORDS = 10_000  # kept per process, the least recently used dropped first
PAUSE = 1.0  # seconds nothing is kept after Redis could not be reached
GONE = 1 << 62  # the shared version of a deleted workspace: above any it ever had


class RequestLookup:
    """The SQL that loads a key, its workspace and (when it is limited to folders) its folder
    ids in one query, and the converters of its columns: built once per database and column,
    as the hot path of every API request. Django's query compiler would cost more than the
    query itself (it did: twice the time of the whole rest of authentication)."""

    def __init__(self, connection, column: str):
        qn = connection.ops.quote_name
        self.key_fields = ApiKey._meta.concrete_fields
        self.workspace_fields = Workspace._meta.concrete_fields
        self.key_names = [f.attname for f in self.key_fields]
        self.workspace_names = [f.attname for f in self.workspace_fields]
        columns = [f.get_col("k") for f in self.key_fields] + [f.get_col("w") for f in self.workspace_fields]
        # Converted once, when read; JSON (lists and dicts) converted for each request instead,
        # so that nothing a request does to its key's values reaches another request.
        self.converters: list[tuple] = []
        self.fresh: list[tuple] = []
        for position, col in enumerate(columns):
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if found:
                (self.fresh if isinstance(col.target, JSONField) else self.converters).append((position, found, col))
        # Instances made without `Model.__init__` unless something listens to its signals.
        self.plain = not any(signal.has_listeners(m) for signal in (pre_init, post_init) for m in (ApiKey, Workspace))
        through = ApiKey.folders.through._meta.db_table
        folder_id = "f.folder_id::text" if connection.vendor == "postgresql" else "f.folder_id"
        aggregate = "string_agg" if connection.vendor == "postgresql" else "group_concat"
        selected = ", ".join(
            [f"k.{qn(f.column)}" for f in self.key_fields] + [f"w.{qn(f.column)}" for f in self.workspace_fields]
        )
        # Table and column names come from the models, quoted by the backend; the value is a parameter.
        self.sql = (
            f"SELECT {selected}, CASE WHEN k.{qn('folders_limited')} THEN "  # noqa: S608
            f"(SELECT {aggregate}({folder_id}, ',') FROM {qn(through)} f WHERE f.{qn('apikey_id')} = k.{qn('id')}) END "
            f"FROM {qn(ApiKey._meta.db_table)} k INNER JOIN {qn(Workspace._meta.db_table)} w "
            f"ON (k.{qn('workspace_id')} = w.{qn('id')}) WHERE k.{qn(column)} = %s"
        )

    def fetch(self, connection, value) -> tuple | None:
        """The row of the key, its values converted as the ORM would (but JSON), and its folder
        ids parsed."""
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [value])
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for position, converters, col in self.converters:
            for converter in converters:
                row[position] = converter(row[position], col, connection)
        row[-1] = tuple(sorted(int(i) for i in (row[-1] or "").split(",") if i))
        return tuple(row)

    def build(self, alias: str, row: tuple, *, cached: bool) -> ApiKey:
        """New instances from a row: nothing a request does to its key reaches another's."""
        values = list(row)
        connection = connections[alias]
        for position, converters, col in self.fresh:
            for converter in converters:
                values[position] = converter(values[position], col, connection)
        split = len(self.key_fields)
        make = _instance if self.plain else _from_db
        key = make(ApiKey, alias, self.key_names, values[:split])
        workspace = make(Workspace, alias, self.workspace_names, values[split:-1])
        ApiKey._meta.get_field("workspace").set_cached_value(key, workspace)
        if key.folders_limited:
            key.loaded_folder_ids = list(values[-1])  # type: ignore[attr-defined]
        key.cached = cached  # type: ignore[attr-defined]
        return key


def _from_db(model, alias: str, names: list[str], values: list):
    return model.from_db(alias, names, values)


def _instance(model, alias: str, names: list[str], values: list):
    """What `model.from_db(alias, names, values)` makes, for a model whose concrete fields are
    all plain attributes, and with no receiver of `pre_init` or `post_init` (so nothing in
    `Model.__init__` but the values and the state; tests/test_framework_pins.py checks that
    the two make the same), in a third of the time."""
    instance = model.__new__(model)
    instance.__dict__.update(zip(names, values, strict=True))
    state = instance._state = ModelState()
    state.adding, state.db = False, alias
    return instance


_lookups: dict[tuple[str, str], RequestLookup] = {}


class Records:
    """The rows this process keeps: (database, column, value) → (row, its workspace id, when
    read), the least recently used dropped beyond MAX_RECORDS."""

    def __init__(self):
        self.rows: OrderedDict[tuple, tuple[tuple, int, float]] = OrderedDict()
        self.lock = threading.Lock()
        self.paused_until = 0.0

    def pause(self) -> None:
        """Redis could not be reached: drop every row, keep none for PAUSE seconds."""
        with self.lock:
            self.rows.clear()
            self.paused_until = time.monotonic() + PAUSE

    def paused(self) -> bool:
        return bool(self.paused_until) and time.monotonic() < self.paused_until

    def get(self, name: tuple) -> tuple | None:
        if self.paused():
            return None
        with self.lock:
            found = self.rows.get(name)
            if found is None:
                return None
            if time.monotonic() - found[2] > RECORD_MAX_AGE:
                del self.rows[name]
                return None
            self.rows.move_to_end(name)
            return found[0]

    def put(self, name: tuple, row: tuple, workspace_id: int) -> None:
        if self.paused():
            return
        with self.lock:
            self.rows[name] = (row, workspace_id, time.monotonic())
            self.rows.move_to_end(name)
            while len(self.rows) > MAX_RECORDS:
                self.rows.popitem(last=False)

    def forget(self, workspace_id: int | None = None) -> None:
        """Drop the rows of a workspace's keys (of every key, with None)."""
        with self.lock:
            if workspace_id is None:
                self.rows.clear()
            else:
                for name in [n for n, (_, ws, _) in self.rows.items() if ws == workspace_id]:
                    del self.rows[name]


records = Records()


def shared_cache() -> RedisCache | None:
    """The shared cache that versions live in, or None (records are then never kept)."""
    backend = caches["default"]
    return backend if isinstance(backend, RedisCache) else None


def find_for_request(
    *, key_id: str | None = None, rolled_from: ApiKey | None = None, cached: bool = False
) -> "ApiKey | None":
    """The key with this key id (or the replacement of a rolled key), its workspace and its
    folder limit: in one query, or with `cached` from this process's records when it holds
    them (`key.cached` says which; the caller must then have the record's version checked,
    as `usage.record` does). What is read is kept when Redis can check it later."""
    alias = router.db_for_read(ApiKey)
    column, value = ("key_id", key_id) if rolled_from is None else ("rolled_from_id", rolled_from.pk)
    lookup = _lookups.get((alias, column))
    if lookup is None:
        lookup = _lookups[(alias, column)] = RequestLookup(connections[alias], column)
    name = (alias, column, value)
    if cached and (row := records.get(name)) is not None:
        return lookup.build(alias, row, cached=True)
    row = lookup.fetch(connections[alias], value)
    if row is None:
        return None
    key = lookup.build(alias, row, cached=False)
    if shared_cache() is not None:
        records.put(name, row, key.workspace_id)
    return key


# Versions -----------------------------------------------------------------------------


class StaleRecord(Exception):
    """A kept record is behind its workspace's shared version, or could not be checked: the
    request must be settled again on the database."""


KEPT, READ, FINAL = "kept", "read", "final"


@dataclass(frozen=True)
class Check:
    """What the request's round trip compares: the version of the record its key came from,
    and what may be done if it is behind: a record kept by this process (KEPT) or read for this
    request (READ) makes the request settled again on the database (StaleRecord); one read
    when it was settled again (FINAL) too if the database holds a newer version, and is served
    (not kept) if it does not."""

    workspace_id: int
    version: int
    mode: str

    @classmethod
    def of(cls, key: ApiKey, *, may_settle_again: bool) -> "Check":
        if getattr(key, "cached", False):
            return cls(key.workspace_id, key.workspace.key_version, KEPT)
        return cls(key.workspace_id, key.workspace.key_version, READ if may_settle_again else FINAL)


def database_version(workspace_id: int) -> float:
    """The workspace's `key_version` as the database holds it now (infinite once it is deleted)."""
    found = Workspace.objects.filter(pk=workspace_id).values_list("key_version", flat=True).first()
    return float("inf") if found is None else found


def version_key(backend: RedisCache, workspace_id: int) -> str:
    return backend.make_key(f"keyrec:v:{workspace_id}")


# KEYS[1]: the shared version; ARGV[1]: the version to publish. It only grows.
PUBLISH = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
"""


def _publish(workspace_id: int, version: int) -> None:
    backend = shared_cache()
    records.forget(workspace_id)
    if backend is None:
        return
    run_script(backend, PUBLISH, [version_key(backend, workspace_id)], [version])


def _raise_version(workspace_id: int) -> None:
    """After a commit: raise the workspace's `key_version`, then publish it. If Redis cannot be
    reached, other servers read the change once their records reach RECORD_MAX_AGE (or at
    once, while they cannot reach Redis either): said in the log."""
    Workspace.objects.filter(pk=workspace_id).update(key_version=F("key_version") + 1)
    version = Workspace.objects.filter(pk=workspace_id).values_list("key_version", flat=True).first()
    try:
        _publish(workspace_id, GONE if version is None else version)
    except Exception:
        log.error(
            "A change to the keys of workspace %s was not published to Redis: other servers apply it within %d s.",
            workspace_id,
            RECORD_MAX_AGE,
            exc_info=True,
        )


def changed(workspace_id: int | None, using: str | None = None) -> None:
    """Something that decides what the workspace's keys may do changed: this process drops its
    records of them now, and once the change commits every server does (before the change's
    answer is sent)."""
    if workspace_id is None:
        return
    records.forget(workspace_id)
    transaction.on_commit(partial(_raise_version, workspace_id), using=using)
