from .models import MANAGER_ROLES
from .selectors import memberships_of


def workspaces(request):
    """The signed-in user's workspaces, for the switcher, and the one the page is about."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    # A page about a workspace names it in its path, or (a new workspace's first screen) says so.
    current = getattr(request, "workspace_url", None) or (match.kwargs.get("ws") if match else None)
    memberships = memberships_of(request)
    membership = next((m for m in memberships if m.workspace.url == current), None)
    return {
        "switcher_memberships": memberships,
        "current_ws": current,
        "current_membership": membership,
        "manages_current": membership is not None and membership.role in MANAGER_ROLES,
    }
