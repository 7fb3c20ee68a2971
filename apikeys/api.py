from datetime import timedelta

from django.db.models import Q
from django.shortcuts import redirect
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.models import Folder, Membership, Project, Workspace

from . import keyformat, scopes, services
from .authentication import ApiKeyAuthentication
from .models import ApiKey
from .parsers import refuse_bad_query
from .permissions import ScopePermission
from .serializers import (
    ApiKeyCreateSerializer,
    ApiKeyListResponse,
    ApiKeyResponse,
    ApiKeyRollSerializer,
    ApiKeyWriteSerializer,
    CreatedKeyResponse,
    PublishableKeyResponse,
    RevokedResponse,
    RolledKeyResponse,
    RootResponse,
    iso,
    key_json,
)
from .services import Actor
from .throttling import RATE_LIMITED, ApiKeyRateThrottle

LAST_USED_RESOLUTION = timedelta(minutes=1)
WHOLE_KEY_IN_PATH = (
    "No such key: the path takes a keyId, the 12 characters after 'sak_', never the whole key. "
    "If you sent a whole key somewhere it could be logged, roll it."
)


def touch_last_used(key: ApiKey) -> None:
    """Record use at most once a minute per key: one conditional UPDATE, none while recent."""
    now = timezone.now()
    cutoff = now - LAST_USED_RESOLUTION
    if key.last_used_at is not None and key.last_used_at > cutoff:
        return
    ApiKey.objects.filter(pk=key.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=cutoff)).update(
        last_used_at=now
    )
    key.last_used_at = now


class WorkspaceAPIView(APIView):
    """Base of every API view: key or session authentication, the scope permission, and
    querysets already limited to the caller's workspace (and the key's folders).

    Subclasses declare `required_scopes = {"get": "project:read", ...}`; an action left out
    is refused to every caller. The workspace is `self.workspace` once permissions pass.
    """

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [ScopePermission]
    throttle_classes = [ApiKeyRateThrottle]
    required_scopes: dict[str, str | tuple[str, ...]] = {}
    workspace: Workspace
    membership: Membership | None = None

    @property
    def key(self) -> ApiKey | None:
        auth = self.request.auth
        return auth if isinstance(auth, ApiKey) else None

    def bind_workspace(self, request) -> Membership | None:
        """Settle which workspace the request acts in; a 404 when the caller may not see it."""
        url = self.kwargs.get("ws")
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is not None:
            if url is not None and url != key.workspace.url:
                raise exceptions.NotFound("Not found.")
            self.workspace = key.workspace
            return None
        if url is None:
            raise exceptions.NotFound("Not found.")
        membership = (
            Membership.objects.select_related("workspace").filter(user=request.user, workspace__url=url).first()
        )
        if membership is None:
            raise exceptions.NotFound("Not found.")
        self.workspace, self.membership = membership.workspace, membership
        return membership

    def folder_limit(self) -> list[int] | None:
        """The folders the key is limited to; None when it is workspace-wide (and for users)."""
        return self.key.folder_limit() if self.key is not None else None

    def projects(self):
        projects = Project.objects.filter(workspace=self.workspace)
        folder_limit = self.folder_limit()
        if folder_limit is not None:
            projects = projects.filter(folder_id__in=folder_limit)
        return projects

    def body(self) -> dict:
        """The JSON body without the `api_key` it may carry; a 400 unless it is an object."""
        data = self.request.data
        if not hasattr(data, "items"):
            raise exceptions.ParseError("The request body must be a JSON object.")
        return {k: v for k, v in data.items() if k != "api_key"}

    def throttled(self, request, wait):
        raise exceptions.Throttled(wait=wait, detail=RATE_LIMITED)

    def initial(self, request, *args, **kwargs):
        refuse_bad_query(request)  # query strings are text from outside, like bodies (see `parsers`)
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        key = request.auth if isinstance(getattr(request, "auth", None), ApiKey) else None
        if key is not None and response.status_code < 400:
            touch_last_used(key)
        return super().finalize_response(request, response, *args, **kwargs)


class RootView(WorkspaceAPIView):
    """`GET /` and `POST /`: checks a key, says which workspace it belongs to (the SDK's first call)."""

    authentication_classes = [ApiKeyAuthentication]
    required_scopes = {"get": scopes.ANY_KEY, "post": scopes.ANY_KEY}

    def dispatch(self, request, *args, **kwargs):
        # A browser opening `/` goes to the dashboard; every other request is the API's root.
        sends_key = "api_key" in request.GET or "HTTP_AUTHORIZATION" in request.META
        wants_page = "text/html" in request.META.get("HTTP_ACCEPT", "")
        if request.method == "GET" and wants_page and not sends_key:
            return redirect("workspaces:home")
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(operation_id="root", summary="Check a key; name its workspace", responses=RootResponse)
    def get(self, request):
        return Response(
            {
                "welcome": "Welcome to the Scoped API Keys API.",
                "instructions": "Send this key as 'Authorization: Bearer <key>' (or ?api_key=) to the workspace endpoints.",
                "docs": request.build_absolute_uri("/api/docs"),
                "workspace": self.workspace.url,
            }
        )

    @extend_schema(
        operation_id="root_post", summary="Check a key (the SDK's first call)", request=None, responses=RootResponse
    )
    def post(self, request):
        return self.get(request)


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


