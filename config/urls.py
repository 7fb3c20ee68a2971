from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apikeys.api import RootView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("workspaces.account_urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("workspaces.urls")),
    path("", RootView.as_view(), name="root"),
    path("", include(("apikeys.urls", "api"))),
    path("", include(("workspaces.api_urls", "resources"))),
]

handler404 = "apikeys.exceptions.not_found"
handler500 = "apikeys.exceptions.server_error"
