from collections import defaultdict
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

    def with_names(self):
        """Keys with the names a key object shows of related rows (who made it, which key it
        replaced) read in the same query, as plain values rather than model instances."""
        return self.annotate(
            creator_username=models.F("created_by_user__username"),
            creator_key_id=models.F("created_by_key__key_id"),
            rolled_from_key_id=models.F("rolled_from__key_id"),
        )

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

    def owner_ids(self) -> list[int]:
        """The ids of the owners reminded to rotate the key."""
        if "owners" not in getattr(self, "_prefetched_objects_cache", {}) and hasattr(self, "loaded_owner_ids"):
            return self.loaded_owner_ids
        return sorted(user.pk for user in self.owners.all())

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
        if "folders" not in getattr(self, "_prefetched_objects_cache", {}) and hasattr(self, "loaded_folder_ids"):
            return self.loaded_folder_ids  # read with the key by `find_for_request`
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


class _RequestLookup:
    """The SQL that loads a key, its workspace and (when it is limited to folders) its folder
    ids in one query, and the converters of its columns: built once per database and column,
    as the hot path of every API request. Django's query compiler would cost more than the
    query itself (it did: twice the time of the whole rest of authentication)."""

    def __init__(self, connection, column: str):
        qn = connection.ops.quote_name
        self.key_fields = ApiKey._meta.concrete_fields
        self.workspace_fields = Workspace._meta.concrete_fields
        self.key_names = [f.attname for f in self.key_fields]
        self.workspace_names = [f.attname for f in self.workspace_fields]
        columns = [f.get_col("k") for f in self.key_fields] + [f.get_col("w") for f in self.workspace_fields]
        self.converters = []
        for position, col in enumerate(columns):
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if found:
                self.converters.append((position, found, col))
        through = ApiKey.folders.through._meta.db_table
        folder_id = "f.folder_id::text" if connection.vendor == "postgresql" else "f.folder_id"
        aggregate = "string_agg" if connection.vendor == "postgresql" else "group_concat"
        selected = ", ".join(
            [f"k.{qn(f.column)}" for f in self.key_fields] + [f"w.{qn(f.column)}" for f in self.workspace_fields]
        )
        # Table and column names come from the models, quoted by the backend; the value is a parameter.
        self.sql = (
            f"SELECT {selected}, CASE WHEN k.{qn('folders_limited')} THEN "  # noqa: S608
            f"(SELECT {aggregate}({folder_id}, ',') FROM {qn(through)} f WHERE f.{qn('apikey_id')} = k.{qn('id')}) END "
            f"FROM {qn(ApiKey._meta.db_table)} k INNER JOIN {qn(Workspace._meta.db_table)} w "
            f"ON (k.{qn('workspace_id')} = w.{qn('id')}) WHERE k.{qn(column)} = %s"
        )

    def load(self, connection, value) -> "ApiKey | None":
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [value])
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for position, converters, col in self.converters:
            for converter in converters:
                row[position] = converter(row[position], col, connection)
        split = len(self.key_fields)
        key = ApiKey.from_db(connection.alias, self.key_names, row[:split])
        workspace = Workspace.from_db(connection.alias, self.workspace_names, row[split:-1])
        ApiKey._meta.get_field("workspace").set_cached_value(key, workspace)
        if key.folders_limited:
            key.loaded_folder_ids = sorted(int(i) for i in (row[-1] or "").split(",") if i)  # type: ignore[attr-defined]
        return key


_lookups: dict[tuple[str, str], _RequestLookup] = {}


def find_for_request(*, key_id: str | None = None, rolled_from: ApiKey | None = None) -> "ApiKey | None":
    """The key with this key id (or the replacement of a rolled key), its workspace and its
    folder limit, in one query."""
    from django.db import connections, router

    alias = router.db_for_read(ApiKey)
    connection = connections[alias]
    column, value = ("key_id", key_id) if rolled_from is None else ("rolled_from_id", rolled_from.pk)
    lookup = _lookups.get((alias, column))
    if lookup is None:
        lookup = _lookups[(alias, column)] = _RequestLookup(connection, column)
    return lookup.load(connection, value)


def load_relations(keys: models.QuerySet) -> list[ApiKey]:
    """The keys of a queryset (of one workspace), with their folder ids and owner ids loaded in
    two more queries however many keys there are (`folder_limit()` and `owner_ids()` then read
    them). Django's prefetch of many-to-many relations would build a related manager and model
    instances for every key."""
    loaded = list(keys)
    workspaces = {key.workspace_id for key in loaded}
    folders: dict[int, list[int]] = defaultdict(list)
    owners: dict[int, list[int]] = defaultdict(list)
    for key_id, folder_id in ApiKey.folders.through.objects.filter(apikey__workspace_id__in=workspaces).values_list(
        "apikey_id", "folder_id"
    ):
        folders[key_id].append(folder_id)
    for key_id, user_id in ApiKey.owners.through.objects.filter(apikey__workspace_id__in=workspaces).values_list(
        "apikey_id", "user_id"
    ):
        owners[key_id].append(user_id)
    for key in loaded:
        key.loaded_folder_ids = sorted(folders[key.pk])  # type: ignore[attr-defined]
        key.loaded_owner_ids = sorted(owners[key.pk])  # type: ignore[attr-defined]
    return loaded
