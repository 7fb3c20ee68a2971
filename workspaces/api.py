"""The workspace resource API: workspace, projects, folders, images, versions, models, one
viewset each (routes: `workspaces.api_urls`).

Roboflow-shaped, so that the official SDK works unchanged. Every viewset is a ScopedViewSet:
it declares its scope per action, and reaches projects only through `self.projects()`, which
is already limited to the caller's workspace and folders; anything else is a 404.
"""

from typing import BinaryIO, cast
from urllib.parse import urlencode

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiRequest,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions
from rest_framework.response import Response

from apikeys.authentication import LINK_MAX_AGE, link_token
from apikeys.exceptions import PayloadTooLarge
from apikeys.fields import MAX_ID_DIGITS, is_ascii_id, iso
from apikeys.parsers import SafeFormParser, SafeJSONParser, SafeMultiPartParser
from apikeys.permissions import caller_holds, require
from apikeys.services import Actor
from apikeys.viewsets import ScopedViewSet

from . import exports, search, services
from .annotations import Annotation, AnnotationError, parse_annotation
from .models import (
    CLASSIFICATION_TYPES,
    MEDIA_TYPES,
    TRASH_RETENTION,
    Folder,
    Image,
    Model,
    Plan,
    Project,
    Split,
    Version,
)
from .prepared import prepared
from .reports import project_health, usage_report
from .serializers import (
    DEFAULT_SEARCH_FIELDS,
    AnnotateBody,
    AnnotatedResponse,
    AnnotateQuery,
    DeletedResponse,
    DeleteImagesBody,
    ExportResponse,
    FolderBody,
    FolderListResponse,
    FolderProjectsBody,
    FolderRenameBody,
    FolderResponse,
    FolderSerializer,
    GenerateBody,
    GeneratedResponse,
    HealthQuery,
    HealthResponse,
    ImageMetadataBody,
    ImageResponse,
    ImagesDeletedResponse,
    ImageSerializer,
    MemberSerializer,
    ModelListResponse,
    ModelResponse,
    ModelSerializer,
    ModelUpdateBody,
    ModelUploadBody,
    PlanResponse,
    ProjectCreateBody,
    ProjectDetailResponse,
    ProjectResponse,
    ProjectSerializer,
    ProjectUpdateBody,
    SearchBody,
    SearchResponse,
    StatsQuery,
    StatsResponse,
    TagsBody,
    TrashedResponse,
    TrashResponse,
    TrashRestoreBody,
    UploadBody,
    UploadQuery,
    UploadResponse,
    UsageResponse,
    VersionDetailResponse,
    VersionSerializer,
    WorkspaceImagesDeletedResponse,
    WorkspaceResponse,
    WorkspaceSearchBody,
    WorkspaceSearchResponse,
    counted_projects,
    folder_with,
    parse,
    project_versions,
    reachable_projects,
    search_result,
    workspace_members,
)

FOLDER_LIMITED_CREATE = "This key is limited to some folders; name one of them as folderId."
FOLDER_LIMITED_FOLDERS = "A key limited to some folders cannot create or rename folders."
TOO_LARGE = "The file is larger than the {limit} bytes this server accepts."


