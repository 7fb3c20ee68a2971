"""Wire shapes of the key-management API: the key's writable fields, validated once into a
`KeySpec` (the settings pages use the same serializer, so they refuse exactly what the API
refuses), and the key object that responses carry.

The serializers need `workspace` and `actor` in their context: folders are those of the
workspace that the calling key may see, owners are its members.
"""

import ipaddress
import json
from dataclasses import replace
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField

from core.fields import (
    FutureDateField,
    IdField,
    QuerySerializer,
    StrictBooleanField,
    StrictCharField,
    StrictSerializer,
    iso,
)
from workspaces.models import Folder, Membership

from . import keyformat, listing, usage
from . import scopes as registry
from .models import KeyState
from .spec import BY_WIRE, KEY_FIELDS, KeyField, KeySpec, Kind

NAME_MAX = 100
MAX_LIST = 100
METADATA_MAX_ENTRIES = 100
METADATA_VALUE_MAX_BYTES = 1024
# Text of this many characters is within METADATA_VALUE_MAX_BYTES as JSON whatever they are
# (12 bytes at most for one: an escaped surrogate pair); longer ASCII text may be too.
METADATA_TEXT_MAX = (METADATA_VALUE_MAX_BYTES - 2) // 12
SCOPE_WORDS = [*registry.SCOPE_NAMES, *registry.SECTIONS, *registry.PRESETS]


def _list(child, **kwargs):
    return serializers.ListField(child=child, max_length=MAX_LIST, **kwargs)


@extend_schema_field({"type": "string", "enum": SCOPE_WORDS})
class ScopeWordField(StrictCharField):
    """A scope (`image:read`), a section (`image`) or a preset (`role:uploader`)."""


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": METADATA_MAX_ENTRIES,
        "propertyNames": {"type": "string", "minLength": 1, "maxLength": NAME_MAX},
        "additionalProperties": {
            "anyOf": [
                {"type": "string", "maxLength": METADATA_TEXT_MAX},
                {"type": "number"},
                {"type": "boolean", "nullable": True},
            ]
        },
    }
)
class MetadataField(serializers.DictField):
    """A key's custom metadata (`ApiKeySpecSerializer.validate_customMetadata` checks it)."""


IPV4 = r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"


@extend_schema_field(
    {
        "type": "string",
        "anyOf": [
            {"format": "ipv4"},
            {"format": "ipv6"},
            {"pattern": f"^{IPV4}/(?:3[0-2]|[12]?[0-9])$"},
            {"pattern": "^(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9])$"},
        ],
    }
)
class NetworkField(StrictCharField):
    """An IP address or a CIDR block (`validate_allowedIps` reads it)."""


OWNERS_RULE = "Ids of members of this workspace."


def input_field(declared: KeyField, *, required: bool = False) -> serializers.Field:
    """The API's input field for a declared key field: optional (only what is sent changes)
    unless `required`."""
    match declared.kind:
        case Kind.TEXT:
            return StrictCharField(
                max_length=declared.max_length,
                allow_blank=declared.allow_blank,
                required=required,
                help_text=declared.help or None,
            )
        case Kind.FLAG:
            return StrictBooleanField(required=False, help_text=declared.help or None)
        case Kind.DATE:
            return FutureDateField(required=False, allow_null=True, help_text=declared.help or None)
        case Kind.SCOPES:
            return _list(ScopeWordField(), required=False, allow_null=True, help_text=declared.help)
        case Kind.FOLDERS | Kind.MEMBERS:
            return _list(IdField(), required=False, help_text=declared.help)
        case Kind.NETWORKS:
            return _list(NetworkField(), required=False, help_text=declared.help)
        case Kind.METADATA:
            return MetadataField(
                required=False,
                help_text=f"Up to {METADATA_MAX_ENTRIES} entries, named by 1 to {NAME_MAX} characters: text, "
                "numbers, booleans or null of at most 1 KB as JSON; {} clears.",
            )


