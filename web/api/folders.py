"""Project folders (`groups` on the wire, as the SDK says): list, create, rename, delete, and
moving projects in and out."""

from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions
from rest_framework.response import Response

from core.fields import MAX_ID_DIGITS, is_ascii_id
from core.responses import respond
from workspaces import services
from workspaces.actors import Actor

from .base import (
    FOLDER_LIMITED_FOLDERS,
    ResourceViewSet,
)
from .serializers import (
    DeletedResponse,
    FolderBody,
    FolderListResponse,
    FolderProjectsBody,
    FolderRenameBody,
    FolderResponse,
    folder_with,
    parse,
)


class FolderViewSet(ResourceViewSet):
    required_scopes = {
        "list": "folder:read",
        "create": "folder:create",
        "retrieve": "folder:read",
        "partial_update": "folder:update",
        "rename": "folder:update",
        "destroy": "folder:delete",
        "add_projects": "folder:update",
        "remove_projects": "folder:update",
    }

    @extend_schema(
        operation_id="folders_list",
        summary="Project folders (or the one `groupId` names, as `roboflow folder get` asks)",
        parameters=[
            OpenApiParameter(
                "groupId",
                {"type": "integer", "minimum": 1, "maximum": 10**MAX_ID_DIGITS - 1},
                description="One folder's id.",
            )
        ],
        responses=PolymorphicProxySerializer(
            component_name="FoldersOrFolder",
            serializers=[FolderListResponse, FolderResponse],
            resource_type_field_name=None,
        ),
    )
    def list(self, request, ws):
        group = request.query_params.get("groupId")
        if group is not None:
            if not is_ascii_id(group):
                raise exceptions.ValidationError({"groupId": ["Must be a folder id."]})
            return self.folder_response(self.get_folder(int(group)))
        slugs: dict[int, list[str]] = {}
        for folder_id, slug in self.projects().filter(folder__isnull=False).values_list("folder_id", "slug"):
            slugs.setdefault(folder_id, []).append(slug)
        folders = [folder_with(f, slugs.get(f.pk, [])) for f in self.visible_folders()]
        return respond(FolderListResponse, {"groups": folders})

    @extend_schema(
        operation_id="folders_create", summary="Create a folder", request=FolderBody, responses={201: FolderResponse}
    )
    def create(self, request, ws):
        if self.folder_limit() is not None:
            raise exceptions.PermissionDenied(FOLDER_LIMITED_FOLDERS)
        data = parse(FolderBody, self.body())
        projects = self.projects_named(data.get("projects", []))
        folder = services.folder_create(workspace=self.workspace, name=data["name"], projects=projects)
        return self.folder_response(folder, status=201)

    @extend_schema(operation_id="folder_get", summary="A folder and its projects", responses=FolderResponse)
    def retrieve(self, request, ws, folder_id):
        return self.folder_response(self.get_folder(folder_id))

    @extend_schema(
        operation_id="folder_rename_by_post",
        summary="Rename a folder (as `roboflow folder update` sends it)",
        request=FolderRenameBody,
        responses=FolderResponse,
    )
    def rename(self, request, ws, folder_id):
        return self.partial_update(request, ws, folder_id)

    @extend_schema(
        operation_id="folder_rename", summary="Rename a folder", request=FolderRenameBody, responses=FolderResponse
    )
    def partial_update(self, request, ws, folder_id):
        folder = self.get_folder(folder_id)
        if self.folder_limit() is not None:  # the answer could reveal other folders' names
            raise exceptions.PermissionDenied(FOLDER_LIMITED_FOLDERS)
        data = parse(FolderRenameBody, self.body())
        return self.folder_response(services.folder_rename(folder=folder, name=data["name"]))

    @extend_schema(
        operation_id="folder_delete", summary="Delete a folder (its projects stay)", responses={200: DeletedResponse}
    )
    def destroy(self, request, ws, folder_id):
        services.folder_delete(folder=self.get_folder(folder_id), actor=Actor.from_request(request))
        return respond(DeletedResponse, {"status": "deleted", "id": str(folder_id)})

    @extend_schema(
        operation_id="folder_add_projects",
        summary="Move projects into a folder",
        request=FolderProjectsBody,
        responses=FolderResponse,
    )
    def add_projects(self, request, ws, folder_id):
        return self.move(folder_id, into=True)

    @extend_schema(
        operation_id="folder_remove_projects",
        summary="Take projects out of a folder",
        request=FolderProjectsBody,
        responses={200: FolderResponse},
    )
    def remove_projects(self, request, ws, folder_id):
        return self.move(folder_id, into=False)

    def move(self, folder_id, into: bool) -> Response:
        folder = self.get_folder(folder_id)
        projects = self.projects_named(parse(FolderProjectsBody, self.body())["projects"])
        services.folder_move_projects(folder=folder, projects=projects, into=into)
        return self.folder_response(folder)
