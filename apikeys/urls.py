"""Key-management routes, at the site root as the official SDK expects (no trailing slash),
each method mapped to its viewset action explicitly."""

from django.urls import path

from .api import ApiKeyViewSet, KeyPolicyViewSet

keys = ApiKeyViewSet.as_view({"get": "list", "post": "create"})
publishable = ApiKeyViewSet.as_view({"get": "publishable"})
key = ApiKeyViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"})
roll = ApiKeyViewSet.as_view({"post": "roll"})
key_policy = KeyPolicyViewSet.as_view({"get": "retrieve"})

urlpatterns = [
    path("<slug:ws>/api-keys", keys, name="api-keys"),
    path("<slug:ws>/api-key-policy", key_policy, name="api-key-policy"),
    path("<slug:ws>/api-keys/publishable", publishable, name="api-keys-publishable"),
    path("<slug:ws>/api-keys/<slug:key_id>", key, name="api-key"),
    path("<slug:ws>/api-keys/<slug:key_id>/roll", roll, name="api-key-roll"),
]
