"""The workspace resource API: workspace, projects, folders, images, versions, models.

Roboflow-shaped, so that the official SDK works unchanged. Every view is a WorkspaceAPIView:
it declares its scope per method, and reaches projects only through `self.projects()`, which
is already limited to the caller's workspace and folders; anything else is a 404.
"""

import json
import zlib
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from apikeys.api import WorkspaceAPIView
from apikeys.parsers import NUL_REFUSED, SafeJSONParser, has_nul, is_ascii_id
from apikeys.serializers import IdField, StrictBooleanField, StrictCharField, StrictSerializer

from . import services
from .models import Folder, Image, Membership, Model, Project, ProjectType, Split, Version

MAX_TAGS = 50
TAG_MAX = 100
SEARCH_LIMIT_MAX = 250
FOLDER_LIMITED_CREATE = "This key is limited to some folders; name one of them as folderId."
FOLDER_LIMITED_FOLDERS = "A key limited to some folders cannot create or rename folders."
TOO_LARGE = "The file is larger than the {limit} bytes this server accepts."


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"


# Wire shapes ---------------------------------------------------------------------------


def class_color(name: str) -> str:
    return f"#{zlib.crc32(name.encode()) & 0xFFFFFF:06X}"


def with_counts(projects):
    """Projects annotated with the counts the SDK reads: one join on images (so no row
    explosion across images and versions) and a subquery for versions."""
    versions = Version.objects.filter(project=OuterRef("pk")).order_by().values("project").annotate(n=Count("pk"))
    return projects.select_related("workspace", "folder").annotate(
        image_count=Count("images"),
        unannotated_count=Count("images", filter=Q(images__annotated=False)),
        train_count=Count("images", filter=Q(images__split=Split.TRAIN)),
        valid_count=Count("images", filter=Q(images__split=Split.VALID)),
        test_count=Count("images", filter=Q(images__split=Split.TEST)),
        version_count=Coalesce(Subquery(versions.values("n")), 0),
    )


def project_json(project: Any) -> dict:
    """A project as the SDK reads it (`Project.__init__`); `project` carries the counts of `with_counts`."""
    return {
        "id": f"{project.workspace.url}/{project.slug}",
        "name": project.name,
        "type": project.type,
        "annotation": project.annotation,
        "classes": project.classes,
        "colors": {name: class_color(name) for name in project.classes},
        "created": project.created.timestamp(),
        "updated": project.updated.timestamp(),
        "images": project.image_count,
        "unannotated": project.unannotated_count,
        "splits": {"train": project.train_count, "valid": project.valid_count, "test": project.test_count},
        "versions": project.version_count,
        "public": project.public,
        "license": project.license,
        "multilabel": project.type == ProjectType.MULTI_LABEL,
        "folderId": str(project.folder_id) if project.folder_id else None,
    }


def image_json(image: Image) -> dict:
    project = image.project
    return {
        "id": str(image.pk),
        "name": image.name,
        "split": image.split,
        "width": image.width,
        "height": image.height,
        "tags": image.tags,
        "metadata": image.metadata,
        "batch": image.batch,
        "annotated": image.annotated,
        "created": image.created.timestamp(),
        "url": f"/{project.workspace.url}/{project.slug}/images/{image.pk}/file",
    }


def version_json(version: Version) -> dict:
    project = version.project
    return {
        "id": f"{project.workspace.url}/{project.slug}/{version.number}",
        "version": version.number,
        "name": version.name,
        "images": version.images.count(),
        "settings": version.settings,
        "created": version.created.timestamp(),
    }


def model_json(model: Model) -> dict:
    return {
        "id": str(model.pk),
        "name": model.name,
        "type": model.type,
        "version": model.version.number if model.version else None,
        "size": model.weights.size if model.weights else 0,
        "created": model.created.timestamp(),
        "updated": model.updated.timestamp(),
    }


def folder_json(folder: Folder, project_slugs: list[str]) -> dict:
    return {"id": str(folder.pk), "name": folder.name, "projects": project_slugs, "created": folder.created.timestamp()}


# Request bodies ------------------------------------------------------------------------


class ProjectCreateBody(StrictSerializer):
    name = StrictCharField(max_length=100)
    type = serializers.ChoiceField(choices=ProjectType.values)
    annotation = StrictCharField(max_length=100)
    license = StrictCharField(max_length=50, required=False, allow_blank=True)
    folderId = IdField(required=False)


class ProjectUpdateBody(StrictSerializer):
    name = StrictCharField(max_length=100, required=False)
    annotation = StrictCharField(max_length=100, required=False)
    license = StrictCharField(max_length=50, required=False, allow_blank=True)
    public = StrictBooleanField(required=False)
    classes = serializers.DictField(child=serializers.IntegerField(min_value=0), required=False)


