from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from workspaces.errors import ServiceError

from .models import ApiKey, AuditEvent, KeyState
from .redaction import SECRET_ANYWHERE
from .services import Actor, api_key_disable, api_key_revoke

NEVER_SHOWN = {"id", "digest"}
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
    ]
    list_filter = [StateFilter, "workspace__plan", "protected", "is_default"]
    search_fields = ["key_id", "name", "workspace__url"]
    list_select_related = ["workspace"]
    actions = ["disable_keys", "revoke_keys"]

    def get_fields(self, request, obj=None):
        # Every field of the model (a new one shows up by existing), never the digest.
        stored = [f.name for f in ApiKey._meta.get_fields() if f.concrete and f.name not in NEVER_SHOWN]
        return ["prefix", "state_label", "access", "folder_list", *stored]

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


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created", "action", "api_key", "actor_label", "ip", "workspace"]
    list_filter = ["action"]
    search_fields = ["api_key__key_id", "actor_label", "workspace__url"]
    list_select_related = ["api_key", "workspace"]
    readonly_fields = [
        "created",
        "workspace",
        "api_key",
        "action",
        "actor_user",
        "actor_key",
        "actor_label",
        "ip",
        "before",
        "after",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
