from .models import Membership


def workspaces(request):
    """The signed-in user's workspaces, for the switcher, and the one the page is about."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    current = match.kwargs.get("ws") if match else None
    memberships = Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")
    return {"switcher_memberships": memberships, "current_ws": current}
