"""Wire shapes of the workspace resource API: strict request bodies, and one output serializer
per resource that renders responses and documents them in the OpenAPI schema alike.

The shapes are Roboflow's, so that the official SDK reads them unchanged (`Project.__init__`
reads every field of the project object)."""

import zlib

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apikeys.fields import (
    BoundedDictField,
    IdField,
    JSONObjectStringField,
    StrictBooleanField,
    StrictCharField,
    StrictSerializer,
)

from .models import Folder, Image, Membership, Model, Project, ProjectType, Split, Version

MAX_TAGS = 50
TAG_MAX = 100
SEARCH_LIMIT_MAX = 250
MAX_VERSION = 10**9
MAX_CLASSES = 1000
MAX_COUNT = 2**31 - 1


# Output --------------------------------------------------------------------------------


@extend_schema_field({"type": "number", "format": "double", "description": "Seconds since the epoch (UTC)."})
class EpochField(serializers.ReadOnlyField):
    def to_representation(self, value):
        return value.timestamp()


def class_color(name: str) -> str:
    return f"#{zlib.crc32(name.encode()) & 0xFFFFFF:06X}"


def with_counts(projects):
    """Projects annotated with the counts ProjectSerializer reads: one join on images (so no
    row explosion across images and versions) and a subquery for versions."""
    versions = Version.objects.filter(project=OuterRef("pk")).order_by().values("project").annotate(n=Count("pk"))
    return projects.annotate(
        image_count=Count("images"),
        unannotated_count=Count("images", filter=Q(images__annotated=False)),
        train_count=Count("images", filter=Q(images__split=Split.TRAIN)),
        valid_count=Count("images", filter=Q(images__split=Split.VALID)),
        test_count=Count("images", filter=Q(images__split=Split.TEST)),
        version_count=Coalesce(Subquery(versions.values("n")), 0),
    )


def with_image_counts(versions):
    """Versions with their image counts (VersionSerializer reads them), in one query."""
    return versions.annotate(image_count=Count("images"))


# Builders for `prepared()`: the reads of every request, compiled once.


def reachable_projects(workspace: int, folders: list[int] | None, slug: str | None):
    projects = Project.objects.reachable(workspace, folders)
    return projects if slug is None else projects.filter(slug=slug).order_by()


def counted_projects(workspace: int, folders: list[int] | None, slug: str | None):
    return with_counts(reachable_projects(workspace, folders, slug))


def project_versions(project: int):
    return with_image_counts(Version.objects.filter(project_id=project).order_by("number"))


def workspace_members(workspace: int):
    return (
        Membership.objects.filter(workspace_id=workspace)
        .order_by("user__username")
        .values("user_id", "user__email", "role")
    )


class SplitsSerializer(serializers.Serializer):
    train = serializers.IntegerField(source="train_count")
    valid = serializers.IntegerField(source="valid_count")
    test = serializers.IntegerField(source="test_count")


class ProjectSerializer(serializers.Serializer):
    """A project as the SDK reads it; the instance carries the counts of `with_counts`."""

    id = serializers.CharField(help_text="<workspace>/<project>")
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=ProjectType.values)
    annotation = serializers.CharField()
    classes = serializers.DictField(child=serializers.IntegerField(), help_text="Class name: annotation count.")
    colors = serializers.DictField(child=serializers.CharField(), help_text="Class name: #RRGGBB.")
    created = EpochField()
    updated = EpochField()
    images = serializers.IntegerField(source="image_count")
    unannotated = serializers.IntegerField(source="unannotated_count")
    splits = SplitsSerializer(source="*")
    versions = serializers.IntegerField(source="version_count")
    public = serializers.BooleanField()
    license = serializers.CharField()
    multilabel = serializers.BooleanField()
    folderId = serializers.CharField(allow_null=True)

    def to_representation(self, project: Project) -> dict:
        # The fields above document the shape; building it directly is a third of the cost
        # of DRF's per-field machinery, on the reads that every SDK session makes.
        return {
            "id": f"{project.workspace.url}/{project.slug}",
            "name": project.name,
            "type": project.type,
            "annotation": project.annotation,
            "classes": project.classes,
            "colors": {name: class_color(name) for name in project.classes},
            "created": project.created.timestamp(),
            "updated": project.updated.timestamp(),
            "images": project.image_count,  # type: ignore[attr-defined]
            "unannotated": project.unannotated_count,  # type: ignore[attr-defined]
            "splits": {
                "train": project.train_count,  # type: ignore[attr-defined]
                "valid": project.valid_count,  # type: ignore[attr-defined]
                "test": project.test_count,  # type: ignore[attr-defined]
            },
            "versions": project.version_count,  # type: ignore[attr-defined]
            "public": project.public,
            "license": project.license,
            "multilabel": project.type == ProjectType.MULTI_LABEL,
            "folderId": str(project.folder_id) if project.folder_id else None,
        }


