"""Settings -> API Keys, under the workspace's pages: /app/<ws>/settings/api-keys/..."""

from django.urls import path

from . import views

app_name = "apikeys"

urlpatterns = [
    path("", views.key_list, name="list"),
    path("/new", views.generate, name="generate"),
    path("/activity", views.activity, name="activity"),
    path("/policy", views.key_policy, name="policy"),
    path("/requests", views.key_requests, name="requests"),
    path("/requests/<int:pk>/open", views.key_request_open, name="request-open"),
    path("/requests/<int:pk>/decide", views.key_request_decide, name="request-decide"),
    path("/policy/fix/<slug:key_id>", views.key_policy_fix, name="policy-fix"),
    path("/<slug:key_id>/edit", views.edit, name="edit"),
    *[
        path(f"/<slug:key_id>/{action.replace('_', '-')}", views.act, {"action": action}, name=action)
        for action in ("roll", "disable", "enable", "protect", "unprotect", "revoke", "end_grace")
    ],
]
