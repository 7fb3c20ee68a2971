"""`GET /:workspace`: the workspace, its members and the projects the caller may reach."""

from drf_spectacular.utils import (
    extend_schema,
)

from core.responses import respond
from workspaces.prepared import prepared
from workspaces.selectors import workspace_members

from .base import (
    ResourceViewSet,
)
from .serializers import (
    WorkspaceResponse,
)


class WorkspaceViewSet(ResourceViewSet):
    required_scopes = {"retrieve": "workspace:read"}

    @extend_schema(
        operation_id="workspace_get", summary="The workspace, its members and projects", responses=WorkspaceResponse
    )
    def retrieve(self, request, ws):
        members = prepared(workspace_members, workspace=self.workspace.pk)
        return respond(
            WorkspaceResponse,
            {
                "workspace": {
                    "name": self.workspace.name,
                    "url": self.workspace.url,
                    "plan": self.workspace.plan,
                    "members": members,
                    "projects": self.reachable_projects(counted=True),
                }
            },
        )
