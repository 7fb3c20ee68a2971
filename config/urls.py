from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from apikeys.api import root

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("workspaces.account_urls")),
    path("", include("workspaces.urls")),
    path("", root, name="root"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler404 = "apikeys.exceptions.not_found"
handler500 = "apikeys.exceptions.server_error"
