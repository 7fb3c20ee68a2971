"""Settings -> API Keys: the key table, Generate, the edit modal, roll / disable / enable /
protect / unprotect / revoke, and the activity log. Owners and admins only (anyone else gets a
404, as if the page did not exist).

Each modal has a URL of its own: a GET renders the page with that modal open (a fetch with
`X-Fragment: 1` gets only the modal, for the page's script to show), a POST does the action
and redirects back (post/redirect/get). A new secret is the exception: it is rendered once,
in the answer to the POST, never redirected to, stored or put in a URL; a one-time form token
makes a reload of that answer create nothing."""

import secrets as token_source
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from core.errors import ServiceError
from core.fields import CONTROL_CHARACTERS
from core.redaction import SECRET_ANYWHERE
from workspaces.actors import Actor
from workspaces.models import MANAGER_ROLES, Folder, Membership, Role
from workspaces.selectors import memberships_of

from . import keyformat, listing, policy, services, usage
from . import scopes as registry
from .forms import KeyForm, PolicyForm, RollForm
from .listing import KeyFilter
from .models import ApiKey, AuditAction, AuditEvent, KeyPolicy, KeyRequest, KeyState
from .serializers import ApiKeyCreateSerializer, ApiKeySpecSerializer, KeyPageQuery
from .spec import KEY_FIELDS, LISTED, KeySpec

ROTATION_SOON = timedelta(days=14)
KEYS_PER_PAGE = 50
PAGE_ORDER = ("-is_default", "-created", "-id")  # the default key first, then the newest
SORT_LABELS = [
    ("", "Default first, then newest"),
    ("name", "Name, A to Z"),
    ("-created", "Newest"),
    ("created", "Oldest"),
    ("-lastUsed", "Used most recently"),
    ("lastUsed", "Used least recently"),
    ("-requests", "Most requests, 30 days"),
    ("expires", "Expiring soonest"),
]
EXPIRY_SOON_DAYS = 14
NEW_FOR = timedelta(days=1)
TOKENS = "apikeys:form-tokens"
ALREADY_SUBMITTED = "That form was already sent; nothing more was done. The key's secret is shown only once."
ACTIONS = {
    "roll": "Roll",
    "disable": "Disable",
    "enable": "Enable",
    "protect": "Protect",
    "unprotect": "Unprotect",
    "revoke": "Revoke",
    "end_grace": "End the grace period of",
}
# What protection stops (the services refuse it too): the page offers Unprotect instead.
BLOCKED_BY_PROTECTION = frozenset({"roll", "disable", "revoke"})
PROTECTED_REASON = "Protected: unprotect it to roll, disable or revoke it."
SERVICES = {
    "disable": services.api_key_disable,
    "enable": services.api_key_enable,
    "protect": services.api_key_protect,
    "unprotect": services.api_key_unprotect,
    # The old key a roll left working for a while: revoking it ends its grace now.
    "end_grace": lambda *, key, actor: services.api_key_revoke(key=key.rolled_from, actor=actor),
    "revoke": services.api_key_revoke,
}


def manager_or_404(request, ws: str) -> Membership:
    """The signed-in owner's or admin's membership of `ws`; a 404 for anyone else."""
    membership = next((m for m in memberships_of(request) if m.workspace.url == ws and m.role in MANAGER_ROLES), None)
    if membership is None:
        raise Http404("No such page")
    return membership


def key_or_404(workspace, key_id: str) -> ApiKey:
    """A live key of the workspace, for its modals."""
    key = (
        ApiKey.objects.live()
        .filter(workspace=workspace, key_id=key_id)
        .select_related("created_by_user", "created_by_key", "rolled_from")
        .prefetch_related(Prefetch("folders", queryset=Folder.objects.order_by("pk")))
        .first()
    )
    if key is None:
        raise Http404("No such key")
    return key


