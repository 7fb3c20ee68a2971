"""Test-only API views, to exercise the base viewset and the permission class in isolation."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.permissions import ScopePermission
from apikeys.viewsets import ScopedViewSet
from config.urls import handler400, handler403, handler404, handler500  # noqa: F401 - the app's error handlers apply here too
from config.urls import urlpatterns as app_urlpatterns


class ThingsViewSet(ScopedViewSet):
    required_scopes = {"list": "project:read", "create": "project:create"}

    def list(self, request, ws):
        return Response({"workspace": self.workspace.url, "projects": sorted(p.slug for p in self.projects())})

    def create(self, request, ws):
        return Response({"created": True, "body": self.body()}, status=201)

    def destroy(self, request, ws):  # declares no scope: refused to everyone
        return Response({"deleted": True})


class KeysViewSet(ScopedViewSet):
    required_scopes = {"list": "api-key:read", "create": ("api-key:create", "api-key:revoke")}

    def list(self, request, ws):
        return Response({"ok": True})

    def create(self, request, ws):
        return Response({"ok": True})


class NotScopedView(APIView):
    """A mistake: the scope permission on a view that does not settle the workspace."""

    permission_classes = [ScopePermission]
    required_scopes = {"get": "project:read"}

    def get(self, request, ws):
        return Response({"leaked": True})


urlpatterns = [
    path("<slug:ws>/things", ThingsViewSet.as_view({"get": "list", "post": "create", "delete": "destroy"})),
    path("<slug:ws>/keys", KeysViewSet.as_view({"get": "list", "post": "create"})),
    path("<slug:ws>/not-scoped", NotScopedView.as_view()),
    *app_urlpatterns,
]
