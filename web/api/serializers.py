"""Wire shapes of the workspace resource API: strict request bodies, and one output serializer
per resource that renders responses and documents them in the OpenAPI schema alike.

The shapes are Roboflow's, so that the official SDK reads them unchanged (`Project.__init__`
reads every field of the project object)."""

import zlib
from datetime import timedelta

from django.core.validators import RegexValidator
from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.fields import (
    BoundedDictField,
    FileTextField,
    FormSerializer,
    IdField,
    JSONObjectStringField,
    QueryBooleanField,
    QuerySerializer,
    StrictBooleanField,
    StrictCharField,
    StrictSerializer,
)
from workspaces.annotations import LABEL_MAX
from workspaces.annotations import MAX_TEXT as MAX_ANNOTATION_TEXT
from workspaces.models import (
    MAX_METADATA,
    MAX_TAGS,
    Folder,
    Image,
    Model,
    Project,
    ProjectType,
    Split,
    Version,
    Work,
)

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


class BoxSerializer(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label
    x = serializers.FloatField(help_text="Left edge, in pixels.")
    y = serializers.FloatField(help_text="Top edge, in pixels.")
    width = serializers.FloatField()
    height = serializers.FloatField()


class AnnotationSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["coco", "voc", "yolo", "createml", "classification"])
    boxes = BoxSerializer(many=True)
    classes = serializers.ListField(child=serializers.CharField())
    prediction = serializers.BooleanField(required=False)
    job = serializers.CharField(required=False)


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
    labels = serializers.ListField(child=serializers.CharField(), help_text="The annotation's labels.")
    annotation = AnnotationSerializer(allow_null=True)

    def get_url(self, image: Image) -> str:
        return image_url(image)


def image_url(image: Image) -> str:
    project = image.project
    return f"/{project.workspace.url}/{project.slug}/images/{image.pk}/file"


# What a search result may carry (`fields`), and how each is read from an image.
RESULT_FIELDS = {
    "id": lambda image: str(image.pk),
    "name": lambda image: image.name,
    "filename": lambda image: image.name,
    "projects": lambda image: [image.project.slug],
    "tags": lambda image: image.tags,
    "split": lambda image: image.split,
    "batch": lambda image: image.batch,
    "annotated": lambda image: image.annotated,
    "labels": lambda image: image.labels,
    "width": lambda image: image.width,
    "height": lambda image: image.height,
    "metadata": lambda image: image.metadata,
    "created": lambda image: image.created.timestamp(),
    "url": image_url,
}


DEFAULT_SEARCH_FIELDS = ["tags", "projects", "filename"]


def search_result(image: Image, fields: list[str]) -> dict:
    return {"id": str(image.pk), "mediaType": "image", **{f: RESULT_FIELDS[f](image) for f in fields}}


class VersionModelSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()


class VersionSerializer(serializers.Serializer):
    """A dataset version as the SDK reads it (`Version.__init__` reads every field but `model`,
    `generating` and `progress`, which it polls while a worker generates the version); the
    instance carries the counts of `counted_versions`."""

    id = serializers.CharField(help_text="<workspace>/<project>/<version>")
    version = serializers.IntegerField()
    name = serializers.CharField()
    created = EpochField()
    images = serializers.IntegerField()
    splits = SplitsSerializer()
    augmentation = serializers.DictField()
    preprocessing = serializers.DictField()
    exports = serializers.ListField(child=serializers.CharField(), help_text="Formats exported so far.")
    model = VersionModelSerializer(allow_null=True, help_text="The first model trained on it, if any.")
    generating = serializers.BooleanField(help_text="True until a worker has frozen its images.")
    progress = serializers.FloatField(help_text="0 to 1 while generating; 1 when done.")
    failed = serializers.BooleanField(help_text="True if it could not be generated (see `failure`).")
    failure = serializers.CharField(help_text="Why it could not be generated; empty otherwise.")

    def to_representation(self, version: Version) -> dict:
        project = version.project
        model = None
        if version.model_id is not None:  # type: ignore[attr-defined]
            model = {"id": str(version.model_id), "name": version.model_name, "type": version.model_type}  # type: ignore[attr-defined]
        return {
            "id": f"{project.workspace.url}/{project.slug}/{version.number}",
            "version": version.number,
            "name": version.name or project.name,
            "created": version.created.timestamp(),
            "images": version.image_count,  # type: ignore[attr-defined]
            "splits": {
                "train": version.train_count,  # type: ignore[attr-defined]
                "valid": version.valid_count,  # type: ignore[attr-defined]
                "test": version.test_count,  # type: ignore[attr-defined]
            },
            "augmentation": version.settings.get("augmentation", {}),
            "preprocessing": version.settings.get("preprocessing", {}),
            "exports": version.exports,
            "model": model,
            "generating": version.state == Work.PENDING,
            "progress": version.progress,
            "failed": version.state == Work.FAILED,
            "failure": version.failure,
        }


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


