from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apikeys.api import RootViewSet
from apikeys.leaks import github_secret_scanning

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("workspaces.account_urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("app/<slug:ws>/settings/api-keys", include("apikeys.page_urls")),
    path("api/secret-scanning/github", github_secret_scanning, name="secret-scanning"),
    path("", include("workspaces.urls")),
    path("", RootViewSet.as_view({"get": "retrieve", "post": "check"}), name="root"),
    path("", include(("apikeys.urls", "api"))),
    path("", include(("workspaces.api_urls", "resources"))),
]

handler400 = "apikeys.middleware.bad_request"
handler403 = "apikeys.middleware.permission_denied"
handler404 = "apikeys.middleware.not_found"
handler500 = "apikeys.middleware.server_error"
