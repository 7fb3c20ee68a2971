"""The key-management API (SPEC 5) and the API's root, as viewsets. Routes: `apikeys.urls`."""

from dataclasses import dataclass
from datetime import timedelta

from django.core import signing
from django.shortcuts import redirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response

from core.responses import respond
from workspaces.actors import Actor
from workspaces.models import Folder

from . import keyformat, policy, scopes, services
from .authentication import ApiKeyAuthentication
from .listing import KeyFilter
from .models import ApiKey
from .serializers import (
    ApiKeyCreateSerializer,
    ApiKeyListQuery,
    ApiKeyListResponse,
    ApiKeyResponse,
    ApiKeyRollSerializer,
    ApiKeySpecSerializer,
    CreatedKeyResponse,
    KeyListQuery,
    KeyPolicyResponse,
    PublishableKeyResponse,
    RevokedResponse,
    RolledKeyResponse,
    RootResponse,
    key_rows,
)
from .spec import KeySpec
from .viewsets import ScopedViewSet

WHOLE_KEY_IN_PATH = (
    "No such key: the path takes a keyId, the 12 characters after 'sak_', never the whole key. "
    "If you sent a whole key somewhere it could be logged, roll it."
)


class RootViewSet(ScopedViewSet):
    """`GET /` and `POST /`: checks a key, says which workspace it belongs to (the SDK's first call)."""

    authentication_classes = [ApiKeyAuthentication]
    required_scopes = {"retrieve": scopes.ANY_KEY, "check": scopes.ANY_KEY}
    schema_tags = ["Authentication"]

    def dispatch(self, request, *args, **kwargs):
        # A browser opening `/` goes to the dashboard; every other request is the API's root.
        sends_key = "api_key" in request.GET or "HTTP_AUTHORIZATION" in request.META
        wants_page = "text/html" in request.META.get("HTTP_ACCEPT", "")
        if request.method == "GET" and wants_page and not sends_key:
            return redirect("workspaces:home")
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(operation_id="root", summary="Check a key; name its workspace", responses=RootResponse)
    def retrieve(self, request):
        return respond(
            RootResponse,
            {
                "welcome": "Welcome to the Scoped API Keys API.",
                "instructions": "Send this key as 'Authorization: Bearer <key>' (or ?api_key=) to the workspace endpoints.",
                "docs": request.build_absolute_uri("/api/docs"),
                "workspace": self.workspace.url,
            },
        )

    @extend_schema(
        operation_id="root_post", summary="Check a key (the SDK's first call)", request=None, responses=RootResponse
    )
    def check(self, request):
        return self.retrieve(request)


DEFAULT_ORDER = ("-created", "-id")  # the list's order before it could be sorted, and without a sort
CURSOR_SALT = "apikeys.list-cursor"
BAD_CURSOR = (
    "Not a cursor of this list: send the nextCursor of the page before, with the same search, filters and sort."
)


VIEW_PARAMETERS = tuple(sorted(KeyListQuery().fields))  # the search, filters and sort


def _view_of(params) -> str:
    """What a cursor belongs to: the search, filters and sort it was made with."""
    return "&".join(f"{k}={params.get(k, '')}" for k in VIEW_PARAMETERS if k in params)


def make_cursor(offset: int, params) -> str:
    return signing.dumps({"o": offset, "v": _view_of(params)}, salt=CURSOR_SALT, compress=True)


def read_cursor(cursor: str | None, params) -> int:
    """The offset a cursor stands for; a 400 for one made up, or made for another view."""
    if not cursor:
        return 0
    try:
        found = signing.loads(cursor, salt=CURSOR_SALT)
    except signing.BadSignature:
        raise exceptions.ValidationError({"cursor": [BAD_CURSOR]}) from None
    if not isinstance(found, dict) or not isinstance(found.get("o"), int) or found.get("v") != _view_of(params):
        raise exceptions.ValidationError({"cursor": [BAD_CURSOR]})
    return found["o"]