def badges(row: dict, now) -> list[tuple[str, str]]:
    """(text, kind) of each badge a key's row (of `ApiKeyQuerySet.rows()`) shows."""
    found = []
    if row["is_default"]:
        found.append(("Default", "default"))
    if row["protected"]:
        found.append(("Protected", "protected"))
    state = KeyState.of_row(row, now)
    if state == KeyState.DISABLED:
        found.append(("Disabled", "disabled"))
    if state == KeyState.EXPIRED:
        found.append(("Expired", "expired"))
    elif row["expires_at"] is not None:
        days = (row["expires_at"] - now).days
        when = "today" if days < 1 else "tomorrow" if days < 2 else f"in {days} days"
        found.append((f"Expires {when}", "due" if days < EXPIRY_SOON_DAYS else "expiry"))
    if row["allowed_ips"]:
        found.append(("IP allowlist", "allowlist"))
    if row["rotation_due_at"] is not None:
        if row["rotation_due_at"] <= now:
            found.append(("Rotation overdue", "overdue"))
        elif row["rotation_due_at"] <= now + ROTATION_SOON:
            found.append(("Rotation due", "due"))
    if row["created"] >= now - NEW_FOR:
        found.append(("New", "new"))
    return found


def access_line(row: dict, folder_names: dict[int, str]) -> str:
    """ "Full access", or "Scoped: Images: upload, read · folders Retail, Factory"."""
    if row["scopes"] is None and not row["folders_limited"]:
        return "Full access"
    parts = [registry.summary(row["scopes"])]
    if row["folders_limited"]:
        names = [folder_names.get(pk, "") for pk in row["folder_ids"]]
        parts.append(f"folder{'s' if len(names) != 1 else ''} {', '.join(names)}" if names else "no folder")
    return ("Scoped: " if row["scopes"] is not None else "") + " · ".join(parts)


def old_secret_until(row: dict, now):
    """Until when the secret of the key this one replaced still works (None: it does not)."""
    until, revoked = row["rolled_from_grace_until"], row["rolled_from_revoked_at"]
    return until if row["rolled_from_key_id"] and revoked is None and until is not None and now < until else None


def new_token(request) -> str:
    token = token_source.token_urlsafe(16)
    request.session[TOKENS] = [*request.session.get(TOKENS, [])[-19:], token]
    return token


def spend_token(request, token: str) -> bool:
    """Whether the form token is fresh (it is then spent): a reload of a POST sends it again."""
    tokens = request.session.get(TOKENS, [])
    if token not in tokens:
        return False
    request.session[TOKENS] = [t for t in tokens if t != token]
    return True


def page(request, membership, *, modal: str | None = None, status: int = 200, **context) -> HttpResponse:
    """The key page, or with `X-Fragment: 1` only its modal."""
    workspace = membership.workspace
    if modal is not None and request.headers.get("X-Fragment") == "1":
        fragment = {"workspace": workspace, "protected_reason": PROTECTED_REASON, **context}
        return render(request, f"apikeys/keys.html#{modal}_modal", fragment, status=status)
    now = timezone.now()
    # A non-Enterprise workspace has one key: shown even when disabled (by a leak report, say),
    # so that it can be enabled or rolled.
    show_disabled = request.GET.get("disabled") == "1" or not workspace.is_enterprise
    # The filter form sends its "Any" choices empty: on the page, empty is not chosen.
    query = KeyPageQuery(data={name: value for name, value in request.GET.items() if value != ""})
    if not query.is_valid():
        status = 400  # the list unfiltered, and the errors said
    chosen = query.validated_data if not query.errors else {}
    listed = ApiKey.objects.live().filter(workspace=workspace)
    if not show_disabled:
        listed = listed.filter(disabled=False)
    found = KeyFilter.of(chosen).apply(listed, default_order=PAGE_ORDER)
    page_obj = Paginator(found, KEYS_PER_PAGE).get_page(chosen.get("page", 1))
    keys = found.rows(page_obj.start_index() - 1, page_obj.end_index()) if page_obj.paginator.count else []
    usage.flush_into(keys)
    used = usage.summaries([k["id"] for k in keys], now, workspace=workspace) if keys else {}
    folders = list(Folder.objects.filter(workspace=workspace).order_by("name").values_list("pk", "name"))
    folder_names = dict(folders)
    keys_url = reverse("apikeys:list", kwargs={"ws": workspace.url})
    rows = [
        {
            "key": k | {"prefix": keyformat.display_prefix(k["key_id"])},
            "url": f"{keys_url}/{k['key_id']}",  # one reverse for every row's links, not ten per row
            "badges": badges(k, now),
            "access": access_line(k, folder_names),
            "listed": [(f.title, text) for f in LISTED if (text := k[f.column])],
            "by_user": k["creator_email"] or k["creator_username"],
            "by_key": keyformat.display_prefix(k["creator_key_id"]) if k["creator_key_id"] else None,
            "grace_until": old_secret_until(k, now),  # a rolled key's old secret, while it still works
            "usage": used.get(k["id"]) or usage.empty(now),
        }
        for k in keys
    ]
    return render(
        request,
        "apikeys/keys.html",
        {
            "workspace": workspace,
            "membership": membership,
            "rows": rows,
            "page_obj": page_obj,
            "listing": chosen,
            "listing_errors": query.errors,
            "narrowed": KeyFilter.of(chosen).narrows,
            "states": [(state, state.capitalize()) for state in listing.STATES],
            "sorts": SORT_LABELS,
            "scope_choices": [(name, name) for name in registry.SCOPE_NAMES],
            "folders": folders if workspace.is_enterprise else [],
            "show_disabled": show_disabled,
            "can_generate": workspace.is_enterprise,
            "pending_requests": KeyRequest.objects.filter(workspace=workspace, state=KeyRequest.PENDING)
            .select_related("requested_by")
            .prefetch_related("folders"),
            "protected_reason": PROTECTED_REASON,
            "modal": modal,
            **context,
        },
        status=status,
    )


