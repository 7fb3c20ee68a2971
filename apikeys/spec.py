"""A key's writable fields: declared once, here, and typed.

Each field of `KeySpec` carries its `KeyField`: its name on the wire, its label on the pages
and in the shell, its help, whether it is an Enterprise feature, and its kind. Everything else
derives from that: the API's input and output fields (`apikeys.serializers`), the edit modal's
fields (`apikeys.forms`, `templates/apikeys/_key_field.html`), the shell's `apikeys show`, the
activity page, the plan rule (`ENTERPRISE_FIELDS`), and `of`/`save_to` for fields stored in a
column of their own. A new such field is a line here, a column in the model and its migration.

The API's serializer, the settings pages and the operator commands each build a `KeySpec`
(validating what they were sent, once, at that edge) and hand it to the services, which trust
its types and enforce the business rules. The audit log records specs.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from workspaces.models import Folder

from .models import ApiKey
from .scopes import Reach

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # the type of AUTH_USER_MODEL


class Kind(StrEnum):
    """What a field holds. The plain kinds live in a column of their own and need nothing but
    their declaration; the others have their own rules (and code) wherever they are read."""

    TEXT = "text"  # one line of text
    FLAG = "flag"  # yes or no
    DATE = "date"  # a moment in the future, or none
    SCOPES = "scopes"
    FOLDERS = "folders"
    MEMBERS = "members"
    NETWORKS = "networks"
    METADATA = "metadata"


PLAIN = frozenset({Kind.TEXT, Kind.FLAG, Kind.DATE})


@dataclass(frozen=True)
class KeyField:
    """How a key field shows everywhere. `section`: where the edit modal shows a plain field
    ("top", "options" or "limits"; "" for not at all)."""

    wire: str  # its name in the API's bodies and key objects
    title: str  # its name in the shell's `apikeys show` and on the activity page
    kind: Kind
    help: str = ""  # for the API (the OpenAPI schema)
    label: str = ""  # on the edit modal
    hint: str = ""  # under it, on the edit modal
    placeholder: str = ""
    section: str = ""
    listed: bool = False  # whether the key list's row shows it (a text, under the key's name)
    enterprise: bool = False  # a workspace on another plan cannot set it
    column: str = ""  # the ApiKey column of a plain field, when it is not named as the field is
    max_length: int | None = None  # of a text (None: no limit but the column's)
    allow_blank: bool = True  # whether a text may be empty
    none: str = "none"  # how an empty value reads
    name: str = ""  # the KeySpec field's name (filled in below)


def declared(default: Any = None, *, factory: Any = None, **meta: Any) -> Any:
    """A KeySpec field with its declaration."""
    metadata = {"key": KeyField(**meta)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class KeySpec:
    """What a key is, apart from its identity, secret and history.

    Preconditions its builders check: `scopes` are leaf scopes of the registry, `folders` and
    `owners` belong to the key's workspace, dates are timezone-aware and `allowed_ips` are
    normalised CIDR blocks.
    """

    name: str = field(
        metadata={
            "key": KeyField(
                wire="name",
                title="Name",
                kind=Kind.TEXT,
                label="Name",
                placeholder="CI uploader",
                section="top",
                max_length=100,
                allow_blank=False,
            )
        }
    )
    # None: full access; (): no abilities
    scopes: tuple[str, ...] | None = declared(
        wire="scopes",
        title="Scopes",
        kind=Kind.SCOPES,
        enterprise=True,
        help="null: full access; []: no abilities; else scopes, sections or role:* presets.",
    )
    # None: workspace-wide
    folders: tuple[Folder, ...] | None = declared(
        wire="folderIds",
        title="Folders",
        kind=Kind.FOLDERS,
        enterprise=True,
        help="Folders the key is limited to; [] for workspace-wide.",
    )
    custom_metadata: Mapping[str, Any] = declared(
        factory=dict,
        wire="customMetadata",
        title="Metadata",
        kind=Kind.METADATA,
        enterprise=True,
    )
    protected: bool = declared(
        False,
        wire="protected",
        title="Protected",
        kind=Kind.FLAG,
        help="true protects; only Settings → API Keys unprotects.",
    )
    disabled: bool = declared(False, wire="disabled", title="Disabled", kind=Kind.FLAG)
    default: bool = declared(
        False,
        wire="default",
        title="Default",
        kind=Kind.FLAG,
        column="is_default",
        label="Set as default key",
        hint="the one the dashboard's code snippets use",
        section="options",
    )
    expires_at: datetime | None = declared(
        wire="expiresAt",
        title="Expires",
        kind=Kind.DATE,
        enterprise=True,
        help="Future date (at most 10 years ahead) after which the key stops.",
        label="Expires on",
        hint="Empty: never. At most ten years ahead.",
        section="limits",
        none="never",
    )
    rotation_due_at: datetime | None = declared(
        wire="rotationDueAt",
        title="Rotate by",
        kind=Kind.DATE,
        enterprise=True,
        help="Future date; null clears.",
        label="Rotate by",
        hint="A reminder date; the key keeps working.",
        section="limits",
        none="not set",
    )
    owners: tuple["User", ...] = declared(
        factory=tuple,
        wire="owners",
        title="Owners",
        kind=Kind.MEMBERS,
        enterprise=True,
        help="Member ids reminded before the rotation date; [] = everyone who may roll.",
    )
    allowed_ips: tuple[str, ...] = declared(
        factory=tuple,
        wire="allowedIps",
        title="IP allowlist",
        kind=Kind.NETWORKS,
        enterprise=True,
        help="Addresses or CIDR blocks; [] allows any.",
    )

    @classmethod
    def of(cls, key: ApiKey) -> "KeySpec":
        return cls(
            **{f.name: getattr(key, f.column) for f in KEY_FIELDS if f.kind in PLAIN},
            scopes=None if key.scopes is None else tuple(key.scopes),
            folders=tuple(sorted(key.folders.all(), key=lambda f: f.pk)) if key.folders_limited else None,
            custom_metadata=dict(key.custom_metadata),
            owners=tuple(sorted(key.owners.all(), key=lambda u: u.pk)),
            allowed_ips=tuple(key.allowed_ips),
        )

    def save_to(self, key: ApiKey) -> None:
        """Write the spec onto `key` and save it, with its folders and owners (the reverse of `of`)."""
        for plain in (f for f in KEY_FIELDS if f.kind in PLAIN):
            setattr(key, plain.column, getattr(self, plain.name))
        key.scopes = None if self.scopes is None else list(self.scopes)
        key.folders_limited = self.folders is not None
        key.custom_metadata = dict(self.custom_metadata)
        key.allowed_ips = list(self.allowed_ips)
        key.save()
        key.folders.set(self.folders or [])
        key.owners.set(self.owners)

    @property
    def folder_ids(self) -> list[int] | None:
        return None if self.folders is None else sorted(f.pk for f in self.folders)

    def reach(self) -> Reach:
        return Reach(
            scopes=None if self.scopes is None else list(self.scopes),
            folders=self.folder_ids,
            ips=list(self.allowed_ips),
            expires=self.expires_at,
        )

    def changed(self, other: "KeySpec") -> set[str]:
        """The fields in which `other` differs from this spec (folders and owners by id)."""
        mine, theirs = self.snapshot(), other.snapshot()
        return {name for name in mine if mine[name] != theirs[name]}

    def snapshot(self) -> dict[str, Any]:
        """The spec as JSON, keyed by field name: what the audit log records (never a secret)."""
        data: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "folders":
                value = self.folder_ids
            elif item.name == "owners":
                value = sorted(u.pk for u in value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            data[item.name] = value
        return data


def _declarations() -> tuple[KeyField, ...]:
    found = []
    for item in fields(KeySpec):
        declaration = item.metadata["key"]
        found.append(KeyField(**{**declaration.__dict__, "name": item.name, "column": declaration.column or item.name}))
    return tuple(found)


# Every key field, in the order of KeySpec; by wire name; those a non-Enterprise workspace
# cannot set (disabling and protecting have rules of their own, in the services).
KEY_FIELDS = _declarations()
BY_WIRE = {f.wire: f for f in KEY_FIELDS}
ENTERPRISE_FIELDS = frozenset(f.name for f in KEY_FIELDS if f.enterprise)
LISTED = tuple(f for f in KEY_FIELDS if f.listed)
assert all(f.kind == Kind.TEXT for f in LISTED), "a row lists texts"
