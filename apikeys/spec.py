"""A key's writable fields as one typed value.

The API's serializer, the settings pages and the operator commands each build a `KeySpec`
(validating what they were sent, once, at that edge) and hand it to the services, which trust
its types and enforce the business rules. The audit log records specs. Adding a field to keys
is a change here (`of`, `save_to`), in the model, in the serializer and in a migration.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workspaces.models import Folder

from .models import ApiKey
from .scopes import Reach

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # the type of AUTH_USER_MODEL


@dataclass(frozen=True)
class KeySpec:
    """What a key is, apart from its identity, secret and history.

    Preconditions its builders check: `scopes` are leaf scopes of the registry, `folders` and
    `owners` belong to the key's workspace, dates are timezone-aware and `allowed_ips` are
    normalised CIDR blocks.
    """

    name: str
    scopes: tuple[str, ...] | None = None  # None: full access; (): no abilities
    folders: tuple[Folder, ...] | None = None  # None: workspace-wide
    custom_metadata: Mapping[str, Any] = field(default_factory=dict)
    protected: bool = False
    disabled: bool = False
    default: bool = False
    rotation_due_at: datetime | None = None
    owners: tuple["User", ...] = ()
    expires_at: datetime | None = None
    allowed_ips: tuple[str, ...] = ()

    @classmethod
    def of(cls, key: ApiKey) -> "KeySpec":
        return cls(
            name=key.name,
            scopes=None if key.scopes is None else tuple(key.scopes),
            folders=tuple(sorted(key.folders.all(), key=lambda f: f.pk)) if key.folders_limited else None,
            custom_metadata=dict(key.custom_metadata),
            protected=key.protected,
            disabled=key.disabled,
            default=key.is_default,
            rotation_due_at=key.rotation_due_at,
            owners=tuple(sorted(key.owners.all(), key=lambda u: u.pk)),
            expires_at=key.expires_at,
            allowed_ips=tuple(key.allowed_ips),
        )

    def save_to(self, key: ApiKey) -> None:
        """Write the spec onto `key` and save it, with its folders and owners (the reverse of `of`)."""
        key.name = self.name
        key.scopes = None if self.scopes is None else list(self.scopes)
        key.folders_limited = self.folders is not None
        key.custom_metadata = dict(self.custom_metadata)
        key.protected, key.disabled, key.is_default = self.protected, self.disabled, self.default
        key.rotation_due_at, key.expires_at = self.rotation_due_at, self.expires_at
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
