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
