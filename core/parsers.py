"""The API's parsers: DRF's JSON, multipart and form parsers, plus one set of checks that every
one of them applies to everything it hands on (keys and values at any depth, field values,
file names), and that the base view applies to query strings. What a database cannot store,
or no client means to send, is a 4xx here, once for every endpoint, rather than a 500 later
(the checks of parsed values are `core.storable`'s, which the admin's JSON fields share):

- bytes that are not UTF-8 (Django would quietly turn them into U+FFFD in forms and queries);
- NUL characters (PostgreSQL refuses them in text and JSON);
- lone UTF-16 surrogates such as "\\ud800" (valid JSON escapes, but not Unicode text: no UTF-8
  encoding exists, so PostgreSQL refuses them);
- JSON numbers that are not finite: `1e999` parses as infinity (the literals NaN and Infinity
  are refused by DRF already), which PostgreSQL refuses in JSON and no client can read back;
- JSON nested deeper than `MAX_DEPTH` (deeper still and Python cannot even parse or render it);
- bodies over DATA_UPLOAD_MAX_MEMORY_SIZE outside file uploads (413).
"""

import codecs
import io
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from core.storable import TOO_DEEP, find_bad_text

from .exceptions import PayloadTooLarge

NOT_UTF8 = "The request is not valid UTF-8 text."
BODY_TOO_LARGE = "The request body is over the {limit} bytes this server accepts outside file uploads."


def refuse_bad_text(value, path: str = "") -> None:
    """A 400 naming the field (its top-level name) when `value` holds text that cannot be stored."""
    found = find_bad_text(value, path)
    if found is not None:
        where, problem = found
        field = where.split(".", 1)[0].split("[", 1)[0] or "body"
        detail = problem if where == field else f"{problem} (at {where})"
        raise ValidationError({field: [detail]})


def refuse_bad_query(request) -> None:
    """The query string: UTF-8 (checked on the raw bytes, before Django decodes them with
    replacement characters), and every value storable."""
    raw = request.META.get("QUERY_STRING", "")  # WSGI hands the raw bytes over as latin-1
    try:
        unquote_to_bytes(raw.encode("latin-1")).decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise ParseError(NOT_UTF8) from None
    for name in request.query_params:
        refuse_bad_text(request.query_params.getlist(name), name)


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


# Django decodes multipart and form fields with errors="replace", so bytes that are not UTF-8
# would arrive as U+FFFD. This codec is UTF-8 that ignores the errors argument and stays strict.
STRICT_UTF8 = "utf-8-refusing-invalid"


def _strict_utf8_search(name: str) -> codecs.CodecInfo | None:
    if name != STRICT_UTF8.replace("-", "_"):
        return None
    utf8 = codecs.lookup("utf-8")
    return codecs.CodecInfo(
        name=STRICT_UTF8,
        encode=utf8.encode,
        decode=lambda data, errors="strict": codecs.utf_8_decode(data, "strict", True),
        incrementalencoder=utf8.incrementalencoder,
        incrementaldecoder=utf8.incrementaldecoder,
        streamreader=utf8.streamreader,
        streamwriter=utf8.streamwriter,
    )


codecs.register(_strict_utf8_search)


def _strict(parser_context: dict | None) -> dict:
    return {**(parser_context or {}), "encoding": STRICT_UTF8}


def _refuse_bad_fields(data, files) -> None:
    for name in data:
        refuse_bad_text(data.getlist(name), name)
        refuse_bad_text(name)
    for name in files:
        refuse_bad_text([f.name for f in files.getlist(name)], name)


class SafeMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            parsed = super().parse(stream, media_type, _strict(parser_context))
        except RequestDataTooBig:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            raise PayloadTooLarge(BODY_TOO_LARGE.format(limit=limit)) from None
        except (TooManyFieldsSent, TooManyFilesSent) as exc:
            raise ParseError(str(exc)) from None
        except UnicodeDecodeError:
            raise ParseError(NOT_UTF8) from None
        _refuse_bad_fields(parsed.data, parsed.files)
        return parsed


class SafeFormParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(read_bounded(stream), media_type, _strict(parser_context))
        except TooManyFieldsSent as exc:
            raise ParseError(str(exc)) from None
        except UnicodeDecodeError:
            raise ParseError(NOT_UTF8) from None
        _refuse_bad_fields(data, {})
        return data
