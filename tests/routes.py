"""The API routes of the URL configuration, for tests that must cover every one of them."""

import re
from dataclasses import dataclass
from types import SimpleNamespace

from django.urls import get_resolver

from apikeys.permissions import required_for
from apikeys.viewsets import ScopedViewSet


@dataclass(frozen=True)
class Route:
    """A route of the API: its pattern, its viewset, and the action each HTTP method maps to."""

    pattern: str
    view: type[ScopedViewSet]
    actions: dict[str, str]
    initkwargs: dict

    @property
    def methods(self) -> list[str]:
        """The HTTP methods the route maps (OPTIONS and HEAD aside)."""
        return [m.upper() for m in self.actions if m not in ("head", "options")]

    def required(self, method: str) -> tuple[str, ...] | None:
        """The scopes the route's viewset declares for `method`; None if it declares none."""
        return required_for(
            SimpleNamespace(required_scopes=self.view.required_scopes, action=self.actions[method.lower()])
        )

    @property
    def parser_classes(self) -> list:
        return self.initkwargs.get("parser_classes", self.view.parser_classes)


def api_routes() -> list[Route]:
    """Every route served by a ScopedViewSet, e.g. Route("<slug:ws>/api-keys", ApiKeyViewSet, ...)."""
    routes = []

    def walk(patterns, prefix=""):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns, prefix + str(p.pattern))
                continue
            view = getattr(p.callback, "cls", None)
            if view is not None and issubclass(view, ScopedViewSet):
                routes.append(Route(prefix + str(p.pattern), view, dict(p.callback.actions), p.callback.initkwargs))

    walk(get_resolver().url_patterns)
    return routes


def openapi_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