def usage_context(key: ApiKey) -> dict:
    """What the edit modal shows of a key's use: its last 30 days, and the scopes it did not
    use in them (with what narrowing would leave), once its usage has been counted that long."""
    now = timezone.now()
    moved = usage.move({key.pk})
    if key.pk in moved.last_seen:
        key.last_used_ip, key.last_used_user_agent = moved.last_seen[key.pk]
    summary = usage.summaries([key.pk], now).get(key.pk) or usage.empty(now)
    unused = usage.unused_scopes(scopes=key.scopes, usage_since=key.usage_since, used=summary.used(), now=now)
    return {
        "usage": summary,
        "used_scopes": sorted(summary.scopes.items(), key=lambda item: -item[1]),
        "unused": unused,
        "narrowed": usage.narrowed(key.scopes, summary.used()) if unused else None,
    }


def edit_context(request, form: KeyForm, key: ApiKey | None) -> dict:
    return {
        **(usage_context(key) if key is not None else {}),
        **policy_limits(form.workspace),
        "form": form,
        "key": key,
        "sections": registry.sections(),
        "presets": [
            (name, registry.PRESET_LABELS[name], " ".join(leaves)) for name, leaves in registry.PRESETS.items()
        ],
        "enterprise": form.workspace.is_enterprise,
        "form_token": form.data.get("form_token") or new_token(request),
    }


def created_context(request, key: ApiKey, secret: str, *, rolled: ApiKey | None = None) -> dict:
    base = request.build_absolute_uri("/").rstrip("/")
    return {
        "minted": key,
        "secret": secret,
        "rolled": rolled,
        "api_url": base,
        "workspace": key.workspace,
        "snippets": snippets_for(key.scopes),
        "done_url": reverse("apikeys:list", kwargs={"ws": key.workspace.url}),
    }


def snippets_for(scopes: list[str] | None) -> dict:
    """Which first calls the new key can make, so that its snippets work as shown: the curl
    path, whether the SDK's first call (`workspace()`, which reads the workspace) works, and a
    CLI command it may run (None: none of the usual ones)."""
    reads_workspace = registry.holds(scopes, "workspace:read")
    if reads_workspace and registry.holds(scopes, "project:read"):
        cli = "roboflow project list"
    elif registry.holds(scopes, "api-key:read"):
        cli = "roboflow api-key list"
    else:
        cli = None
    return {"curl_workspace": reads_workspace, "sdk": reads_workspace, "cli": cli}


def show_new_key(request, membership: Membership, key: ApiKey, secret: str, *, rolled: ApiKey | None = None):
    """The key page with the "key created" dialog: the one time a secret is shown. Never
    cached, never redirected to (the secret stays out of URLs, logs and history)."""
    context = created_context(request, key, secret, rolled=rolled)
    return no_store(page(request, membership, modal="created", **context))


def no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def refusal(form, exc: ServiceError) -> int:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return exc.status


@login_required
def key_list(request, ws: str):
    return page(request, manager_or_404(request, ws))


