"""The API routes of the URL configuration, for tests that must cover every one of them."""

import re

from django.urls import get_resolver

from apikeys.api import WorkspaceAPIView

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def api_routes() -> list[tuple[str, type[WorkspaceAPIView]]]:
    """(route, view class) of every WorkspaceAPIView, e.g. ("<str:ws>/api-keys", ApiKeyListView)."""
    routes = []

    def walk(patterns, prefix=""):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns, prefix + str(p.pattern))
            else:
                view = getattr(p.callback, "view_class", None)
                if view is not None and issubclass(view, WorkspaceAPIView):
                    routes.append((prefix + str(p.pattern), view))

    walk(get_resolver().url_patterns)
    return routes


def methods_of(view: type[WorkspaceAPIView]) -> list[str]:
    """The HTTP methods a view handles (OPTIONS and HEAD aside)."""
    return [m for m in HTTP_METHODS if hasattr(view, m.lower())]


def openapi_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
