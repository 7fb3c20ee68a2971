"""The one permission class of the API. Every API view declares the scope each of its
actions needs, e.g. `required_scopes = {"get": "image:read", "post": "image:create"}`;
this class enforces it, and refuses any action that is not declared.

- Key callers: the key's workspace must be the one in the path (else 404), then the key
  must hold every scope the action declares (else 403 insufficient_scope).
- Signed-in users (the dashboard's session): checked by their role in the workspace
  instead; members never reach API key management (404, not a hint that it exists).
"""

from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from workspaces.models import MANAGER_ROLES

from . import scopes
from .exceptions import InsufficientScope, UndeclaredAction
from .models import ApiKey

UNDECLARED = "This endpoint declares no scope for this action, so no API key may call it."


def required_for_method(view, method: str) -> tuple[str, ...] | None:
    """The scopes a view declares for an HTTP method (or a viewset action); None if undeclared."""
    action = getattr(view, "action", None) or method.lower()
    if action == "head":
        action = "get"
    required = getattr(view, "required_scopes", {}).get(action)
    if required is None:
        return None
    return (required,) if isinstance(required, str) else tuple(required)


def required_for(view, request) -> tuple[str, ...] | None:
    return required_for_method(view, request.method)


def session_role_allows(role: str, required: tuple[str, ...]) -> bool:
    return role in MANAGER_ROLES or not any(s.startswith("api-key:") for s in required)


class ScopePermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        required = required_for(view, request)
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is None and (request.user is None or not request.user.is_authenticated):
            raise exceptions.NotAuthenticated("Authentication credentials were not provided.")
        if not hasattr(view, "action") and not hasattr(view, request.method.lower()):
            return True  # the view then answers 405 Method Not Allowed
        if key is not None:
            if required is None:
                raise UndeclaredAction(UNDECLARED)
            view.bind_workspace(request)
            for scope in required:
                if not scopes.holds(key.scopes, scope):
                    raise InsufficientScope(scope)
            return True
        if required is None or scopes.ANY_KEY in required:
            raise UndeclaredAction(UNDECLARED)
        membership = view.bind_workspace(request)
        if not session_role_allows(membership.role, required):
            raise exceptions.NotFound("Not found.")
        return True