class ImageMetadataResponse(serializers.Serializer):
    success = serializers.BooleanField()
    image = ImageSerializer()


class ImagesDeletedResponse(serializers.Serializer):
    deleted = serializers.ListField(child=serializers.CharField())


class WorkspaceImagesDeletedResponse(serializers.Serializer):
    deleted = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Ids that are no image this key may reach.")
    deletedSources = serializers.IntegerField(help_text="The same as `deleted`.")
    skippedSources = serializers.IntegerField(help_text="The same as `skipped`.")


class SearchResponse(serializers.Serializer):
    results = serializers.ListField(child=serializers.DictField(), help_text="Images, or their `fields` only.")
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
        key=StrictCharField(max_length=100),
        child=serializers.IntegerField(min_value=0, max_value=MAX_COUNT),
        required=False,
        max_entries=MAX_CLASSES,
    )


PROJECTS_RULE = "Slugs of projects of this workspace that the key may reach."
VERSION_RULE = "The number of a version of this project (not one in the trash)."


class FolderBody(StrictSerializer):
    rules = {"projects": PROJECTS_RULE}

    name = StrictCharField(max_length=100)
    projects = serializers.ListField(child=StrictCharField(max_length=50), required=False, max_length=500)


class FolderRenameBody(StrictSerializer):
    name = StrictCharField(max_length=100)


class FolderProjectsBody(StrictSerializer):
    rules = {"projects": PROJECTS_RULE}

    projects = serializers.ListField(child=StrictCharField(max_length=50), min_length=1, max_length=500)


TAGS_RULE = f"An image holds at most {MAX_TAGS} tags: those it has and these."
METADATA_RULE = f"An image holds at most {MAX_METADATA} metadata entries: those it has and these."


class TagsBody(StrictSerializer):
    rules = {"tags": TAGS_RULE, "metadata": METADATA_RULE}

    operation = serializers.ChoiceField(choices=["add", "remove", "set"], default="add")
    tags = serializers.ListField(child=StrictCharField(max_length=TAG_MAX), max_length=MAX_TAGS)
    metadata = BoundedDictField(required=False)


class LabelmapField(serializers.Field):
    """Class index → name (`{"0": "cat"}`), or the names in index order."""

    default_error_messages = {"invalid": "Must be an object of class index → name, or a list of names."}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.names = StrictCharField(max_length=LABEL_MAX)
        self.indexes = StrictCharField(max_length=20)

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) <= MAX_CLASSES:
            return [self.names.run_validation(name) for name in data]
        if isinstance(data, dict) and len(data) <= MAX_CLASSES:
            return {self.indexes.run_validation(k): self.names.run_validation(v) for k, v in data.items()}
        self.fail("invalid")

    def to_representation(self, value):
        return value


class LabelmapFieldSchema(OpenApiSerializerFieldExtension):
    target_class = LabelmapField

    def map_serializer_field(self, auto_schema, direction):
        names = auto_schema.map_field(self.target.names, direction)
        by_index = {"type": "object", "additionalProperties": names, "maxProperties": MAX_CLASSES}
        auto_schema.name_keys(by_index, self.target.indexes)
        return {
            "oneOf": [by_index, {"type": "array", "items": names, "maxItems": MAX_CLASSES}],
            "description": LabelmapField.__doc__,
        }


NOT_SERVED = "Not available on this server: it has no embeddings for similarity or text-prompt search."
NOT_SERVED_JOBS = "Not available on this server: it has no annotation jobs."


