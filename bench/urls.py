from django.urls import path

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as app_urlpatterns

from .views import HasApiKeyView, NoAuthView, OursViewSet, TokenView

urlpatterns = [
    path("bench/none", NoAuthView.as_view()),
    path("bench/token", TokenView.as_view()),
    path("bench/hasapikey", HasApiKeyView.as_view()),
    path("bench/<slug:ws>/ours", OursViewSet.as_view({"get": "retrieve"})),
    *app_urlpatterns,
]
