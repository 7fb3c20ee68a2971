"""Key-management API routes, at the site root as the official SDK expects (no trailing slash)."""

from django.urls import path

from . import api

urlpatterns = [
    path("<str:ws>/api-keys", api.ApiKeyListView.as_view(), name="api-keys"),
    path("<str:ws>/api-keys/publishable", api.PublishableKeyView.as_view(), name="api-keys-publishable"),
    path("<str:ws>/api-keys/<str:key_id>", api.ApiKeyDetailView.as_view(), name="api-key"),
    path("<str:ws>/api-keys/<str:key_id>/roll", api.ApiKeyRollView.as_view(), name="api-key-roll"),
]