class FolderBody(StrictSerializer):
    name = StrictCharField(max_length=100)
    projects = serializers.ListField(child=StrictCharField(max_length=50), required=False, max_length=500)


class FolderProjectsBody(StrictSerializer):
    projects = serializers.ListField(child=StrictCharField(max_length=50), min_length=1, max_length=500)


class TagsBody(StrictSerializer):
    operation = serializers.ChoiceField(choices=["add", "remove", "set"], default="add")
    tags = serializers.ListField(child=StrictCharField(max_length=TAG_MAX), max_length=MAX_TAGS)
    metadata = serializers.DictField(required=False)


class SearchBody(StrictSerializer):
    tag = StrictCharField(max_length=TAG_MAX, required=False)
    split = serializers.ChoiceField(choices=Split.values, required=False)
    batch = StrictCharField(max_length=100, required=False)
    name = StrictCharField(max_length=255, required=False, help_text="Part of the image name.")
    limit = serializers.IntegerField(min_value=1, max_value=SEARCH_LIMIT_MAX, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=10**9, default=0)


class DeleteImagesBody(StrictSerializer):
    images = serializers.ListField(child=IdField(), min_length=1, max_length=1000)


class GenerateBody(StrictSerializer):
    name = StrictCharField(max_length=100, required=False, allow_blank=True)
    preprocessing = serializers.DictField(required=False)
    augmentation = serializers.DictField(required=False)


class ModelUpdateBody(StrictSerializer):
    name = StrictCharField(max_length=100, required=False)
    type = StrictCharField(max_length=50, required=False)
    version = serializers.IntegerField(min_value=1, required=False, allow_null=True)


def parse(serializer_class, data) -> dict:
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data


# Views ---------------------------------------------------------------------------------


class ResourceAPIView(WorkspaceAPIView):
    schema_tags = ["Workspace"]

    def get_project(self, slug: str) -> Project:
        project = self.projects().select_related("workspace").filter(slug=slug).first()
        if project is None:
            raise exceptions.NotFound(f"No project {slug!r} in this workspace.")
        return project

    def project_with_counts(self, project: Project) -> Project:
        return with_counts(Project.objects.filter(pk=project.pk)).get()

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


class WorkspaceView(ResourceAPIView):
    required_scopes = {"get": "workspace:read"}

    @extend_schema(operation_id="workspace_get", summary="The workspace, its members and projects", responses=dict)
    def get(self, request, ws):
        members = Membership.objects.filter(workspace=self.workspace).select_related("user").order_by("user__username")
        return Response(
            {
                "workspace": {
                    "name": self.workspace.name,
                    "url": self.workspace.url,
                    "plan": self.workspace.plan,
                    "members": [{"id": str(m.user_id), "email": m.user.email, "role": m.role} for m in members],
                    "projects": [project_json(p) for p in with_counts(self.projects())],
                }
            }
        )


class ProjectListView(ResourceAPIView):
    required_scopes = {"post": "project:create"}

    @extend_schema(
        operation_id="projects_create", summary="Create a project", request=ProjectCreateBody, responses={201: dict}
    )
    def post(self, request, ws):
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
        return Response(project_json(self.project_with_counts(project)), status=201)


class ProjectDetailView(ResourceAPIView):
    required_scopes = {"get": "project:read", "patch": "project:update", "delete": "project:update"}

    @extend_schema(operation_id="project_get", summary="A project and its versions", responses=dict)
    def get(self, request, ws, project):
        found = self.get_project(project)
        return Response(
            {
                "workspace": {"name": self.workspace.name, "url": self.workspace.url},
                "project": project_json(self.project_with_counts(found)),
                "versions": [version_json(v) for v in found.versions.select_related("project__workspace")],
            }
        )

    @extend_schema(operation_id="project_update", summary="Change a project", request=ProjectUpdateBody, responses=dict)
    def patch(self, request, ws, project):
        found = self.get_project(project)
        changes = parse(ProjectUpdateBody, self.body())
        services.project_update(project=found, **changes)
        return Response({"project": project_json(self.project_with_counts(found))})

    @extend_schema(
        operation_id="project_delete", summary="Delete a project, its images, versions and models", responses=dict
    )
    def delete(self, request, ws, project):
        found = self.get_project(project)
        services.project_delete(project=found)
        return Response({"status": "deleted", "id": f"{self.workspace.url}/{found.slug}"})


