"""Every write to API keys. Each service is one transaction that locks what it changes,
enforces the plan, the privilege-subset rule and protection, and writes an AuditEvent.

The settings pages, the REST API and the management commands all call these; none of them
writes an ApiKey another way.
"""

import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from workspaces.models import Folder, Membership, Role, Workspace

from . import keyformat
from . import scopes as registry
from .models import ApiKey, AuditAction, AuditEvent


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""A field the caller did not send, as opposed to one sent as null."""

NAME_MAX = 100
METADATA_MAX_ENTRIES = 100
METADATA_VALUE_MAX_BYTES = 1024
MAX_GRACE = timedelta(days=7)
DEFAULT_KEY_NAME = "Default key"

# Messages that tests and clients rely on.
PLAN_ONE_KEY = "This workspace's plan allows a single API key. Roll it to get a new secret, or upgrade to Enterprise for more keys."
PLAN_SCOPED = "Scoped keys, folder limits, metadata, protection, disabling, rotation dates, expiry, owners and IP allowlists are Enterprise features."
PROTECTED = "This key is protected. An owner or admin must unprotect it in the dashboard first."
UNPROTECT_VIA_API = "A key cannot be unprotected through the API; an owner or admin can unprotect it in the dashboard."
ALREADY_ROLLED = "This key was already rolled; roll its replacement instead."
REVOKED = "This key is revoked; revoked keys cannot change."
NOT_AN_OWNER = "Only this key's owners may roll it."


class ServiceError(Exception):
    status = 400
    type = "invalid_request"
    hint = ""

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if hint is not None:
            self.hint = hint


class InvalidValue(ServiceError):
    status = 400
    type = "validation_error"


class PlanRequired(ServiceError):
    status = 403
    type = "plan_required"
    hint = "Operators change a workspace's plan in the admin; downgraded keys keep their restrictions."


class PrivilegeExceeded(ServiceError):
    status = 403
    type = "privilege_exceeded"
    hint = "A key can grant only the scopes and folders it holds itself."


class Forbidden(ServiceError):
    status = 403
    type = "forbidden"


class Conflict(ServiceError):
    status = 409
    type = "conflict"
    hint = "Protected keys must be unprotected in the dashboard; a rolled key lives on as its replacement."


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, or a key over the API. `ip` is for the audit log."""

    user: User | None = None
    key: ApiKey | None = None
    ip: str | None = None

    @property
    def label(self) -> str:
        if self.key is not None:
            return f"API key {self.key.name} ({self.key.prefix})"
        if self.user is not None:
            return self.user.get_username()
        return "system"

    @classmethod
    def from_request(cls, request) -> "Actor":
        key = request.auth if isinstance(getattr(request, "auth", None), ApiKey) else None
        user = request.user if key is None and request.user and request.user.is_authenticated else None
        return cls(user=user, key=key, ip=request.META.get("REMOTE_ADDR"))


# Validation of values -----------------------------------------------------------------


def clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue("name must be a non-empty string.", field="name")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise InvalidValue(f"name must be at most {NAME_MAX} characters.", field="name")
    return name