@login_required
@require_http_methods(["GET", "POST"])
def generate(request, ws: str):
    membership = manager_or_404(request, ws)
    workspace = membership.workspace
    data = request.POST if request.method == "POST" else None
    initial = KeyForm.initial_for_new(services.key_policy_of(workspace).max_lifetime_days)
    form = KeyForm(data, workspace=workspace, initial=initial, new=True)
    if request.method == "GET" or not form.is_valid():
        status = 400 if request.method == "POST" else 200
        if request.method == "POST":
            form.check_the_rest(context={"workspace": workspace, "actor": Actor.from_request(request)})
        return page(request, membership, modal="edit", status=status, **edit_context(request, form, None))
    if not spend_token(request, form.cleaned_data["form_token"]):
        messages.info(request, ALREADY_SUBMITTED)
        return redirect("apikeys:list", ws=ws)
    actor = Actor.from_request(request)
    body = ApiKeyCreateSerializer(data=form.body(changed_only=False), context={"workspace": workspace, "actor": actor})
    status = 400
    if body.is_valid():
        try:
            spec = body.spec(services.api_key_defaults(workspace=workspace, actor=actor))
            key, secret = services.api_key_create(workspace=workspace, actor=actor, spec=spec)
            return show_new_key(request, membership, key, secret)
        except ServiceError as exc:
            status = refusal(form, exc)
    else:
        form.add_api_errors(body.errors)
    context = edit_context(request, form, None) | {"form_token": new_token(request)}
    return page(request, membership, modal="edit", status=status, **context)


@login_required
@require_http_methods(["GET", "POST"])
def edit(request, ws: str, key_id: str):
    membership = manager_or_404(request, ws)
    workspace = membership.workspace
    key = key_or_404(workspace, key_id)
    data = request.POST if request.method == "POST" else None
    form = KeyForm(data, workspace=workspace, initial=KeyForm.initial_for(key))
    if request.method == "GET" or not form.is_valid():
        status = 400 if request.method == "POST" else 200
        if request.method == "POST":
            form.check_the_rest(context={"workspace": workspace, "actor": Actor.from_request(request)})
        return page(request, membership, modal="edit", status=status, **edit_context(request, form, key))
    actor = Actor.from_request(request)
    narrow = request.POST.get("narrow", "")
    if narrow not in ("", "preview", "confirm"):  # the form's buttons send nothing else
        form.add_error(None, f"narrow: {narrow[:20]!r} is not a choice of this form.")
        return page(request, membership, modal="edit", status=400, **edit_context(request, form, key))
    found = usage_context(key)
    if narrow == "preview":
        # What narrowing would keep and remove, with the form as the user left it: nothing is
        # saved until they confirm (their other edits are saved with it).
        if not found["unused"]:
            messages.info(request, NOTHING_TO_NARROW.format(name=key.name))
        preview = {"keeps": found["narrowed"], "removes": found["unused"]} if found["unused"] else None
        return page(request, membership, modal="edit", **edit_context(request, form, key), narrow_preview=preview)
    body = ApiKeySpecSerializer(data=form.body(changed_only=True), context={"workspace": workspace, "actor": actor})
    status = 400
    if body.is_valid():
        try:
            with transaction.atomic():
                key = services.api_key_update(key=key, actor=actor, spec=body.spec(KeySpec.of(key)))
                if narrow == "confirm" and found["unused"]:
                    key = services.api_key_narrow(key=key, actor=actor, used=found["usage"].used())
            kept = ", ".join(key.scopes or []) or "no scopes"
            done = f" and narrowed to what it used: {kept}" if narrow == "confirm" and found["unused"] else ""
            messages.success(request, f"Saved “{key.name}”{done}. It applies from the next request.")
            return redirect("apikeys:list", ws=ws)
        except ServiceError as exc:
            status = refusal(form, exc)
    else:
        form.add_api_errors(body.errors)
    return page(request, membership, modal="edit", status=status, **edit_context(request, form, key))