def output_field(declared: KeyField) -> serializers.Field:
    """The key object's field for a declared key field (`wire_value` fills it)."""
    match declared.kind:
        case Kind.TEXT:
            return serializers.CharField()
        case Kind.FLAG:
            return serializers.BooleanField()
        case Kind.DATE:
            return IsoDateTimeField()
        case Kind.SCOPES:
            return serializers.ListField(child=serializers.CharField(), allow_null=True)
        case Kind.FOLDERS | Kind.MEMBERS | Kind.NETWORKS:
            return serializers.ListField(child=serializers.CharField())
        case Kind.METADATA:
            return serializers.DictField()


def wire_value(declared: KeyField, row: dict[str, Any]) -> Any:
    """A declared field's value in the key object, from a row of `ApiKeyQuerySet.rows()`."""
    match declared.kind:
        case Kind.TEXT | Kind.FLAG | Kind.SCOPES | Kind.NETWORKS | Kind.METADATA:
            return row[declared.column]
        case Kind.DATE:
            return iso(row[declared.column])
        case Kind.FOLDERS:
            return [str(i) for i in row["folder_ids"]] if row["folders_limited"] else []
        case Kind.MEMBERS:
            return [str(i) for i in row["owner_ids"]]


class ApiKeySpecSerializer(StrictSerializer):
    """The writable fields of a key; each optional, and only those sent change (`spec`)."""

    rules = {
        "folderIds": "Ids of folders of this workspace (within the calling key's own, if it is limited to some).",
        "owners": OWNERS_RULE,
    }

    def get_fields(self) -> dict[str, serializers.Field]:
        # One input field per declared key field (`apikeys.spec`), then those a subclass declares.
        return {f.wire: input_field(f) for f in KEY_FIELDS} | super().get_fields()

    def validate_scopes(self, words: list[str] | None) -> tuple[str, ...] | None:
        if words is None:
            return None
        try:
            return tuple(registry.expand(words))
        except registry.UnknownScope as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_folderIds(self, ids: list[int]) -> tuple[Folder, ...] | None:
        if not ids:
            return None  # workspace-wide
        found = Folder.objects.filter(workspace=self.context["workspace"], pk__in=ids)
        actor_key = self.context["actor"].key
        if actor_key is not None and actor_key.folders_limited:
            # Folders outside the calling key's own limit are reported like missing ones.
            found = found.filter(pk__in=actor_key.folder_limit())
        by_id = {f.pk: f for f in found}
        unknown = sorted(set(ids) - set(by_id))
        if unknown:
            raise serializers.ValidationError(f"No folder {', '.join(map(str, unknown))} in this workspace.")
        return tuple(by_id[i] for i in sorted(by_id))

    def validate_customMetadata(self, metadata: dict) -> dict:
        if len(metadata) > METADATA_MAX_ENTRIES:
            raise serializers.ValidationError(f"At most {METADATA_MAX_ENTRIES} entries.")
        for name, value in metadata.items():
            if not name or len(name) > NAME_MAX:
                raise serializers.ValidationError(f"Keys are 1 to {NAME_MAX} characters.")
            if value is not None and not isinstance(value, str | int | float | bool):
                raise serializers.ValidationError(f"{name!r} must be a string, number, boolean or null.")
            if len(json.dumps(value).encode()) > METADATA_VALUE_MAX_BYTES:
                raise serializers.ValidationError(f"{name!r} is over {METADATA_VALUE_MAX_BYTES} bytes.")
        return metadata

    def validate_owners(self, ids: list[int]) -> tuple:
        return members_of(self.context["workspace"], ids)

    def validate_allowedIps(self, texts: list[str]) -> tuple[str, ...]:
        networks, bad = [], []
        for text in texts:
            try:
                networks.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                bad.append(text)
        if bad:  # every one of them, at once
            listed = ", ".join(repr(text) for text in bad)
            raise serializers.ValidationError(
                f"{listed} {'is not an IP address or CIDR block' if len(bad) == 1 else 'are not IP addresses or CIDR blocks'}."
            )
        return tuple(str(n) for n in sorted(set(networks), key=lambda n: (n.version, n)))

    def spec(self, base: KeySpec) -> KeySpec:
        """`base` with what was sent."""
        return replace(base, **{BY_WIRE[wire].name: value for wire, value in self.validated_data.items()})