class FolderListView(ResourceAPIView):
    required_scopes = {"get": "folder:read", "post": "folder:create"}

    def slugs_by_folder(self) -> dict[int, list[str]]:
        result: dict[int, list[str]] = {}
        for folder_id, slug in self.projects().filter(folder__isnull=False).values_list("folder_id", "slug"):
            result.setdefault(folder_id, []).append(slug)
        return result

    @extend_schema(operation_id="folders_list", summary="Project folders", responses=dict)
    def get(self, request, ws):
        slugs = self.slugs_by_folder()
        return Response({"groups": [folder_json(f, slugs.get(f.pk, [])) for f in self.visible_folders()]})

    @extend_schema(operation_id="folders_create", summary="Create a folder", request=FolderBody, responses={201: dict})
    def post(self, request, ws):
        if self.folder_limit() is not None:
            raise exceptions.PermissionDenied(FOLDER_LIMITED_FOLDERS)
        data = parse(FolderBody, self.body())
        projects = self.projects_named(data.get("projects", []))
        folder = services.folder_create(workspace=self.workspace, name=data["name"], projects=projects)
        return Response({"group": folder_json(folder, sorted(p.slug for p in projects))}, status=201)


class FolderDetailView(ResourceAPIView):
    required_scopes = {"get": "folder:read", "patch": "folder:update", "delete": "folder:delete"}

    def render(self, folder: Folder) -> Response:
        slugs = sorted(self.projects().filter(folder=folder).values_list("slug", flat=True))
        return Response({"group": folder_json(folder, slugs)})

    @extend_schema(operation_id="folder_get", summary="A folder and its projects", responses=dict)
    def get(self, request, ws, folder_id):
        return self.render(self.get_folder(folder_id))

    @extend_schema(operation_id="folder_rename", summary="Rename a folder", request=FolderBody, responses=dict)
    def patch(self, request, ws, folder_id):
        folder = self.get_folder(folder_id)
        if self.folder_limit() is not None:  # the answer could reveal other folders' names
            raise exceptions.PermissionDenied(FOLDER_LIMITED_FOLDERS)
        data = parse(FolderBody, self.body())
        if "projects" in data:
            raise exceptions.ValidationError({"projects": ["Move projects with /groups/<id>/projects."]})
        return self.render(services.folder_rename(folder=folder, name=data["name"]))

    @extend_schema(operation_id="folder_delete", summary="Delete a folder (its projects stay)", responses=dict)
    def delete(self, request, ws, folder_id):
        folder = self.get_folder(folder_id)
        services.folder_delete(folder=folder)
        return Response({"status": "deleted", "id": str(folder_id)})


class FolderProjectsView(ResourceAPIView):
    required_scopes = {"patch": "folder:update", "delete": "folder:update"}

    def move(self, folder_id, into: bool) -> Response:
        folder = self.get_folder(folder_id)
        projects = self.projects_named(parse(FolderProjectsBody, self.body())["projects"])
        services.folder_move_projects(folder=folder, projects=projects, into=into)
        slugs = sorted(self.projects().filter(folder=folder).values_list("slug", flat=True))
        return Response({"group": folder_json(folder, slugs)})

    @extend_schema(
        operation_id="folder_add_projects",
        summary="Move projects into a folder",
        request=FolderProjectsBody,
        responses=dict,
    )
    def patch(self, request, ws, folder_id):
        return self.move(folder_id, into=True)

    @extend_schema(
        operation_id="folder_remove_projects",
        summary="Take projects out of a folder",
        request=FolderProjectsBody,
        responses=dict,
    )
    def delete(self, request, ws, folder_id):
        return self.move(folder_id, into=False)