# The upload routes take multipart bodies (and forms), as the SDK sends them; a JSON body to
# the weights upload is read too, to say what is missing. Everything else takes JSON.
UPLOAD_PARSERS = [SafeMultiPartParser, SafeFormParser]
WEIGHTS_PARSERS = [SafeMultiPartParser, SafeFormParser, SafeJSONParser]
# The parts of the upload form that are not text: the image (of a type it is read as) and its
# metadata (a JSON object).
UPLOAD_ENCODING = {
    "file": {"contentType": ", ".join(sorted(MEDIA_TYPES.values()))},
    "metadata": {"contentType": "application/json"},
}
EXPORT_FORMAT = OpenApiParameter(
    "export_format", str, OpenApiParameter.PATH, enum=sorted(exports.FORMATS), description="The export's format."
)


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

    def versions_of(self, project: Project, number: int | None = None) -> list[Version]:
        versions = prepared(project_versions, project=project.pk, number=number)
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
        summary="Move a project to the trash (restorable for 30 days, then purged)",
        responses={200: TrashedResponse},
    )
    def destroy(self, request, ws, project):
        found = self.get_project(project)
        trashed = services.project_trash(project=found, by=Actor.from_request(request).label)
        return Response({"deleted": True, **trash_item(trashed)})


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
        "annotate": "image:annotate",
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
        request={"multipart/form-data": OpenApiRequest(UploadBody, encoding=UPLOAD_ENCODING)},
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

    @extend_schema(
        operation_id="image_annotate",
        summary="Save an image's annotation (COCO, Pascal VOC, YOLO or CreateML; a class name)",
        parameters=[AnnotateQuery],
        request=AnnotateBody,
        responses=AnnotatedResponse,
    )
    def annotate(self, request, project, image_id):
        """`POST /dataset/:project/annotate/:image_id`, as the SDK sends it: the file's text and
        labelmap in a JSON body, its name (whose extension says the format) in the query."""
        sent = self.body()  # a body of another media type is a 415 before anything else
        found = self.get_project(project)
        body = parse(AnnotateBody, sent)
        query = parse(AnnotateQuery, request.query_params)
        image = self.get_image(found.slug, image_id)
        try:
            annotation = parse_annotation(
                name=query["name"],
                text=body["annotationFile"],
                labelmap=body.get("labelmap"),
                image_name=image.name,
                width=image.width,
                height=image.height,
                classification=found.type in CLASSIFICATION_TYPES,
            )
        except AnnotationError as exc:
            raise exceptions.ValidationError({"annotationFile": [str(exc)]}) from None
        image = services.image_annotate(
            image=image,
            annotation=annotation,
            overwrite=query.get("overwrite", False),
            prediction=query.get("prediction", False),
            job=query.get("jobName", ""),
        )
        return Response({"success": True, "id": str(image.pk), "annotation": image.annotation})

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
        tags = {
            "add": {"add_tags": data["tags"]},
            "remove": {"remove_tags": data["tags"]},
            "set": {"set_tags": data["tags"]},
        }
        image = services.image_update(image=image, metadata=data.get("metadata"), **tags[data["operation"]])
        return Response({"image": ImageSerializer(image).data})

    @extend_schema(
        operation_id="images_delete",
        summary="Delete images: all or none",
        request=DeleteImagesBody,
        responses={200: ImagesDeletedResponse},
    )
    def bulk_destroy(self, request, ws, project):
        found = self.get_project(project)
        ids = parse(DeleteImagesBody, self.body())["images"]
        images = list(Image.objects.filter(project=found, pk__in=ids))
        missing = sorted(set(ids) - {i.pk for i in images})
        if missing:  # all or nothing
            raise exceptions.NotFound(f"No image {', '.join(map(str, missing))} in this project.")
        deleted = services.images_delete(images=images)
        return Response({"deleted": [str(i) for i in deleted]})

    @extend_schema(
        operation_id="images_search",
        summary="Search a project's images",
        request=SearchBody,
        responses=SearchResponse,
    )
    def search(self, request, ws, project):
        """`project.search()`: the SDK's filters (`tag`, `class_name`, `batch_id`, `in_dataset`,
        `fields`) and ours (`split`, `name`). Whole images unless `fields` names some."""
        found = self.get_project(project)
        data = parse(SearchBody, self.body())
        images = Image.objects.filter(project=found).select_related("project__workspace")
        terms = [
            search.Term(key, data[field])
            for field, key in (("tag", "tag"), ("class_name", "class"), ("split", "split"), ("batch_id", "batch"))
            if data.get(field) is not None
        ]
        images = search.apply(images, terms)
        if "name" in data:
            images = images.filter(name__icontains=data["name"])
        if data.get("batch") or data.get("in_dataset") is False or data.get("mediaTypes") == ["video"]:
            images = images.none()  # every image here is in the dataset, none in a batch; no videos
        total = images.count()
        page = images[data["offset"] : data["offset"] + data["limit"]]
        fields = data.get("fields")
        results = ImageSerializer(page, many=True).data if fields is None else [search_result(i, fields) for i in page]
        return Response({"results": results, "total": total, "offset": data["offset"], "limit": data["limit"]})