class ImageSerializer(serializers.Serializer):
    id = serializers.CharField(source="pk")
    name = serializers.CharField()
    split = serializers.ChoiceField(choices=Split.values)
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    tags = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField()
    batch = serializers.CharField()
    annotated = serializers.BooleanField()
    created = EpochField()
    url = serializers.SerializerMethodField(help_text="Where to download the file (scope image:read).")

    def get_url(self, image: Image) -> str:
        project = image.project
        return f"/{project.workspace.url}/{project.slug}/images/{image.pk}/file"


class VersionSerializer(serializers.Serializer):
    id = serializers.SerializerMethodField(help_text="<workspace>/<project>/<version>")
    version = serializers.IntegerField(source="number")
    name = serializers.CharField()
    images = serializers.SerializerMethodField()
    settings = serializers.DictField()
    created = EpochField()

    def get_id(self, version: Version) -> str:
        return f"{version.project.workspace.url}/{version.project.slug}/{version.number}"

    def get_images(self, version: Version) -> int:
        counted = getattr(version, "image_count", None)  # from `with_image_counts`
        return version.images.count() if counted is None else counted


class ModelSerializer(serializers.Serializer):
    id = serializers.CharField(source="pk")
    name = serializers.CharField()
    type = serializers.CharField()
    version = serializers.IntegerField(source="version.number", allow_null=True, default=None)
    size = serializers.SerializerMethodField(help_text="Bytes of the weights file.")
    created = EpochField()
    updated = EpochField()

    def get_size(self, model: Model) -> int:
        return model.weights.size if model.weights else 0


class FolderSerializer(serializers.Serializer):
    """A folder and the slugs of the projects in it that the caller may see (`projects`, a
    list given as context or as an attribute)."""

    id = serializers.CharField(source="pk")
    name = serializers.CharField()
    projects = serializers.ListField(child=serializers.CharField(), source="project_slugs")
    created = EpochField()


def folder_with(folder: Folder, slugs: list[str]) -> Folder:
    folder.project_slugs = sorted(slugs)  # type: ignore[attr-defined]
    return folder


class MemberSerializer(serializers.Serializer):
    """A row of `workspace_members`."""

    id = serializers.CharField(source="user_id")
    email = serializers.EmailField(source="user__email")
    role = serializers.CharField()


class WorkspaceBodySerializer(serializers.Serializer):
    name = serializers.CharField()
    url = serializers.CharField()
    plan = serializers.CharField()
    members = MemberSerializer(many=True)
    projects = ProjectSerializer(many=True)


class WorkspaceResponse(serializers.Serializer):
    workspace = WorkspaceBodySerializer()


class WorkspaceRef(serializers.Serializer):
    name = serializers.CharField()
    url = serializers.CharField()


class ProjectDetailResponse(serializers.Serializer):
    workspace = WorkspaceRef()
    project = ProjectSerializer()
    versions = VersionSerializer(many=True)


class ProjectResponse(serializers.Serializer):
    project = ProjectSerializer()


class DeletedResponse(serializers.Serializer):
    status = serializers.ChoiceField(choices=["deleted"])
    id = serializers.CharField()


class FolderListResponse(serializers.Serializer):
    groups = FolderSerializer(many=True)