def clean_scopes(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidValue("scopes must be null (full access), [] or a list of scope names.", field="scopes")
    try:
        return registry.expand(value)
    except registry.UnknownScope as exc:
        raise InvalidValue(str(exc), field="scopes") from None


def clean_folders(workspace: Workspace, folder_ids: Any) -> list[Folder]:
    if not isinstance(folder_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in folder_ids):
        raise InvalidValue("folderIds must be a list of folder ids (integers).", field="folderIds")
    found = {f.pk: f for f in Folder.objects.filter(workspace=workspace, pk__in=folder_ids)}
    unknown = sorted(set(folder_ids) - set(found))
    if unknown:
        raise InvalidValue(f"No folder {', '.join(map(str, unknown))} in this workspace.", field="folderIds")
    return [found[i] for i in sorted(found)]


def clean_metadata(value: Any) -> dict:
    if not isinstance(value, dict):
        raise InvalidValue("customMetadata must be an object of keys to values.", field="customMetadata")
    if len(value) > METADATA_MAX_ENTRIES:
        raise InvalidValue(f"customMetadata holds at most {METADATA_MAX_ENTRIES} entries.", field="customMetadata")
    for k, v in value.items():
        if not k or len(k) > NAME_MAX:
            raise InvalidValue(f"customMetadata keys are 1 to {NAME_MAX} characters.", field="customMetadata")
        if not isinstance(v, str | int | float | bool) and v is not None:
            raise InvalidValue(
                f"customMetadata[{k!r}] must be a string, number, boolean or null.", field="customMetadata"
            )
        if len(json.dumps(v).encode()) > METADATA_VALUE_MAX_BYTES:
            raise InvalidValue(
                f"customMetadata[{k!r}] is over {METADATA_VALUE_MAX_BYTES} bytes.", field="customMetadata"
            )
    return value


def clean_future(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise InvalidValue(f"{field} must be a date and time with a time zone.", field=field)
    if value <= timezone.now():
        raise InvalidValue(f"{field} must be in the future.", field=field)
    return value


def clean_ips(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidValue("allowedIps must be a list of addresses or CIDR blocks.", field="allowedIps")
    networks = []
    for text in value:
        try:
            networks.append(str(ipaddress.ip_network(text.strip(), strict=False)))
        except ValueError:
            raise InvalidValue(f"{text!r} is not an IP address or CIDR block.", field="allowedIps") from None
    return sorted(set(networks))


def clean_owners(workspace: Workspace, value: Any) -> list[User]:
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise InvalidValue("owners must be a list of member ids (integers).", field="owners")
    members = {
        m.user_id: m.user
        for m in Membership.objects.filter(workspace=workspace, user_id__in=value).select_related("user")
    }
    unknown = sorted(set(value) - set(members))
    if unknown:
        raise InvalidValue(f"No member {', '.join(map(str, unknown))} in this workspace.", field="owners")
    return [members[i] for i in sorted(members)]


def clean_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(f"{field} must be true or false.", field=field)
    return value


# Rules --------------------------------------------------------------------------------


def snapshot(key: ApiKey) -> dict[str, Any]:
    """What the audit log records of a key: never its secret or digest."""
    return {
        "name": key.name,
        "scopes": key.scopes,
        "folderIds": key.folder_ids(),
        "default": key.is_default,
        "protected": key.protected,
        "disabled": key.disabled,
        "customMetadata": key.custom_metadata,
        "rotationDueAt": key.rotation_due_at.isoformat() if key.rotation_due_at else None,
        "expiresAt": key.expires_at.isoformat() if key.expires_at else None,
        "allowedIps": key.allowed_ips,
        "owners": sorted(u.pk for u in key.owners.all()),
    }


def _audit(*, key: ApiKey, actor: Actor, action: str, before: dict, after: dict) -> AuditEvent:
    changed = [k for k in after if before.get(k) != after.get(k)] if before else list(after)
    return AuditEvent.objects.create(
        workspace_id=key.workspace_id,
        api_key=key,
        action=action,
        actor_user=actor.user,
        actor_key=actor.key,
        actor_label=actor.label[:200],
        ip=actor.ip,
        before={k: before[k] for k in changed if k in before},
        after={k: after[k] for k in changed},
    )


def _check_grant(actor: Actor, key_scopes: list[str] | None, folders: list[Folder]) -> None:
    if actor.key is None:
        return
    problem = registry.grant_excess(
        grantor_scopes=actor.key.scopes,
        grantor_folders=actor.key.folder_ids(),
        scopes=key_scopes,
        folders=[f.pk for f in folders],
    )
    if problem:
        raise PrivilegeExceeded(problem)


def _lock_workspace(workspace: Workspace) -> Workspace:
    return Workspace.objects.select_for_update().get(pk=workspace.pk)


def _lock_key(key: ApiKey) -> ApiKey:
    return ApiKey.objects.select_for_update().select_related("workspace").get(pk=key.pk)


def _set_default(key: ApiKey) -> None:
    ApiKey.objects.filter(workspace_id=key.workspace_id, is_default=True).exclude(pk=key.pk).update(is_default=False)


# Services -----------------------------------------------------------------------------


@transaction.atomic
def api_key_create(
    *,
    workspace: Workspace,
    actor: Actor,
    name: Any,
    scopes: Any = UNSET,
    folder_ids: Any = UNSET,
    custom_metadata: Any = UNSET,
    protected: Any = UNSET,
    disabled: Any = UNSET,
    default: Any = UNSET,
    rotation_due_at: Any = UNSET,
    owners: Any = UNSET,
    expires_at: Any = UNSET,
    allowed_ips: Any = UNSET,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with its secret, which is never available again.

    Omitted `scopes` copies the calling key's scopes (full access for a user), and omitted
    folders copy the calling key's folders, so that a key never mints a wider one.
    """
    workspace = _lock_workspace(workspace)
    name = clean_name(name)
    key_scopes = clean_scopes(scopes) if scopes is not UNSET else (actor.key.scopes if actor.key else None)
    if folder_ids is not UNSET:
        folders = clean_folders(workspace, folder_ids)
    else:
        folders = list(actor.key.folders.all()) if actor.key else []
    metadata = clean_metadata(custom_metadata) if custom_metadata is not UNSET else {}
    is_protected = clean_bool(protected, "protected") if protected is not UNSET else False
    is_disabled = clean_bool(disabled, "disabled") if disabled is not UNSET else False
    is_default = clean_bool(default, "default") if default is not UNSET else False
    rotation = clean_future(rotation_due_at, "rotationDueAt") if rotation_due_at is not UNSET else None
    expiry = clean_future(expires_at, "expiresAt") if expires_at is not UNSET else None
    owner_users = clean_owners(workspace, owners) if owners is not UNSET else []
    ips = clean_ips(allowed_ips) if allowed_ips is not UNSET else []

    if not workspace.is_enterprise:
        if ApiKey.objects.filter(workspace=workspace).live().exists():
            raise PlanRequired(PLAN_ONE_KEY)
        restricted = key_scopes is not None or folders or metadata or is_protected or is_disabled
        if restricted or rotation or expiry or owner_users or ips:
            raise PlanRequired(PLAN_SCOPED)
    _check_grant(actor, key_scopes, folders)

    key = ApiKey(
        workspace=workspace,
        name=name,
        scopes=key_scopes,
        is_default=is_default,
        protected=is_protected,
        disabled=is_disabled,
        custom_metadata=metadata,
        rotation_due_at=rotation,
        expires_at=expiry,
        allowed_ips=ips,
        created_by_user=actor.user,
        created_by_key=actor.key,
    )
    secret = keyformat.new_key(key.key_id)
    key.digest = keyformat.digest(secret)
    if is_default:
        _set_default(key)
    key.save()
    key.folders.set(folders)
    key.owners.set(owner_users)
    _audit(key=key, actor=actor, action=AuditAction.CREATE, before={}, after=snapshot(key))
    return key, secret


def api_key_create_default(*, workspace: Workspace, actor: Actor) -> tuple[ApiKey, str]:
    """The full-access default key every workspace gets when it is created."""
    return api_key_create(workspace=workspace, actor=actor, name=DEFAULT_KEY_NAME, scopes=None, default=True)


@transaction.atomic
def api_key_update(
    *,
    key: ApiKey,
    actor: Actor,
    name: Any = UNSET,
    scopes: Any = UNSET,
    folder_ids: Any = UNSET,
    custom_metadata: Any = UNSET,
    protected: Any = UNSET,
    disabled: Any = UNSET,
    default: Any = UNSET,
    rotation_due_at: Any = UNSET,
    owners: Any = UNSET,
    expires_at: Any = UNSET,
    allowed_ips: Any = UNSET,
) -> ApiKey:
    """Change only what is given. The audit action says what kind of change it was."""
    key = _lock_key(key)
    workspace = key.workspace
    if key.revoked_at is not None or key.rolled_at is not None:
        raise Conflict(REVOKED if key.revoked_at else ALREADY_ROLLED)
    before = snapshot(key)

    new_scopes = clean_scopes(scopes) if scopes is not UNSET else key.scopes
    new_folders = clean_folders(workspace, folder_ids) if folder_ids is not UNSET else list(key.folders.all())
    changes: dict[str, Any] = {}
    if name is not UNSET:
        changes["name"] = clean_name(name)
    if scopes is not UNSET:
        changes["scopes"] = new_scopes
    if custom_metadata is not UNSET:
        changes["custom_metadata"] = clean_metadata(custom_metadata)
    if protected is not UNSET:
        changes["protected"] = clean_bool(protected, "protected")
    if disabled is not UNSET:
        changes["disabled"] = clean_bool(disabled, "disabled")
    if default is not UNSET:
        changes["is_default"] = clean_bool(default, "default")
    if rotation_due_at is not UNSET:
        changes["rotation_due_at"] = clean_future(rotation_due_at, "rotationDueAt")
    if expires_at is not UNSET:
        changes["expires_at"] = clean_future(expires_at, "expiresAt")
    if allowed_ips is not UNSET:
        changes["allowed_ips"] = clean_ips(allowed_ips)
    owner_users = clean_owners(workspace, owners) if owners is not UNSET else None

    real = {f: v for f, v in changes.items() if getattr(key, f) != v}
    folders_change = folder_ids is not UNSET and {f.pk for f in new_folders} != set(key.folder_ids())
    owners_change = owner_users is not None and {u.pk for u in owner_users} != set(before["owners"])

    if not workspace.is_enterprise:
        plan_fields = {"scopes", "custom_metadata", "protected", "rotation_due_at", "expires_at", "allowed_ips"}
        if set(real) & plan_fields or folders_change or owners_change:
            raise PlanRequired(PLAN_SCOPED)
    if real.get("protected") is False and actor.key is not None:
        raise Forbidden(UNPROTECT_VIA_API)
    if key.protected and real.get("disabled") is True:
        raise Conflict(PROTECTED)
    if "scopes" in real or folders_change:
        _check_grant(actor, new_scopes, new_folders)

    for field_name, value in real.items():
        setattr(key, field_name, value)
    if real.get("is_default"):
        _set_default(key)
    key.save()
    if folders_change:
        key.folders.set(new_folders)
    if owners_change:
        key.owners.set(owner_users or [])

    after = snapshot(key)
    if after != before:
        _audit(key=key, actor=actor, action=_action_for(before, after), before=before, after=after)
    return key


def _action_for(before: dict, after: dict) -> str:
    changed = {k for k in after if before[k] != after[k]}
    if changed == {"protected"}:
        return AuditAction.PROTECT if after["protected"] else AuditAction.UNPROTECT
    if changed == {"disabled"}:
        return AuditAction.DISABLE if after["disabled"] else AuditAction.ENABLE
    return AuditAction.UPDATE


def _may_roll(key: ApiKey, actor: Actor) -> bool:
    owner_ids = {u.pk for u in key.owners.all()}
    if not owner_ids:
        return True
    if actor.user is not None:
        return (
            actor.user.pk in owner_ids
            or Membership.objects.filter(workspace_id=key.workspace_id, user=actor.user, role=Role.OWNER).exists()
        )
    return actor.key is not None and actor.key.created_by_user_id in owner_ids


def api_key_roll(
    *,
    key: ApiKey,
    actor: Actor,
    grace: timedelta = timedelta(0),
    rotation_due_at: Any = UNSET,
    owners: Any = UNSET,
) -> tuple[ApiKey, str]:
    """Replace a key's secret: a new key with the same name, scopes, folders, metadata,
    protection, disabled and default state. The old secret dies at once, or after `grace`
    (at most 7 days), during which it acts as the replacement.
    """
    try:
        with transaction.atomic():
            return _roll(key=key, actor=actor, grace=grace, rotation_due_at=rotation_due_at, owners=owners)
    except IntegrityError:
        # A concurrent roll of the same key committed first (the unique rolled_from link).
        raise Conflict(ALREADY_ROLLED) from None


def _roll(*, key: ApiKey, actor: Actor, grace: timedelta, rotation_due_at: Any, owners: Any) -> tuple[ApiKey, str]:
    old = _lock_key(key)
    if old.revoked_at is not None:
        raise Conflict(REVOKED)
    if old.rolled_at is not None:
        raise Conflict(ALREADY_ROLLED)
    if old.protected:
        raise Conflict(PROTECTED)
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise InvalidValue("The grace period must be between 0 seconds and 7 days.", field="oldKeyExpiresIn")
    folders = list(old.folders.all())
    _check_grant(actor, old.scopes, folders)
    if not _may_roll(old, actor):
        raise Forbidden(NOT_AN_OWNER)
    workspace = old.workspace
    rotation = clean_future(rotation_due_at, "rotationDueAt") if rotation_due_at is not UNSET else None
    owner_users = clean_owners(workspace, owners) if owners is not UNSET else list(old.owners.all())
    if not workspace.is_enterprise and (rotation or (owners is not UNSET and owner_users)):
        raise PlanRequired(PLAN_SCOPED)

    now = timezone.now()
    was_default = old.is_default
    old.rolled_at = now
    old.grace_until = now + grace if grace else None
    old.is_default = False
    old.save(update_fields=["rolled_at", "grace_until", "is_default"])

    new = ApiKey(
        workspace=workspace,
        name=old.name,
        scopes=old.scopes,
        is_default=was_default,
        protected=old.protected,
        disabled=old.disabled,
        custom_metadata=old.custom_metadata,
        rotation_due_at=rotation,
        expires_at=old.expires_at,
        allowed_ips=old.allowed_ips,
        created_by_user=actor.user,
        created_by_key=actor.key,
        rolled_from=old,
    )
    secret = keyformat.new_key(new.key_id)
    new.digest = keyformat.digest(secret)
    new.save()
    new.folders.set(folders)
    new.owners.set(owner_users)
    _audit(
        key=old,
        actor=actor,
        action=AuditAction.ROLL,
        before={"keyId": old.key_id},
        after={"keyId": new.key_id, "graceUntil": old.grace_until.isoformat() if old.grace_until else None},
    )
    return new, secret


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke for good. A rolled key in its grace period can be revoked to end the grace now."""
    key = _lock_key(key)
    if key.revoked_at is not None:
        raise Conflict("This key is already revoked.")
    if key.protected:
        raise Conflict(PROTECTED)
    before = {"revoked": False, "default": key.is_default}
    key.revoked_at = timezone.now()
    key.is_default = False
    key.save(update_fields=["revoked_at", "is_default"])
    _audit(key=key, actor=actor, action=AuditAction.REVOKE, before=before, after={"revoked": True, "default": False})
    return key