class ImageUploadView(ResourceAPIView):
    """`POST /dataset/:project/upload`, as the SDK sends it: multipart `file`, `name`, `split`
    and `metadata` (a JSON string); query `batch` and repeated `tag`."""

    required_scopes = {"post": "image:create"}
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(operation_id="image_upload", summary="Upload an image", request=None, responses=dict)
    def post(self, request, project):
        limit = settings.MAX_UPLOAD_BYTES
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit + 64 * 1024:
            raise PayloadTooLarge(TOO_LARGE.format(limit=limit))
        found = self.get_project(project)
        upload = request.FILES.get("file")
        if upload is None:
            raise exceptions.ValidationError({"file": ["Send the image as the multipart field 'file'."]})
        if upload.size > limit:
            raise PayloadTooLarge(TOO_LARGE.format(limit=limit))
        fields = [request.data.get(f) or "" for f in ("name", "split", "metadata")]
        if has_nul([*fields, *request.query_params.getlist("tag"), request.query_params.get("batch", "")]):
            raise exceptions.ValidationError({"file": [NUL_REFUSED]})
        split = request.data.get("split") or Split.TRAIN
        if split not in Split.values:
            raise exceptions.ValidationError({"split": [f"Must be one of {', '.join(Split.values)}."]})
        name = ((request.data.get("name") or "").strip() or upload.name or "image")[:255]
        tags = request.query_params.getlist("tag")
        batch = request.query_params.get("batch", "")
        if len(tags) > MAX_TAGS or any(len(t) > TAG_MAX or not t for t in tags):
            raise exceptions.ValidationError({"tag": [f"At most {MAX_TAGS} tags of 1 to {TAG_MAX} characters."]})
        if len(batch) > 100:
            raise exceptions.ValidationError({"batch": ["At most 100 characters."]})
        metadata = self.metadata(request.data.get("metadata"))
        try:
            image, created = services.image_create(
                project=found, data=upload.read(), name=name, split=split, tags=tags, metadata=metadata, batch=batch
            )
        except DjangoValidationError as exc:
            if exc.code == "not_an_image":
                raise exceptions.ValidationError({"file": exc.messages}) from None
            raise
        if not created:
            return Response({"duplicate": True, "id": str(image.pk)})
        return Response({"success": True, "id": str(image.pk)})

    @staticmethod
    def metadata(raw) -> dict:
        if raw in (None, ""):
            return {}
        try:
            value = json.loads(raw, parse_constant=_refuse_constant)
        except (TypeError, ValueError, RecursionError):
            raise exceptions.ValidationError({"metadata": ["Must be a JSON object."]}) from None
        if not isinstance(value, dict) or len(value) > 100:
            raise exceptions.ValidationError({"metadata": ["Must be a JSON object of at most 100 entries."]})
        if has_nul(value):
            raise exceptions.ValidationError({"metadata": [NUL_REFUSED]})
        return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class ImageAPIView(ResourceAPIView):
    def get_image(self, project: str, image_id: int) -> Image:
        found = self.get_project(project)
        image = Image.objects.select_related("project__workspace").filter(project=found, pk=image_id).first()
        if image is None:
            raise exceptions.NotFound(f"No image {image_id} in this project.")
        return image


class ImageDetailView(ImageAPIView):
    required_scopes = {"get": "image:read"}

    @extend_schema(operation_id="image_get", summary="An image's details", responses=dict)
    def get(self, request, ws, project, image_id):
        return Response({"image": image_json(self.get_image(project, image_id))})


class ImageFileView(ImageAPIView):
    required_scopes = {"get": "image:read"}

    @extend_schema(
        operation_id="image_download", summary="Download an image's file", responses={(200, "image/*"): bytes}
    )
    def get(self, request, ws, project, image_id):
        image = self.get_image(project, image_id)
        return FileResponse(image.file.open("rb"), filename=image.name)


class ImageTagsView(ImageAPIView):
    required_scopes = {"post": "image:tag"}

    @extend_schema(
        operation_id="image_tags",
        summary="Add, remove or set an image's tags (and merge metadata)",
        request=TagsBody,
        responses=dict,
    )
    def post(self, request, ws, project, image_id):
        image = self.get_image(project, image_id)
        data = parse(TagsBody, self.body())
        image = services.image_set_tags(
            image=image, operation=data["operation"], tags=data["tags"], metadata=data.get("metadata")
        )
        return Response({"image": image_json(image)})


class ImageBulkView(ResourceAPIView):
    required_scopes = {"delete": "image:delete"}

    @extend_schema(
        operation_id="images_delete", summary="Delete images: all or none", request=DeleteImagesBody, responses=dict
    )
    def delete(self, request, ws, project):
        found = self.get_project(project)
        ids = parse(DeleteImagesBody, self.body())["images"]
        deleted = services.images_delete(project=found, image_ids=ids)
        return Response({"deleted": [str(i) for i in deleted]})


class ImageSearchView(ResourceAPIView):
    required_scopes = {"post": "image:read"}

    @extend_schema(
        operation_id="images_search", summary="Search a project's images", request=SearchBody, responses=dict
    )
    def post(self, request, ws, project):
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
            {"results": [image_json(i) for i in page], "total": total, "offset": data["offset"], "limit": data["limit"]}
        )


def with_tag(images, tag: str):
    if connection.features.supports_json_field_contains:
        return images.filter(tags__contains=[tag])
    # SQLite (the embedded default) cannot query inside JSON lists: filter the ids here.
    return images.filter(pk__in=[pk for pk, tags in images.values_list("pk", "tags") if tag in tags])


