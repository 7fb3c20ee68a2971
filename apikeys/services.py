"""Every write to API keys: one function per action, each one transaction that locks what it
changes (the workspace, then the key: one order, so writers never deadlock), checks the actor
(`_authorize`) and the rules (`_check_write`: plan, protection, privilege), and writes an
AuditEvent.

The API, the settings pages, the admin and the management commands all call these; none of
them writes an ApiKey another way. What they pass in is already validated at their edge (a
`KeySpec`); these functions enforce the business rules only.
"""

from dataclasses import replace
from datetime import date, timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.errors import Conflict, Forbidden, InvalidValue, PlanRequired, PolicyViolation, PrivilegeExceeded
from core.fields import CONTROL_CHARACTERS
from workspaces import audit
from workspaces.actors import Actor
from workspaces.models import MANAGER_ROLES, Membership, Plan, Role, Workspace
from workspaces.services import workspace_create

from . import keyformat, policy
from .models import ApiKey, AuditAction, AuditEvent, KeyPolicy, KeyRequest, KeyState
from .scopes import SCOPE_NAMES, expand, grant_excess, reach_excess
from .spec import ENTERPRISE_FIELDS, KeySpec

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # the type of AUTH_USER_MODEL

MAX_GRACE = timedelta(days=7)
DEFAULT_KEY_NAME = "Default key"
DEFAULT_KEY = KeySpec(name=DEFAULT_KEY_NAME, default=True)  # full access: every workspace's first key
ROLL_KEEPS_ALL_BUT = frozenset({"rotation_due_at", "owners"})

# Messages that tests and clients rely on.
PLAN_ONE_KEY = "This workspace's plan allows a single API key. Roll it to get a new secret, or upgrade to Enterprise for more keys."
PLAN_SCOPED = "Scoped keys, folder limits, metadata, protection, disabling, rotation dates, expiry, owners and IP allowlists are Enterprise features."
PROTECTED = "This key is protected. An owner or admin must unprotect it in Settings → API Keys first."
UNPROTECT_VIA_API = (
    "A key cannot be unprotected through the API; an owner or admin can unprotect it in Settings → API Keys."
)
ALREADY_ROLLED = "This key was already rolled; roll its replacement instead."
REVOKED = "This key is revoked; revoked keys cannot change."
ALREADY_REVOKED = "This key is already revoked."
EXPIRED = "This key has expired, so its replacement would be expired too; create a new key instead."
BAD_GRACE = "The grace period must be between 0 seconds and 7 days."
NOT_IN_WORKSPACE = "The caller does not manage keys of this workspace."
NOT_DOMINATED = "This key holds more than the calling key, so the calling key cannot manage it."
POLICY_BY_KEY = "A key cannot change the key policy; the workspace's owners change it in Settings → API Keys → Policy."
POLICY_BY_OWNERS = "Only the workspace's owners change its key policy."
CREATORS_OWNERS = "The workspace's policy lets only its owners create keys."
CONFLICT_HINT = "Protected keys are unprotected in Settings → API Keys; a rolled key lives on as its replacement."


# Services -----------------------------------------------------------------------------


def api_key_defaults(*, workspace: Workspace, actor: Actor, name: str = "") -> KeySpec:
    """A new key before the caller's own choices: a calling key's scopes, folders, IP allowlist
    and expiry, so that no key mints a wider one by leaving them out; on Enterprise, the acting
    person (or whoever made the calling key) as the owner reminded to rotate it."""
    spec = KeySpec(name=name)
    if actor.key is not None:
        own = KeySpec.of(actor.key)
        spec = replace(
            spec, scopes=own.scopes, folders=own.folders, allowed_ips=own.allowed_ips, expires_at=own.expires_at
        )
    reminded = actor.user or (actor.key.created_by_user if actor.key else None)
    if workspace.is_enterprise and reminded is not None and workspace.memberships.filter(user=reminded).exists():
        spec = replace(spec, owners=(reminded,))
    return spec


