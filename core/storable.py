"""What a database can store, and any client read back, of a parsed JSON value: text without
NUL or lone UTF-16 surrogates, finite numbers, bounded depth. Pure functions, shared by every
place that parses JSON from outside: the API's parsers (`core.parsers`), its JSON-as-text
fields, and the admin's JSON form fields (`StorableJSONFormField`)."""

import math

from django import forms
from django.forms.fields import InvalidJSONInput

NUL_REFUSED = "Text may not contain NUL characters (\\u0000)."
SURROGATE_REFUSED = "Text may not contain lone UTF-16 surrogates (\\ud800 to \\udfff)."
NOT_FINITE = "Numbers must be finite; this one is too large to store."
MAX_DEPTH = 32
TOO_DEEP = f"The JSON body is nested too deeply (at most {MAX_DEPTH} levels)."


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if "\x00" in text:
        return NUL_REFUSED
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_REFUSED
    return None


def find_bad_text(value, path: str = "") -> tuple[str, str] | None:
    """(where, why) for the first string in a parsed value, key or value at any depth, that
    cannot be stored, the first number that is not finite, or the first container nested past
    MAX_DEPTH; None when all are fine. `where` reads like `customMetadata.a`."""
    stack = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return where, problem
            continue
        if isinstance(item, float) and not math.isfinite(item):
            return where, NOT_FINITE
        if isinstance(item, dict | list | tuple) and depth >= MAX_DEPTH:
            return where, TOO_DEEP
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and (problem := text_problem(key)):
                    return (where or "body"), problem
                stack.append((child, f"{where}.{key}" if where else str(key), depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
    return None


class StorableJSONFormField(forms.JSONField):
    """Django's JSON form field (the admin's), refusing what the API's parsers refuse: Python's
    json reads NaN, Infinity and 1e999 as numbers that PostgreSQL cannot store."""

    def to_python(self, value):
        parsed = super().to_python(value)
        found = find_bad_text(parsed)
        if found is not None:
            where, problem = found
            raise forms.ValidationError(f"{problem} (at {where})" if where else problem, code="unstorable")
        return parsed

    def bound_data(self, data, initial):
        # A refused value is shown again as it was typed: rendered from its parsed form it
        # would hold the lone surrogate or NUL that cannot be written into a page.
        bound = super().bound_data(data, initial)
        if not isinstance(bound, InvalidJSONInput) and find_bad_text(bound) is not None:
            return InvalidJSONInput(data)
        return bound
