from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apikeys.api import RootViewSet
from apikeys.leaks import github_secret_scanning

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("web.account_urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("app/<slug:ws>/settings/api-keys", include("apikeys.page_urls")),
    path("api/secret-scanning/github", github_secret_scanning, name="secret-scanning"),
    path("", include("web.urls")),
    path("", RootViewSet.as_view({"get": "retrieve", "post": "check"}), name="root"),
    path("", include(("apikeys.urls", "api"))),
    path("", include(("web.api.urls", "resources"))),
]

handler400 = "core.middleware.bad_request"
handler403 = "core.middleware.permission_denied"
handler404 = "core.middleware.not_found"
handler500 = "core.middleware.server_error"
