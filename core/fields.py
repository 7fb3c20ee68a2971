"""DRF fields and the strict serializer that every request body of the API is read with:
strings that are strings, booleans that are booleans, ids that are ids, dates that are dates,
and no field the serializer does not declare."""

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.storable import find_bad_text

from .redaction import SECRET_ANYWHERE

SERVER_OWNED = frozenset(
    {
        "workspace",
        "prefix",
        "created_by",
        "createdBy",
        "created_on",
        "createdOn",
        "digest",
        "keyDigest",
        "key",
        "keyId",
        "id",
        "lastUsedAt",
        "state",
        "rolledFrom",
        "workspaceWide",
    }
)
UNKNOWN_FIELD = "not a field of this request."
SERVER_FIELD = "set by the server; it cannot be sent."


MAX_DATE_AHEAD_DAYS = 3653  # ten years, leap days included
MAX_ID = 2**63 - 1  # the largest database id
MAX_ID_DIGITS = 18  # an id sent as text: every number of this many digits fits MAX_ID
EXACT_FLOAT_INTEGERS = 2**53  # past this, a float parsed from JSON may not be the number sent


def iso(moment: datetime | None) -> str | None:
    """A datetime as the API writes it: ISO 8601 in UTC, with a Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def is_ascii_id(text: str, max_digits: int = MAX_ID_DIGITS) -> bool:
    """A whole number written in ASCII digits that fits a database id."""
    return text.isascii() and text.isdigit() and 0 < len(text) <= max_digits


KEY_IN_TEXT = (
    "May not contain an API key: a key is a secret, and this text is shown to others. Roll the key if it was shared."
)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # tab, LF and CR allowed


class StrictCharField(serializers.CharField):
    """A one-line string: never a number or a boolean quietly turned into one, and no control
    characters (tabs, newlines, escapes), which no name, tag or label needs and which turn into
    log and header injection wherever text is echoed. DRF's CharField already refuses NUL and
    lone surrogates. `refused` is the one character class it refuses; the OpenAPI schema reads
    it too (`apikeys.schema`)."""

    refused = CONTROL_CHARACTERS
    default_error_messages = {
        "control": "May not contain control characters such as tabs or newlines.",
        "key": KEY_IN_TEXT,
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.refused.search(data):
            self.fail("control")
        if SECRET_ANYWHERE.search(data):  # stored, it would be shown on every page that lists it
            self.fail("key")
        if self.max_length is not None and len(data) > self.max_length:
            # As sent, not once trimmed: the schema's maxLength is about what is sent.
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class FileTextField(serializers.CharField):
    """The text of a file sent inside a JSON body (an annotation file): lines and tabs, but no
    other control characters; DRF's CharField already refuses NUL and lone surrogates."""

    refused = CONTROL_BUT_LINES
    default_error_messages = {"control": "May not contain control characters other than tabs and line breaks."}

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.refused.search(data):
            self.fail("control")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


