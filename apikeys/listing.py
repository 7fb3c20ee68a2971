"""A workspace's keys narrowed and sorted: search, filters and sort, the same for the key page
and the key list API (whose parameters `apikeys.serializers.KeyListQuery` validates)."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Exists, F, OuterRef, Q, Subquery, Sum, TextField, Value
from django.db.models.functions import Cast, Coalesce, Lower
from django.utils import timezone

from . import keyformat, usage
from .models import ApiKey, ApiKeyQuerySet, KeyState, KeyUsage

STATES = ("active", "disabled", "expired")
SORTS = ("name", "created", "lastUsed", "expires", "requests")
SORT_COLUMNS = {"created": "created", "lastUsed": "last_used_at", "expires": "expires_at", "requests": "requests30"}
NULLABLE_SORTS = frozenset({"lastUsed", "expires"})
SORT_CHOICES = tuple(f"{sign}{name}" for name in SORTS for sign in ("", "-"))


@dataclass(frozen=True)
class KeyFilter:
    search: str = ""
    state: str = ""
    scope: str = ""
    folder: int | None = None
    owner: int | None = None
    expires_within: int | None = None  # days
    unused_for: int | None = None  # days
    sort: str = ""

    @classmethod
    def of(cls, data: dict) -> "KeyFilter":
        """From a validated `KeyListQuery`."""
        return cls(
            search=data.get("search", "").strip(),
            state=data.get("state", ""),
            scope=data.get("scope", ""),
            folder=data.get("folder"),
            owner=data.get("owner"),
            expires_within=data.get("expiresWithin"),
            unused_for=data.get("unusedFor"),
            sort=data.get("sort", ""),
        )

    @property
    def narrows(self) -> bool:
        return any((self.search, self.state, self.scope, self.folder, self.owner, self.expires_within, self.unused_for))

    def apply(self, keys: ApiKeyQuerySet, *, default_order: tuple[str, ...]) -> ApiKeyQuerySet:
        now = timezone.now()
        if self.search:
            text = self.search
            found = Q(name__icontains=text) | Q(key_id__icontains=text)
            if text.lower().startswith(keyformat.PREFIX):  # a prefix as the page shows it
                found |= Q(key_id__istartswith=text[len(keyformat.PREFIX) :].split("_")[0])
            keys = keys.filter(found)
        if self.state:
            keys = keys.in_state(KeyState(self.state), now)
        if self.scope:
            # Full access holds every scope; scope names are [a-z:-] only, so the JSON text
            # holds one exactly as '"image:read"'.
            listed = Cast("scopes", TextField())
            keys = keys.annotate(scope_text=listed).filter(
                Q(scopes__isnull=True) | Q(scope_text__contains=f'"{self.scope}"')
            )
        if self.folder is not None:
            limited_to = ApiKey.folders.through.objects.filter(apikey=OuterRef("pk"), folder_id=self.folder)
            keys = keys.filter(Q(folders_limited=False) | Exists(limited_to))
        if self.owner is not None:
            keys = keys.filter(owners__pk=self.owner)
        if self.expires_within is not None:
            keys = keys.filter(expires_at__gt=now, expires_at__lte=now + timedelta(days=self.expires_within))
        if self.unused_for is not None:
            since = now - timedelta(days=self.unused_for)
            keys = keys.filter(Q(last_used_at__lt=since) | Q(last_used_at__isnull=True, created__lt=since))
        return self.order(keys, default_order)

    def order(self, keys: ApiKeyQuerySet, default_order: tuple[str, ...]) -> ApiKeyQuerySet:
        if not self.sort:
            return keys.order_by(*default_order)
        name, descending = self.sort.lstrip("-"), self.sort.startswith("-")
        if name == "requests":
            first, _ = usage.window()
            counted = KeyUsage.objects.filter(api_key=OuterRef("pk"), scope=usage.TOTAL, day__gte=first)
            total = counted.order_by().values("api_key").annotate(n=Sum("requests")).values("n")
            keys = keys.annotate(requests30=Coalesce(Subquery(total), Value(0)))
        expression = Lower("name") if name == "name" else F(SORT_COLUMNS[name])
        # Keys that never did it (never used, never expiring) come last either way. Names and
        # creation times are never empty: their order is left plain, as their indexes have it.
        nulls = {"nulls_last": True} if name in NULLABLE_SORTS else {}
        ordered = expression.desc(**nulls) if descending else expression.asc(**nulls)
        return keys.order_by(ordered, "-id" if descending else "id")