class VersionGenerateView(ResourceAPIView):
    required_scopes = {"post": "version:create"}

    @extend_schema(
        operation_id="version_generate",
        summary="Generate a version: a snapshot of the images",
        request=GenerateBody,
        responses=dict,
    )
    def post(self, request, ws, project):
        found = self.get_project(project)
        data = parse(GenerateBody, self.body())
        settings_ = {k: data[k] for k in ("preprocessing", "augmentation") if k in data}
        version = services.version_generate(project=found, settings=settings_, name=data.get("name", ""))
        return Response({"message": "Generated", "version": version.number, "id": version_json(version)["id"]})


class VersionDetailView(ResourceAPIView):
    required_scopes = {"get": "version:read", "delete": "version:update"}

    def get_version(self, project: str, number: int) -> Version:
        found = self.get_project(project)
        version = Version.objects.select_related("project__workspace").filter(project=found, number=number).first()
        if version is None:
            raise exceptions.NotFound(f"No version {number} of this project.")
        return version

    @extend_schema(operation_id="version_get", summary="A version", responses=dict)
    def get(self, request, ws, project, version):
        found = self.get_version(project, version)
        return Response(
            {
                "workspace": {"name": self.workspace.name, "url": self.workspace.url},
                "project": project_json(self.project_with_counts(found.project)),
                "version": version_json(found),
            }
        )

    @extend_schema(operation_id="version_delete", summary="Delete a version (its images stay)", responses=dict)
    def delete(self, request, ws, project, version):
        found = self.get_version(project, version)
        version_id = f"{self.workspace.url}/{found.project.slug}/{found.number}"
        services.version_delete(version=found)
        return Response({"status": "deleted", "id": version_id})


class ModelListView(ResourceAPIView):
    required_scopes = {"get": "project:read", "post": "model:deploy"}
    parser_classes = [MultiPartParser, FormParser, SafeJSONParser]

    @extend_schema(operation_id="models_list", summary="A project's models", responses=dict)
    def get(self, request, ws, project):
        found = self.get_project(project)
        return Response({"models": [model_json(m) for m in found.models.select_related("version")]})

    @extend_schema(
        operation_id="models_upload",
        summary="Upload model weights (multipart: weights, name, type, version)",
        request=None,
        responses={201: dict},
    )
    def post(self, request, ws, project):
        found = self.get_project(project)
        upload = request.FILES.get("weights")
        if upload is None:
            raise exceptions.ValidationError({"weights": ["Send the weights file as the multipart field 'weights'."]})
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise PayloadTooLarge(TOO_LARGE.format(limit=settings.MAX_UPLOAD_BYTES))
        name = (request.data.get("name") or "").strip()
        model_type = (request.data.get("type") or "").strip()
        if not name or len(name) > 100:
            raise exceptions.ValidationError({"name": ["1 to 100 characters."]})
        if not model_type or len(model_type) > 50:
            raise exceptions.ValidationError({"type": ["1 to 50 characters, e.g. yolov8n."]})
        version = self.version_of(found, request.data.get("version"))
        model = services.model_create(project=found, name=name, type=model_type, upload=upload, version=version)
        return Response({"model": model_json(model)}, status=201)

    @staticmethod
    def version_of(project: Project, raw) -> Version | None:
        if raw in (None, ""):
            return None
        if not is_ascii_id(str(raw), max_digits=9):
            raise exceptions.ValidationError({"version": ["Must be a version number."]})
        version = project.versions.filter(number=int(raw)).first()
        if version is None:
            raise exceptions.ValidationError({"version": [f"No version {raw} of this project."]})
        return version


class ModelDetailView(ResourceAPIView):
    required_scopes = {"patch": "model:manage", "delete": "model:manage"}

    def get_model(self, project: str, model_id: int) -> Model:
        found = self.get_project(project)
        model = Model.objects.select_related("project", "version").filter(project=found, pk=model_id).first()
        if model is None:
            raise exceptions.NotFound(f"No model {model_id} in this project.")
        return model

    @extend_schema(operation_id="model_update", summary="Change a model", request=ModelUpdateBody, responses=dict)
    def patch(self, request, ws, project, model_id):
        model = self.get_model(project, model_id)
        data = parse(ModelUpdateBody, self.body())
        if "version" in data:
            data["version"] = ModelListView.version_of(model.project, data["version"])
        return Response({"model": model_json(services.model_update(model=model, **data))})

    @extend_schema(operation_id="model_delete", summary="Delete a model and its weights", responses=dict)
    def delete(self, request, ws, project, model_id):
        model = self.get_model(project, model_id)
        services.model_delete(model=model)
        return Response({"status": "deleted", "id": str(model_id)})
