"""Test-only API views, to exercise the base view and the permission class in isolation."""

from django.urls import path
from rest_framework.response import Response

from apikeys.api import WorkspaceAPIView
from config.urls import handler400, handler403, handler404, handler500  # noqa: F401 - the app's error handlers apply here too
from config.urls import urlpatterns as app_urlpatterns


class ThingsView(WorkspaceAPIView):
    required_scopes = {"get": "project:read", "post": "project:create"}

    def get(self, request, ws):
        return Response({"workspace": self.workspace.url, "projects": sorted(p.slug for p in self.projects())})

    def post(self, request, ws):
        return Response({"created": True, "body": self.body()}, status=201)

    def delete(self, request, ws):  # declares no scope: refused to everyone
        return Response({"deleted": True})


class KeysView(WorkspaceAPIView):
    required_scopes = {"get": "api-key:read", "post": ("api-key:create", "api-key:revoke")}

    def get(self, request, ws):
        return Response({"ok": True})

    def post(self, request, ws):
        return Response({"ok": True})


urlpatterns = [
    path("<slug:ws>/things", ThingsView.as_view()),
    path("<slug:ws>/keys", KeysView.as_view()),
    *app_urlpatterns,
]
