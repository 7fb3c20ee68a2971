from datetime import timedelta

from django.db.models import Q
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.models import Membership, Project, Workspace

from . import scopes
from .authentication import ApiKeyAuthentication
from .models import ApiKey
from .permissions import ScopePermission

LAST_USED_RESOLUTION = timedelta(minutes=1)


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

    def finalize_response(self, request, response, *args, **kwargs):
        key = request.auth if isinstance(getattr(request, "auth", None), ApiKey) else None
        if key is not None and response.status_code < 400:
            touch_last_used(key)
        return super().finalize_response(request, response, *args, **kwargs)


class RootView(WorkspaceAPIView):
    """`GET /` and `POST /`: checks a key, says which workspace it belongs to (the SDK's first call)."""

    authentication_classes = [ApiKeyAuthentication]
    required_scopes = {"get": scopes.ANY_KEY, "post": scopes.ANY_KEY}

    def get(self, request):
        return Response(
            {
                "welcome": "Welcome to the Scoped API Keys API.",
                "instructions": "Send this key as 'Authorization: Bearer <key>' (or ?api_key=) to the workspace endpoints.",
                "docs": request.build_absolute_uri("/api/docs"),
                "workspace": self.workspace.url,
            }
        )

    post = get


@csrf_exempt  # the API root takes keys only, never the session cookie
def root(request, *args, **kwargs):
    """A browser opening `/` goes to the dashboard; every other request is the API's root."""
    sends_key = "api_key" in request.GET or "HTTP_AUTHORIZATION" in request.META
    wants_page = "text/html" in request.META.get("HTTP_ACCEPT", "")
    if request.method == "GET" and wants_page and not sends_key:
        return redirect("workspaces:home")
    return RootView.as_view()(request, *args, **kwargs)