def members_of(workspace, ids: list[int]) -> tuple:
    """The members of the workspace with these user ids; a field error naming any other id."""
    members = {
        m.user_id: m.user
        for m in Membership.objects.filter(workspace=workspace, user_id__in=ids).select_related("user")
    }
    unknown = sorted(set(ids) - set(members))
    if unknown:
        raise serializers.ValidationError(f"No member {', '.join(map(str, unknown))} in this workspace.")
    return tuple(members[i] for i in sorted(members))


class ApiKeyCreateSerializer(ApiKeySpecSerializer):
    """A new key's body: its name is required."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["name"] = input_field(BY_WIRE["name"], required=True)
        return fields


class KeyListQuery(QuerySerializer):
    """What narrows and sorts a workspace's key list (`apikeys.listing`), on the page and in
    the API."""

    search = StrictCharField(max_length=NAME_MAX, required=False, allow_blank=True, help_text="In names and key ids.")
    state = serializers.ChoiceField(choices=listing.STATES, required=False)
    scope = serializers.ChoiceField(choices=registry.SCOPE_NAMES, required=False, help_text="Keys that hold it.")
    folder = IdField(required=False, help_text="Keys that reach this folder (workspace-wide ones too).")
    owner = IdField(required=False, help_text="Keys whose rotation reminders go to this member.")
    expiresWithin = serializers.IntegerField(min_value=1, max_value=3653, required=False, help_text="Days.")
    unusedFor = serializers.IntegerField(min_value=1, max_value=3653, required=False, help_text="Days.")
    sort = serializers.ChoiceField(choices=listing.SORT_CHOICES, required=False, help_text="'-' first: descending.")


class KeyPageQuery(KeyListQuery):
    """The key page's query: the same, a page number, and its disabled-keys switch."""

    page = serializers.IntegerField(min_value=1, max_value=10**6, required=False)
    disabled = serializers.ChoiceField(choices=["1"], required=False)


class ApiKeyListQuery(KeyListQuery):
    rules = {"cursor": "The nextCursor of the page before, sent with a limit and the same search, filters and sort."}

    limit = serializers.IntegerField(min_value=1, max_value=500, required=False, help_text="A page of this many.")
    cursor = StrictCharField(max_length=200, required=False, help_text="`nextCursor` of the page before.")

    def validate(self, data):
        if "cursor" in data and "limit" not in data:  # a cursor is a place in pages of `limit`
            raise serializers.ValidationError({"cursor": ["Send it with the limit of the page before."]})
        return data


class ApiKeyRollSerializer(StrictSerializer):
    rules = {"owners": OWNERS_RULE}

    rotationDueAt = FutureDateField(
        required=False, allow_null=True, help_text="Omitted, the old key's date carries over."
    )
    owners = _list(IdField(), required=False, help_text="Omitted, the old key's owners carry over.")
    oldKeyExpiresIn = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=7 * 24 * 3600,
        help_text="Seconds the old secret keeps working (at most 7 days).",
    )

    def validate_owners(self, ids: list[int]) -> tuple:
        return members_of(self.context["workspace"], ids)

    def spec(self, base: KeySpec) -> KeySpec:
        data = self.validated_data
        return replace(
            base,
            rotation_due_at=data.get("rotationDueAt", base.rotation_due_at),
            owners=data.get("owners", base.owners),
        )


# The key object ------------------------------------------------------------------------


@extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
class IsoDateTimeField(serializers.ReadOnlyField):
    def to_representation(self, value):
        return iso(value)


class FolderRefSerializer(serializers.Serializer):
    id = serializers.CharField(source="pk")
    name = serializers.CharField()