@login_required
@require_http_methods(["GET", "POST"])
def act(request, ws: str, key_id: str, action: str):
    """Roll, disable, enable, protect, unprotect or revoke: a confirmation, then the service."""
    membership = manager_or_404(request, ws)
    key = key_or_404(membership.workspace, key_id)
    form = RollForm(request.POST if request.method == "POST" else None)
    if action == "end_grace" and not (key.rolled_from and key.rolled_from.in_grace()):
        raise Http404("No old secret in its grace period")
    blocked = key.protected and action in BLOCKED_BY_PROTECTION
    context: dict[str, Any] = {
        "key": key,
        "action": action,
        "action_label": ACTIONS[action],
        "form": form,
        "blocked": blocked,
    }
    if request.method == "GET" or blocked:  # a protected key's confirmation offers Unprotect instead
        return page(
            request,
            membership,
            modal="confirm",
            status=409 if request.method == "POST" else 200,
            **context,
            form_token=new_token(request),
        )
    if request.method == "GET":
        return page(request, membership, modal="confirm", **context, form_token=new_token(request))
    if not form.is_valid():
        return page(request, membership, modal="confirm", status=400, **context, form_token=new_token(request))
    actor = Actor.from_request(request)
    try:
        if action == "roll":
            if not spend_token(request, form.cleaned_data["form_token"]):
                messages.info(request, ALREADY_SUBMITTED)
                return redirect("apikeys:list", ws=ws)
            grace = timedelta(seconds=int(form.cleaned_data["grace"]))
            new, secret = services.api_key_roll(key=key, actor=actor, grace=grace)
            return show_new_key(request, membership, new, secret, rolled=ApiKey.objects.get(pk=key.pk))
        SERVICES[action](key=key, actor=actor)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("apikeys:list", ws=ws)
    messages.success(request, DONE[action].format(name=key.name))
    return redirect("apikeys:list", ws=ws)


NOTHING_TO_NARROW = "“{name}” used every scope it holds in the last 30 days (or is too new to tell): nothing to narrow."


DONE = {
    "disable": "Disabled “{name}”: requests with it now fail until it is enabled again.",
    "enable": "Enabled “{name}”.",
    "protect": "Protected “{name}”: it cannot be disabled, rolled or revoked until it is unprotected.",
    "unprotect": "Unprotected “{name}”.",
    "revoke": "Revoked “{name}” for good.",
    "end_grace": "The old secret of “{name}” no longer works.",
}


@login_required
def activity(request, ws: str):
    membership = manager_or_404(request, ws)
    events = (
        AuditEvent.objects.filter(workspace=membership.workspace).select_related("api_key").order_by("-created", "-id")
    )
    page_obj = Paginator(events, 25).get_page(request.GET.get("page"))
    workspace = membership.workspace
    names = {
        "owners": {m.user_id: m.user.email for m in workspace.memberships.select_related("user")},
        "folders": dict(workspace.folders.values_list("pk", "name")),
    }
    for event in page_obj:
        event.changes = changes(event, names)  # type: ignore[attr-defined]
    return render(request, "apikeys/activity.html", {"workspace": membership.workspace, "page_obj": page_obj})


# What each recorded field is called: a key field by its declared title ("IP allowlist" as
# is, "Rotate by" as "rotate by"), and what a roll records.
CHANGE_LABELS = {
    **{f.name: f.title if f.title[:2].isupper() else f.title[0].lower() + f.title[1:] for f in KEY_FIELDS},
    "keyId": "key",
    "graceUntil": "old secret works until",
}
EMPTY = {f.name: f.none for f in KEY_FIELDS} | {"scopes": "full access", "folders": "every folder"}


def changes(event: AuditEvent, names: dict[str, dict]) -> list[tuple[str, str | None, str]]:
    """(what, before, after) of an audit event, readable; `names` turns ids of owners and
    folders into their names."""

    def text(field: str, value) -> str:
        if value is None or value == "":
            return EMPTY.get(field, "none")
        if field in names and isinstance(value, list):
            value = [names[field].get(i, f"#{i}") for i in value]
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            return ", ".join(map(str, value)) or ("no abilities" if field == "scopes" else "none")
        if isinstance(value, dict):
            return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
        return str(value)

    created = event.action == AuditAction.CREATE
    return [
        (
            CHANGE_LABELS.get(field, field.replace("_", " ")),
            text(field, event.before[field]) if field in event.before else None,
            text(field, value),
        )
        for field, value in event.after.items()
        if not created or value not in (None, [], {}, False, "") or field == "scopes"
    ]


