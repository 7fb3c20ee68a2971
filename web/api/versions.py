"""Dataset versions: generate, read, export (a link), download (the zip), move to the trash."""

from datetime import UTC
from typing import BinaryIO, cast
from urllib.parse import urlencode

from django.http import FileResponse
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions

from apikeys.authentication import LINK_MAX_AGE, link_token
from core.responses import respond
from workspaces import exports, services
from workspaces.actors import Actor
from workspaces.annotations import Annotation
from workspaces.models import (
    CLASSIFICATION_TYPES,
    Version,
    VersionImage,
)

from .base import (
    EXPORT_FORMAT,
    ResourceViewSet,
    trash_fields,
)
from .serializers import (
    ExportResponse,
    GenerateBody,
    GeneratedResponse,
    TrashedResponse,
    VersionDetailResponse,
    parse,
)


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
        return respond(VersionDetailResponse, {"workspace": self.workspace, "project": found.project, "version": found})

    @extend_schema(
        operation_id="version_export",
        summary="Export a version: a link to its zip (coco, yolov8 and kin, voc; folder, multiclass)",
        parameters=[EXPORT_FORMAT],
        responses={200: ExportResponse},
    )
    def export(self, request, ws, project, version, export_format):
        format = export_format  # (DRF reads a `format` argument as a renderer suffix)
        found = self.get_version(project, version)
        try:
            exports.check_format(format, classification=found.project.type in CLASSIFICATION_TYPES)
        except ValueError as error:
            raise exceptions.ValidationError({"format": [str(error)]}) from None
        services.version_record_export(version=found, format=format)
        path = f"/{self.workspace.url}/{found.project.slug}/{found.number}/{format}/download"
        link = request.build_absolute_uri(path) + "?" + urlencode({"token": link_token(request, path)})
        return respond(ExportResponse, {"export": {"link": link, "format": format, "expiresIn": LINK_MAX_AGE}})

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
        try:
            exports.check_format(format, classification=found.project.type in CLASSIFICATION_TYPES)
        except ValueError as error:
            raise exceptions.ValidationError({"format": [str(error)]}) from None
        images = found.images.select_related("blob").order_by("split", "source_id", "variant")
        archive = exports.build_export(
            format=format,
            project_name=found.project.name,
            version=found.number,
            images=(export_image(image) for image in images.iterator(chunk_size=500)),
            classes=sorted({label for labels in found.images.values_list("labels", flat=True) for label in labels}),
            settings=found.settings,
            generated=found.created.astimezone(UTC).isoformat(timespec="seconds"),
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
        trashed = services.version_trash(version=found, actor=Actor.from_request(request))
        return respond(TrashedResponse, {"deleted": True, **trash_fields(trashed)})


def export_image(image: VersionImage) -> exports.ExportImage:
    """An image of a version as it was frozen, by the id of the image it came from."""
    annotation = Annotation.from_json(image.annotation) if image.annotation else None
    boxes = annotation.boxes if annotation else ()
    return exports.ExportImage(
        id=image.source_id,
        name=image.name,
        split=image.split,
        width=image.width,
        height=image.height,
        open=lambda: cast(BinaryIO, image.blob.file.open("rb")),
        boxes=tuple(exports.ExportBox(b.label, b.x, b.y, b.width, b.height) for b in boxes),
        annotated=image.annotated,
        classes=annotation.classes if annotation else (),
        variant=image.variant,
    )