def query_flag(request, name: str) -> bool:
    """A true/false query parameter; anything else is a 400 that names it."""
    value = request.query_params.get(name)
    if value is None:
        return False
    if value.lower() in {"true", "1"}:
        return True
    if value.lower() in {"false", "0"}:
        return False
    raise exceptions.ValidationError({name: ["Must be true or false."]})


@dataclass(frozen=True)
class Minted:
    """A key with the secret it was just given (and, for a roll, the key it replaced)."""

    key: ApiKey
    row: dict  # the key as `ApiKeyQuerySet.rows()` reads it
    secret: str
    old: ApiKey | None = None


class ApiKeyViewSet(ScopedViewSet):
    """Key management. A folder-limited caller sees (and manages) only keys limited to folders
    within its own limit: any other key is a 404, as if it did not exist."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    required_scopes = {
        "list": "api-key:read",
        "retrieve": "api-key:read",
        "create": "api-key:create",
        "partial_update": "api-key:update",
        "destroy": "api-key:revoke",
        "roll": ("api-key:create", "api-key:revoke"),
        "publishable": "workspace:read",
    }
    schema_tags = ["API keys"]

    def keys(self):
        keys = ApiKey.objects.filter(workspace=self.workspace, revoked_at__isnull=True)
        limit = self.folder_limit()
        if limit is not None:
            outside = Folder.objects.filter(workspace=self.workspace).exclude(pk__in=limit)
            keys = keys.filter(folders_limited=True).exclude(folders__in=outside)
        return keys

    def get_key(self, key_id: str) -> ApiKey:
        if key_id.startswith(keyformat.PREFIX):
            # A whole key (or its prefix) pasted where the keyId belongs: never echo it back.
            raise exceptions.NotFound(WHOLE_KEY_IN_PATH)
        key = self.keys().filter(key_id=key_id).first()
        if key is None:
            shown = f" {key_id!r}" if keyformat.KEY_ID_PATTERN.fullmatch(key_id) else ""
            raise exceptions.NotFound(f"No API key{shown} in this workspace.")
        return key

    def minted(self, key: ApiKey, secret: str, old: ApiKey | None = None) -> Minted:
        [row] = self.keys().filter(pk=key.pk).rows()
        return Minted(key, row, secret, old)

    def context(self) -> dict:
        return {"workspace": self.workspace, "actor": Actor.from_request(self.request)}

    def one(self, key: ApiKey) -> Response:
        """The answer about one key (of `self.keys()`)."""
        [row], context = key_rows(self.keys().filter(pk=key.pk), workspace=self.workspace)
        return respond(ApiKeyResponse, {"apiKey": row}, context=context)

    @extend_schema(
        operation_id="api_keys_list",
        summary="List the workspace's API keys",
        parameters=[
            ApiKeyListQuery,
            OpenApiParameter("includeDisabled", OpenApiTypes.BOOL, description="Also list disabled keys."),
            OpenApiParameter("includeFolders", OpenApiTypes.BOOL, description="Add each key's folders with names."),
        ],
        responses=ApiKeyListResponse,
    )
    def list(self, request, ws):
        query = ApiKeyListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        keys = self.keys().filter(rolled_at__isnull=True)
        if not query_flag(request, "includeDisabled"):
            keys = keys.filter(disabled=False)
        keys = KeyFilter.of(query.validated_data).apply(keys, default_order=DEFAULT_ORDER)
        include_folders = query_flag(request, "includeFolders")
        payload: dict = {"publishableKey": self.workspace.publishable_key}
        limit = query.validated_data.get("limit")
        if limit is None:  # the whole list, as the official client reads it
            rows, context = key_rows(keys, workspace=self.workspace, include_folders=include_folders)
            return respond(ApiKeyListResponse, {**payload, "apiKeys": rows}, context=context)
        offset = read_cursor(query.validated_data.get("cursor"), request.query_params)
        rows, context = key_rows(
            keys, workspace=self.workspace, include_folders=include_folders, start=offset, stop=offset + limit + 1
        )
        more, rows = len(rows) > limit, rows[:limit]
        payload["nextCursor"] = make_cursor(offset + limit, request.query_params) if more else None
        return respond(ApiKeyListResponse, {**payload, "apiKeys": rows}, context=context)

    @extend_schema(
        operation_id="api_keys_create",
        summary="Create an API key (its secret is in this response only)",
        description="Omitted `scopes` and `folderIds` copy the calling key's; a key grants only what it holds.",
        request=ApiKeyCreateSerializer,
        responses={201: CreatedKeyResponse},
    )
    def create(self, request, ws):
        body = ApiKeyCreateSerializer(data=self.body(), context=self.context())
        body.is_valid(raise_exception=True)
        actor = body.context["actor"]
        spec = body.spec(services.api_key_defaults(workspace=self.workspace, actor=actor))
        key, secret = services.api_key_create(workspace=self.workspace, actor=actor, spec=spec)
        return respond(CreatedKeyResponse, self.minted(key, secret), status=201)

    @extend_schema(
        operation_id="api_keys_publishable", summary="The workspace's publishable key", responses=PublishableKeyResponse
    )
    def publishable(self, request, ws):
        return respond(PublishableKeyResponse, {"publishableKey": self.workspace.publishable_key})

    @extend_schema(operation_id="api_keys_get", summary="One API key", responses=ApiKeyResponse)
    def retrieve(self, request, ws, key_id):
        return self.one(self.get_key(key_id))

    @extend_schema(
        operation_id="api_keys_update",
        summary="Change an API key: only the fields sent",
        request=ApiKeySpecSerializer,
        responses=ApiKeyResponse,
    )
    def partial_update(self, request, ws, key_id):
        key = self.get_key(key_id)
        body = ApiKeySpecSerializer(data=self.body(), context=self.context())
        body.is_valid(raise_exception=True)
        key = services.api_key_update(key=key, actor=body.context["actor"], spec=body.spec(KeySpec.of(key)))
        return self.one(key)

    @extend_schema(
        operation_id="api_keys_revoke", summary="Revoke an API key for good", responses={200: RevokedResponse}
    )
    def destroy(self, request, ws, key_id):
        key = services.api_key_revoke(key=self.get_key(key_id), actor=Actor.from_request(request))
        return respond(RevokedResponse, {"status": "revoked", "keyId": key.key_id})

    @extend_schema(
        operation_id="api_keys_roll",
        summary="Roll an API key: a replacement with a new secret",
        description="Needs at least the target's scopes and folders. `oldKeyExpiresIn` keeps the old secret alive (at most 7 days).",
        request=ApiKeyRollSerializer,
        responses=RolledKeyResponse,
    )
    def roll(self, request, ws, key_id):
        old = self.get_key(key_id)
        body = ApiKeyRollSerializer(data=self.body(), context=self.context())
        body.is_valid(raise_exception=True)
        new, secret = services.api_key_roll(
            key=old,
            actor=body.context["actor"],
            grace=timedelta(seconds=body.validated_data.get("oldKeyExpiresIn", 0)),
            spec=body.spec(KeySpec.of(old)),
        )
        old.refresh_from_db()
        return respond(RolledKeyResponse, self.minted(new, secret, old))


class KeyPolicyViewSet(ScopedViewSet):
    """The workspace's key policy, for keys to read (`api-key:read`). No key changes it: its
    owners do, in Settings → API Keys → Policy, or an operator (`manage.py apikeys policy`)."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    required_scopes = {"retrieve": "api-key:read"}
    schema_tags = ["API keys"]

    @extend_schema(operation_id="api_key_policy_get", summary="The workspace's key policy", responses=KeyPolicyResponse)
    def retrieve(self, request, ws):
        rules = services.key_policy_of(self.workspace)
        rules.rules = policy.summary(rules)  # type: ignore[attr-defined]
        return respond(KeyPolicyResponse, {"policy": rules})