class WorkspaceImageViewSet(ResourceViewSet):
    """Images by id across the workspace (`roboflow image metadata`, `image delete`, `image
    search`): only those of projects the caller may reach; any other id is not there."""

    required_scopes = {"search": "image:read", "metadata": "image:tag", "bulk_destroy": "image:delete"}

    def reachable_images(self):
        return Image.objects.filter(project__in=self.projects()).select_related("project__workspace")

    @extend_schema(
        operation_id="workspace_search",
        summary="Search the workspace's images (`tag:night project:cats aisle`)",
        request=WorkspaceSearchBody,
        responses=WorkspaceSearchResponse,
    )
    def search(self, request, ws):
        data = parse(WorkspaceSearchBody, self.body())
        try:
            terms = search.parse_query(data["query"])
        except search.QueryError as exc:
            raise exceptions.ValidationError({"query": [str(exc)]}) from None
        images = search.apply(self.reachable_images(), terms)
        if data.get("mediaTypes") == ["video"]:
            images = images.none()  # no videos here
        offset = int(data.get("continuationToken") or 0)
        size = data["pageSize"]
        total = images.count()
        page = list(images[offset : offset + size])
        fields = data.get("fields", DEFAULT_SEARCH_FIELDS)
        after = offset + len(page)
        return Response(
            {
                "results": [search_result(i, fields) for i in page],
                "total": total,
                "continuationToken": str(after) if after < total else None,
            }
        )

    @extend_schema(
        operation_id="image_metadata",
        summary="Change an image's metadata and tags",
        request=ImageMetadataBody,
        responses=ImageResponse,
    )
    def metadata(self, request, ws, image_id):
        image = self.reachable_images().filter(pk=image_id).first()
        if image is None:
            raise exceptions.NotFound(f"No image {image_id} in this workspace.")
        data = parse(ImageMetadataBody, self.body())
        image = services.image_update(
            image=image,
            add_tags=data.get("addTags", ()),
            remove_tags=data.get("removeTags", ()),
            metadata=data.get("metadata"),
            remove_metadata=data.get("removeMetadata", ()),
        )
        return Response({"success": True, "image": ImageSerializer(image).data})

    @extend_schema(
        operation_id="workspace_images_delete",
        summary="Delete images by id; ids this key cannot reach are skipped",
        request=DeleteImagesBody,
        responses={200: WorkspaceImagesDeletedResponse},
    )
    def bulk_destroy(self, request, ws):
        ids = parse(DeleteImagesBody, self.body())["images"]
        deleted = len(services.images_delete(images=list(self.reachable_images().filter(pk__in=ids))))
        skipped = len(set(ids)) - deleted
        return Response({"deleted": deleted, "skipped": skipped, "deletedSources": deleted, "skippedSources": skipped})


