"""Every write to API keys. Each service is one transaction that locks what it changes,
checks that the actor belongs to the workspace, enforces the plan, the privilege-subset rule
and protection, and writes an AuditEvent.

The settings pages, the REST API, the admin and the management commands all call these;
none of them writes an ApiKey another way.
"""

import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from workspaces.models import MANAGER_ROLES, Folder, Membership, Workspace
from workspaces.throttling import client_ip

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
MAX_DATE_AHEAD = timedelta(days=3653)  # ten years, leap days included
DEFAULT_KEY_NAME = "Default key"

# Messages that tests and clients rely on.
PLAN_ONE_KEY = "This workspace's plan allows a single API key. Roll it to get a new secret, or upgrade to Enterprise for more keys."
PLAN_SCOPED = "Scoped keys, folder limits, metadata, protection, disabling, rotation dates, expiry, owners and IP allowlists are Enterprise features."
PROTECTED = "This key is protected. An owner or admin must unprotect it in the dashboard first."
UNPROTECT_VIA_API = "A key cannot be unprotected through the API; an owner or admin can unprotect it in the dashboard."
ALREADY_ROLLED = "This key was already rolled; roll its replacement instead."
REVOKED = "This key is revoked; revoked keys cannot change."
EXPIRED = "This key has expired, so its replacement would be expired too; create a new key instead."
NOT_IN_WORKSPACE = "The caller does not manage keys of this workspace."
NOT_DOMINATED = "This key holds more than the calling key, so the calling key cannot manage it."


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
    hint = "A key can grant only the scopes, folders, IP addresses and lifetime it holds itself."


class Forbidden(ServiceError):
    status = 403
    type = "forbidden"


