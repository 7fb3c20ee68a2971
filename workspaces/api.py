"""The workspace resource API: workspace, projects, folders, images, versions, models, one
viewset each (routes: `workspaces.api_urls`).

Roboflow-shaped, so that the official SDK works unchanged. Every viewset is a ScopedViewSet:
it declares its scope per action, and reaches projects only through `self.projects()`, which
is already limited to the caller's workspace and folders; anything else is a 404.
"""

from django.conf import settings
from django.db import connection
from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from apikeys.exceptions import PayloadTooLarge
from apikeys.parsers import SafeFormParser, SafeJSONParser, SafeMultiPartParser
from apikeys.viewsets import ScopedViewSet

from . import services
from .models import Folder, Image, Model, Project, Split, Version
from .prepared import prepared
from .serializers import (
    DeletedResponse,
    DeleteImagesBody,
    FolderBody,
    FolderListResponse,
    FolderProjectsBody,
    FolderRenameBody,
    FolderResponse,
    FolderSerializer,
    GenerateBody,
    GeneratedResponse,
    ImageResponse,
    ImagesDeletedResponse,
    ImageSerializer,
    MemberSerializer,
    ModelListResponse,
    ModelResponse,
    ModelSerializer,
    ModelUpdateBody,
    ModelUploadBody,
    ProjectCreateBody,
    ProjectDetailResponse,
    ProjectResponse,
    ProjectSerializer,
    ProjectUpdateBody,
    SearchBody,
    SearchResponse,
    TagsBody,
    UploadBody,
    UploadQuery,
    UploadResponse,
    VersionDetailResponse,
    VersionSerializer,
    WorkspaceResponse,
    counted_projects,
    folder_with,
    parse,
    project_versions,
    reachable_projects,
    workspace_members,
)

FOLDER_LIMITED_CREATE = "This key is limited to some folders; name one of them as folderId."
FOLDER_LIMITED_FOLDERS = "A key limited to some folders cannot create or rename folders."
TOO_LARGE = "The file is larger than the {limit} bytes this server accepts."


# The upload routes take multipart bodies (and forms), as the SDK sends them; a JSON body to
# the weights upload is read too, to say what is missing. Everything else takes JSON.
UPLOAD_PARSERS = [SafeMultiPartParser, SafeFormParser]
WEIGHTS_PARSERS = [SafeMultiPartParser, SafeFormParser, SafeJSONParser]


class ResourceViewSet(ScopedViewSet):
    schema_tags = ["Workspace"]

    def get_project(self, slug: str, *, counted: bool = False) -> Project:
        """The project, if the caller may reach it (else a 404); `counted`: with the counts
        of `with_counts`, in the same query."""
        found = self.reachable_projects(slug=slug, counted=counted)
        if not found:
            raise exceptions.NotFound(f"No project {slug!r} in this workspace.")
        return found[0]

    def reachable_projects(self, *, slug: str | None = None, counted: bool = False) -> list[Project]:
        """`self.projects()` (with this slug), as a list, by SQL compiled once."""
        build = counted_projects if counted else reachable_projects
        found = prepared(build, workspace=self.workspace.pk, folders=self.folder_limit(), slug=slug)
        for project in found:
            project.workspace = self.workspace
        return found

    def project_with_counts(self, project: Project) -> Project:
        return self.get_project(project.slug, counted=True)

    def versions_of(self, project: Project) -> list[Version]:
        versions = prepared(project_versions, project=project.pk)
        for version in versions:
            version.project = project
        return versions

    def visible_folders(self):
        folders = Folder.objects.filter(workspace=self.workspace)
        limit = self.folder_limit()
        return folders if limit is None else folders.filter(pk__in=limit)

    def get_folder(self, folder_id: int) -> Folder:
        folder = self.visible_folders().filter(pk=folder_id).first()
        if folder is None:
            raise exceptions.NotFound(f"No folder {folder_id} in this workspace.")
        return folder

    def projects_named(self, slugs: list[str]) -> list[Project]:
        found = {p.slug: p for p in self.projects().filter(slug__in=slugs)}
        missing = [s for s in slugs if s not in found]
        if missing:
            raise exceptions.ValidationError({"projects": [f"No project {', '.join(missing)} in this workspace."]})
        return list(found.values())

    def get_image(self, project: str, image_id: int) -> Image:
        found = self.get_project(project)
        image = Image.objects.select_related("project__workspace").filter(project=found, pk=image_id).first()
        if image is None:
            raise exceptions.NotFound(f"No image {image_id} in this project.")
        return image

    def folder_response(self, folder: Folder, status: int = 200) -> Response:
        slugs = list(self.projects().filter(folder=folder).values_list("slug", flat=True))
        return Response({"group": FolderSerializer(folder_with(folder, slugs)).data}, status=status)