@transaction.atomic
def api_key_create(*, workspace: Workspace, actor: Actor, spec: KeySpec) -> tuple[ApiKey, str]:
    """Create a key; returns it with its secret, which is never available again."""
    _authorize(actor, workspace)
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    rules = KeyPolicy.objects.filter(workspace=workspace).first()
    if rules is not None and rules.creators == KeyPolicy.CREATORS_OWNERS and not _owner_or_operator(actor, workspace):
        raise PolicyViolation(CREATORS_OWNERS, rule="creators")
    _check_write(actor, workspace, before=None, after=spec)
    key, secret = _mint(workspace=workspace, spec=spec, actor=actor)
    _audit(key=key, actor=actor, action=AuditAction.CREATE, before={}, after=spec.snapshot())
    return key, secret


@transaction.atomic
def workspace_create_with_key(
    *, name: str, url: str, owner: "User", plan: str = Plan.FREE
) -> tuple[Workspace, ApiKey, str]:
    """A new workspace, owned by `owner`, with its full-access default key (and its secret)."""
    workspace = workspace_create(name=name, url=url, owner=owner, plan=plan)
    key, secret = api_key_create(workspace=workspace, actor=Actor(user=owner), spec=DEFAULT_KEY)
    return workspace, key, secret


def api_key_update(*, key: ApiKey, actor: Actor, spec: KeySpec) -> ApiKey:
    """Make the key what `spec` says. The fields in which `spec` differs from `key` as the
    caller loaded it are applied to the key as it is now, under its lock, so that concurrent
    edits of other fields are kept. The audit action says what kind of change it was."""
    return _edit(key=key, actor=actor, edits={name: getattr(spec, name) for name in spec.changed(KeySpec.of(key))})


@transaction.atomic
def _edit(*, key: ApiKey, actor: Actor, edits: dict) -> ApiKey:
    key = _lock_key(key)
    _authorize(actor, key.workspace)
    if key.revoked_at is not None or key.rolled_at is not None:
        raise Conflict(REVOKED if key.revoked_at else ALREADY_ROLLED, hint=CONFLICT_HINT)
    before = KeySpec.of(key)
    after = replace(before, **edits)
    if not after.changed(before):
        return key
    _check_write(actor, key.workspace, before=before, after=after)
    if after.default and not before.default:
        _set_default(key, actor)
    after.save_to(key)
    _audit(key=key, actor=actor, action=_action_for(before, after), before=before.snapshot(), after=after.snapshot())
    return key


def api_key_roll(
    *, key: ApiKey, actor: Actor, grace: timedelta = timedelta(0), spec: KeySpec | None = None
) -> tuple[ApiKey, str]:
    """Replace a key's secret: a new key that is the old one (or `spec`, which may change only
    the rotation date and the owners), with a new secret. The old secret dies at once or after
    `grace` (at most 7 days), during which it acts as the replacement."""
    try:
        with transaction.atomic():
            return _roll(key=key, actor=actor, grace=grace, spec=spec)
    except IntegrityError:
        # A concurrent roll of the same key committed first (the unique rolled_from link).
        raise Conflict(ALREADY_ROLLED, hint=CONFLICT_HINT) from None


