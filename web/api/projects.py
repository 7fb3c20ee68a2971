"""Projects: create, read, change, move to the trash."""

from drf_spectacular.utils import (
    extend_schema,
)
from rest_framework import exceptions

from core.responses import respond
from workspaces import services
from workspaces.actors import Actor

from .base import (
    FOLDER_LIMITED_CREATE,
    ResourceViewSet,
    trash_fields,
)
from .serializers import (
    ProjectCreateBody,
    ProjectDetailResponse,
    ProjectResponse,
    ProjectSerializer,
    ProjectUpdateBody,
    TrashedResponse,
    parse,
)


class ProjectViewSet(ResourceViewSet):
    required_scopes = {
        "create": "project:create",
        "retrieve": "project:read",
        "partial_update": "project:update",
        "destroy": "project:update",
    }

    @extend_schema(
        operation_id="projects_create",
        summary="Create a project",
        request=ProjectCreateBody,
        responses={201: ProjectSerializer},
    )
    def create(self, request, ws):
        data = parse(ProjectCreateBody, self.body())
        folder = self.get_folder(data["folderId"]) if "folderId" in data else None
        if folder is None and self.folder_limit() is not None:
            raise exceptions.PermissionDenied(FOLDER_LIMITED_CREATE)
        project = services.project_create(
            workspace=self.workspace,
            name=data["name"],
            type=data["type"],
            annotation=data["annotation"],
            license=data.get("license", ""),
            folder=folder,
        )
        return respond(ProjectSerializer, self.project_with_counts(project), status=201)

    @extend_schema(operation_id="project_get", summary="A project and its versions", responses=ProjectDetailResponse)
    def retrieve(self, request, ws, project):
        found = self.get_project(project, counted=True)
        return respond(
            ProjectDetailResponse,
            {"workspace": self.workspace, "project": found, "versions": self.versions_of(found)},
        )

    @extend_schema(
        operation_id="project_update", summary="Change a project", request=ProjectUpdateBody, responses=ProjectResponse
    )
    def partial_update(self, request, ws, project):
        found = self.get_project(project)
        services.project_update(project=found, **parse(ProjectUpdateBody, self.body()))
        return respond(ProjectResponse, {"project": self.project_with_counts(found)})

    @extend_schema(
        operation_id="project_delete",
        summary="Move a project to the trash (restorable for 30 days, then purged)",
        responses={200: TrashedResponse},
    )
    def destroy(self, request, ws, project):
        found = self.get_project(project)
        trashed = services.project_trash(project=found, actor=Actor.from_request(request))
        return respond(TrashedResponse, {"deleted": True, **trash_fields(trashed)})
