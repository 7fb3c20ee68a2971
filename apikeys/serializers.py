"""Wire shapes of the key-management API: strict request bodies, and the key object.

Bodies are parsed here for type and shape only (a string where a string belongs, a known
field); what the values mean (scope names, folder ownership, plan and privilege rules) is
the services' to judge, so the dashboard and the API refuse the same things.
"""

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, time
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import ApiKey
from .parsers import find_bad_text
from .services import UNSET

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
MAX_LIST = 100


def is_ascii_id(text: str, max_digits: int = 18) -> bool:
    """A whole number written in ASCII digits that fits a database id."""
    return text.isascii() and text.isdigit() and 0 < len(text) <= max_digits


CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class StrictCharField(serializers.CharField):
    """A one-line string: never a number or a boolean quietly turned into one, and no control
    characters (tabs, newlines, escapes), which no name, tag or label needs and which turn into
    log and header injection wherever text is echoed. DRF's CharField already refuses NUL and
    lone surrogates."""

    default_error_messages = {"control": "May not contain control characters such as tabs or newlines."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if CONTROL_CHARACTERS.search(data):
            self.fail("control")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


@extend_schema_field({"oneOf": [{"type": "string", "pattern": "^[0-9]+$"}, {"type": "integer", "minimum": 1}]})
class IdField(serializers.Field):
    """An id sent as a number or a string of digits, as the official client sends them."""

    default_error_messages = {"invalid": "Must be an id: a positive whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str) and is_ascii_id(data):
            data = int(data)
        if not isinstance(data, int) or data < 1 or data > 2**63 - 1:
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
    """A JSON object of at most `max_entries` entries."""

    default_error_messages = {"too_many": "At most {max_entries} entries."}

    def __init__(self, *, max_entries: int = 100, **kwargs):
        self.max_entries = max_entries
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, dict) and len(data) > self.max_entries:
            self.fail("too_many", max_entries=self.max_entries)
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "description": "A JSON object, sent as a string."})
class JSONObjectStringField(serializers.Field):
    """A JSON object sent as text (a multipart field): valid JSON, no NaN or Infinity, at most
    `max_entries` entries, and only text that can be stored."""

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


def _list(child, **kwargs):
    return serializers.ListField(child=child, max_length=MAX_LIST, **kwargs)


class ApiKeyWriteSerializer(StrictSerializer):
    """Fields of a PATCH: each optional; only those sent change."""

    name = StrictCharField(max_length=100, required=False)
    scopes = _list(
        StrictCharField(),
        required=False,
        allow_null=True,
        help_text="null: full access; []: no abilities; else scopes, sections or role:* presets.",
    )
    folderIds = _list(IdField(), required=False, help_text="Folders the key is limited to; [] for workspace-wide.")
    customMetadata = serializers.DictField(required=False, help_text="Up to 100 entries; {} clears.")
    protected = StrictBooleanField(required=False, help_text="true protects; only the dashboard unprotects.")
    disabled = StrictBooleanField(required=False)
    default = StrictBooleanField(required=False)
    rotationDueAt = DateOrDateTimeField(required=False, allow_null=True, help_text="Future date; null clears.")
    owners = _list(
        IdField(), required=False, help_text="Member ids reminded before the rotation date; [] = everyone who may roll."
    )
    expiresAt = DateOrDateTimeField(
        required=False, allow_null=True, help_text="Future date after which the key stops working."
    )
    allowedIps = _list(StrictCharField(), required=False, help_text="Addresses or CIDR blocks; [] allows any.")

    WIRE_TO_SERVICE = {
        "name": "name",
        "scopes": "scopes",
        "folderIds": "folder_ids",
        "customMetadata": "custom_metadata",
        "protected": "protected",
        "disabled": "disabled",
        "default": "default",
        "rotationDueAt": "rotation_due_at",
        "owners": "owners",
        "expiresAt": "expires_at",
        "allowedIps": "allowed_ips",
    }

    def service_kwargs(self) -> dict[str, Any]:
        return {self.WIRE_TO_SERVICE[k]: v for k, v in self.validated_data.items()}


class ApiKeyCreateSerializer(ApiKeyWriteSerializer):
    name = StrictCharField(max_length=100)


class ApiKeyRollSerializer(StrictSerializer):
    rotationDueAt = DateOrDateTimeField(
        required=False, allow_null=True, help_text="Omitted, the old key's date carries over."
    )
    owners = _list(IdField(), required=False, help_text="Omitted, the old key's owners carry over.")
    oldKeyExpiresIn = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=7 * 24 * 3600,
        help_text="Seconds the old secret keeps working (at most 7 days).",
    )

    def service_kwargs(self) -> dict[str, Any]:
        data = self.validated_data
        return {
            "rotation_due_at": data.get("rotationDueAt", UNSET),
            "owners": data.get("owners", UNSET),
        }


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def created_by(key: ApiKey) -> str | None:
    if key.created_by_user is not None:
        return key.created_by_user.get_username()
    if key.created_by_key is not None:
        return f"API key {key.created_by_key.prefix}"
    return None