class Conflict(ServiceError):
    status = 409
    type = "conflict"
    hint = "Protected keys must be unprotected in the dashboard; a rolled key lives on as its replacement."


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, a key over the API, or neither (an operator's command).
    `ip` is for the audit log."""

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
        return cls(user=user, key=key, ip=client_ip(request))


# Validation of values -----------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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


def clean_folders(workspace: Workspace, folder_ids: Any, visible: list[int] | None = None) -> list[Folder] | None:
    """Folders of the workspace; None for [] (workspace-wide). Folders outside `visible` (the
    calling key's own limit) are reported exactly like folders that do not exist."""
    if not isinstance(folder_ids, list) or not all(_is_int(i) for i in folder_ids):
        raise InvalidValue("folderIds must be a list of folder ids.", field="folderIds")
    if not folder_ids:
        return None
    found = Folder.objects.filter(workspace=workspace, pk__in=folder_ids)
    if visible is not None:
        found = found.filter(pk__in=visible)
    by_id = {f.pk: f for f in found}
    unknown = sorted(set(folder_ids) - set(by_id))
    if unknown:
        raise InvalidValue(f"No folder {', '.join(map(str, unknown))} in this workspace.", field="folderIds")
    return [by_id[i] for i in sorted(by_id)]


def clean_metadata(value: Any) -> dict:
    if not isinstance(value, dict):
        raise InvalidValue("customMetadata must be an object of keys to values.", field="customMetadata")
    if len(value) > METADATA_MAX_ENTRIES:
        raise InvalidValue(f"customMetadata holds at most {METADATA_MAX_ENTRIES} entries.", field="customMetadata")
    for k, v in value.items():
        if not k or len(k) > NAME_MAX:
            raise InvalidValue(f"customMetadata keys are 1 to {NAME_MAX} characters.", field="customMetadata")
        if v is not None and not isinstance(v, str | int | float | bool):
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
    now = timezone.now()
    if value <= now:
        raise InvalidValue(f"{field} must be in the future.", field=field)
    if value > now + MAX_DATE_AHEAD:
        raise InvalidValue(f"{field} must be at most 10 years ahead.", field=field)
    return value


def clean_ips(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidValue("allowedIps must be a list of addresses or CIDR blocks.", field="allowedIps")
    networks = []
    for text in value:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise InvalidValue(f"{text!r} is not an IP address or CIDR block.", field="allowedIps") from None
    return [str(n) for n in sorted(set(networks), key=lambda n: (n.version, n))]


def clean_owners(workspace: Workspace, value: Any) -> list[User]:
    """Members reminded before the rotation date ([] = everyone who may roll the key)."""
    if not isinstance(value, list) or not all(_is_int(i) for i in value):
        raise InvalidValue("owners must be a list of member ids.", field="owners")
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
        "folderIds": key.folder_limit(),
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


def _authorize(actor: Actor, workspace: Workspace) -> None:
    """The actor acts in this workspace: its own key, a manager member, or an operator (a user
    granted the change permission on keys, as superusers are; being staff alone is not enough)."""
    if actor.key is not None:
        allowed = actor.key.workspace_id == workspace.pk
    elif actor.user is not None:
        allowed = actor.user.has_perm("apikeys.change_apikey") or (
            Membership.objects.filter(user=actor.user, workspace=workspace, role__in=MANAGER_ROLES).exists()
        )
    else:
        allowed = True  # an operator's command on the shell
    if not allowed:
        raise Forbidden(NOT_IN_WORKSPACE)


def _folder_ids(folders: list[Folder] | None) -> list[int] | None:
    return None if folders is None else [f.pk for f in folders]


def reach(key: ApiKey) -> registry.Reach:
    return registry.Reach(scopes=key.scopes, folders=key.folder_limit(), ips=key.allowed_ips, expires=key.expires_at)


def _check_grant(actor: Actor, grant: registry.Reach) -> None:
    """A key grants only what it reaches itself (the privilege-subset rule)."""
    if actor.key is None:
        return
    problem = registry.reach_excess(reach(actor.key), grant)
    if problem:
        raise PrivilegeExceeded(problem)


def _check_dominates(actor: Actor, key: ApiKey) -> None:
    """A key may change, disable, enable, protect, roll or revoke another key only if it holds
    at least that key's scopes and folders: a weaker key never manages a stronger one."""
    if actor.key is None:
        return
    problem = registry.grant_excess(
        grantor_scopes=actor.key.scopes,
        grantor_folders=actor.key.folder_limit(),
        scopes=key.scopes,
        folders=key.folder_limit(),
    )
    if problem:
        raise PrivilegeExceeded(f"{NOT_DOMINATED} {problem}")


def _lock_workspace(workspace: Workspace) -> Workspace:
    return Workspace.objects.select_for_update().get(pk=workspace.pk)


def _lock_key(key: ApiKey) -> ApiKey:
    """Lock the key's workspace, then the key: always in this order, so writers never deadlock,
    and default-flag moves within a workspace are serialised."""
    _lock_workspace(key.workspace)
    return ApiKey.objects.select_for_update(of=("self",)).select_related("workspace").get(pk=key.pk)


def _set_default(key: ApiKey, actor: Actor) -> None:
    """Move the default flag to `key`. Taking it from another key changes that key, so the
    caller must dominate it too (a weak key cannot demote a strong default)."""
    current = ApiKey.objects.filter(workspace_id=key.workspace_id, is_default=True).exclude(pk=key.pk).first()
    if current is not None:
        _check_dominates(actor, current)
        ApiKey.objects.filter(pk=current.pk).update(is_default=False)


def _visible_folders(actor: Actor) -> list[int] | None:
    return actor.key.folder_limit() if actor.key is not None else None


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

    What a calling key omits is copied from the calling key (scopes, folders, IP allowlist,
    expiry), so that a key never mints a wider one. Omitted owners default to the acting
    user on Enterprise workspaces.
    """
    _authorize(actor, workspace)
    workspace = _lock_workspace(workspace)
    caller = actor.key
    name = clean_name(name)
    key_scopes = clean_scopes(scopes) if scopes is not UNSET else (caller.scopes if caller else None)
    if folder_ids is not UNSET:
        folders = clean_folders(workspace, folder_ids, _visible_folders(actor))
    else:
        folders = list(caller.folders.all()) if caller and caller.folders_limited else None
    metadata = clean_metadata(custom_metadata) if custom_metadata is not UNSET else {}
    is_protected = clean_bool(protected, "protected") if protected is not UNSET else False
    is_disabled = clean_bool(disabled, "disabled") if disabled is not UNSET else False
    is_default = clean_bool(default, "default") if default is not UNSET else False
    rotation = clean_future(rotation_due_at, "rotationDueAt") if rotation_due_at is not UNSET else None
    expiry = (
        clean_future(expires_at, "expiresAt") if expires_at is not UNSET else (caller.expires_at if caller else None)
    )
    ips = clean_ips(allowed_ips) if allowed_ips is not UNSET else (list(caller.allowed_ips) if caller else [])
    if owners is not UNSET:
        owner_users = clean_owners(workspace, owners)
    else:
        reminded = actor.user or (caller.created_by_user if caller else None)
        member = reminded and Membership.objects.filter(workspace=workspace, user=reminded).exists()
        owner_users = [reminded] if workspace.is_enterprise and member and reminded else []

    if not workspace.is_enterprise:
        if ApiKey.objects.filter(workspace=workspace).live().exists():
            raise PlanRequired(PLAN_ONE_KEY)
        if key_scopes is not None or folders is not None or metadata or is_protected or is_disabled:
            raise PlanRequired(PLAN_SCOPED)
        if rotation or expiry or owner_users or ips:
            raise PlanRequired(PLAN_SCOPED)
    _check_grant(actor, registry.Reach(scopes=key_scopes, folders=_folder_ids(folders), ips=ips, expires=expiry))

    key = ApiKey(
        workspace=workspace,
        name=name,
        scopes=key_scopes,
        folders_limited=folders is not None,
        is_default=is_default,
        protected=is_protected,
        disabled=is_disabled,
        custom_metadata=metadata,
        rotation_due_at=rotation,
        expires_at=expiry,
        allowed_ips=ips,
        created_by_user=actor.user,
        created_by_key=caller,
    )
    secret = keyformat.new_key(key.key_id)
    key.digest = keyformat.digest(secret)
    if is_default:
        _set_default(key, actor)
    key.save()
    key.folders.set(folders or [])
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
    """Change only what is given. The audit action says what kind of change it was.

    On a workspace that left Enterprise, only the name, the default flag, disabling and
    (in the dashboard) unprotecting remain possible: nothing can widen a downgraded key.
    """
    key = _lock_key(key)
    workspace = key.workspace
    _authorize(actor, workspace)
    if key.revoked_at is not None or key.rolled_at is not None:
        raise Conflict(REVOKED if key.revoked_at else ALREADY_ROLLED)
    _check_dominates(actor, key)
    before = snapshot(key)

    changes: dict[str, Any] = {}
    if name is not UNSET:
        changes["name"] = clean_name(name)
    if scopes is not UNSET:
        changes["scopes"] = clean_scopes(scopes)
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
    new_folders = clean_folders(workspace, folder_ids, _visible_folders(actor)) if folder_ids is not UNSET else UNSET
    owner_users = clean_owners(workspace, owners) if owners is not UNSET else None

    real = {f: v for f, v in changes.items() if getattr(key, f) != v}
    folders_change = new_folders is not UNSET and _folder_ids(new_folders) != key.folder_limit()
    owners_change = owner_users is not None and sorted(u.pk for u in owner_users) != before["owners"]

    if not workspace.is_enterprise:
        plan_fields = {"scopes", "custom_metadata", "rotation_due_at", "expires_at", "allowed_ips"}
        protecting = real.get("protected") is True
        if set(real) & plan_fields or protecting or folders_change or owners_change:
            raise PlanRequired(PLAN_SCOPED)
    if real.get("protected") is False and actor.key is not None:
        raise Forbidden(UNPROTECT_VIA_API)
    if key.protected and real.get("disabled") is True:
        raise Conflict(PROTECTED)
    # A change that lets the key reach further (or enables it) grants what the key then
    # reaches, so the caller must be able to grant all of it; narrowing needs only dominance.
    result = registry.Reach(
        scopes=real.get("scopes", key.scopes),
        folders=_folder_ids(new_folders) if folders_change else key.folder_limit(),
        ips=real.get("allowed_ips", key.allowed_ips),
        expires=real.get("expires_at", key.expires_at),
    )
    if real.get("disabled") is False or registry.reach_excess(reach(key), result):
        _check_grant(actor, result)

    for field_name, value in real.items():
        setattr(key, field_name, value)
    if real.get("is_default"):
        _set_default(key, actor)
    if folders_change:
        key.folders_limited = new_folders is not None
    key.save()
    if folders_change:
        key.folders.set(new_folders or [])
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


def api_key_roll(
    *,
    key: ApiKey,
    actor: Actor,
    grace: timedelta = timedelta(0),
    rotation_due_at: Any = UNSET,
    owners: Any = UNSET,
) -> tuple[ApiKey, str]:
    """Replace a key's secret: a new key with the same name, scopes, folders, metadata,
    protection, disabled and default state, and rotation schedule unless a new one is given.
    The old secret dies at once, or after `grace` (at most 7 days), during which it acts as
    the replacement. The caller must hold at least the key's scopes and folders.
    """
    try:
        with transaction.atomic():
            return _roll(key=key, actor=actor, grace=grace, rotation_due_at=rotation_due_at, owners=owners)
    except IntegrityError:
        # A concurrent roll of the same key committed first (the unique rolled_from link).
        raise Conflict(ALREADY_ROLLED) from None


def _roll(*, key: ApiKey, actor: Actor, grace: timedelta, rotation_due_at: Any, owners: Any) -> tuple[ApiKey, str]:
    old = _lock_key(key)
    workspace = old.workspace
    _authorize(actor, workspace)
    if old.revoked_at is not None:
        raise Conflict(REVOKED)
    if old.rolled_at is not None:
        raise Conflict(ALREADY_ROLLED)
    if old.protected:
        raise Conflict(PROTECTED)
    now = timezone.now()
    if old.expires_at is not None and old.expires_at <= now:
        raise Conflict(EXPIRED)
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise InvalidValue("The grace period must be between 0 seconds and 7 days.", field="oldKeyExpiresIn")
    folders = list(old.folders.all()) if old.folders_limited else None
    _check_grant(actor, reach(old))
    # Omitted, the rotation schedule carries over to the replacement.
    rotation = clean_future(rotation_due_at, "rotationDueAt") if rotation_due_at is not UNSET else old.rotation_due_at
    owner_users = clean_owners(workspace, owners) if owners is not UNSET else list(old.owners.all())
    if not workspace.is_enterprise and (rotation_due_at not in (UNSET, None) or (owners is not UNSET and owner_users)):
        raise PlanRequired(PLAN_SCOPED)

    was_default = old.is_default
    old.rolled_at = now
    old.grace_until = now + grace if grace else None
    old.is_default = False
    old.save(update_fields=["rolled_at", "grace_until", "is_default"])

    new = ApiKey(
        workspace=workspace,
        name=old.name,
        scopes=old.scopes,
        folders_limited=old.folders_limited,
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
    new.folders.set(folders or [])
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
    _authorize(actor, key.workspace)
    if key.revoked_at is not None:
        raise Conflict("This key is already revoked.")
    _check_dominates(actor, key)
    if key.protected:
        raise Conflict(PROTECTED)
    before = {"revoked": False, "default": key.is_default}
    key.revoked_at = timezone.now()
    key.is_default = False
    key.save(update_fields=["revoked_at", "is_default"])
    _audit(key=key, actor=actor, action=AuditAction.REVOKE, before=before, after={"revoked": True, "default": False})
    return key


def api_key_protect(*, key: ApiKey, actor: Actor) -> ApiKey:
    """Protect a key: from then on it cannot be disabled, rolled or revoked until unprotected."""
    return api_key_update(key=key, actor=actor, protected=True)


def api_key_unprotect(*, key: ApiKey, actor: Actor) -> ApiKey:
    """Only a signed-in owner or admin (or an operator) may unprotect; a key never can."""
    return api_key_update(key=key, actor=actor, protected=False)


def api_key_disable(*, key: ApiKey, actor: Actor) -> ApiKey:
    return api_key_update(key=key, actor=actor, disabled=True)


def api_key_enable(*, key: ApiKey, actor: Actor) -> ApiKey:
    return api_key_update(key=key, actor=actor, disabled=False)
