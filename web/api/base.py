"""What every resource viewset of the API shares: the projects, folders and images the caller
may reach (anything else is a 404), the upload limit, and the parsers of the upload routes."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.response import Response

from apikeys.viewsets import ScopedViewSet
from core.exceptions import PayloadTooLarge
from core.parsers import SafeFormParser, SafeJSONParser, SafeMultiPartParser
from core.responses import respond
from workspaces import exports
from workspaces.models import MEDIA_TYPES, TRASH_RETENTION, Folder, Image, Project, Version
from workspaces.prepared import prepared
from workspaces.selectors import counted_projects, project_versions, reachable_projects

from .serializers import FolderResponse, folder_with

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
        return respond(FolderResponse, {"group": folder_with(folder, slugs)}, status=status)


def refuse_oversize(request) -> None:
    """A 413 for a body whose file is over MAX_UPLOAD_BYTES: from the declared length before
    reading, and from each uploaded file's size after."""
    limit = settings.MAX_UPLOAD_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise PayloadTooLarge(TOO_LARGE.format(limit=limit))
    if any(f.size > limit for f in request.FILES.values()):
        raise PayloadTooLarge(TOO_LARGE.format(limit=limit))


def trash_fields(item: Project | Version) -> dict:
    """The values of a project or a version in the trash, for TrashedSerializer, as `roboflow
    trash list` and `project restore` read a project, and `version restore` finds a version:
    by its number (`id`) and its project's url (`parentUrl`)."""
    when = {
        "deletedAt": item.deleted_at,
        "deletedBy": item.deleted_by,
        "scheduledCleanupAt": item.deleted_at + TRASH_RETENTION if item.deleted_at else None,
    }
    if isinstance(item, Project):
        return {"type": "project", "id": str(item.pk), "name": item.name, "url": item.slug, **when}
    project = item.project
    return {
        "type": "version",
        "id": str(item.number),
        "name": item.name or f"{project.name} {item.number}",
        "parentId": str(project.pk),
        "parentUrl": project.slug,
        "parentName": project.name,
        **when,
    }
