"""Querysets compiled to SQL once, then run many times with new values.

Django builds and compiles a queryset's SQL each time it is evaluated. For the reads that
every API request makes (the caller's projects with their counts, one project by its slug,
the members of a workspace) that cost more than the database took to answer them: half of
`GET /<workspace>`. `prepared(build, **values)` compiles `build(**values)` once per database
and shape, with stand-in values, finds the stand-ins among the query's parameters, and from
then on runs the same SQL with the real values in their places.

`build` must filter on its arguments with plain comparisons (`=`, `IN`), so that each value
reaches the parameters unchanged; a stand-in that does not is an error at the first call,
never a wrong query. A list argument gives one shape per length; None is part of the shape.
Querysets of models give model instances with their annotations (no `select_related`: set
the related objects you already hold); `values()` querysets give dicts.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections, models

CACHE_MAX = 512
_stand_ins = itertools.count(1)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str, int | None], ...]  # (parameter position, argument, list index)
    compiler: Any
    converters: dict
    model: type[models.Model] | None  # None: a values() queryset, rows become dicts
    names: tuple[str, ...]  # dict keys, or the model's attribute names
    model_span: tuple[int, int]
    annotations: tuple[tuple[str, int], ...]


_EMPTY = object()
_cache: dict[tuple, Any] = {}


def prepared(build: Callable[..., models.QuerySet], *, using: str = DEFAULT_DB_ALIAS, **values) -> list:
    """What `build(**values)` would give, without building and compiling it again."""
    shape = tuple((name, _shape(value)) for name, value in sorted(values.items()))
    key = (build, using, shape)
    compiled = _cache.get(key)
    if compiled is None:
        if len(_cache) >= CACHE_MAX:
            _cache.clear()
        compiled = _cache[key] = _compile(build, using, values)
    if compiled is _EMPTY:
        return []
    return _run(compiled, using, values)


def _shape(value) -> str:
    if value is None:
        return "none"
    return f"list of {len(value)}" if isinstance(value, list | tuple) else "value"


def _stand_in(value):
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"prepared() takes int and str values (and lists of them), not {type(value).__name__}")
    number = next(_stand_ins)
    # Within the range of every integer column but the small ones: Django answers a lookup
    # on a value its column cannot hold with no query at all (EmptyResultSet).
    return 1_999_000_000 + number % 100_000 if isinstance(value, int) else f"\x1fstand-in {number}\x1f"


def _compile(build, alias: str, values: dict):
    stand_ins: dict[Any, tuple[str, int | None]] = {}
    arguments: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            arguments[name] = None
        elif isinstance(value, list | tuple):
            arguments[name] = [_stand_in(v) for v in value]
            stand_ins.update({s: (name, i) for i, s in enumerate(arguments[name])})
        else:
            arguments[name] = _stand_in(value)
            stand_ins[arguments[name]] = (name, None)
    queryset = build(**arguments)
    if queryset.query.select_related:
        raise ValueError("prepared() querysets cannot select_related: set the related objects you hold")
    compiler = queryset.query.get_compiler(using=alias)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        if any(isinstance(v, list | tuple) and not v for v in values.values()):
            return _EMPTY  # `IN ()`: nothing, whatever the other values
        raise ValueError("prepared(): a stand-in value made the query empty; is a column too small for it?") from None
    slots = tuple((i, *stand_ins[p]) for i, p in enumerate(params) if _hashable(p) and p in stand_ins)
    missing = set(stand_ins.values()) - {(name, index) for _, name, index in slots}
    if missing or any(str(s) in sql for s in stand_ins):
        raise ValueError(f"prepared(): {sorted(str(m) for m in missing)} did not reach the query's parameters")
    columns = [column for column, _, _ in compiler.select[: compiler.col_count]]
    converters = compiler.get_converters(columns)
    if queryset._fields is not None or compiler.klass_info is None:  # a values() queryset
        query = queryset.query
        names = (*query.extra_select, *query.values_select, *query.annotation_select)
        return _Compiled(sql, tuple(params), slots, compiler, converters, None, names, (0, 0), ())
    select_fields = compiler.klass_info["select_fields"]
    start, end = select_fields[0], select_fields[-1] + 1
    names = tuple(column.target.attname for column in columns[start:end])
    annotations = tuple(compiler.annotation_col_map.items())
    return _Compiled(sql, tuple(params), slots, compiler, converters, queryset.model, names, (start, end), annotations)


def _hashable(value) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def _run(compiled: _Compiled, alias: str, values: dict) -> list:
    params = list(compiled.params)
    for position, name, index in compiled.slots:
        params[position] = values[name] if index is None else values[name][index]
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        rows = cursor.fetchall()
    if compiled.converters:
        rows = list(compiled.compiler.apply_converters(rows, compiled.converters))
    if compiled.model is None:
        return [dict(zip(compiled.names, row, strict=True)) for row in rows]
    start, end = compiled.model_span
    found = []
    for row in rows:
        instance = compiled.model.from_db(alias, compiled.names, row[start:end])
        for name, position in compiled.annotations:
            setattr(instance, name, row[position])
        found.append(instance)
    return found