@extend_schema_field({"type": "string", "enum": ["true", "false"]})
class QueryBooleanField(serializers.Field):
    """A flag in a query string: `true` or `false`, nothing else."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if data in ("true", "false"):
            return data == "true"
        self.fail("invalid")

    def to_representation(self, value):
        return "true" if value else "false"


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            {"type": "string", "pattern": "^[0-9]*[1-9][0-9]*$", "maxLength": MAX_ID_DIGITS},
        ]
    }
)
class IdField(serializers.Field):
    """An id sent as a number or a string of digits, as the official client sends them. A
    number is JSON's: `7.0` is the integer 7 (as JSON Schema reads it), where a float still
    spells it exactly."""

    default_error_messages = {"invalid": "Must be an id: a positive whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str) and is_ascii_id(data):
            data = int(data)
        if isinstance(data, float) and data.is_integer() and abs(data) <= EXACT_FLOAT_INTEGERS:
            data = int(data)
        if not isinstance(data, int) or data < 1 or data > MAX_ID:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return str(value)


@extend_schema_field({"type": "string", "format": "date-time", "description": "ISO 8601 date or date-time (UTC)."})
class DateOrDateTimeField(serializers.Field):
    """An ISO date (midnight UTC) or date-time; one without a zone is taken as UTC."""

    default_error_messages = {"invalid": "Must be an ISO 8601 date (2027-01-31) or date-time (2027-01-31T12:00:00Z)."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            moment = parse_datetime(data)
            if moment is None:
                day = parse_date(data)
                if day is None:
                    self.fail("invalid")
                moment = datetime.combine(day, time.min)
            # Into UTC here, so that no later comparison or database write can overflow
            # (9999-12-31T23:59:59-14:00 is past the last datetime Python can hold).
            return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment.astimezone(UTC)
        except (ValueError, OverflowError):
            self.fail("invalid")

    def to_representation(self, value):
        return iso(value)


class BoundedDictField(serializers.DictField):
    """A JSON object of at most `max_entries` entries, whose names, when `key` is given, are
    values of that field (`key=StrictCharField(max_length=100)`)."""

    default_error_messages = {"too_many": "At most {max_entries} entries."}

    def __init__(self, *, max_entries: int = 100, key: serializers.CharField | None = None, **kwargs):
        self.max_entries = max_entries
        self.key = key
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, dict) and len(data) > self.max_entries:
            self.fail("too_many", max_entries=self.max_entries)
        if isinstance(data, dict) and self.key is not None:
            for name in data:
                self.key.run_validation(name)
        return super().to_internal_value(data)


@extend_schema_field(
    {"type": "object", "additionalProperties": {}, "description": "A JSON object; in a form, the text of one."}
)
class JSONObjectStringField(serializers.Field):
    """A JSON object sent as text (a multipart field): valid JSON, no NaN or Infinity, at most
    `max_entries` entries, and only text that can be stored. The schema calls it an object:
    the part of a form that carries JSON (OpenAPI's `encoding`)."""

    default_error_messages = {
        "invalid": "Must be a JSON object.",
        "too_many": "Must be a JSON object of at most {max_entries} entries.",
    }

    def __init__(self, *, max_entries: int = 100, **kwargs):
        self.max_entries = max_entries
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if data in (None, ""):
            return {}
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            value = json.loads(data, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            self.fail("invalid")
        if not isinstance(value, dict):
            self.fail("invalid")
        if len(value) > self.max_entries:
            self.fail("too_many", max_entries=self.max_entries)
        found = find_bad_text(value)
        if found is not None:
            raise serializers.ValidationError(found[1])
        return value

    def to_representation(self, value):
        return json.dumps(value)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class QuerySerializer(serializers.Serializer):
    """A query string's parameters. Not strict about others (the client adds its own, and the
    key). A parameter sent empty (`?endDate=`) is a wrong value, not a missing one as DRF reads
    HTML forms, unless its field allows blank text."""

    def to_internal_value(self, data):
        sent_empty = {
            name: ["May not be empty."]
            for name, field in self.fields.items()
            if hasattr(data, "getlist") and data.get(name) == "" and not getattr(field, "allow_blank", False)
        }
        if sent_empty:
            raise serializers.ValidationError(sent_empty)
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, naming each; server-owned ones get their own word."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": ["The request body must be a JSON object."]})
        extra = sorted(set(data) - set(self.fields) - {"api_key"})
        if extra:
            raise serializers.ValidationError(
                {name: [SERVER_FIELD if name in SERVER_OWNED else UNKNOWN_FIELD] for name in extra}
            )
        return super().to_internal_value(data)


class FormSerializer(StrictSerializer):
    """The fields of a multipart form. A form has no null: a field that allows none is left
    out (or sent empty), which the schema says by not calling it nullable."""


class FutureDateField(DateOrDateTimeField):
    """A date in the future and at most ten years ahead (SPEC 3): later dates are mistakes,
    and past year 9999 they cannot even be stored."""

    default_error_messages = {
        "past": "Must be in the future.",
        "far": "Must be at most 10 years ahead.",
    }
    rule = "In the future, and at most 10 years ahead."  # the OpenAPI schema's word (`x-business-rules`)

    def to_internal_value(self, data):
        moment = super().to_internal_value(data)
        now = timezone.now()
        if moment <= now:
            self.fail("past")
        if moment > now + timedelta(days=MAX_DATE_AHEAD_DAYS):
            self.fail("far")
        return moment