def key_json(key: ApiKey, *, include_folders: bool = False) -> dict[str, Any]:
    """The key object of the API. Never the secret, never the digest."""
    folders = sorted(key.folders.all(), key=lambda f: f.pk) if key.folders_limited else []
    data: dict[str, Any] = {
        "keyId": key.key_id,
        "name": key.name,
        "prefix": key.prefix,
        "state": key.state().value,
        "scopes": key.scopes,
        "folderIds": [str(f.pk) for f in folders],
        "workspaceWide": not key.folders_limited,
        "default": key.is_default,
        "protected": key.protected,
        "disabled": key.disabled,
        "customMetadata": key.custom_metadata,
        "rotationDueAt": iso(key.rotation_due_at),
        "owners": [str(u.pk) for u in sorted(key.owners.all(), key=lambda u: u.pk)],
        "expiresAt": iso(key.expires_at),
        "allowedIps": key.allowed_ips,
        "created_on": iso(key.created),
        "created_by": created_by(key),
        "lastUsedAt": iso(key.last_used_at),
        "rolledFrom": key.rolled_from.key_id if key.rolled_from_id and key.rolled_from else None,
    }
    if include_folders:
        data["folders"] = [{"id": str(f.pk), "name": f.name} for f in folders]
    return data


class ApiKeyObjectSerializer(serializers.Serializer):
    """The key object, for the OpenAPI schema (responses are built by `key_json`)."""

    keyId = serializers.CharField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    state = serializers.ChoiceField(choices=["active", "disabled", "expired", "revoked", "rolled"])
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True)
    folderIds = serializers.ListField(child=serializers.CharField())
    workspaceWide = serializers.BooleanField()
    default = serializers.BooleanField()
    protected = serializers.BooleanField()
    disabled = serializers.BooleanField()
    customMetadata = serializers.DictField()
    rotationDueAt = serializers.DateTimeField(allow_null=True)
    owners = serializers.ListField(child=serializers.CharField())
    expiresAt = serializers.DateTimeField(allow_null=True)
    allowedIps = serializers.ListField(child=serializers.CharField())
    created_on = serializers.DateTimeField()
    created_by = serializers.CharField(allow_null=True)
    lastUsedAt = serializers.DateTimeField(allow_null=True)
    rolledFrom = serializers.CharField(allow_null=True)


# Response shapes, for the OpenAPI schema ---------------------------------------------


class ApiKeyListResponse(serializers.Serializer):
    apiKeys = ApiKeyObjectSerializer(many=True)
    publishableKey = serializers.CharField()


class ApiKeyResponse(serializers.Serializer):
    apiKey = ApiKeyObjectSerializer()


class PublishableKeyResponse(serializers.Serializer):
    publishableKey = serializers.CharField(help_text="rf_<workspace id>: not a secret, not a credential.")


class CreatedKeyResponse(serializers.Serializer):
    keyId = serializers.CharField()
    key = serializers.CharField(help_text="The secret. Shown here once, never again.")
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True)
    folderIds = serializers.ListField(child=serializers.CharField())
    protected = serializers.BooleanField()
    publishableKey = serializers.CharField()
    apiKey = ApiKeyObjectSerializer()


class RolledKeyResponse(serializers.Serializer):
    keyId = serializers.CharField(help_text="The replacement's id.")
    key = serializers.CharField(help_text="The replacement's secret. Shown here once, never again.")
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True)
    folderIds = serializers.ListField(child=serializers.CharField())
    protected = serializers.BooleanField()
    apiKey = ApiKeyObjectSerializer()
    disabled = serializers.BooleanField()
    default = serializers.BooleanField()
    revokedKeyId = serializers.CharField(help_text="The key that was rolled.")
    oldKeyExpiresAt = serializers.DateTimeField(allow_null=True, help_text="End of the old secret's grace period.")


class RevokedResponse(serializers.Serializer):
    status = serializers.ChoiceField(choices=["revoked"])
    keyId = serializers.CharField()


class RootResponse(serializers.Serializer):
    welcome = serializers.CharField()
    instructions = serializers.CharField()
    docs = serializers.URLField()
    workspace = serializers.CharField(help_text="The url of the key's workspace.")


class ErrorBodySerializer(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField(
        help_text="invalid_token, missing_token, insufficient_scope, validation_error, not_found, conflict, plan_required, privilege_exceeded, rate_limited, ..."
    )
    hint = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