def refuse_oversize(request) -> None:
    """A 413 for a body whose file is over MAX_UPLOAD_BYTES: from the declared length before
    reading, and from each uploaded file's size after."""
    limit = settings.MAX_UPLOAD_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise PayloadTooLarge(TOO_LARGE.format(limit=limit))
    if any(f.size > limit for f in request.FILES.values()):
        raise PayloadTooLarge(TOO_LARGE.format(limit=limit))


class WorkspaceViewSet(ResourceViewSet):
    required_scopes = {"retrieve": "workspace:read"}

    @extend_schema(
        operation_id="workspace_get", summary="The workspace, its members and projects", responses=WorkspaceResponse
    )
    def retrieve(self, request, ws):
        members = prepared(workspace_members, workspace=self.workspace.pk)
        return Response(
            {
                "workspace": {
                    "name": self.workspace.name,
                    "url": self.workspace.url,
                    "plan": self.workspace.plan,
                    "members": MemberSerializer(members, many=True).data,
                    "projects": ProjectSerializer(self.reachable_projects(counted=True), many=True).data,
                }
            }
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
        return Response(ProjectSerializer(self.project_with_counts(project)).data, status=201)

    @extend_schema(operation_id="project_get", summary="A project and its versions", responses=ProjectDetailResponse)
    def retrieve(self, request, ws, project):
        found = self.get_project(project, counted=True)
        return Response(
            {
                "workspace": {"name": self.workspace.name, "url": self.workspace.url},
                "project": ProjectSerializer(found).data,
                "versions": VersionSerializer(self.versions_of(found), many=True).data,
            }
        )

    @extend_schema(
        operation_id="project_update", summary="Change a project", request=ProjectUpdateBody, responses=ProjectResponse
    )
    def partial_update(self, request, ws, project):
        found = self.get_project(project)
        services.project_update(project=found, **parse(ProjectUpdateBody, self.body()))
        return Response({"project": ProjectSerializer(self.project_with_counts(found)).data})

    @extend_schema(
        operation_id="project_delete",
        summary="Delete a project, its images, versions and models",
        responses={200: DeletedResponse},
    )
    def destroy(self, request, ws, project):
        found = self.get_project(project)
        services.project_delete(project=found)
        return Response({"status": "deleted", "id": f"{self.workspace.url}/{found.slug}"})


class FolderViewSet(ResourceViewSet):
    required_scopes = {
        "list": "folder:read",
        "create": "folder:create",
        "retrieve": "folder:read",
        "partial_update": "folder:update",
        "destroy": "folder:delete",
        "add_projects": "folder:update",
        "remove_projects": "folder:update",
    }

    @extend_schema(operation_id="folders_list", summary="Project folders", responses=FolderListResponse)
    def list(self, request, ws):
        slugs: dict[int, list[str]] = {}
        for folder_id, slug in self.projects().filter(folder__isnull=False).values_list("folder_id", "slug"):
            slugs.setdefault(folder_id, []).append(slug)
        folders = [folder_with(f, slugs.get(f.pk, [])) for f in self.visible_folders()]
        return Response({"groups": FolderSerializer(folders, many=True).data})

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
        services.folder_delete(folder=self.get_folder(folder_id))
        return Response({"status": "deleted", "id": str(folder_id)})

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


class ImageViewSet(ResourceViewSet):
    required_scopes = {
        "upload": "image:create",
        "retrieve": "image:read",
        "file": "image:read",
        "search": "image:read",
        "tags": "image:tag",
        "bulk_destroy": "image:delete",
    }

    @extend_schema(
        operation_id="image_upload",
        summary="Upload an image",
        parameters=[UploadQuery],
        request={"multipart/form-data": UploadBody},
        responses=UploadResponse,
    )
    def upload(self, request, project):
        """`POST /dataset/:project/upload`, as the SDK sends it: multipart `file`, `name`,
        `split` and `metadata` (a JSON string); query `batch` and repeated `tag`."""
        refuse_oversize(request)
        found = self.get_project(project)
        query = parse(UploadQuery, request.query_params)
        data = parse(UploadBody, request.data)
        image, created = services.image_create(
            project=found,
            data=data["file"].read(),
            name=data["name"],
            split=data.get("split", Split.TRAIN),
            tags=query.get("tag", []),
            metadata=data.get("metadata", {}),
            batch=query.get("batch", ""),
        )
        if not created:
            return Response({"duplicate": True, "id": str(image.pk)})
        return Response({"success": True, "id": str(image.pk)})

    @extend_schema(operation_id="image_get", summary="An image's details", responses=ImageResponse)
    def retrieve(self, request, ws, project, image_id):
        return Response({"image": ImageSerializer(self.get_image(project, image_id)).data})

    @extend_schema(
        operation_id="image_download",
        summary="Download an image's file",
        responses={(200, "image/*"): OpenApiResponse(description="The image's bytes.")},
    )
    def file(self, request, ws, project, image_id):
        image = self.get_image(project, image_id)
        # Always an attachment of the verified image type, never what the uploader's name
        # suggests (a file named x.html would be a page of ours), and sandboxed besides.
        response = FileResponse(
            image.file.open("rb"), filename=image.name, as_attachment=True, content_type=image.media_type
        )
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cross-Origin-Resource-Policy"] = "same-origin"
        return response

    @extend_schema(
        operation_id="image_tags",
        summary="Add, remove or set an image's tags (and merge metadata)",
        request=TagsBody,
        responses=ImageResponse,
    )
    def tags(self, request, ws, project, image_id):
        image = self.get_image(project, image_id)
        data = parse(TagsBody, self.body())
        image = services.image_set_tags(
            image=image, operation=data["operation"], tags=data["tags"], metadata=data.get("metadata")
        )
        return Response({"image": ImageSerializer(image).data})

    @extend_schema(
        operation_id="images_delete",
        summary="Delete images: all or none",
        request=DeleteImagesBody,
        responses={200: ImagesDeletedResponse},
    )
    def bulk_destroy(self, request, ws, project):
        found = self.get_project(project)
        deleted = services.images_delete(project=found, image_ids=parse(DeleteImagesBody, self.body())["images"])
        return Response({"deleted": [str(i) for i in deleted]})

    @extend_schema(
        operation_id="images_search",
        summary="Search a project's images",
        request=SearchBody,
        responses=SearchResponse,
    )
    def search(self, request, ws, project):
        found = self.get_project(project)
        data = parse(SearchBody, self.body())
        images = Image.objects.filter(project=found).select_related("project__workspace")
        if "tag" in data:
            images = with_tag(images, data["tag"])
        if "split" in data:
            images = images.filter(split=data["split"])
        if "batch" in data:
            images = images.filter(batch=data["batch"])
        if "name" in data:
            images = images.filter(name__icontains=data["name"])
        total = images.count()
        page = images[data["offset"] : data["offset"] + data["limit"]]
        return Response(
            {
                "results": ImageSerializer(page, many=True).data,
                "total": total,
                "offset": data["offset"],
                "limit": data["limit"],
            }
        )


def with_tag(images, tag: str):
    if connection.features.supports_json_field_contains:
        return images.filter(tags__contains=[tag])
    # SQLite (the embedded default) cannot query inside JSON lists: filter the ids here.
    return images.filter(pk__in=[pk for pk, tags in images.values_list("pk", "tags") if tag in tags])


class VersionViewSet(ResourceViewSet):
    required_scopes = {"create": "version:create", "retrieve": "version:read", "destroy": "version:update"}

    def get_version(self, project: str, number: int) -> Version:
        found = self.get_project(project)
        version = Version.objects.select_related("project__workspace").filter(project=found, number=number).first()
        if version is None:
            raise exceptions.NotFound(f"No version {number} of this project.")
        return version

    @extend_schema(
        operation_id="version_generate",
        summary="Generate a version: a snapshot of the images",
        request=GenerateBody,
        responses={200: GeneratedResponse},
    )
    def create(self, request, ws, project):
        found = self.get_project(project)
        data = parse(GenerateBody, self.body())
        settings_ = {k: data[k] for k in ("preprocessing", "augmentation") if k in data}
        version = services.version_generate(project=found, settings=settings_, name=data.get("name", ""))
        version_id = f"{self.workspace.url}/{found.slug}/{version.number}"
        return Response({"message": "Generated", "version": version.number, "id": version_id})

    @extend_schema(operation_id="version_get", summary="A version", responses=VersionDetailResponse)
    def retrieve(self, request, ws, project, version):
        found = self.get_version(project, version)
        return Response(
            {
                "workspace": {"name": self.workspace.name, "url": self.workspace.url},
                "project": ProjectSerializer(self.project_with_counts(found.project)).data,
                "version": VersionSerializer(found).data,
            }
        )

    @extend_schema(
        operation_id="version_delete", summary="Delete a version (its images stay)", responses={200: DeletedResponse}
    )
    def destroy(self, request, ws, project, version):
        found = self.get_version(project, version)
        version_id = f"{self.workspace.url}/{found.project.slug}/{found.number}"
        services.version_delete(version=found)
        return Response({"status": "deleted", "id": version_id})


class ModelViewSet(ResourceViewSet):
    required_scopes = {
        "list": "project:read",
        "create": "model:deploy",
        "partial_update": "model:manage",
        "destroy": "model:manage",
    }

    def get_model(self, project: str, model_id: int) -> Model:
        found = self.get_project(project)
        model = Model.objects.select_related("project", "version").filter(project=found, pk=model_id).first()
        if model is None:
            raise exceptions.NotFound(f"No model {model_id} in this project.")
        return model

    @extend_schema(operation_id="models_list", summary="A project's models", responses=ModelListResponse)
    def list(self, request, ws, project):
        found = self.get_project(project)
        return Response({"models": ModelSerializer(found.models.select_related("version"), many=True).data})

    @extend_schema(
        operation_id="models_upload",
        summary="Upload model weights",
        request={"multipart/form-data": ModelUploadBody},
        responses={201: ModelResponse},
    )
    def create(self, request, ws, project):
        refuse_oversize(request)
        found = self.get_project(project)
        data = parse(ModelUploadBody, request.data)
        model = services.model_create(
            project=found,
            name=data["name"],
            type=data["type"],
            upload=data["weights"],
            version=self.version_of(found, data.get("version")),
        )
        return Response({"model": ModelSerializer(model).data}, status=201)

    @extend_schema(
        operation_id="model_update", summary="Change a model", request=ModelUpdateBody, responses=ModelResponse
    )
    def partial_update(self, request, ws, project, model_id):
        model = self.get_model(project, model_id)
        data = parse(ModelUpdateBody, self.body())
        if "version" in data:
            data["version"] = self.version_of(model.project, data["version"])
        return Response({"model": ModelSerializer(services.model_update(model=model, **data)).data})

    @extend_schema(
        operation_id="model_delete", summary="Delete a model and its weights", responses={200: DeletedResponse}
    )
    def destroy(self, request, ws, project, model_id):
        services.model_delete(model=self.get_model(project, model_id))
        return Response({"status": "deleted", "id": str(model_id)})

    @staticmethod
    def version_of(project: Project, number: int | None) -> Version | None:
        if number is None:
            return None
        version = project.versions.filter(number=number).first()
        if version is None:
            raise exceptions.ValidationError({"version": [f"No version {number} of this project."]})
        return version