@extend_schema_field({"not": {}, "description": "In the SDK's body, not served here: sent, it is a 400 naming it."})
class NotServedField(serializers.Field):
    """A field of the official client's body that this server cannot serve: a 400 that names it
    when it is sent, never silently ignored (the answer would be to another question)."""

    def __init__(self, message: str, **kwargs):
        self.message = message
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        raise serializers.ValidationError(self.message)


class SearchBody(StrictSerializer):
    """A project's image search, as `project.search()` sends it (and a few filters of ours)."""

    tag = StrictCharField(max_length=TAG_MAX, required=False)
    class_name = StrictCharField(max_length=LABEL_MAX, required=False)
    split = serializers.ChoiceField(choices=Split.values, required=False)
    batch = StrictBooleanField(required=False, help_text="true: images still in an upload batch (none here).")
    batch_id = StrictCharField(max_length=100, required=False, help_text="The upload batch's name.")
    in_dataset = StrictBooleanField(required=False, help_text="false: images outside the dataset (none here).")
    name = StrictCharField(max_length=255, required=False, help_text="Part of the image name.")
    fields = serializers.ListField(  # type: ignore[assignment]  # a declared field, not Serializer.fields
        child=serializers.ChoiceField(choices=sorted(RESULT_FIELDS)), max_length=len(RESULT_FIELDS), required=False
    )
    mediaTypes = serializers.ListField(child=serializers.ChoiceField(choices=["image", "video"]), required=False)
    like_image = NotServedField(NOT_SERVED)
    prompt = NotServedField(NOT_SERVED)
    annotation_job = NotServedField(NOT_SERVED_JOBS)
    annotation_job_id = NotServedField(NOT_SERVED_JOBS)
    limit = serializers.IntegerField(min_value=1, max_value=SEARCH_LIMIT_MAX, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=10**9, default=0)


NOT_A_TOKEN = "Not a token this server gave."  # noqa: S105 - an error message, not a secret


class WorkspaceSearchBody(StrictSerializer):
    """`POST /:ws/search/v1`, as `Workspace.search()` sends it."""

    query = StrictCharField(max_length=1000, allow_blank=True, help_text="e.g. `tag:night project:cats aisle`")
    pageSize = serializers.IntegerField(min_value=1, max_value=SEARCH_LIMIT_MAX, default=50)
    fields = serializers.ListField(  # type: ignore[assignment]  # a declared field, not Serializer.fields
        child=serializers.ChoiceField(choices=sorted(RESULT_FIELDS)), max_length=len(RESULT_FIELDS), required=False
    )
    continuationToken = StrictCharField(
        max_length=20, required=False, validators=[RegexValidator(r"^[0-9]{1,10}\Z", message=NOT_A_TOKEN)]
    )
    mediaTypes = serializers.ListField(child=serializers.ChoiceField(choices=["image", "video"]), required=False)


class WorkspaceSearchResponse(serializers.Serializer):
    results = serializers.ListField(child=serializers.DictField(), help_text="`id`, `mediaType` and the `fields`.")
    total = serializers.IntegerField()
    continuationToken = serializers.CharField(allow_null=True)


class ImageMetadataBody(StrictSerializer):
    """`POST /:ws/images/:id/metadata`, as `roboflow image metadata` sends it: at least one field."""

    min_fields = 1
    rules = {"tags": TAGS_RULE, "metadata": METADATA_RULE}  # the image's, named so by the 400

    metadata = BoundedDictField(required=False, max_entries=MAX_METADATA)
    removeMetadata = serializers.ListField(
        child=StrictCharField(max_length=200), max_length=MAX_METADATA, required=False
    )
    addTags = serializers.ListField(child=StrictCharField(max_length=TAG_MAX), max_length=MAX_TAGS, required=False)
    removeTags = serializers.ListField(child=StrictCharField(max_length=TAG_MAX), max_length=MAX_TAGS, required=False)

    def validate(self, data):
        if len(data) < self.min_fields:
            raise serializers.ValidationError("Send metadata, removeMetadata, addTags or removeTags.")
        return data


