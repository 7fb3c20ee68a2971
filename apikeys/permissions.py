"""The one permission class of the API. Every viewset declares the scope each of its actions
needs, e.g. `required_scopes = {"list": "image:read", "create": "image:create"}`; this class
enforces it, and refuses any action that is not declared.

- Key callers: the key must hold every scope the action declares (else 403
  insufficient_scope). That the workspace in the path is the key's own (else 404) was settled
  before, by the viewset (`apikeys.viewsets.ScopedViewSet`), which this class only reads.
- Signed-in users (the dashboard's session): checked by their role in the workspace instead;
  members never reach API key management (404, not a hint that it exists).
"""

from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from core.exceptions import InsufficientScope, UndeclaredAction
from workspaces.models import MANAGER_ROLES

from . import scopes, usage
from .models import ApiKey

UNDECLARED = "This endpoint declares no scope for this action, so no API key may call it."
NOT_A_SCOPED_VIEW = "ScopePermission guards ScopedViewSet views only: they settle the workspace it checks against."


def required_for(view) -> tuple[str, ...] | None:
    """The scopes a view declares for its current action; None if it declares none."""
    required = getattr(view, "required_scopes", {}).get(getattr(view, "action", None))
    if required is None:
        return None
    return (required,) if isinstance(required, str) else tuple(required)


def session_role_allows(role: str, required: tuple[str, ...]) -> bool:
    return role in MANAGER_ROLES or not any(s.startswith("api-key:") for s in required)


def caller_holds(request, view, scope: str) -> bool:
    """Whether the caller holds `scope` (a key) or its role allows it (a user): for answers
    that show more to those who may see it."""
    if isinstance(request.auth, ApiKey):
        return scopes.holds(request.auth.scopes, scope)
    return view.membership is not None and session_role_allows(view.membership.role, (scope,))


def require(request, view, scope: str) -> None:
    """A 403 naming `scope` unless the caller holds it: for an action whose scope depends on
    what its body names (restoring a version from the trash needs what deleting it needed)."""
    if not caller_holds(request, view, scope):
        if isinstance(request.auth, ApiKey):
            raise InsufficientScope(scope)
        raise exceptions.NotFound("Not found.")
    if isinstance(request.auth, ApiKey):
        # Exercised too: counted (the request itself was counted already), so that narrowing
        # a key to what it uses keeps it.
        held = scopes.satisfying(request.auth.scopes, scope)
        usage.record(usage.Use(request.auth.pk, (held or scope,), None, "", counts_request=False))


class ScopePermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        if getattr(view, "workspace", None) is None:
            raise ImproperlyConfigured(NOT_A_SCOPED_VIEW)
        if getattr(view, "action", None) is None:
            return True  # a method the view does not map: it answers 405 Method Not Allowed
        required = required_for(view)
        if isinstance(request.auth, ApiKey):
            if required is None:
                raise UndeclaredAction(UNDECLARED)
            held = []
            for scope in required:
                satisfied = scopes.satisfying(request.auth.scopes, scope)
                if satisfied is None:
                    raise InsufficientScope(scope)
                held.append(satisfied)
            usage.note(request, held)  # what the key holds is what it used
            return True
        if required is None or scopes.ANY_KEY in required:
            raise UndeclaredAction(UNDECLARED)
        if not session_role_allows(view.membership.role, required):
            raise exceptions.NotFound("Not found.")
        return True
