"""The API's parsers: DRF's JSON, multipart and form parsers, plus one check that every one
of them applies to every piece of text it hands on (keys and values at any depth, field
values, file names). Text that a database cannot store, or that no client means to send, is
a 400 naming the field here, once for every endpoint, rather than a 500 later:

- NUL characters (PostgreSQL refuses them in text and JSON);
- lone UTF-16 surrogates such as "\\ud800" (valid JSON escapes, but not Unicode text: no
  UTF-8 encoding exists, so PostgreSQL refuses them);
- bodies nested deeper than Python can parse.
"""

import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from .exceptions import PayloadTooLarge

NUL_REFUSED = "Text may not contain NUL characters (\\u0000)."
SURROGATE_REFUSED = "Text may not contain lone UTF-16 surrogates (\\ud800 to \\udfff)."
TOO_DEEP = "The JSON body is nested too deeply."
BODY_TOO_LARGE = "The request body is over the {limit} bytes this server accepts outside file uploads."


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
    cannot be stored; None when all are fine. `where` reads like `customMetadata.a`."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return where, problem
        elif isinstance(item, dict):
            for key, child in item.items():
                key_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and (problem := text_problem(key)):
                    return (where or "body"), problem
                stack.append((child, key_path))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
    return None


def refuse_bad_text(value, path: str = "") -> None:
    """A 400 naming the field (its top-level name) when `value` holds text that cannot be stored."""
    found = find_bad_text(value, path)
    if found is not None:
        where, problem = found
        field = where.split(".", 1)[0].split("[", 1)[0] or "body"
        detail = problem if where == field else f"{problem} (at {where})"
        raise ValidationError({field: [detail]})


def read_bounded(stream) -> io.BytesIO:
    """The body, read up to DATA_UPLOAD_MAX_MEMORY_SIZE bytes (a 413 past it), whether or not
    the client declared its length: DRF's JSON and form parsers would read any amount."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if stream is None:
        return io.BytesIO(b"")
    data = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise PayloadTooLarge(BODY_TOO_LARGE.format(limit=limit))
    return io.BytesIO(data)


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(read_bounded(stream), media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        refuse_bad_text(data)
        return data


def _refuse_bad_fields(data, files) -> None:
    for name in data:
        refuse_bad_text(data.getlist(name), name)
        refuse_bad_text(name)
    for name in files:
        refuse_bad_text([f.name for f in files.getlist(name)], name)


class SafeMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            parsed = super().parse(stream, media_type, parser_context)
        except RequestDataTooBig:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            raise PayloadTooLarge(BODY_TOO_LARGE.format(limit=limit)) from None
        except (TooManyFieldsSent, TooManyFilesSent) as exc:
            raise ParseError(str(exc)) from None
        _refuse_bad_fields(parsed.data, parsed.files)
        return parsed


class SafeFormParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(read_bounded(stream), media_type, parser_context)
        except TooManyFieldsSent as exc:
            raise ParseError(str(exc)) from None
        _refuse_bad_fields(data, {})
        return data