def _roll(*, key: ApiKey, actor: Actor, grace: timedelta, spec: KeySpec | None) -> tuple[ApiKey, str]:
    old = _lock_key(key)
    _authorize(actor, old.workspace)
    now = timezone.now()
    if old.revoked_at is not None or old.rolled_at is not None or old.protected:
        raise Conflict(
            REVOKED if old.revoked_at else ALREADY_ROLLED if old.rolled_at else PROTECTED, hint=CONFLICT_HINT
        )
    if old.expires_at is not None and old.expires_at <= now:
        raise Conflict(EXPIRED)
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise InvalidValue(BAD_GRACE, field="oldKeyExpiresIn")
    before = KeySpec.of(old)
    after = before if spec is None else replace(spec, default=before.default)
    if after.changed(before) - ROLL_KEEPS_ALL_BUT:
        raise ValueError("A roll keeps everything but the secret, the rotation date and the owners.")
    rules = KeyPolicy.objects.filter(workspace=old.workspace).first()
    if rules is not None and rules.max_lifetime_days is not None:  # a replacement lives at most that long
        latest = now + timedelta(days=rules.max_lifetime_days)
        after = replace(after, expires_at=min(after.expires_at or latest, latest))
    _check_write(actor, old.workspace, before=before, after=after)
    _check_policy(old.workspace, before=None, after=after)  # the replacement meets the whole policy
    _check_grant(actor, before)  # a roll hands out the whole key again
    old.rolled_at, old.grace_until, old.is_default = now, (now + grace if grace else None), False
    old.save(update_fields=["rolled_at", "grace_until", "is_default"])
    new, secret = _mint(workspace=old.workspace, spec=after, actor=actor, rolled_from=old)
    grace_until = old.grace_until.isoformat() if old.grace_until else None
    _audit(
        key=old,
        actor=actor,
        action=AuditAction.ROLL,
        before={"keyId": old.key_id},
        after={"keyId": new.key_id, "graceUntil": grace_until},
    )
    return new, secret


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke for good. A rolled key in its grace period can be revoked to end the grace now."""
    key = _lock_key(key)
    _authorize(actor, key.workspace)
    if key.revoked_at is not None or key.protected:
        raise Conflict(ALREADY_REVOKED if key.revoked_at else PROTECTED, hint=CONFLICT_HINT)
    _check_dominates(actor, KeySpec.of(key))
    before = {"revoked": False, "default": key.is_default}
    key.revoked_at, key.is_default = timezone.now(), False
    key.save(update_fields=["revoked_at", "is_default"])
    _audit(key=key, actor=actor, action=AuditAction.REVOKE, before=before, after={"revoked": True, "default": False})
    return key


def api_key_protect(*, key: ApiKey, actor: Actor) -> ApiKey:
    """From then on the key cannot be disabled, rolled or revoked until it is unprotected."""
    return _edit(key=key, actor=actor, edits={"protected": True})


def api_key_unprotect(*, key: ApiKey, actor: Actor) -> ApiKey:
    """Only a signed-in owner or admin (or an operator) may unprotect; a key never can."""
    return _edit(key=key, actor=actor, edits={"protected": False})


def api_key_disable(*, key: ApiKey, actor: Actor) -> ApiKey:
    return _edit(key=key, actor=actor, edits={"disabled": True})


def api_key_enable(*, key: ApiKey, actor: Actor) -> ApiKey:
    return _edit(key=key, actor=actor, edits={"disabled": False})


@transaction.atomic
def api_key_narrow(*, key: ApiKey, actor: Actor, used: set[str]) -> ApiKey:
    """Keep only the scopes in `used` (what the key exercised lately), of those it holds when
    its lock is taken: a scope removed meanwhile stays removed. A full-access key becomes
    scoped to what it used. An update like any other: the same rules, audited."""
    current = _lock_key(key)
    held = set(SCOPE_NAMES if current.scopes is None else current.scopes)
    kept = tuple(scope for scope in SCOPE_NAMES if scope in held and scope in used)
    return _edit(key=current, actor=actor, edits={"scopes": kept})


@transaction.atomic
def api_key_report_leak(*, key: ApiKey, actor: Actor, source: str, url: str) -> str:
    """A secret found in public stops working now. A security override: protection and the
    plan rules do not apply, since a leaked secret must die whatever they say. A live key is
    disabled, not revoked, so its owners can roll it and keep its settings; a rolled key in its
    grace period only loses the grace, so its replacement lives on. Returns what was done:
    "disabled", "already disabled", "grace ended" or "already dead". `apikeys.leaks.report`
    calls this and tells the owners."""
    key = _lock_key(key)
    _authorize(actor, key.workspace)
    now = timezone.now()
    state = key.state(now)
    found: dict[str, object] = {"source": source, "url": url}
    before: dict[str, object]
    after: dict[str, object]
    if state in (KeyState.ACTIVE, KeyState.DISABLED):
        done = "already disabled" if key.disabled else "disabled"
        before, after = {"disabled": key.disabled}, {"disabled": True, **found}
        if not key.disabled:
            key.disabled = True
            key.save(update_fields=["disabled"])
    elif state == KeyState.ROLLED and key.in_grace(now):
        done = "grace ended"
        before = {"graceUntil": key.grace_until.isoformat() if key.grace_until else None}
        after = {"graceUntil": now.isoformat(), **found}
        key.grace_until = now
        key.save(update_fields=["grace_until"])
    else:
        done = "already dead"  # revoked, expired, or rolled with its grace over
        before, after = {}, found
    _audit(key=key, actor=actor, action=AuditAction.LEAK, before=before, after=after)
    return done


POLICY_FIELDS = (
    "require_expiry", "max_lifetime_days", "forbid_full_access", "scope_ceiling", "require_folders",
    "require_ip_allowlist", "allow_key_management", "creators", "enforce_from",
)  # fmt: skip
POLICY_SUBJECT = "key policy"


def key_policy_of(workspace: Workspace) -> KeyPolicy:
    """The workspace's policy (unsaved and ruleless when it has none)."""
    return KeyPolicy.objects.filter(workspace=workspace).first() or KeyPolicy(workspace=workspace)