@login_required
@require_http_methods(["GET", "POST"])
def key_policy(request, ws: str):
    """Settings → API Keys → Policy: owners set it, admins read it; both see the keys that
    break it, each with its fix."""
    membership = manager_or_404(request, ws)
    workspace = membership.workspace
    current = services.key_policy_of(workspace)
    is_owner = membership.role == Role.OWNER
    initial = {name: getattr(current, name) for name in services.POLICY_FIELDS}
    initial["limit_scopes"] = current.scope_ceiling is not None
    form = PolicyForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        if not is_owner:
            raise PermissionDenied("Only the workspace's owners change its key policy.")
        if form.is_valid():
            try:
                services.key_policy_update(workspace=workspace, actor=Actor.from_request(request), **form.changes())
            except ServiceError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                messages.success(request, "The key policy is saved.")
                return redirect("apikeys:policy", ws=workspace.url)
        else:
            status = 400
    if not is_owner:
        for field in form.fields.values():
            field.disabled = True
    breakers = services.policy_breakers(workspace)
    return render(
        request,
        "apikeys/policy.html",
        {
            "workspace": workspace,
            "form": form,
            "is_owner": is_owner,
            "rules": policy.summary(current) if current.pk else [],
            "breakers": [
                {"key": key, "broken": broken, "fixes": policy_fixes(current, broken)} for key, broken in breakers
            ],
            "sections": registry.sections(),
            "ceiling": set(form["scope_ceiling"].value() or []) if form.is_bound else set(current.scope_ceiling or []),
        },
        status=status,
    )


def policy_fixes(rules, broken) -> list[tuple[str, str]]:
    """The one-click fixes of a key's broken rules: (fix, button label)."""
    names = {v.rule for v in broken}
    fixes = []
    if names & {"require_expiry", "max_lifetime"}:
        days = rules.max_lifetime_days or services.POLICY_EXPIRY_DAYS
        fixes.append(("expiry", f"Expire in {days} days"))
    if names & {"no_full_access", "scope_ceiling", "no_key_management"}:
        fixes.append(("narrow", "Narrow to what the policy allows"))
    return fixes


@login_required
@require_http_methods(["POST"])
def key_policy_fix(request, ws: str, key_id: str):
    """A one-click fix of a key that breaks the policy: the normal update, audited."""
    membership = manager_or_404(request, ws)
    key = key_or_404(membership.workspace, key_id)
    fix = request.POST.get("fix", "")
    try:
        services.key_policy_fix(key=key, actor=Actor.from_request(request), fix=fix)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"“{key.name}” now meets the policy's rule{'' if fix == 'narrow' else 's'} on {FIX_WORDS[fix]}."
        )
    return redirect("apikeys:policy", ws=membership.workspace.url)


FIX_WORDS = {"expiry": "its lifetime", "narrow": "scopes"}


def policy_limits(workspace) -> dict:
    """What the Generate and Edit modals show of the workspace's key policy before the user
    hits it: its rules, the scopes it forbids (disabled, with the reason), whether full access
    and "No expiry" are allowed, and the latest expiry date. The services enforce it anyway."""
    rules = services.key_policy_of(workspace)
    if rules.pk is None:
        return {"policy_rules": []}
    allowed = set(registry.SCOPE_NAMES if rules.scope_ceiling is None else rules.scope_ceiling)
    if not rules.allow_key_management:
        allowed -= set(policy.KEY_MANAGEMENT)
    latest = (
        (timezone.now() + timedelta(days=rules.max_lifetime_days)).date()
        if rules.max_lifetime_days is not None
        else None
    )
    return {
        "policy_rules": policy.summary(rules),
        "policy_forbidden_scopes": [s for s in registry.SCOPE_NAMES if s not in allowed],
        "policy_no_full_access": rules.forbid_full_access
        or not rules.allow_key_management
        or rules.scope_ceiling is not None,
        "policy_expiry_required": rules.require_expiry or latest is not None,
        "policy_latest_expiry": latest,
    }


def member_or_404(request, ws: str) -> Membership:
    """The signed-in user's membership of `ws`, whatever the role; a 404 for anyone else."""
    membership = next((m for m in memberships_of(request) if m.workspace.url == ws), None)
    if membership is None:
        raise Http404("No such page")
    return membership


def requests_context(request, membership: Membership, **context) -> dict:
    workspace = membership.workspace
    rules = services.key_policy_of(workspace)
    mine = KeyRequest.objects.filter(workspace=workspace, requested_by=request.user).select_related("decided_by")
    return {
        "workspace": workspace,
        "open": rules.creators == KeyPolicy.CREATORS_REQUEST and workspace.is_enterprise,
        "mine": mine,
        **context,
    }