class AnnotateQuery(QuerySerializer):
    """The annotation upload's query string."""

    name = StrictCharField(max_length=255, help_text="The annotation file's name: its extension says its format.")
    jobName = StrictCharField(max_length=100, required=False, allow_blank=True)
    prediction = QueryBooleanField(required=False)
    overwrite = QueryBooleanField(required=False)
    addToDataset = QueryBooleanField(required=False)


class AnnotateBody(StrictSerializer):
    rules = {
        "annotationFile": "A file of the format the extension of the query's `name` names: COCO or CreateML "
        "JSON (.json), Pascal VOC XML (.xml) or YOLO TXT (.txt, `labelmap` naming its class numbers); in a "
        "classification project also a class name, or a JSON list of them.",
    }

    annotationFile = FileTextField(max_length=MAX_ANNOTATION_TEXT, allow_blank=True, help_text="The file's text.")
    labelmap = LabelmapField(required=False, allow_null=True)


class AnnotatedResponse(serializers.Serializer):
    success = serializers.BooleanField()
    id = serializers.CharField()
    annotation = AnnotationSerializer()


class DeleteImagesBody(StrictSerializer):
    images = serializers.ListField(child=IdField(), min_length=1, max_length=1000)


class GenerateBody(StrictSerializer):
    rules = {
        "preprocessing": "settings this server implements, with values in their ranges (workspaces/generation.py)",
        "augmentation": "settings this server implements, with values in their ranges (workspaces/generation.py)",
    }

    name = StrictCharField(max_length=100, required=False, allow_blank=True)
    preprocessing = BoundedDictField(required=False)
    augmentation = BoundedDictField(required=False)


class ModelUpdateBody(StrictSerializer):
    rules = {"version": VERSION_RULE}

    name = StrictCharField(max_length=100, required=False)
    type = StrictCharField(max_length=50, required=False)
    version = serializers.IntegerField(min_value=1, max_value=MAX_VERSION, required=False, allow_null=True)


class ModelUploadBody(FormSerializer):
    """A model's weights file and what it is, as a multipart form."""

    rules = {"version": VERSION_RULE}

    weights = serializers.FileField(help_text="The weights file.")
    name = StrictCharField(max_length=100)
    type = StrictCharField(max_length=50, help_text="Architecture, e.g. yolov8n.")
    version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_VERSION,
        required=False,
        allow_null=True,
        help_text="The version it was trained on; left out (or empty) for none.",
    )


class UploadBody(FormSerializer):
    """An image and what to call it, as a multipart form."""

    file = serializers.FileField(allow_empty_file=True, help_text="The image: PNG, JPEG, GIF, BMP, TIFF or WebP.")
    name = StrictCharField(max_length=255, required=False, allow_blank=True, help_text="Defaults to the file's name.")
    split = serializers.ChoiceField(choices=Split.values, required=False)
    metadata = JSONObjectStringField(required=False, help_text="A JSON object: the part's text (application/json).")

    def validate(self, data: dict) -> dict:
        if not data.get("name"):  # the file's own name, held to the same rules as a sent one
            try:
                data["name"] = StrictCharField(max_length=255).run_validation(data["file"].name[:255] or "image")
            except serializers.ValidationError as exc:
                raise serializers.ValidationError(
                    {"file": [f"The file's name: {' '.join(map(str, exc.detail))}"]}
                ) from None
        return data


class UploadQuery(QuerySerializer):
    """The upload's query string."""

    batch = StrictCharField(max_length=100, required=False, allow_blank=True)
    tag = serializers.ListField(child=StrictCharField(max_length=TAG_MAX), max_length=MAX_TAGS, required=False)


def parse(serializer_class, data) -> dict:
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data


# Trash --------------------------------------------------------------------------------------

TRASH_KINDS = "Projects and versions go to the trash here; workflows and trainings do not exist on this server."
RESTORABLE = ("project", "version")  # what the trash holds, so all that a restore takes


class TrashedSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=RESTORABLE)
    id = serializers.CharField(help_text="A project's id; a version's number.")
    name = serializers.CharField()
    url = serializers.CharField(required=False, help_text="A project's url (slug).")
    parentId = serializers.CharField(required=False, help_text="A version's project id.")
    parentUrl = serializers.CharField(required=False, help_text="A version's project url.")
    parentName = serializers.CharField(required=False)
    deletedAt = serializers.DateTimeField()
    deletedBy = serializers.CharField()
    scheduledCleanupAt = serializers.DateTimeField(help_text="When `purge_trash` deletes it for good.")