class VersionViewSet(ResourceViewSet):
    required_scopes = {
        "create": "version:create",
        "retrieve": "version:read",
        "export": "version:read",
        "download": "version:read",
        "destroy": "version:update",
    }

    def get_version(self, project: str, number: int) -> Version:
        """The version, with the counts VersionSerializer reads."""
        found = self.get_project(project, counted=True)
        versions = self.versions_of(found, number)
        if not versions:
            raise exceptions.NotFound(f"No version {number} of this project.")
        return versions[0]

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
                "project": ProjectSerializer(found.project).data,
                "version": VersionSerializer(found).data,
            }
        )

    @extend_schema(
        operation_id="version_export",
        summary="Export a version: a link to its zip (coco, yolov8 and kin, voc)",
        parameters=[EXPORT_FORMAT],
        responses={200: ExportResponse},
    )
    def export(self, request, ws, project, version, export_format):
        format = export_format  # (DRF reads a `format` argument as a renderer suffix)
        found = self.get_version(project, version)
        if format not in exports.FORMATS:
            raise exceptions.ValidationError({"format": [str(exports.UnknownFormat(format))]})
        services.version_record_export(version=found, format=format)
        path = f"/{self.workspace.url}/{found.project.slug}/{found.number}/{format}/download"
        link = request.build_absolute_uri(path) + "?" + urlencode({"token": link_token(request, path)})
        return Response({"export": {"link": link, "format": format, "expiresIn": LINK_MAX_AGE}})

    @extend_schema(
        operation_id="version_download",
        summary="The zip of an export (the link the export answered with)",
        parameters=[EXPORT_FORMAT],
        responses={(200, "application/zip"): OpenApiResponse(description="The dataset, as a zip.")},
    )
    def download(self, request, ws, project, version, export_format):
        format = export_format
        found = self.get_version(project, version)
        if format not in exports.FORMATS:
            raise exceptions.NotFound(f"No export in {format!r}.")
        images = Image.objects.filter(versions=found).order_by("split", "pk")
        archive = exports.build_export(
            format=format,
            project_name=found.project.name,
            version=found.number,
            images=(export_image(image) for image in images.iterator(chunk_size=500)),
            classes=sorted(found.project.classes),
        )
        name = f"{found.project.slug}-{found.number}-{format}.zip"
        response = FileResponse(archive, as_attachment=True, filename=name, content_type="application/zip")
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response

    @extend_schema(
        operation_id="version_delete",
        summary="Move a version to the trash (its images stay; restorable for 30 days)",
        responses={200: TrashedResponse},
    )
    def destroy(self, request, ws, project, version):
        found = self.get_version(project, version)
        trashed = services.version_trash(version=found, by=Actor.from_request(request).label)
        return Response({"deleted": True, **trashed_version(trashed)})


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
        version = project.versions.live().filter(number=number).first()
        if version is None:
            raise exceptions.ValidationError({"version": [f"No version {number} of this project."]})
        return version


def trashed(item: Project | Version) -> dict:
    return {
        "deletedAt": iso(item.deleted_at),
        "deletedBy": item.deleted_by,
        "scheduledCleanupAt": iso(item.deleted_at + TRASH_RETENTION) if item.deleted_at else None,
    }


def trash_item(project: Project) -> dict:
    """A project in the trash, as `roboflow trash list` and `project restore` read it."""
    return {"type": "project", "id": str(project.pk), "name": project.name, "url": project.slug, **trashed(project)}


def trashed_version(version: Version) -> dict:
    """A version in the trash, as `roboflow version restore` finds it: by its number (`id`)
    and its project's url (`parentUrl`)."""
    project = version.project
    return {
        "type": "version",
        "id": str(version.number),
        "name": version.name or f"{project.name} {version.number}",
        "parentId": str(project.pk),
        "parentUrl": project.slug,
        "parentName": project.name,
        **trashed(version),
    }


def export_image(image: Image) -> exports.ExportImage:
    boxes = Annotation.from_json(image.annotation).boxes if image.annotation else ()
    return exports.ExportImage(
        id=image.pk,
        name=image.name,
        split=image.split,
        width=image.width,
        height=image.height,
        open=lambda: cast(BinaryIO, image.file.open("rb")),
        boxes=tuple(exports.ExportBox(b.label, b.x, b.y, b.width, b.height) for b in boxes),
        annotated=image.annotated,
    )