@login_required
@require_http_methods(["GET", "POST"])
def key_requests(request, ws: str):
    """A member's key requests: what they asked for and what was decided; "Request a key" opens
    the Generate modal, which sends a request instead of making a key."""
    membership = member_or_404(request, ws)
    workspace = membership.workspace
    base = requests_context(request, membership)
    if not base["open"] or (request.method == "GET" and request.GET.get("new") != "1"):
        return render(request, "apikeys/requests.html", base)
    data = request.POST if request.method == "POST" else None
    initial = KeyForm.initial_for_new(services.key_policy_of(workspace).max_lifetime_days) | {"access": "scoped"}
    form = KeyForm(data, workspace=workspace, initial=initial, new=True)
    reason = (request.POST.get("reason") or "").strip()
    modal = {"modal": "edit", "request_mode": True, **edit_context(request, form, None)}
    modal |= {"policy_no_full_access": True, "reason": reason}
    if request.method == "GET":
        return render(request, "apikeys/requests.html", base | modal)
    valid = form.is_valid()
    reason_error = ""
    if not reason or len(reason) > 500 or CONTROL_CHARACTERS.search(reason) or SECRET_ANYWHERE.search(reason):
        reason_error = "Say in a line (up to 500 characters, no control characters, no key) why you need the key."
    if not valid or reason_error:
        if not valid:
            form.check_the_rest(context={"workspace": workspace, "actor": Actor.from_request(request)})
        return render(request, "apikeys/requests.html", base | modal | {"reason_error": reason_error}, status=400)
    if not spend_token(request, form.cleaned_data["form_token"]):
        messages.info(request, ALREADY_SUBMITTED)
        return redirect("apikeys:requests", ws=ws)
    actor = Actor.from_request(request)
    body = ApiKeyCreateSerializer(data=form.body(changed_only=False), context={"workspace": workspace, "actor": actor})
    status = 400
    if body.is_valid():
        try:
            spec = body.spec(KeySpec(name=""))
            services.key_request_create(workspace=workspace, user=request.user, spec=spec, reason=reason)
        except ServiceError as exc:
            status = refusal(form, exc)
        else:
            messages.success(request, "Your request is sent: the workspace's owners and admins decide on it.")
            return redirect("apikeys:requests", ws=ws)
    else:
        form.add_api_errors(body.errors)
    modal["form_token"] = new_token(request)
    return render(request, "apikeys/requests.html", base | modal, status=status)


@login_required
@require_http_methods(["POST"])
def key_request_open(request, ws: str, pk: int):
    """The member opens their approved request: the key is made and its secret shown, once."""
    membership = member_or_404(request, ws)
    asked = KeyRequest.objects.filter(workspace=membership.workspace, requested_by=request.user, pk=pk).first()
    if asked is None:
        raise Http404("No such request")
    try:
        key, secret = services.key_request_claim(asked=asked, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("apikeys:requests", ws=ws)
    created = created_context(request, key, secret) | {"done_url": reverse("apikeys:requests", kwargs={"ws": ws})}
    context = requests_context(request, membership, modal="created", **created)
    return no_store(render(request, "apikeys/requests.html", context))


@login_required
@require_http_methods(["POST"])
def key_request_decide(request, ws: str, pk: int):
    """An owner or admin approves (as asked or narrowed) or denies a pending request."""
    membership = manager_or_404(request, ws)
    asked = KeyRequest.objects.filter(workspace=membership.workspace, pk=pk).first()
    if asked is None:
        raise Http404("No such request")
    decision = request.POST.get("decision")
    note = (request.POST.get("note") or "").strip()
    if (
        decision not in ("approve", "deny")
        or len(note) > 500
        or CONTROL_CHARACTERS.search(note)
        or SECRET_ANYWHERE.search(note)
    ):
        messages.error(request, "Approve or deny, with a note of up to 500 characters on one line.")
        return redirect("apikeys:list", ws=ws)
    scopes = request.POST.getlist("scopes") if decision == "approve" else None
    try:
        services.key_request_decide(
            asked=asked, actor=Actor.from_request(request), approve=decision == "approve", scopes=scopes, note=note
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        verb = "Approved" if decision == "approve" else "Denied"
        messages.success(
            request, f"{verb} the request for “{asked.name}”; {asked.requested_by.get_username()} is told."
        )
    return redirect("apikeys:list", ws=ws)
