from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from workspaces.models import Folder, Workspace

from . import keyformat

DATE_CEILING = datetime(2200, 1, 1, tzinfo=UTC)
LAST_USED_RESOLUTION = timedelta(minutes=1)


class KeyState(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"
    ROLLED = "rolled", "Rolled"


class ApiKeyQuerySet(models.QuerySet):
    def live(self):
        """Keys that are neither revoked nor rolled: the workspace's keys as listed."""
        return self.filter(revoked_at__isnull=True, rolled_at__isnull=True)

    def in_state(self, state: "KeyState", now=None):
        """The keys whose `state()` is `state`: the same rule, in SQL."""
        now = now or timezone.now()
        unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        match state:
            case KeyState.REVOKED:
                return self.filter(revoked_at__isnull=False)
            case KeyState.ROLLED:
                return self.filter(revoked_at__isnull=True, rolled_at__isnull=False)
            case KeyState.EXPIRED:
                return self.live().exclude(unexpired)
            case KeyState.DISABLED:
                return self.live().filter(unexpired, disabled=True)
            case _:
                return self.live().filter(unexpired, disabled=False)


class ApiKey(models.Model):
    """A workspace API key. Only a digest of its secret is stored (see `keyformat`)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    key_id = models.CharField(max_length=32, unique=True, default=keyformat.new_key_id, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    name = models.CharField(max_length=100)
    # None: full access. []: no abilities. Else leaf scopes of the registry.
    scopes = models.JSONField(null=True, blank=True)
    folders = models.ManyToManyField(Folder, blank=True, related_name="api_keys")
    # Whether the key is limited to `folders`. Kept apart from the folder set so that deleting
    # a key's last folder leaves it seeing nothing, never the whole workspace.
    folders_limited = models.BooleanField(default=False)
    is_default = models.BooleanField(default=False)
    protected = models.BooleanField(default=False)
    disabled = models.BooleanField(default=False)
    custom_metadata = models.JSONField(default=dict, blank=True)
    rotation_due_at = models.DateTimeField(null=True, blank=True)
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="owned_api_keys")
    expires_at = models.DateTimeField(null=True, blank=True)
    allowed_ips = models.JSONField(default=list, blank=True, help_text="CIDR blocks; empty allows any address.")
    created = models.DateTimeField(default=timezone.now, editable=False)
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_key = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A key is rolled once: the unique link makes a second, concurrent roll fail in the database.
    rolled_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replacement", editable=False
    )
    rolled_at = models.DateTimeField(null=True, blank=True, editable=False)
    # After a roll the old secret keeps working until then (at most 7 days); None: died at once.
    grace_until = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"], condition=Q(is_default=True), name="apikey_one_default_per_workspace"
            ),
            models.CheckConstraint(
                condition=Q(is_default=False) | Q(revoked_at__isnull=True, rolled_at__isnull=True),
                name="apikey_default_is_live",
            ),
            # A backstop under the API's ten-year limit: no stored date may be one that the
            # database driver or Python cannot read back (past year 9999 in UTC, say).
            models.CheckConstraint(
                condition=(Q(expires_at__isnull=True) | Q(expires_at__lt=DATE_CEILING))
                & (Q(rotation_due_at__isnull=True) | Q(rotation_due_at__lt=DATE_CEILING)),
                name="apikey_dates_bounded",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "revoked_at", "rolled_at"], name="apikey_live_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def prefix(self) -> str:
        return keyformat.display_prefix(self.key_id)

    @property
    def full_access(self) -> bool:
        return self.scopes is None

    def state(self, now=None) -> KeyState:
        """Where the key is in its life; `ApiKeyQuerySet.in_state` is the same rule in SQL."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return KeyState.REVOKED
        if self.rolled_at is not None:
            return KeyState.ROLLED
        if self.expires_at is not None and self.expires_at <= now:
            return KeyState.EXPIRED
        if self.disabled:
            return KeyState.DISABLED
        return KeyState.ACTIVE

    def record_use(self) -> None:
        """Note that the key was used, at most once a minute: one conditional UPDATE, and none
        at all while the last one is recent (no write per request)."""
        now = timezone.now()
        cutoff = now - LAST_USED_RESOLUTION
        if self.last_used_at is not None and self.last_used_at > cutoff:
            return
        ApiKey.objects.filter(pk=self.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=cutoff)).update(
            last_used_at=now
        )
        self.last_used_at = now

    def in_grace(self, now=None) -> bool:
        now = now or timezone.now()
        return self.rolled_at is not None and self.grace_until is not None and now < self.grace_until

    def folder_limit(self) -> list[int] | None:
        """The folder ids the key is limited to; None when it is workspace-wide."""
        if not self.folders_limited:
            return None
        return sorted(folder.pk for folder in self.folders.all())


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    PROTECT = "protect", "Protected"
    UNPROTECT = "unprotect", "Unprotected"
    DISABLE = "disable", "Disabled"
    ENABLE = "enable", "Enabled"
    ROLL = "roll", "Rolled"
    REVOKE = "revoke", "Revoked"


class AuditEvent(models.Model):
    """What happened to a key, who did it, from where. Never holds a secret or a digest."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_events")
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="audit_events")
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Who it was, kept readable after the user or key is gone.
    actor_label = models.CharField(max_length=200)
    ip = models.GenericIPAddressField(null=True, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(action__in=AuditAction.values), name="auditevent_action_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.api_key} by {self.actor_label}"
