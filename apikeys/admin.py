import json

from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery, Sum
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.errors import ServiceError
from core.redaction import SECRET_ANYWHERE
from workspaces.actors import Actor

from . import usage
from .models import ApiKey, AuditEvent, KeyPolicy, KeyRequest, KeyState, KeyUsage
from .services import api_key_disable, api_key_enable, api_key_revoke
from .templatetags.keytags import sparkline

NEVER_SHOWN = {"id", "digest"}
AUDIT_SHOWN = 25
OPERATIONS = {
    "disable": (api_key_disable, "Disable", "Requests with it fail until it is enabled again."),
    "enable": (api_key_enable, "Enable", "Requests with it work again, with its scopes and limits as they are."),
    "revoke": (api_key_revoke, "Revoke", "This cannot be undone: requests with it fail from now on."),
}
WHOLE_KEY_SEARCHED = (
    "That was a whole API key, secret included: searched by its prefix instead. "
    "If the key was shared where others could see it, roll it."
)


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return KeyState.choices

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.in_state(KeyState(value)) if value in KeyState.values else queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Operators read keys and disable or revoke them; secrets and digests are never shown,
    and every change goes through the services so it is audited."""

    list_display = [
        "prefix",
        "name",
        "workspace",
        "state_label",
        "access",
        "is_default",
        "protected",
        "created",
        "last_used_at",
        "requests_30d",
    ]
    list_filter = [StateFilter, "workspace__plan", "protected", "is_default"]
    search_fields = ["key_id", "name", "workspace__url", "workspace__name"]
    list_select_related = ["workspace"]
    actions = ["disable_keys", "revoke_keys"]
    change_form_template = "admin/apikeys/apikey/change_form.html"

    def get_queryset(self, request):
        # Requests in the last 30 days, summed in SQL: the list stays at a constant number of queries.
        first, _ = usage.window()
        counted = (
            KeyUsage.objects.filter(api_key=OuterRef("pk"), scope=usage.TOTAL, day__gte=first)
            .order_by()
            .values("api_key")
            .annotate(total=Sum("requests"))
            .values("total")
        )
        return super().get_queryset(request).annotate(requests_in_window=Subquery(counted))

    def get_fields(self, request, obj=None):
        # Every field of the model (a new one shows up by existing), never the digest.
        stored = [f.name for f in ApiKey._meta.get_fields() if f.concrete and f.name not in NEVER_SHOWN]
        return ["prefix", "state_label", "access", "folder_list", "usage_30d", "unused_scopes", "audit_trail", *stored]

    def get_urls(self):
        return [
            *[
                path(
                    f"<path:object_id>/{operation}/",
                    self.admin_site.admin_view(self.operate),
                    {"operation": operation},
                    name=f"apikeys_apikey_{operation}",
                )
                for operation in OPERATIONS
            ],
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        usage.flush()  # the page shows the latest counts and where the key was last used from
        key = self.get_object(request, object_id)
        operations = []
        if key is not None and self.has_change_permission(request):
            operations = [(name, label) for name, (_, label, _) in OPERATIONS.items() if self._can(key, name)]
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "operations": operations})

    @staticmethod
    def _can(key: ApiKey, operation: str) -> bool:
        if key.revoked_at is not None:
            return False
        if operation == "revoke":
            return True
        return key.rolled_at is None and key.disabled == (operation == "enable")

    def operate(self, request, object_id: str, operation: str):
        """Disable, enable or revoke one key from its page: a confirmation, then the service
        (audited as the operator), then back to the key."""
        if operation not in OPERATIONS or not self.has_change_permission(request):
            raise Http404("No such operation")
        key = self.get_object(request, object_id)
        if key is None:
            raise Http404("No such key")
        service, label, consequence = OPERATIONS[operation]
        back = reverse("admin:apikeys_apikey_change", args=[key.pk])
        if request.method == "POST":
            try:
                service(key=key, actor=Actor.from_request(request))
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request, f"{label}d {key}." if label != "Revoke" else f"Revoked {key}.", messages.SUCCESS
                )
            return redirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{label} {key}?",
            "key": key,
            "label": label,
            "consequence": consequence,
            "back": back,
            "state": key.state().label,
        }
        return TemplateResponse(request, "admin/apikeys/apikey/operate.html", context)

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def changelist_view(self, request, extra_context=None):
        # A whole key pasted into the search box would be echoed back in the page (and sit in
        # the browser's history): search by its public prefix instead, and say why.
        term = request.GET.get("q", "")
        if SECRET_ANYWHERE.search(term):
            query = request.GET.copy()
            query["q"] = SECRET_ANYWHERE.sub(lambda m: m[1].rstrip("_"), term)
            self.message_user(request, WHOLE_KEY_SEARCHED, messages.WARNING)
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        # A pasted prefix (sak_<keyid>) or whole key finds the key by its id.
        term = search_term.strip()
        if term.startswith("sak_"):
            term = term[4:].split("_", 1)[0]
        return super().get_search_results(request, queryset, term)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The list and its actions, for operators granted the change permission; the form is
        # read-only for everyone.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="state")
    def state_label(self, obj):
        return obj.state().label

    @admin.display(description="access")
    def access(self, obj):
        return "Full access" if obj.scopes is None else f"{len(obj.scopes)} scopes"

    @admin.display(description="folders")
    def folder_list(self, obj):
        return ", ".join(f.name for f in obj.folders.all()) or "Workspace-wide"

    @admin.display(description="requests, 30 days", ordering="requests_in_window")
    def requests_30d(self, obj):
        return getattr(obj, "requests_in_window", None) or 0

    def _summary(self, obj) -> usage.Summary:
        found = getattr(obj, "_usage_summary", None)
        if found is None:
            found = usage.summaries([obj.pk]).get(obj.pk) or usage.empty()
            obj._usage_summary = found
        return found

    @admin.display(description="usage, 30 days")
    def usage_30d(self, obj):
        summary = self._summary(obj)
        scopes = ", ".join(f"{scope} {n}" for scope, n in sorted(summary.scopes.items(), key=lambda i: -i[1]))
        seen = f"last from {obj.last_used_ip}" if obj.last_used_ip else "no request counted yet"
        agent = f" · {obj.last_used_user_agent}" if obj.last_used_user_agent else ""
        return format_html(
            "{} <strong>{}</strong> requests<br>{}{}<br>{}",
            sparkline(summary.daily, 180, 32),
            summary.requests,
            seen,
            agent,
            scopes or "no scope exercised",
        )

    @admin.display(description="unused scopes (30 days)")
    def unused_scopes(self, obj):
        unused = usage.unused_scopes(
            scopes=obj.scopes, usage_since=obj.usage_since, used=self._summary(obj).used(), now=timezone.now()
        )
        if unused is None:
            return "Too new to tell: usage counted for less than 30 days."
        return ", ".join(unused) or "None: it used every scope it holds."

    @admin.display(description="audit trail")
    def audit_trail(self, obj):
        events = obj.audit_events.order_by("-created", "-id")[:AUDIT_SHOWN]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code> → <code>{}</code></td></tr>",
            (
                (
                    e.created.strftime("%Y-%m-%d %H:%M:%S"),
                    e.get_action_display(),
                    e.actor_label,
                    e.ip or "",
                    json.dumps(e.before, ensure_ascii=False),
                    json.dumps(e.after, ensure_ascii=False),
                )
                for e in events
            ),
        )
        return format_html(
            "<table><tr><th>when</th><th>what</th><th>who</th><th>from</th><th>change</th></tr>{}</table>", rows
        )

    def _each(self, request, queryset, apply, verb):
        done, refused = 0, []
        for key in queryset:
            try:
                apply(key, Actor.from_request(request))
                done += 1
            except ServiceError as exc:
                refused.append(f"{key.prefix}: {exc.message}")
        if done:
            self.message_user(request, f"{verb} {done} key{'s' if done != 1 else ''}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description="Disable selected keys", permissions=["change"])
    def disable_keys(self, request, queryset):
        self._each(request, queryset.live(), lambda key, actor: api_key_disable(key=key, actor=actor), "Disabled")

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        self._each(
            request,
            queryset.filter(revoked_at__isnull=True),
            lambda key, actor: api_key_revoke(key=key, actor=actor),
            "Revoked",
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    """What the services write: operators read it, nobody adds, changes or deletes it here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(KeyUsage)
class KeyUsageAdmin(ReadOnlyAdmin):
    """Read-only: the counts `usage.flush` writes (scope "" is every request of that day)."""

    list_display = ["day", "api_key", "workspace", "scope_label", "requests"]
    list_filter = ["day"]
    search_fields = ["api_key__key_id", "api_key__name", "api_key__workspace__url", "scope"]
    list_select_related = ["api_key__workspace"]
    date_hierarchy = "day"

    @admin.display(description="workspace")
    def workspace(self, obj):
        return obj.api_key.workspace

    @admin.display(description="scope", ordering="scope")
    def scope_label(self, obj):
        return obj.scope or "(every request)"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created", "action", "api_key", "subject", "actor_label", "ip", "workspace"]
    list_filter = ["action"]
    search_fields = ["api_key__key_id", "subject", "actor_label", "workspace__url"]
    list_select_related = ["api_key", "workspace"]
    readonly_fields = [
        "created",
        "workspace",
        "api_key",
        "subject",
        "action",
        "actor_user",
        "actor_key",
        "actor_label",
        "ip",
        "before",
        "after",
    ]


# A policy is changed by the workspace's owners or with `manage.py apikeys policy` (audited
# either way), a request decided on the keys page: operators see them here.
@admin.register(KeyPolicy)
class KeyPolicyAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "require_expiry", "max_lifetime_days", "forbid_full_access", "creators", "updated"]
    search_fields = ["workspace__url"]


@admin.register(KeyRequest)
class KeyRequestAdmin(ReadOnlyAdmin):
    list_display = ["name", "workspace", "requested_by", "state", "decided_by", "created"]
    list_filter = ["state"]
    search_fields = ["name", "workspace__url", "requested_by__email"]
