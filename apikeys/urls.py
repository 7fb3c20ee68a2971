"""Key-management API routes, at the site root as the official SDK expects (no trailing slash)."""

from django.urls import path

from . import api

urlpatterns = [
    path("<slug:ws>/api-keys", api.ApiKeyListView.as_view(), name="api-keys"),
    path("<slug:ws>/api-keys/publishable", api.PublishableKeyView.as_view(), name="api-keys-publishable"),
    path("<slug:ws>/api-keys/<slug:key_id>", api.ApiKeyDetailView.as_view(), name="api-key"),
    path("<slug:ws>/api-keys/<slug:key_id>/roll", api.ApiKeyRollView.as_view(), name="api-key-roll"),
]
