"""The base of every API viewset: key (or session) authentication, the scope permission, the
rate limit, and the caller's workspace settled before any permission is checked, so that no
viewset can forget any of them."""

from typing import ClassVar

from rest_framework import exceptions, viewsets
from rest_framework.authentication import SessionAuthentication

from core.exceptions import KeyChanging
from core.parsers import refuse_bad_query
from workspaces.models import Membership, Project, Workspace

from .authentication import ApiKeyAuthentication
from .lookup import StaleRecord
from .models import ApiKey
from .permissions import ScopePermission
from .throttling import RATE_LIMITED, ApiKeyRateThrottle

NOT_FOUND = "Not found."
SETTLES = 3  # times a request is settled, when changes to its key keep coming in between


class ScopedViewSet(viewsets.ViewSet):
    """Subclasses declare `required_scopes` per action (`{"list": "project:read", ...}`); an
    action left out is refused to every caller. Once a request is authenticated,
    `self.workspace` is the workspace it acts in: the key's own (a path naming another is a
    404), or for a signed-in user the one in the path that they are a member of
    (`self.membership`).
    """

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [ScopePermission]
    throttle_classes = [ApiKeyRateThrottle]
    required_scopes: ClassVar[dict[str, str | tuple[str, ...]]] = {}
    workspace: Workspace  # settled on authentication
    membership: Membership | None = None

    # The key may come from a record this process kept (`apikeys.lookup`): the rate limit's
    # round trip checks it is current, before any handler runs.
    checks_key_records = True

    def initial(self, request, *args, **kwargs):
        refuse_bad_query(request)  # query strings are text from outside, like bodies (see `parsers`)
        for attempt in range(1, SETTLES + 1):
            try:
                return super().initial(request, *args, **kwargs)
            except (StaleRecord, exceptions.PermissionDenied, exceptions.NotFound) as error:
                # Let through on a record that the round trip found behind a change, or refused
                # on a kept one (refusals come before the round trip): settled again on the
                # database's, from the start; a few times at most, if changes keep coming.
                if not isinstance(error, StaleRecord) and not getattr(getattr(request, "_auth", None), "cached", False):
                    raise
                if attempt == SETTLES:
                    raise KeyChanging from error
                request.key_records_stale = True
                del request._user, request._auth

    def perform_authentication(self, request):
        # DRF's `initial` authenticates, then checks permissions: the workspace is settled
        # between the two, so the permission only reads it.
        super().perform_authentication(request)
        self.workspace, self.membership = self.settle_workspace(request)

    def settle_workspace(self, request) -> tuple[Workspace, Membership | None]:
        url = self.kwargs.get("ws")
        if isinstance(request.auth, ApiKey):
            if url is not None and url != request.auth.workspace.url:
                raise exceptions.NotFound(NOT_FOUND)
            return request.auth.workspace, None
        if request.user is None or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated("Authentication credentials were not provided.")
        membership = (
            Membership.objects.select_related("workspace").filter(user=request.user, workspace__url=url).first()
            if url is not None
            else None
        )
        if membership is None:
            raise exceptions.NotFound(NOT_FOUND)
        return membership.workspace, membership

    def throttled(self, request, wait):
        raise exceptions.Throttled(wait=wait, detail=RATE_LIMITED)

    def finalize_response(self, request, response, *args, **kwargs):
        # `_auth`, not `auth`: a request refused before authentication (a bad query string)
        # must not be authenticated now, on the way out (its body may not even parse).
        key = getattr(request, "_auth", None)
        if isinstance(key, ApiKey) and response.status_code < 400:
            key.record_use()
        return super().finalize_response(request, response, *args, **kwargs)

    # What the caller may reach -----------------------------------------------------------

    @property
    def key(self) -> ApiKey | None:
        auth = self.request.auth
        return auth if isinstance(auth, ApiKey) else None

    def folder_limit(self) -> list[int] | None:
        """The folders the key is limited to; None when it is workspace-wide (and for users)."""
        return self.key.folder_limit() if self.key is not None else None

    def projects(self):
        """The projects of the workspace that the caller may reach."""
        return Project.objects.reachable(self.workspace.pk, self.folder_limit())

    def body(self) -> dict:
        """The JSON body without the `api_key` it may carry; a 400 unless it is an object."""
        data = self.request.data
        if not hasattr(data, "items"):
            raise exceptions.ParseError("The request body must be a JSON object.")
        return {k: v for k, v in data.items() if k != "api_key"}
