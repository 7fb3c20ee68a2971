"""Dataset versions: generate, read, export (a link), download (the zip), move to the trash."""

from urllib.parse import urlencode

from django.http import FileResponse, HttpResponseRedirect
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions
from storages.backends.s3 import S3Storage

from apikeys.authentication import LINK_MAX_AGE, link_token
from core.errors import Conflict
from core.responses import respond
from workspaces import exports, services
from workspaces.actors import Actor
from workspaces.models import (
    CLASSIFICATION_TYPES,
    Version,
    Work,
)

from .base import (
    EXPORT_FORMAT,
    ResourceViewSet,
    trash_fields,
)
from .serializers import (
    ExportPendingResponse,
    ExportResponse,
    GenerateBody,
    GeneratedResponse,
    TrashedResponse,
    VersionDetailResponse,
    parse,
)

DOWNLOAD_URL_SECONDS = 60  # a presigned URL is for the download that follows at once


class VersionViewSet(ResourceViewSet):
    required_scopes = {
        "create": "version:create",
        "retrieve": "version:read",
        "export": "version:read",
        "download": "version:read",
        "destroy": "version:update",
    }
    # Rules on the path that no schema can state: the format must fit the project's type.
    FITS = (
        "one that carries the project's labels: boxes (coco, voc, the yolo formats) for a detection "
        "project, classes (folder, multiclass) for a classification one"
    )
    business_rules = {"export": {"format": FITS}, "download": {"format": FITS}}

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
        return respond(GeneratedResponse, {"message": "Generated", "version": version.number, "id": version_id})

    @extend_schema(operation_id="version_get", summary="A version", responses=VersionDetailResponse)
    def retrieve(self, request, ws, project, version):
        found = self.get_version(project, version)
        if found.state == Work.FAILED:  # (the SDK polls a version of no images as if generating)
            raise Conflict(f"Version {found.number} failed: {found.failure}")
        return respond(VersionDetailResponse, {"workspace": self.workspace, "project": found.project, "version": found})

    @extend_schema(
        operation_id="version_export",
        summary="Export a version: a link to its zip (coco, yolov8 and kin, voc; folder, multiclass)",
        description="A worker builds each export once, then it is kept. Until it is built the answer is "
        "a 202 with `ready: false` and `progress`: ask again.",
        parameters=[EXPORT_FORMAT],
        responses={200: ExportResponse, 202: ExportPendingResponse},
    )
    def export(self, request, ws, project, version, export_format):
        format = export_format  # (DRF reads a `format` argument as a renderer suffix)
        found = self.get_version(project, version)
        self.check_format(found, format)
        built = services.export_request(version=found, format=format)
        if built is not None and built.state == Work.FAILED:
            raise Conflict(f"The {format} export of version {found.number} failed: {built.failure}")
        if built is None or built.state == Work.PENDING:
            progress = {"ready": False, "progress": built.progress if built else 0.0}
            return respond(ExportPendingResponse, {**progress, "export": {"format": format, **progress}}, status=202)
        path = f"/{self.workspace.url}/{found.project.slug}/{found.number}/{format}/download"
        link = request.build_absolute_uri(path) + "?" + urlencode({"token": link_token(request, path)})
        export = {"link": link, "format": format, "expiresIn": LINK_MAX_AGE, "ready": True, "progress": 1.0}
        return respond(ExportResponse, {"export": export})

    @extend_schema(
        operation_id="version_download",
        summary="The zip of an export (the link the export answered with)",
        description="Streamed from the local disk; with object storage, a redirect to a presigned URL of the "
        f"zip that works for {DOWNLOAD_URL_SECONDS} seconds.",
        parameters=[EXPORT_FORMAT],
        responses={
            (200, "application/zip"): OpenApiResponse(description="The dataset, as a zip."),
            302: OpenApiResponse(description="With object storage: the zip's presigned URL, in Location."),
        },
    )
    def download(self, request, ws, project, version, export_format):
        format = export_format
        found = self.get_version(project, version)
        if format not in exports.FORMATS:
            raise exceptions.NotFound(f"No export in {format!r}.")
        self.check_format(found, format)
        built = found.built_exports.filter(format=format, state=Work.READY).first()
        if built is None:
            raise exceptions.NotFound(f"No {format} export of version {found.number} is built yet; ask for it first.")
        name = f"{found.project.slug}-{found.number}-{format}.zip"
        presigned = presigned_url(built.file, name)
        if presigned is not None:
            return HttpResponseRedirect(presigned)
        response = FileResponse(
            built.file.open("rb"), as_attachment=True, filename=name, content_type="application/zip"
        )
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response

    def check_format(self, version: Version, format: str) -> None:
        try:
            exports.check_format(format, classification=version.project.type in CLASSIFICATION_TYPES)
        except ValueError as error:
            raise exceptions.ValidationError({"format": [str(error)]}) from None

    @extend_schema(
        operation_id="version_delete",
        summary="Move a version to the trash (its images stay; restorable for 30 days)",
        responses={200: TrashedResponse},
    )
    def destroy(self, request, ws, project, version):
        found = self.get_version(project, version)
        trashed = services.version_trash(version=found, actor=Actor.from_request(request))
        return respond(TrashedResponse, {"deleted": True, **trash_fields(trashed)})


def presigned_url(file, name: str) -> str | None:
    """A short-lived URL of the file in object storage that downloads as `name`; None for
    storage that cannot sign one (the local disk: the file is streamed instead)."""
    if not isinstance(file.storage, S3Storage):
        return None
    return file.storage.url(
        file.name,
        parameters={
            "ResponseContentDisposition": f'attachment; filename="{name}"',
            "ResponseContentType": "application/zip",
        },
        expire=DOWNLOAD_URL_SECONDS,
    )