class TrashSectionsSerializer(serializers.Serializer):
    projects = TrashedSerializer(many=True)
    versions = TrashedSerializer(many=True)
    workflows = serializers.ListField(child=serializers.DictField(), help_text="Always empty here.")


class TrashResponse(serializers.Serializer):
    items = TrashedSerializer(many=True)
    sections = TrashSectionsSerializer()


class TrashedResponse(TrashedSerializer):
    deleted = serializers.BooleanField(required=False)
    restored = serializers.BooleanField(required=False)


class TrashRestoreBody(StrictSerializer):
    type = serializers.ChoiceField(choices=RESTORABLE, error_messages={"invalid_choice": TRASH_KINDS})
    id = IdField(help_text="A project's id; a version's number.")
    parentId = IdField(required=False, help_text="A version's project id.")


# Exports ------------------------------------------------------------------------------------


class ExportLinkSerializer(serializers.Serializer):
    link = serializers.URLField(help_text="Where to GET the zip, without the key; for an hour.")
    format = serializers.CharField()
    expiresIn = serializers.IntegerField(help_text="Seconds the link works.")
    ready = serializers.BooleanField(help_text="Always true here: the zip is built.")
    progress = serializers.FloatField(help_text="1: the zip is built.")


class ExportResponse(serializers.Serializer):
    export = ExportLinkSerializer()


class ExportProgressSerializer(serializers.Serializer):
    format = serializers.CharField()
    ready = serializers.BooleanField(help_text="False: a worker is building the zip.")
    progress = serializers.FloatField(help_text="0 to 1.")


class ExportPendingResponse(serializers.Serializer):
    """Answered with 202 while a worker builds the zip (the official client polls on it)."""

    ready = serializers.BooleanField(help_text="False: ask again shortly.")
    progress = serializers.FloatField(help_text="0 to 1.")
    export = ExportProgressSerializer()


# Reports ------------------------------------------------------------------------------------


class StatsQuery(QuerySerializer):
    rules = {"startDate": "Not after `endDate`, which is today when left out (`startDate`: 30 days before it)."}

    startDate = serializers.DateField(input_formats=["%Y-%m-%d"], required=False)
    endDate = serializers.DateField(input_formats=["%Y-%m-%d"], required=False)

    def validate(self, data):
        end = data.get("endDate") or timezone.now().date()
        start = data.get("startDate") or end - timedelta(days=30)
        if start > end:
            raise serializers.ValidationError({"startDate": ["Must not be after endDate."]})
        return {"startDate": start, "endDate": end}


class StatsSerializer(serializers.Serializer):
    startDate = serializers.DateField()
    endDate = serializers.DateField()
    projects = serializers.IntegerField()
    images = serializers.IntegerField()
    annotatedImages = serializers.IntegerField()
    imagesUploaded = serializers.IntegerField(help_text="Between the dates, both included.")
    versions = serializers.IntegerField()
    versionsGenerated = serializers.IntegerField(help_text="Between the dates, both included.")
    models = serializers.IntegerField()
    apiKeys = serializers.IntegerField(required=False, help_text="Live keys; for callers with api-key:read.")


class StatsResponse(serializers.Serializer):
    stats = StatsSerializer()


class PlanSerializer(serializers.Serializer):
    workspace = serializers.CharField()
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.label
    scopedKeys = serializers.BooleanField(help_text="Whether keys may be limited to scopes and folders.")
    apiRateLimit = serializers.CharField(help_text="Requests per key, e.g. 600/min; `off`.")
    maxUploadBytes = serializers.IntegerField()


class PlanResponse(serializers.Serializer):
    plan = PlanSerializer()


class UsageResponse(serializers.Serializer):
    usage = serializers.DictField(help_text="API calls per key and day.")


class HealthQuery(QuerySerializer):
    regenerate = QueryBooleanField(required=False, help_text="Accepted; health is always computed afresh.")


class HealthResponse(serializers.Serializer):
    health = serializers.DictField(help_text="Counts, class balance, annotations per image, image sizes.")