class KeyUsageSerializer(serializers.Serializer):
    since = serializers.DateField(help_text="The first day (UTC) of `daily`.")
    daily = serializers.ListField(
        child=serializers.IntegerField(min_value=0), help_text="Requests per day (UTC), oldest first: 30 days."
    )
    requests30d = serializers.IntegerField(min_value=0, help_text="Requests in the last 30 days.")
    scopes = serializers.DictField(
        child=serializers.IntegerField(min_value=0), help_text="Requests in the last 30 days per scope they exercised."
    )
    lastIp = serializers.CharField(allow_null=True, help_text="The address of the latest request.")
    lastUserAgent = serializers.CharField(allow_null=True, help_text="The user agent of the latest request.")


class ApiKeySerializer(serializers.Serializer):
    """The key object of the API. Never the secret, never the digest. `folders` (id and name)
    is there when the context asks for it (`include_folders`, with `folder_names`).

    The fields below document the shape (the OpenAPI schema, and the fuzzing that checks every
    answer against it); `to_representation` builds it directly, because the per-field
    machinery of DRF costs more than everything else in a list of 500 keys. The keys come
    are rows of `ApiKeyQuerySet.rows()`, not model instances."""

    keyId = serializers.CharField()
    prefix = serializers.CharField()
    state = serializers.ChoiceField(choices=KeyState.values)
    workspaceWide = serializers.BooleanField()
    created_on = IsoDateTimeField()
    created_by = serializers.CharField(allow_null=True)
    lastUsedAt = IsoDateTimeField()
    rolledFrom = serializers.CharField(allow_null=True)
    usage = KeyUsageSerializer()
    unusedScopes = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        help_text="Scopes the key holds (every scope, for full access) and has not used in 30 days; "
        "null until its usage has been counted for 30 days.",
    )
    folders = FolderRefSerializer(many=True, required=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        declared = {f.wire: output_field(f) for f in KEY_FIELDS}
        return {"keyId": (fields := super().get_fields()).pop("keyId"), **declared, **fields}

    def to_representation(self, row: dict[str, Any]) -> dict[str, Any]:
        # A row of `ApiKeyQuerySet.rows()`; the context may carry the time it is read at.
        if row["creator_username"] is not None:
            creator: str | None = row["creator_username"]
        elif row["creator_key_id"] is not None:
            creator = f"API key {keyformat.display_prefix(row['creator_key_id'])}"
        else:
            creator = None
        now = self.context.get("now") or timezone.now()
        state = KeyState.of_row(row, now)
        summary = self.context.get("usage", {}).get(row["id"]) or self.context.get("no_usage") or usage.empty(now)
        folder_ids = row["folder_ids"] if row["folders_limited"] else []
        data: dict[str, Any] = {
            "keyId": row["key_id"],
            **{f.wire: wire_value(f, row) for f in KEY_FIELDS},
            "prefix": keyformat.display_prefix(row["key_id"]),
            "state": state.value,
            "workspaceWide": not row["folders_limited"],
            "created_on": iso(row["created"]),
            "created_by": creator,
            "lastUsedAt": iso(row["last_used_at"]),
            "rolledFrom": row["rolled_from_key_id"],
            "usage": {
                "since": summary.since.isoformat(),
                "daily": summary.daily,
                "requests30d": summary.requests,
                "scopes": summary.scopes,
                "lastIp": row["last_used_ip"],
                "lastUserAgent": row["last_used_user_agent"] or None,
            },
            "unusedScopes": usage.unused_scopes(
                scopes=row["scopes"], usage_since=row["usage_since"], used=summary.used(), now=now
            ),
        }
        if self.context.get("include_folders"):
            names = self.context["folder_names"]
            data["folders"] = [{"id": str(i), "name": names.get(i, "")} for i in folder_ids]
        return data


def key_rows(
    keys, *, workspace, include_folders: bool = True, start: int = 0, stop: int | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows of `keys` (a queryset of ApiKey; with `start`/`stop`, that page of them) and the
    context ApiKeySerializer renders them with: their folders and their usage, up to date
    (the cache's counts for these keys flushed first)."""
    now = timezone.now()
    rows = keys.rows(start, stop)
    usage.flush_into(rows)
    context: dict[str, Any] = {"include_folders": include_folders, "now": now, "no_usage": usage.empty(now)}
    context["usage"] = usage.summaries([row["id"] for row in rows], now, workspace=workspace) if rows else {}
    if include_folders:
        context["folder_names"] = dict(Folder.objects.filter(workspace=workspace).values_list("pk", "name"))
    return rows, context


def key_objects(keys, *, workspace, include_folders: bool = True) -> list[dict[str, Any]]:
    """The key objects of `keys`, for the shell."""
    rows, context = key_rows(keys, workspace=workspace, include_folders=include_folders)
    return list(ApiKeySerializer(rows, many=True, context=context).data)


# Response shapes ----------------------------------------------------------------------


class PageCursorField(serializers.CharField):
    """Sent only when the request asked for pages (`limit`); null on the last page."""

    def get_attribute(self, instance):
        if self.source not in instance:
            raise SkipField()
        return super().get_attribute(instance)


class ApiKeyListResponse(serializers.Serializer):
    apiKeys = ApiKeySerializer(many=True)
    publishableKey = serializers.CharField()
    nextCursor = PageCursorField(
        required=False, allow_null=True, help_text="With `limit`: the next page's `cursor`; null on the last page."
    )


class ApiKeyResponse(serializers.Serializer):
    apiKey = ApiKeySerializer()


class KeyPolicySerializer(serializers.Serializer):
    """The workspace's key policy (`apikeys.policy`): what every key must meet."""

    requireExpiry = serializers.BooleanField(source="require_expiry")
    maxLifetimeDays = serializers.IntegerField(source="max_lifetime_days", allow_null=True, help_text="null: none.")
    forbidFullAccess = serializers.BooleanField(source="forbid_full_access")
    scopeCeiling = serializers.ListField(
        child=serializers.CharField(), source="scope_ceiling", allow_null=True, help_text="null: no ceiling."
    )
    requireFolders = serializers.BooleanField(source="require_folders")
    requireIpAllowlist = serializers.CharField(source="require_ip_allowlist", help_text='"", "all" or "write".')
    allowKeyManagement = serializers.BooleanField(source="allow_key_management")
    creators = serializers.CharField(help_text='"managers", "owners" or "members-request".')
    rules = serializers.ListField(child=serializers.CharField(), help_text="The policy in words, a line a rule.")


class KeyPolicyResponse(serializers.Serializer):
    policy = KeyPolicySerializer()


class PublishableKeyResponse(serializers.Serializer):
    publishableKey = serializers.CharField(help_text="rf_<workspace id>: not a secret, not a credential.")


class MintedKeySerializer(serializers.Serializer):
    """The answer to a create or a roll: the one response that carries a key's secret."""

    keyId = serializers.CharField(source="key.key_id")
    key = serializers.CharField(source="secret", help_text="The secret. Shown here once, never again.")
    name = serializers.CharField(source="key.name")
    prefix = serializers.CharField(source="key.prefix")
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True, source="key.scopes")
    folderIds = serializers.SerializerMethodField()
    protected = serializers.BooleanField(source="key.protected")
    apiKey = ApiKeySerializer(source="row")

    def get_folderIds(self, minted: Any) -> list[str]:
        return [str(pk) for pk in minted.row["folder_ids"]] if minted.key.folders_limited else []


class CreatedKeyResponse(MintedKeySerializer):
    publishableKey = serializers.CharField(source="key.workspace.publishable_key")


class RolledKeyResponse(MintedKeySerializer):
    disabled = serializers.BooleanField(source="key.disabled")
    default = serializers.BooleanField(source="key.is_default")
    revokedKeyId = serializers.CharField(source="old.key_id", help_text="The key that was rolled.")
    oldKeyExpiresAt = IsoDateTimeField(source="old.grace_until", help_text="End of the old secret's grace period.")


class RevokedResponse(serializers.Serializer):
    status = serializers.ChoiceField(choices=["revoked"])
    keyId = serializers.CharField()


class RootResponse(serializers.Serializer):
    welcome = serializers.CharField()
    instructions = serializers.CharField()
    docs = serializers.URLField()
    workspace = serializers.CharField(help_text="The url of the key's workspace.")
