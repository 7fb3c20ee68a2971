from datetime import UTC, datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import connections, models
from django.db.models import Q
from django.db.models.expressions import Combinable, RawSQL
from django.db.models.functions import Lower
from django.utils import timezone

from workspaces.models import Folder, Workspace

from . import keyformat

DATE_CEILING = datetime(2200, 1, 1, tzinfo=UTC)
LAST_USED_RESOLUTION = timedelta(minutes=1)
NEVER_READ_OUT = frozenset({"digest"})


_last_noted: dict[int, datetime] = {}  # key pk → when this process last wrote its last_used_at


def _id_list(joined: str | None) -> list[int]:
    return sorted(int(i) for i in joined.split(",")) if joined else []


class KeyState(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"
    ROLLED = "rolled", "Rolled"

    @classmethod
    def of(cls, *, revoked_at, rolled_at, expires_at, disabled: bool, now) -> "KeyState":
        """Where a key is in its life; `ApiKeyQuerySet.in_state` is the same rule in SQL."""
        if revoked_at is not None:
            return cls.REVOKED
        if rolled_at is not None:
            return cls.ROLLED
        if expires_at is not None and expires_at <= now:
            return cls.EXPIRED
        if disabled:
            return cls.DISABLED
        return cls.ACTIVE

    @classmethod
    def of_row(cls, row: dict, now) -> "KeyState":
        """The state of a key read as a row of `ApiKeyQuerySet.rows()`."""
        return cls.of(
            revoked_at=row["revoked_at"],
            rolled_at=row["rolled_at"],
            expires_at=row["expires_at"],
            disabled=row["disabled"],
            now=now,
        )


class ApiKeyQuerySet(models.QuerySet):
    def live(self):
        """Keys that are neither revoked nor rolled: the workspace's keys as listed."""
        return self.filter(revoked_at__isnull=True, rolled_at__isnull=True)

    def rows(self, start: int = 0, stop: int | None = None) -> list[dict]:
        """What key objects and the key page's rows show, in one query: each key's columns,
        who made it, the key it replaced (and how long that one's secret still works), and its
        folder and owner ids; with `start`/`stop`, only those rows of the ordered keys (a
        page). Plain values, not model instances: building those (and prefetching two
        many-to-many relations) was most of the time of a list of 500 keys."""
        expressions = _row_expressions(self.db)
        found = self.annotate(**expressions).values(*row_columns(), *expressions)
        rows = list(found[start:stop])
        for row in rows:
            row["folder_ids"] = _id_list(row.pop("folder_id_list"))
            row["owner_ids"] = _id_list(row.pop("owner_id_list"))
        return rows

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
    # Where the last request came from, as `usage.flush` last wrote it.
    last_used_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    last_used_user_agent = models.CharField(max_length=200, blank=True, editable=False)
    # Since when the key's requests are counted per scope (`KeyUsage`): its creation, or when
    # counting began for keys older than that. Suggestions wait for 30 days of it.
    usage_since = models.DateTimeField(default=timezone.now, editable=False)
    # The rotation reminders sent (`send_rotation_reminders`) and the due date they were for:
    # a new rotation date starts over.
    rotation_reminded_for = models.DateTimeField(null=True, blank=True, editable=False)
    rotation_reminder = models.CharField(
        max_length=10, blank=True, editable=False, choices=[("", "None"), ("soon", "Due soon"), ("overdue", "Overdue")]
    )
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
        indexes = [
            models.Index(fields=["workspace", "revoked_at", "rolled_at"], name="apikey_live_idx"),
            # The orders of the key list API and of the key page: a page of a workspace's keys
            # reads its rows in order rather than sorting them all.
            models.Index(
                fields=["workspace", "-created", "-id"], condition=Q(revoked_at__isnull=True), name="apikey_listed_idx"
            ),
            models.Index(
                fields=["workspace", "-is_default", "-created", "-id"],
                condition=Q(revoked_at__isnull=True),
                name="apikey_page_idx",
            ),
            models.Index(
                models.F("workspace"),
                Lower("name"),
                models.F("id"),
                condition=Q(revoked_at__isnull=True),
                name="apikey_name_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def prefix(self) -> str:
        return keyformat.display_prefix(self.key_id)

    @property
    def full_access(self) -> bool:
        return self.scopes is None

    def state(self, now=None) -> KeyState:
        return KeyState.of(
            revoked_at=self.revoked_at,
            rolled_at=self.rolled_at,
            expires_at=self.expires_at,
            disabled=self.disabled,
            now=now or timezone.now(),
        )

    def owner_ids(self) -> list[int]:
        """The ids of the owners reminded to rotate the key."""
        return sorted(user.pk for user in self.owners.all())

    def record_use(self) -> None:
        """Note that the key was used, at most once a minute: one conditional UPDATE, and none
        at all while the last one is recent (no write per request), as read with the key or
        as this process last wrote it (a kept record's is as old as the record)."""
        now = timezone.now()
        cutoff = now - LAST_USED_RESOLUTION
        noted = _last_noted.get(self.pk)
        if (self.last_used_at is not None and self.last_used_at > cutoff) or (noted is not None and noted > cutoff):
            return
        ApiKey.objects.filter(pk=self.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=cutoff)).update(
            last_used_at=now
        )
        self.last_used_at = now
        if len(_last_noted) >= 100_000:
            _last_noted.clear()
        _last_noted[self.pk] = now

    def in_grace(self, now=None) -> bool:
        """Whether the secret of this rolled key still works (its grace period; not revoked since)."""
        now = now or timezone.now()
        live = self.revoked_at is None and self.rolled_at is not None
        return live and self.grace_until is not None and now < self.grace_until

    def folder_limit(self) -> list[int] | None:
        """The folder ids the key is limited to; None when it is workspace-wide."""
        if not self.folders_limited:
            return None
        if "folders" not in getattr(self, "_prefetched_objects_cache", {}) and hasattr(self, "loaded_folder_ids"):
            return self.loaded_folder_ids  # read with the key by `apikeys.lookup`
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
    LEAK = "leak", "Reported leaked"
    # What was done to the workspace's data (`workspaces.audit`): `subject` says what.
    POLICY = "policy", "Changed the key policy"
    REQUEST = "request", "Requested a key"
    APPROVE = "approve", "Approved a key request"
    DENY = "deny", "Denied a key request"
    TRASH = "trash", "Moved to the trash"
    RESTORE = "restore", "Restored"
    DELETE = "delete", "Deleted"


class AuditEvent(models.Model):
    """What happened to a key (`api_key`), or to the workspace's data (`subject`), who did it,
    from where. Never holds a secret or a digest."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_events")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events")
    # With a database default, so that servers still on the previous release keep writing rows.
    subject = models.CharField(
        max_length=300, blank=True, default="", db_default="", help_text="What was changed, when it is no key."
    )
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
            models.CheckConstraint(
                condition=Q(api_key__isnull=False, subject="") | Q(api_key__isnull=True) & ~Q(subject=""),
                name="auditevent_names_a_key_or_a_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.api_key or self.subject} by {self.actor_label}"


class KeyUsage(models.Model):
    """The requests of a key on a day (UTC): all of them (`scope` ""), and those that
    exercised each scope. Written by `apikeys.usage.flush`, never on the request path."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="usage")
    day = models.DateField()
    scope = models.CharField(max_length=40, blank=True)
    requests = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "key usage"
        verbose_name_plural = "key usage"
        ordering = ["-day", "scope"]
        constraints = [models.UniqueConstraint(fields=["api_key", "day", "scope"], name="keyusage_one_row")]
        # A key's daily totals, read without the table (sorting a thousand keys by 30-day requests).
        indexes = [
            models.Index(fields=["api_key", "day", "requests"], condition=Q(scope=""), name="keyusage_totals_idx")
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id} {self.day} {self.scope or 'all'}: {self.requests}"


@cache
def _row_expressions(alias: str) -> dict[str, Combinable]:
    """What `ApiKeyQuerySet.rows()` reads besides a key's own columns (every one but its digest),
    built once per database. The folder and owner ids are two correlated subqueries in
    SQL (one aggregate per vendor, as in `lookup`): as ORM subqueries, building and compiling
    them cost more than the database took to run the whole page."""
    connection = connections[alias]
    qn = connection.ops.quote_name
    key = f"{qn(ApiKey._meta.db_table)}.{qn('id')}"  # rows() is always the outermost query

    def ids(relation, column: str) -> RawSQL:
        through = qn(relation.through._meta.db_table)
        joined = (
            f"string_agg({qn(column)}::text, ',')"
            if connection.vendor == "postgresql"
            else f"group_concat({qn(column)}, ',')"
        )
        # Table and column names come from the models, quoted by the backend; no value is interpolated.
        return RawSQL(f"(SELECT {joined} FROM {through} WHERE {through}.{qn('apikey_id')} = {key})", ())  # noqa: S608, S611

    return {
        "creator_username": models.F("created_by_user__username"),
        "creator_email": models.F("created_by_user__email"),
        "creator_key_id": models.F("created_by_key__key_id"),
        "rolled_from_key_id": models.F("rolled_from__key_id"),
        "rolled_from_grace_until": models.F("rolled_from__grace_until"),
        "rolled_from_revoked_at": models.F("rolled_from__revoked_at"),
        "folder_id_list": ids(ApiKey.folders, "folder_id"),
        "owner_id_list": ids(ApiKey.owners, "user_id"),
    }


def row_columns() -> list[str]:
    """The columns of ApiKey that key objects may show: all but the digest, relations aside."""
    return [f.attname for f in ApiKey._meta.concrete_fields if not f.is_relation and f.name not in NEVER_READ_OUT]


class KeyPolicy(models.Model):
    """The rules every key of a workspace must meet (`apikeys.policy`), set by its owners or an
    operator, never by a key. No row: no rules beyond each key's own."""

    IPS_ALL, IPS_WRITE = "all", "write"
    CREATORS_MANAGERS, CREATORS_OWNERS, CREATORS_REQUEST = "managers", "owners", "members-request"

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="key_policy")
    require_expiry = models.BooleanField(default=False)
    max_lifetime_days = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no maximum.")
    forbid_full_access = models.BooleanField(default=False)
    scope_ceiling = models.JSONField(null=True, blank=True, help_text="Scopes no key may exceed; empty: no ceiling.")
    require_folders = models.BooleanField(default=False)
    require_ip_allowlist = models.CharField(
        max_length=10, blank=True, choices=[("", "No"), (IPS_ALL, "Every key"), (IPS_WRITE, "Keys that can write")]
    )
    allow_key_management = models.BooleanField(default=True, help_text="Whether keys may hold api-key scopes.")
    creators = models.CharField(
        max_length=20,
        default=CREATORS_MANAGERS,
        choices=[
            (CREATORS_MANAGERS, "Owners and admins"),
            (CREATORS_OWNERS, "Owners only"),
            (CREATORS_REQUEST, "Owners and admins; members may request"),
        ],
    )
    enforce_from = models.DateField(
        null=True, blank=True, help_text="From this day, live keys that still break the policy are disabled."
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "key policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(max_lifetime_days__isnull=True) | Q(max_lifetime_days__gte=1, max_lifetime_days__lte=3650),
                name="keypolicy_lifetime_1_to_3650_days",
            ),
            models.CheckConstraint(
                condition=Q(require_ip_allowlist__in=["", "all", "write"]), name="keypolicy_ips_valid"
            ),
            models.CheckConstraint(
                condition=Q(creators__in=["managers", "owners", "members-request"]), name="keypolicy_creators_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Key policy of {self.workspace}"


class KeyRequest(models.Model):
    """A member's request for a key (when the policy lets members request): what they asked
    for, then what an owner or admin decided. Approved, the key is made when the member opens
    it, so that its secret is shown to them once and to nobody else, and never stored."""

    PENDING, APPROVED, DENIED, CLAIMED = "pending", "approved", "denied", "claimed"
    STATES = [(PENDING, "Waiting for approval"), (APPROVED, "Approved"), (DENIED, "Denied"), (CLAIMED, "Key made")]

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="key_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="key_requests")
    name = models.CharField(max_length=100)
    reason = models.CharField(max_length=500)
    scopes = models.JSONField(help_text="The scopes asked for (a request never asks for full access).")
    folders = models.ManyToManyField(Folder, blank=True, related_name="+")
    folders_limited = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    allowed_ips = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=10, choices=STATES, default=PENDING)
    granted_scopes = models.JSONField(null=True, blank=True, help_text="What was approved: the scopes asked, or fewer.")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True, help_text="The approver's note to the member.")
    key = models.OneToOneField(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="request")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["pending", "approved", "denied", "claimed"]), name="keyrequest_state_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_state_display()})"
