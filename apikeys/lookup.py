"""The hot path's one query: a key, its workspace and its folder ids, by raw SQL built once per
database and column, turned into model instances by the converters Django itself would use.

It leans on parts of Django below the ORM's public face (a field's `get_col`, the backends'
converters, `Model.from_db`, a relation's field cache) and on one aggregate per database
(`string_agg` on PostgreSQL, `group_concat` on SQLite): tests/test_framework_pins.py pins each,
and that the instances match what the ORM loads, so that an upgrade fails there, by name.
"""

from django.db import connections, router

from workspaces.models import Workspace

from .models import ApiKey


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
        self.converters = []
        for position, col in enumerate(columns):
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if found:
                self.converters.append((position, found, col))
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

    def load(self, connection, value) -> "ApiKey | None":
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [value])
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for position, converters, col in self.converters:
            for converter in converters:
                row[position] = converter(row[position], col, connection)
        split = len(self.key_fields)
        key = ApiKey.from_db(connection.alias, self.key_names, row[:split])
        workspace = Workspace.from_db(connection.alias, self.workspace_names, row[split:-1])
        ApiKey._meta.get_field("workspace").set_cached_value(key, workspace)
        if key.folders_limited:
            key.loaded_folder_ids = sorted(int(i) for i in (row[-1] or "").split(",") if i)  # type: ignore[attr-defined]
        return key


_lookups: dict[tuple[str, str], RequestLookup] = {}


def find_for_request(*, key_id: str | None = None, rolled_from: ApiKey | None = None) -> "ApiKey | None":
    """The key with this key id (or the replacement of a rolled key), its workspace and its
    folder limit, in one query."""
    alias = router.db_for_read(ApiKey)
    connection = connections[alias]
    column, value = ("key_id", key_id) if rolled_from is None else ("rolled_from_id", rolled_from.pk)
    lookup = _lookups.get((alias, column))
    if lookup is None:
        lookup = _lookups[(alias, column)] = RequestLookup(connection, column)
    return lookup.load(connection, value)