class TrashViewSet(ResourceViewSet):
    """Deleted projects, for TRASH_RETENTION (then `manage.py purge_trash` deletes them for
    good): guarded by the scope that deletes them."""

    required_scopes = {"list": "project:update", "restore": "project:update"}

    def trashed_projects(self):
        return Project.objects.reachable(self.workspace.pk, self.folder_limit(), in_trash=True)

    def trashed_versions(self):
        live = self.projects()
        return Version.objects.filter(project__in=live, deleted_at__isnull=False).select_related("project")

    @extend_schema(operation_id="trash_list", summary="What is in the trash", responses=TrashResponse)
    def list(self, request, ws):
        projects = [trash_item(p) for p in self.trashed_projects().order_by("-deleted_at", "-pk")]
        versions = [trashed_version(v) for v in self.trashed_versions().order_by("-deleted_at", "-pk")]
        items = sorted(projects + versions, key=lambda item: item["deletedAt"], reverse=True)
        return Response({"items": items, "sections": {"projects": projects, "versions": versions, "workflows": []}})

    @extend_schema(
        operation_id="trash_restore",
        summary="Restore a project or a version from the trash",
        request=TrashRestoreBody,
        responses=TrashedResponse,
    )
    def restore(self, request, ws):
        data = parse(TrashRestoreBody, self.body())
        if data["type"] == "project":
            project = self.trashed_projects().filter(pk=data["id"]).first()
            if project is None:
                raise exceptions.NotFound(f"No project {data['id']} in the trash.")
            return Response({"restored": True, **trash_item(services.project_restore(project=project))})
        # A version: the body's `type` is one of RESTORABLE.
        require(request, self, "version:update")  # what deleting it needed
        parent = data.get("parentId")
        version = self.trashed_versions().filter(number=data["id"], project_id=parent).first() if parent else None
        if version is None:
            raise exceptions.NotFound(f"No version {data['id']} of project {parent} in the trash.")
        return Response({"restored": True, **trashed_version(services.version_restore(version=version))})


class ReportViewSet(ResourceViewSet):
    """What the workspace holds and uses: `roboflow workspace stats / plan / usage`, `project
    health`. Counted live, over the projects the caller may reach."""

    required_scopes = {
        "stats": "workspace:read",
        "plan": "workspace:read",
        "usage": "usage:read",
        "health": "project:read",
    }

    @extend_schema(
        operation_id="workspace_stats",
        summary="Counts of the workspace's projects, images, versions and models",
        parameters=[StatsQuery],
        responses=StatsResponse,
    )
    def stats(self, request, ws):
        query = parse(StatsQuery, request.query_params)
        start, end = query["startDate"], query["endDate"]
        projects = self.projects()
        images = Image.objects.filter(project__in=projects)
        versions = Version.objects.live().filter(project__in=projects)
        within = {"created__date__gte": start, "created__date__lte": end}
        stats = {
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "projects": projects.count(),
            "images": images.count(),
            "annotatedImages": images.filter(annotated=True).count(),
            "imagesUploaded": images.filter(**within).count(),
            "versions": versions.count(),
            "versionsGenerated": versions.filter(**within).count(),
            "models": Model.objects.filter(project__in=projects).count(),
        }
        if caller_holds(request, self, "api-key:read"):
            stats["apiKeys"] = self.workspace.api_keys.live().count()
        return Response({"stats": stats})

    @extend_schema(operation_id="workspace_plan", summary="The workspace's plan and its limits", responses=PlanResponse)
    def plan(self, request):
        plan = Plan(self.workspace.plan)
        return Response(
            {
                "plan": {
                    "workspace": self.workspace.url,
                    "name": plan.value,
                    "label": plan.label,
                    "scopedKeys": plan == Plan.ENTERPRISE,
                    "apiRateLimit": settings.API_RATE_LIMIT,
                    "maxUploadBytes": settings.MAX_UPLOAD_BYTES,
                }
            }
        )

    @extend_schema(
        operation_id="workspace_usage", summary="API calls per key and day", request=None, responses=UsageResponse
    )
    def usage(self, request, ws):
        return Response({"usage": usage_report(self.workspace)})

    @extend_schema(
        operation_id="project_health",
        summary="A project's health: class balance, annotation coverage, image sizes",
        parameters=[HealthQuery],
        responses=HealthResponse,
    )
    def health(self, request, ws, project):
        parse(HealthQuery, request.query_params)  # `regenerate`: it is always computed afresh
        found = self.get_project(project, counted=True)
        return Response({"health": project_health(found)})
