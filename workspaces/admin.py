from typing import Any

from django.contrib import admin, messages
from django.db import models

from core.storable import StorableJSONFormField

from . import services
from .actors import Actor
from .forms import ThrottledAdminLoginForm
from .models import Export, Folder, Image, Membership, Model, PendingSignUp, Plan, Project, Version, Workspace

admin.site.login_form = ThrottledAdminLoginForm
# The admin's JSON fields refuse what the API refuses (NaN, 1e999, NUL, lone surrogates).
STORABLE_JSON: dict[type[models.Field], dict[str, Any]] = {models.JSONField: {"form_class": StorableJSONFormField}}


class DeletesThroughServices(admin.ModelAdmin):
    """A deletion here goes through the service, which records it in the workspace's audit log
    (with the operator who made it) and deletes files once the rows are gone."""

    def delete_one(self, obj, actor: Actor) -> None:
        raise NotImplementedError

    def delete_model(self, request, obj):
        self.delete_one(obj, Actor.from_request(request))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["url", "name", "plan", "created"]
    list_filter = ["plan"]
    search_fields = ["url", "name"]
    readonly_fields = ["public_id", "created"]
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        """A plan change applies SPEC §2's rule at once: a downgrade never widens a key (each
        keeps its scopes, folders and limits) and refuses scoped features from now on."""
        before = Workspace.objects.filter(pk=obj.pk).values_list("plan", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        if before == Plan.ENTERPRISE and obj.plan != Plan.ENTERPRISE:
            live = obj.api_keys.filter(revoked_at__isnull=True, rolled_at__isnull=True).count()
            self.message_user(
                request,
                f"{obj.url} is now on the {obj.get_plan_display()} plan. Its {live} live key{'s' if live != 1 else ''} "
                "keep their scopes, folders and limits (never widened); new keys beyond one, and edits to scopes, "
                "folders and other Enterprise settings, are refused with a plan error; disabling, rolling and "
                "revoking still work.",
                messages.WARNING,
            )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created"]
    list_filter = ["role", "workspace__plan"]
    search_fields = ["user__username", "user__email", "workspace__url"]
    autocomplete_fields = ["user", "workspace"]


@admin.register(Folder)
class FolderAdmin(DeletesThroughServices):
    list_display = ["name", "workspace", "created"]
    search_fields = ["name", "workspace__url"]
    autocomplete_fields = ["workspace"]

    def delete_one(self, obj, actor):
        services.folder_delete(folder=obj, actor=actor)


@admin.register(Project)
class ProjectAdmin(DeletesThroughServices):
    formfield_overrides = STORABLE_JSON
    list_display = ["slug", "name", "workspace", "folder", "type", "updated"]
    list_filter = ["type"]
    search_fields = ["slug", "name", "workspace__url"]
    autocomplete_fields = ["workspace", "folder"]

    def delete_one(self, obj, actor):
        services.project_delete(project=obj, actor=actor)


@admin.register(Image)
class ImageAdmin(DeletesThroughServices):
    formfield_overrides = STORABLE_JSON
    list_display = ["name", "project", "split", "width", "height", "created"]
    list_filter = ["split"]
    search_fields = ["name", "sha256", "project__slug"]
    readonly_fields = ["sha256", "width", "height", "created"]
    raw_id_fields = ["project"]

    def delete_one(self, obj, actor):
        services.images_delete(images=[obj], actor=actor)

    def delete_queryset(self, request, queryset):
        services.images_delete(images=list(queryset), actor=Actor.from_request(request))


WORK_FIELDS = ["state", "progress", "failure", "attempts", "lease_until", "task_id"]  # the workers' to write


@admin.register(Version)
class VersionAdmin(DeletesThroughServices):
    formfield_overrides = STORABLE_JSON
    list_display = ["project", "number", "name", "state", "progress", "attempts", "created"]
    list_filter = ["state"]
    search_fields = ["project__slug"]
    raw_id_fields = ["project"]
    readonly_fields = WORK_FIELDS

    def delete_one(self, obj, actor):
        services.version_delete(version=obj, actor=actor)


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    """Exports as the workers built them: seen, never edited (deleted with their version)."""

    list_display = ["version", "format", "state", "progress", "size", "attempts", "created"]
    list_filter = ["state", "format"]
    search_fields = ["version__project__slug"]
    fields = readonly_fields = ("version", "format", *WORK_FIELDS, "file", "size", "created")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Model)
class ModelAdmin(DeletesThroughServices):
    list_display = ["name", "project", "type", "version", "updated"]
    search_fields = ["name", "project__slug"]
    raw_id_fields = ["project", "version"]

    def delete_one(self, obj, actor):
        services.model_delete(model=obj, actor=actor)


@admin.register(PendingSignUp)
class PendingSignUpAdmin(admin.ModelAdmin):
    """Sign-ups waiting for their address to be confirmed: seen, or deleted, never edited. The
    password hash and the link's digest are never shown."""

    list_display = fields = readonly_fields = ("email", "workspace_name", "workspace_url", "created", "expires")
    search_fields = ["email", "workspace_url"]
    ordering = ["-created"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