def minted(key: ApiKey, secret: str, **extra) -> dict:
    """The answer to a create or a roll: the one response that carries a key's secret."""
    wire = key_json(key)
    return {
        "keyId": key.key_id,
        "key": secret,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": key.scopes,
        "folderIds": wire["folderIds"],
        "protected": key.protected,
        **extra,
        "apiKey": wire,
    }


class ApiKeyAPIView(WorkspaceAPIView):
    """Key management. A folder-limited caller sees (and manages) only keys limited to folders
    within its own limit: any other key is a 404, as if it did not exist."""

    def keys(self):
        keys = (
            ApiKey.objects.filter(workspace=self.workspace, revoked_at__isnull=True)
            .select_related("created_by_user", "created_by_key", "rolled_from")
            .prefetch_related("folders", "owners")
        )
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

    def reloaded(self, key: ApiKey) -> ApiKey:
        return self.keys().get(pk=key.pk)


class ApiKeyListView(ApiKeyAPIView):
    required_scopes = {"get": "api-key:read", "post": "api-key:create"}

    @extend_schema(
        operation_id="api_keys_list",
        summary="List the workspace's API keys",
        parameters=[
            OpenApiParameter("includeDisabled", OpenApiTypes.BOOL, description="Also list disabled keys."),
            OpenApiParameter("includeFolders", OpenApiTypes.BOOL, description="Add each key's folders with names."),
        ],
        responses=ApiKeyListResponse,
    )
    def get(self, request, ws):
        include_disabled = query_flag(request, "includeDisabled")
        include_folders = query_flag(request, "includeFolders")
        keys = self.keys().filter(rolled_at__isnull=True)
        if not include_disabled:
            keys = keys.filter(disabled=False)
        return Response(
            {
                "apiKeys": [key_json(k, include_folders=include_folders) for k in keys],
                "publishableKey": self.workspace.publishable_key,
            }
        )

    @extend_schema(
        operation_id="api_keys_create",
        summary="Create an API key (its secret is in this response only)",
        description="Omitted `scopes` and `folderIds` copy the calling key's; a key grants only what it holds.",
        request=ApiKeyCreateSerializer,
        responses={201: CreatedKeyResponse},
    )
    def post(self, request, ws):
        body = ApiKeyCreateSerializer(data=self.body())
        body.is_valid(raise_exception=True)
        key, secret = services.api_key_create(
            workspace=self.workspace, actor=Actor.from_request(request), **body.service_kwargs()
        )
        key = self.reloaded(key)
        return Response(minted(key, secret, publishableKey=self.workspace.publishable_key), status=201)


class PublishableKeyView(ApiKeyAPIView):
    required_scopes = {"get": "workspace:read"}

    @extend_schema(
        operation_id="api_keys_publishable", summary="The workspace's publishable key", responses=PublishableKeyResponse
    )
    def get(self, request, ws):
        return Response({"publishableKey": self.workspace.publishable_key})


class ApiKeyDetailView(ApiKeyAPIView):
    required_scopes = {"get": "api-key:read", "patch": "api-key:update", "delete": "api-key:revoke"}

    @extend_schema(operation_id="api_keys_get", summary="One API key", responses=ApiKeyResponse)
    def get(self, request, ws, key_id):
        return Response({"apiKey": key_json(self.get_key(key_id), include_folders=True)})

    @extend_schema(
        operation_id="api_keys_update",
        summary="Change an API key: only the fields sent",
        request=ApiKeyWriteSerializer,
        responses=ApiKeyResponse,
    )
    def patch(self, request, ws, key_id):
        key = self.get_key(key_id)
        body = ApiKeyWriteSerializer(data=self.body())
        body.is_valid(raise_exception=True)
        key = services.api_key_update(key=key, actor=Actor.from_request(request), **body.service_kwargs())
        return Response({"apiKey": key_json(self.reloaded(key), include_folders=True)})

    @extend_schema(
        operation_id="api_keys_revoke", summary="Revoke an API key for good", responses={200: RevokedResponse}
    )
    def delete(self, request, ws, key_id):
        key = services.api_key_revoke(key=self.get_key(key_id), actor=Actor.from_request(request))
        return Response({"status": "revoked", "keyId": key.key_id})


class ApiKeyRollView(ApiKeyAPIView):
    required_scopes = {"post": ("api-key:create", "api-key:revoke")}

    @extend_schema(
        operation_id="api_keys_roll",
        summary="Roll an API key: a replacement with a new secret",
        description="Needs at least the target's scopes and folders. `oldKeyExpiresIn` keeps the old secret alive (at most 7 days).",
        request=ApiKeyRollSerializer,
        responses=RolledKeyResponse,
    )
    def post(self, request, ws, key_id):
        old = self.get_key(key_id)
        body = ApiKeyRollSerializer(data=self.body())
        body.is_valid(raise_exception=True)
        grace = timedelta(seconds=body.validated_data.get("oldKeyExpiresIn", 0))
        new, secret = services.api_key_roll(
            key=old, actor=Actor.from_request(request), grace=grace, **body.service_kwargs()
        )
        old.refresh_from_db()
        new = self.reloaded(new)
        return Response(
            minted(
                new,
                secret,
                disabled=new.disabled,
                default=new.is_default,
                revokedKeyId=old.key_id,
                oldKeyExpiresAt=iso(old.grace_until),
            )
        )