class FolderResponse(serializers.Serializer):
    group = FolderSerializer()


class UploadResponse(serializers.Serializer):
    success = serializers.BooleanField(required=False, help_text="true: stored.")
    duplicate = serializers.BooleanField(required=False, help_text="true: these bytes were stored before.")
    id = serializers.CharField(help_text="The image's id.")


class ImageResponse(serializers.Serializer):
    image = ImageSerializer()


class ImagesDeletedResponse(serializers.Serializer):
    deleted = serializers.ListField(child=serializers.CharField())


class SearchResponse(serializers.Serializer):
    results = ImageSerializer(many=True)
    total = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()


class GeneratedResponse(serializers.Serializer):
    message = serializers.CharField()
    version = serializers.IntegerField()
    id = serializers.CharField()


class VersionDetailResponse(serializers.Serializer):
    workspace = WorkspaceRef()
    project = ProjectSerializer()
    version = VersionSerializer()


class ModelListResponse(serializers.Serializer):
    models = ModelSerializer(many=True)


class ModelResponse(serializers.Serializer):
    model = ModelSerializer()


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
    classes = BoundedDictField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_COUNT), required=False, max_entries=MAX_CLASSES
    )

    def validate_classes(self, classes: dict) -> dict:
        for name in classes:
            StrictCharField(max_length=100).run_validation(name)
        return classes


class FolderBody(StrictSerializer):
    name = StrictCharField(max_length=100)
    projects = serializers.ListField(child=StrictCharField(max_length=50), required=False, max_length=500)


class FolderRenameBody(StrictSerializer):
    name = StrictCharField(max_length=100)


class FolderProjectsBody(StrictSerializer):
    projects = serializers.ListField(child=StrictCharField(max_length=50), min_length=1, max_length=500)


class TagsBody(StrictSerializer):
    operation = serializers.ChoiceField(choices=["add", "remove", "set"], default="add")
    tags = serializers.ListField(child=StrictCharField(max_length=TAG_MAX), max_length=MAX_TAGS)
    metadata = BoundedDictField(required=False)


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
    preprocessing = BoundedDictField(required=False)
    augmentation = BoundedDictField(required=False)


class ModelUpdateBody(StrictSerializer):
    name = StrictCharField(max_length=100, required=False)
    type = StrictCharField(max_length=50, required=False)
    version = serializers.IntegerField(min_value=1, max_value=MAX_VERSION, required=False, allow_null=True)


class ModelUploadBody(StrictSerializer):
    weights = serializers.FileField(help_text="The weights file.")
    name = StrictCharField(max_length=100)
    type = StrictCharField(max_length=50, help_text="Architecture, e.g. yolov8n.")
    version = serializers.IntegerField(
        min_value=1, max_value=MAX_VERSION, required=False, allow_null=True, help_text="The version it was trained on."
    )


class UploadBody(StrictSerializer):
    file = serializers.FileField(allow_empty_file=True, help_text="The image: PNG, JPEG, GIF, BMP, TIFF or WebP.")
    name = StrictCharField(max_length=255, required=False, allow_blank=True, help_text="Defaults to the file's name.")
    split = serializers.ChoiceField(choices=Split.values, required=False)
    metadata = JSONObjectStringField(required=False, help_text="A JSON object, as a string.")

    def validate(self, data: dict) -> dict:
        if not data.get("name"):  # the file's own name, held to the same rules as a sent one
            try:
                data["name"] = StrictCharField(max_length=255).run_validation(data["file"].name[:255] or "image")
            except serializers.ValidationError as exc:
                raise serializers.ValidationError(
                    {"file": [f"The file's name: {' '.join(map(str, exc.detail))}"]}
                ) from None
        return data


class UploadQuery(serializers.Serializer):
    """The upload's query string. Not strict: the SDK adds parameters of its own."""

    batch = StrictCharField(max_length=100, required=False, allow_blank=True)
    tag = serializers.ListField(child=StrictCharField(max_length=TAG_MAX), max_length=MAX_TAGS, required=False)


def parse(serializer_class, data) -> dict:
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data