@transaction.atomic
def key_policy_update(*, workspace: Workspace, actor: Actor, **changes) -> KeyPolicy:
    """Change the rules every key of the workspace must meet: only its owners, or an operator,
    never a key. Keys that break the new rules are left as they are (the policy page lists them
    with their fixes); from now on no key is made or changed into breaking them. Audited."""
    if actor.key is not None:
        raise Forbidden(POLICY_BY_KEY)
    if not _owner_or_operator(actor, workspace):
        raise Forbidden(POLICY_BY_OWNERS)
    if not workspace.is_enterprise:
        # (Its one full-access key could then not even be rolled: a roll cannot add an expiry.)
        raise PlanRequired("A key policy is an Enterprise feature: this plan has a single full-access key.")
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"Not a rule of the key policy: {', '.join(sorted(unknown))}.")
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    current = key_policy_of(workspace)
    before = {name: getattr(current, name) for name in POLICY_FIELDS}
    if "scope_ceiling" in changes and changes["scope_ceiling"] is not None:
        try:
            changes["scope_ceiling"] = [s for s in SCOPE_NAMES if s in set(expand(changes["scope_ceiling"]))]
        except ValueError as error:
            raise InvalidValue(str(error), field="scope_ceiling") from None
    lifetime = changes.get("max_lifetime_days", current.max_lifetime_days)
    if lifetime is not None and not (isinstance(lifetime, int) and 1 <= lifetime <= 3650):
        raise InvalidValue("A maximum lifetime is 1 to 3,650 days.", field="max_lifetime_days")
    for name, value in changes.items():
        setattr(current, name, value)
    try:
        current.full_clean()
    except ValidationError as error:
        raise InvalidValue("; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())) from None
    after = {name: getattr(current, name) for name in POLICY_FIELDS}
    if after == before and current.pk is not None:
        return current
    current.save()
    changed = [name for name in POLICY_FIELDS if before[name] != after[name]]
    AuditEvent.objects.create(
        workspace=workspace,
        subject=POLICY_SUBJECT,
        action=AuditAction.POLICY,
        actor_user=actor.user,
        actor_key=None,
        actor_label=actor.label[:200],
        ip=actor.ip,
        before={name: _stored(before[name]) for name in changed},
        after={name: _stored(after[name]) for name in changed},
    )
    breakers = policy_breakers(workspace)
    if breakers:
        transaction.on_commit(partial(_mail_owners, workspace, breakers, enforced=False))
    return current


def _stored(value):
    return value.isoformat() if isinstance(value, date) else value


@transaction.atomic
def key_policy_enforce(*, workspace: Workspace, now=None) -> list[ApiKey]:
    """From its enforcement date, disable (never revoke) the live keys that still break the
    workspace's policy: audited, their workspace's owners mailed. Returns the keys disabled.
    The workers' chore runs it; re-enabling a key needs it to meet the policy first."""
    now = now or timezone.now()
    rules = KeyPolicy.objects.filter(workspace=workspace).first()
    if rules is None or rules.enforce_from is None or rules.enforce_from > now.date():
        return []
    actor = Actor(system="key policy enforcement")
    disabled = []
    breakers = [(key, broken) for key, broken in policy_breakers(workspace) if not key.disabled]
    for key, _ in breakers:
        disabled.append(_edit(key=key, actor=actor, edits={"disabled": True}))
    if breakers:
        transaction.on_commit(partial(_mail_owners, workspace, breakers, enforced=True))
    return disabled


def _mail_owners(workspace: Workspace, breakers: list, *, enforced: bool) -> None:
    """The workspace's owners learn which keys break its policy (and, enforced, were disabled)."""
    owners = sorted(
        set(
            Membership.objects.filter(workspace=workspace, role=Role.OWNER, user__is_active=True)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    if not owners:
        return
    rules = key_policy_of(workspace)
    count = len(breakers)
    what = ("was" if count == 1 else "were") + " disabled by" if enforced else ("breaks" if count == 1 else "break")
    subject = f"[{workspace.name}] {count} API key{'s' if count != 1 else ''} {what} the key policy"
    body = render_to_string(
        "apikeys/email/policy.txt",
        {
            "workspace": workspace,
            "breakers": [(key, [str(v) for v in broken]) for key, broken in breakers],
            "count": count,
            "rules": policy.summary(rules),
            "enforced": enforced,
            "enforce_from": rules.enforce_from.isoformat() if rules.enforce_from else "",
            "link": settings.SITE_URL + reverse("apikeys:policy", kwargs={"ws": workspace.url}),
        },
    )
    EmailMessage(
        subject=CONTROL_CHARACTERS.sub(" ", subject), body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=owners
    ).send()


POLICY_EXPIRY_DAYS = 90  # the fix of a key without expiry when the policy sets no maximum lifetime


def key_policy_fix(*, key: ApiKey, actor: Actor, fix: str) -> ApiKey:
    """The one-click fix of a key that breaks the policy, as a normal update (the same rules,
    audited): `expiry` gives it the policy's maximum lifetime from now (or 90 days) unless it
    already expires sooner; `narrow` keeps the scopes it holds that the policy allows."""
    rules = key_policy_of(key.workspace)
    spec = KeySpec.of(key)
    if fix == "expiry":
        latest = timezone.now() + timedelta(days=rules.max_lifetime_days or POLICY_EXPIRY_DAYS)
        return api_key_update(
            key=key, actor=actor, spec=replace(spec, expires_at=min(spec.expires_at or latest, latest))
        )
    if fix == "narrow":
        allowed = set(SCOPE_NAMES if rules.scope_ceiling is None else rules.scope_ceiling)
        if not rules.allow_key_management:
            allowed -= set(policy.KEY_MANAGEMENT)
        kept = tuple(s for s in SCOPE_NAMES if s in policy.holds(spec) and s in allowed)
        return api_key_update(key=key, actor=actor, spec=replace(spec, scopes=kept))
    raise InvalidValue("A fix is `expiry` or `narrow`.", field="fix")


def policy_breakers(workspace: Workspace) -> list[tuple[ApiKey, list["policy.Violation"]]]:
    """The workspace's live keys that break its policy, each with the rules it breaks."""
    rules = KeyPolicy.objects.filter(workspace=workspace).first()
    if rules is None:
        return []
    now = timezone.now()
    keys = (
        ApiKey.objects.filter(workspace=workspace).live().prefetch_related("folders", "owners").order_by("name", "pk")
    )
    found = [(key, policy.violations(rules, KeySpec.of(key), now=now)) for key in keys]
    return [(key, broken) for key, broken in found if broken]


# Key requests ---------------------------------------------------------------------------

REQUESTS_CLOSED = "This workspace's key policy does not let members request keys; an owner or admin creates them."
REQUEST_FULL_ACCESS = "A request asks for scopes, never full access."
NOT_A_MEMBER = "Only members of the workspace request its keys."
NOT_PENDING = "This request was already decided."
NOT_YOURS = "Only the member who asked for a key opens it."
NOT_APPROVED = "This request is not approved (or its key was made already)."
NARROWER = "An approval grants the scopes asked for, or fewer: {scopes} were not asked for."


@transaction.atomic
def key_request_create(*, workspace: Workspace, user: "User", spec: KeySpec, reason: str) -> KeyRequest:
    """A member asks for a key (name, scopes, folders, expiry, IP allowlist, why). Never for
    more than the policy allows: the same rules as a key made at once. Audited."""
    rules = KeyPolicy.objects.filter(workspace=workspace).first()
    if rules is None or rules.creators != KeyPolicy.CREATORS_REQUEST:
        raise Forbidden(REQUESTS_CLOSED)
    if not Membership.objects.filter(user=user, workspace=workspace).exists():
        raise Forbidden(NOT_A_MEMBER)
    if spec.scopes is None:
        raise PolicyViolation(REQUEST_FULL_ACCESS, rule="no_full_access")
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    _check_write(Actor(user=user), workspace, before=None, after=spec)  # the plan and the policy
    asked = KeyRequest.objects.create(
        workspace=workspace, requested_by=user, name=spec.name, reason=reason, scopes=list(spec.scopes),
        folders_limited=spec.folders is not None, expires_at=spec.expires_at, allowed_ips=list(spec.allowed_ips),
    )  # fmt: skip
    asked.folders.set(spec.folders or [])
    _record_request(asked, Actor(user=user), AuditAction.REQUEST, {"scopes": asked.scopes, "reason": reason})
    transaction.on_commit(partial(_mail_managers_of_request, asked))
    return asked


def key_request_spec(asked: KeyRequest, scopes: list[str] | None = None) -> KeySpec:
    """The key a request makes: what it asked for, with `scopes` (approved, or fewer) instead."""
    return KeySpec(
        name=asked.name,
        scopes=tuple(asked.scopes if scopes is None else scopes),
        folders=tuple(asked.folders.order_by("pk")) if asked.folders_limited else None,
        expires_at=asked.expires_at,
        allowed_ips=tuple(asked.allowed_ips),
        owners=(asked.requested_by,),
    )


@transaction.atomic
def key_request_decide(
    *, asked: KeyRequest, actor: Actor, approve: bool, scopes: list[str] | None = None, note: str = ""
) -> KeyRequest:
    """An owner or admin approves (as asked, or with fewer `scopes`) or denies, with a note.
    Approving runs the checks of creating the key: the approver's privilege and the policy.
    Audited; the member is mailed."""
    if actor.key is not None or actor.user is None:
        raise Forbidden("Owners and admins decide key requests, signed in.")
    _authorize(actor, asked.workspace)
    asked = KeyRequest.objects.select_for_update().get(pk=asked.pk)
    if asked.state != KeyRequest.PENDING:
        raise Conflict(NOT_PENDING)
    if approve:
        granted = list(asked.scopes) if scopes is None else [s for s in SCOPE_NAMES if s in set(expand(scopes))]
        if extra := sorted(set(granted) - set(asked.scopes)):
            raise InvalidValue(NARROWER.format(scopes=", ".join(extra)), field="scopes")
        _check_write(actor, asked.workspace, before=None, after=key_request_spec(asked, granted))
        asked.granted_scopes = granted
    asked.state = KeyRequest.APPROVED if approve else KeyRequest.DENIED
    asked.decided_by, asked.decided_at, asked.note = actor.user, timezone.now(), note
    asked.save()
    detail = {"scopes": asked.granted_scopes, "note": note} if approve else {"note": note}
    _record_request(asked, actor, AuditAction.APPROVE if approve else AuditAction.DENY, detail)
    transaction.on_commit(partial(_mail_member_of_decision, asked))
    return asked


@transaction.atomic
def key_request_claim(*, asked: KeyRequest, user: "User") -> tuple[ApiKey, str]:
    """The member who asked opens an approved request: the key is made now, by the approver's
    authority (their role, the privilege and policy checks, as of now), and its secret shown to
    the member this once; nobody else ever sees it, and it is never stored."""
    asked = KeyRequest.objects.select_for_update(of=("self",)).select_related("decided_by").get(pk=asked.pk)
    if asked.requested_by_id != user.pk:
        raise Forbidden(NOT_YOURS)
    if asked.state != KeyRequest.APPROVED or asked.decided_by is None:
        raise Conflict(NOT_APPROVED)
    spec = key_request_spec(asked, asked.granted_scopes)
    key, secret = api_key_create(workspace=asked.workspace, actor=Actor(user=asked.decided_by), spec=spec)
    asked.state, asked.key = KeyRequest.CLAIMED, key
    asked.save(update_fields=["state", "key"])
    return key, secret


def _record_request(asked: KeyRequest, actor: Actor, action: str, detail: dict) -> None:
    AuditEvent.objects.create(
        workspace_id=asked.workspace_id,
        subject=f"key request “{asked.name}” by {asked.requested_by.get_username()}"[:300],
        action=action,
        actor_user=actor.user,
        actor_label=actor.label[:200],
        ip=actor.ip,
        after=detail,
    )


def _mail_managers_of_request(asked: KeyRequest) -> None:
    managers = sorted(
        set(
            Membership.objects.filter(workspace=asked.workspace, role__in=MANAGER_ROLES, user__is_active=True)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    link = settings.SITE_URL + reverse("apikeys:list", kwargs={"ws": asked.workspace.url})
    body = (
        f"{asked.requested_by.get_username()} asks for an API key of the workspace {asked.workspace.name}:\n\n"
        f"Name:    {asked.name}\nScopes:  {', '.join(asked.scopes) or 'none'}\nWhy:     {asked.reason}\n\n"
        f"Approve, narrow or deny it on the keys page: {link}\n"
    )
    if managers:
        subject = CONTROL_CHARACTERS.sub(" ", f"[{asked.workspace.name}] A key request: {asked.name}")
        EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=managers).send()


def _mail_member_of_decision(asked: KeyRequest) -> None:
    email = asked.requested_by.email
    if not email:
        return
    approved = asked.state == KeyRequest.APPROVED
    link = settings.SITE_URL + reverse("apikeys:requests", kwargs={"ws": asked.workspace.url})
    what = "approved" if approved else "denied"
    body = f"Your request for the API key “{asked.name}” was {what}."
    if approved:
        body += f" Scopes granted: {', '.join(asked.granted_scopes or []) or 'none'}. Open it to see its secret, once: {link}"
    if asked.note:
        body += f"\n\nNote: {asked.note}"
    subject = CONTROL_CHARACTERS.sub(" ", f"[{asked.workspace.name}] Your key request “{asked.name}” was {what}")
    EmailMessage(subject=subject, body=body + "\n", from_email=settings.DEFAULT_FROM_EMAIL, to=[email]).send()


# Rules --------------------------------------------------------------------------------


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


def _check_write(actor: Actor, workspace: Workspace, *, before: KeySpec | None, after: KeySpec) -> None:
    """The plan, protection and privilege rules for making a key `after` (from `before`, or
    from nothing when it is created).

    - Plan: a non-Enterprise workspace has one live key, and its keys use no Enterprise
      feature; on a downgraded workspace a key keeps what it has but gains nothing new.
    - Protection: a key never unprotects, and a protected key is not disabled.
    - Privilege: a calling key manages only keys it dominates (scopes and folders), and a key
      that ends up reaching further than before (or enabled) must be within the caller's reach.
    """
    changed = after.changed(before or KeySpec(name=after.name))
    if not workspace.is_enterprise:
        if before is None and ApiKey.objects.filter(workspace=workspace).live().exists():
            raise PlanRequired(PLAN_ONE_KEY)
        protecting = after.protected and not (before and before.protected)
        if changed & ENTERPRISE_FIELDS or protecting or (before is None and after.disabled):
            raise PlanRequired(PLAN_SCOPED)
    _check_policy(
        workspace, before=None if before is None or (before.disabled and not after.disabled) else before, after=after
    )
    if before is None:
        _check_grant(actor, after)
        return
    if before.protected and not after.protected and actor.key is not None:
        raise Forbidden(UNPROTECT_VIA_API)
    if before.protected and after.disabled and not before.disabled:
        raise Conflict(PROTECTED, hint=CONFLICT_HINT)
    _check_dominates(actor, before)
    if (before.disabled and not after.disabled) or reach_excess(before.reach(), after.reach()):
        _check_grant(actor, after)


def _check_policy(workspace: Workspace, *, before: KeySpec | None, after: KeySpec) -> None:
    """The workspace's key policy (`apikeys.policy`). A key made (created, rolled, enabled:
    `before` None) meets all of it. A key changed may keep a rule it broke already (the policy
    page lists it, with its fix) but breaks no other, and an expiry it is given meets the
    lifetime rules."""
    rules = KeyPolicy.objects.filter(workspace=workspace).first()
    now = timezone.now()
    broken = policy.violations(rules, after, now=now)
    if before is not None and broken:
        kept = {v.rule for v in policy.violations(rules, before, now=now)}
        if "expires_at" in after.changed(before):
            kept -= {"require_expiry", "max_lifetime"}
        broken = [v for v in broken if v.rule not in kept]
    if broken:
        raise PolicyViolation(broken[0].message, rule=broken[0].rule)


def _owner_or_operator(actor: Actor, workspace: Workspace) -> bool:
    if actor.key is not None:
        return False
    if actor.user is None:
        return True  # an operator's command on the shell
    return (
        actor.user.has_perm("apikeys.change_apikey")
        or Membership.objects.filter(user=actor.user, workspace=workspace, role=Role.OWNER).exists()
    )


def _check_grant(actor: Actor, spec: KeySpec) -> None:
    """A key grants only what it reaches itself (the privilege-subset rule)."""
    if actor.key is not None and (problem := reach_excess(KeySpec.of(actor.key).reach(), spec.reach())):
        raise PrivilegeExceeded(problem)


def _check_dominates(actor: Actor, target: KeySpec) -> None:
    """A weaker key never manages a stronger one: the caller holds the target's scopes and folders."""
    if actor.key is None:
        return
    own = actor.key
    problem = grant_excess(
        grantor_scopes=own.scopes,
        grantor_folders=own.folder_limit(),
        scopes=None if target.scopes is None else list(target.scopes),
        folders=target.folder_ids,
    )
    if problem:
        raise PrivilegeExceeded(f"{NOT_DOMINATED} {problem}")


def _action_for(before: KeySpec, after: KeySpec) -> str:
    changed = after.changed(before)
    if changed == {"protected"}:
        return AuditAction.PROTECT if after.protected else AuditAction.UNPROTECT
    if changed == {"disabled"}:
        return AuditAction.DISABLE if after.disabled else AuditAction.ENABLE
    return AuditAction.UPDATE


# Writes -------------------------------------------------------------------------------


def _lock_key(key: ApiKey) -> ApiKey:
    """Lock the key's workspace, then the key: always in this order, so writers never deadlock,
    and default-flag moves within a workspace are serialised."""
    Workspace.objects.select_for_update().get(pk=key.workspace_id)
    return ApiKey.objects.select_for_update(of=("self",)).select_related("workspace").get(pk=key.pk)


def _mint(
    *, workspace: Workspace, spec: KeySpec, actor: Actor, rolled_from: ApiKey | None = None
) -> tuple[ApiKey, str]:
    """A new key row made from `spec`, with a new secret; returns the key and the secret."""
    key = ApiKey(workspace=workspace, created_by_user=actor.user, created_by_key=actor.key, rolled_from=rolled_from)
    secret = keyformat.new_key(key.key_id)
    key.digest = keyformat.digest(secret)
    if spec.default:
        _set_default(key, actor)
    spec.save_to(key)
    return key, secret


def _set_default(key: ApiKey, actor: Actor) -> None:
    """Move the default flag to `key`. Taking it from another key changes that key, so the
    caller must dominate it too (a weak key cannot demote a strong default)."""
    current = ApiKey.objects.filter(workspace_id=key.workspace_id, is_default=True).exclude(pk=key.pk).first()
    if current is not None:
        _check_dominates(actor, KeySpec.of(current))
        ApiKey.objects.filter(pk=current.pk).update(is_default=False)


def _audit(*, key: ApiKey, actor: Actor, action: str, before: dict, after: dict) -> AuditEvent:
    """Record what changed (only the fields that did), by whom, from where."""
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


def record_data_change(change: audit.Change) -> AuditEvent:
    """The workspace's log keeps what was done to its data too (`workspaces.audit`, which this
    subscribes to), so that its activity shows which key deleted what."""
    return AuditEvent.objects.create(
        workspace=change.workspace,
        subject=change.subject[:300],
        action=AuditAction(change.action.value),
        actor_user=change.actor.user,
        actor_key=change.actor.key,
        actor_label=change.actor.label[:200],
        ip=change.actor.ip,
        before=change.detail,
    )
