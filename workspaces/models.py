import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

# The API lives at the site root (`/:ws`, `/:ws/:project`), as the official SDK expects, so
# these words cannot be workspace urls: each is a prefix of the app's own pages or of the API.
RESERVED_WORKSPACE_SLUGS = frozenset(
    {
        "accounts",
        "admin",
        "api",
        "api-keys",
        "app",
        "dataset",
        "docs",
        "health",
        "login",
        "logout",
        "media",
        "settings",
        "signup",
        "static",
        "usage",
        "www",
    }
)
# Words of the API under a workspace (`/:ws/projects`, `/:ws/groups`, ...).
RESERVED_PROJECT_SLUGS = frozenset(
    {
        *("api-key-policy", "api-keys", "billing-usage-report", "generate", "groups", "images", "models"),
        "projects",
        *("search", "settings", "stats", "trash", "upload"),
    }
)

SLUG_MESSAGE = "Use 2 to 50 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{0,48}[a-z0-9]$", SLUG_MESSAGE)


def validate_workspace_slug(value: str) -> None:
    if value in RESERVED_WORKSPACE_SLUGS:
        raise ValidationError(f"“{value}” is reserved; choose another url.", code="reserved")


def validate_project_slug(value: str) -> None:
    if value in RESERVED_PROJECT_SLUGS:
        raise ValidationError(f"“{value}” is reserved; choose another project url.", code="reserved")


def new_public_id() -> str:
    return secrets.token_hex(10)


class Plan(models.TextChoices):
    FREE = "free", "Free"
    STARTER = "starter", "Starter"
    ENTERPRISE = "enterprise", "Enterprise"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class Workspace(models.Model):
    name = models.CharField(max_length=100)
    url = models.CharField(max_length=50, unique=True, validators=[slug_validator, validate_workspace_slug])
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.FREE)
    # Non-secret id behind the publishable key `rf_<public_id>`.
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces")
    # Raised after every committed change to what the workspace's keys may do: servers keep
    # a key's record only while it is this version (`apikeys.records`).
    key_version = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(plan__in=Plan.values), name="workspace_plan_valid"),
            models.CheckConstraint(
                condition=~Q(url__in=sorted(RESERVED_WORKSPACE_SLUGS)), name="workspace_url_not_reserved"
            ),
            models.CheckConstraint(condition=Q(url=Lower("url")), name="workspace_url_lowercase"),
        ]

    def __str__(self) -> str:
        return self.url

    def save(self, *args, **kwargs):
        # `key_version` only grows, raised in SQL: an instance read before a raise (an admin
        # form, say) must not write its older value back.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name != "key_version"
            ]
        super().save(*args, **kwargs)

    @property
    def publishable_key(self) -> str:
        return f"rf_{self.public_id}"

    @property
    def is_enterprise(self) -> bool:
        return self.plan == Plan.ENTERPRISE


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique_user_workspace"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


SIGN_UP_LINK_LIFETIME = timedelta(days=2)


class PendingSignUp(models.Model):
    """A sign-up waiting for its address to be confirmed. No user exists until the link in the
    mail is followed, and the password is chosen only then, by whoever holds the inbox: an
    address nobody confirmed never owns an account, nor a password someone else chose for it.
    The link's token is kept only as its SHA-256."""

    email = models.EmailField(max_length=150, db_index=True)
    workspace_name = models.CharField(max_length=100)
    workspace_url = models.CharField(max_length=50)
    token_digest = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.email} (pending since {self.created:%Y-%m-%d %H:%M})"

    @property
    def expires(self):
        return self.created + SIGN_UP_LINK_LIFETIME


class Folder(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(max_length=100)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="folder_unique_name_per_workspace"),
            models.CheckConstraint(condition=~Q(name=""), name="folder_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class ProjectType(models.TextChoices):
    OBJECT_DETECTION = "object-detection", "Object detection"
    SINGLE_LABEL = "single-label-classification", "Single-label classification"
    MULTI_LABEL = "multi-label-classification", "Multi-label classification"
    INSTANCE_SEGMENTATION = "instance-segmentation", "Instance segmentation"
    SEMANTIC_SEGMENTATION = "semantic-segmentation", "Semantic segmentation"
    KEYPOINT_DETECTION = "keypoint-detection", "Keypoint detection"


TRASH_RETENTION = timedelta(days=30)
MAX_TAGS = 50  # per image
MAX_METADATA = 100  # entries per image


class ProjectQuerySet(models.QuerySet):
    def live(self):
        """Projects that are not in the trash."""
        return self.filter(deleted_at__isnull=True)

    def reachable(self, workspace_id: int, folder_ids: list[int] | None, *, in_trash: bool = False):
        """The projects of a workspace that a caller limited to `folder_ids` may reach (all of
        them when it is None), out of the trash (or in it): the folder rule, in one place."""
        projects = self.filter(workspace_id=workspace_id, deleted_at__isnull=not in_trash)
        return projects if folder_ids is None else projects.filter(folder_id__in=folder_ids)


CLASSIFICATION_TYPES = frozenset({ProjectType.SINGLE_LABEL, ProjectType.MULTI_LABEL})


class Project(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="projects")
    slug = models.CharField(max_length=50, validators=[slug_validator, validate_project_slug])
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=40, choices=ProjectType.choices, default=ProjectType.OBJECT_DETECTION)
    annotation = models.CharField(max_length=100, help_text="Annotation group: what the labels describe.")
    classes = models.JSONField(default=dict, blank=True, help_text="Class name → number of annotations.")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="projects")
    public = models.BooleanField(default=False)
    license = models.CharField(max_length=50, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Moved to the trash at; purged 30 days on.")
    deleted_by = models.CharField(max_length=200, blank=True, help_text="Who moved it to the trash.")

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="project_unique_slug_per_workspace"),
            models.CheckConstraint(condition=Q(type__in=ProjectType.values), name="project_type_valid"),
            models.CheckConstraint(
                condition=~Q(slug__in=sorted(RESERVED_PROJECT_SLUGS)), name="project_slug_not_reserved"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace.url}/{self.slug}"

    def clean(self) -> None:
        if self.folder is not None and self.folder.workspace_id != self.workspace_id:
            raise ValidationError({"folder": "The folder belongs to another workspace."})


# The image formats uploads may have: Pillow's name → (file suffix, media type). Files are
# stored under their digest and this suffix, and served as this media type, never as what
# the uploader's file name suggests.
IMAGE_FORMATS = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "GIF": ("gif", "image/gif"),
    "BMP": ("bmp", "image/bmp"),
    "TIFF": ("tiff", "image/tiff"),
    "WEBP": ("webp", "image/webp"),
}
MEDIA_TYPES = dict(IMAGE_FORMATS.values())


def image_upload_to(image: "Image", filename: str) -> str:
    return f"images/{image.project.workspace_id}/{image.project_id}/{filename}"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALID = "valid", "Valid"
    TEST = "test", "Test"


class Image(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to=image_upload_to)
    name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, help_text="Digest of the file's bytes, for duplicate detection.")
    split = models.CharField(max_length=10, choices=Split.choices, default=Split.TRAIN)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    batch = models.CharField(max_length=100, blank=True)
    annotated = models.BooleanField(default=False)
    annotation = models.JSONField(null=True, blank=True, help_text="Boxes or classes, as `annotations.Annotation`.")
    labels = models.JSONField(default=list, blank=True, help_text="The annotation's labels, sorted: for search.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="image_unique_bytes_per_project"),
            models.CheckConstraint(condition=Q(split__in=Split.values), name="image_split_valid"),
            models.CheckConstraint(condition=Q(width__gt=0, height__gt=0), name="image_dimensions_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES.get((self.file.name or "").rsplit(".", 1)[-1], "application/octet-stream")


class Work(models.TextChoices):
    """Where a piece of background work stands (a version being generated, an export built)."""

    PENDING = "pending", "Waiting for or being built by a worker"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class BackgroundWork(models.Model):
    """What a worker builds: its state and progress, and the lease of the worker building it.
    A worker holds the lease while it works (`lease_until`, renewed as it goes); a lease that
    runs out means the worker stopped, and another one takes the work over (`attempts`)."""

    state = models.CharField(max_length=10, choices=Work.choices, default=Work.PENDING)
    progress = models.FloatField(default=0.0, help_text="0 to 1 while pending; 1 when ready.")
    failure = models.CharField(max_length=500, blank=True, help_text="Why it failed, as the API shows it.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Workers that took it on.")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="The worker building it holds it until.")
    task_id = models.CharField(max_length=64, blank=True, help_text="The background task that builds it.")

    class Meta:
        abstract = True


class VersionQuerySet(models.QuerySet):
    def live(self):
        """Versions that are not in the trash."""
        return self.filter(deleted_at__isnull=True)


class Version(BackgroundWork):
    """A dataset version: its images frozen when it was generated (`VersionImage`), which
    nothing done to the project's images afterwards changes. The request freezes what each image
    is (name, split, annotation); a worker then freezes its bytes and applies the settings."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=100, blank=True)
    settings = models.JSONField(default=dict, blank=True, help_text="Preprocessing and augmentation asked for.")
    exports = models.JSONField(default=list, blank=True, help_text="The formats it has been exported in.")
    created = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Moved to the trash at; purged 30 days on.")
    deleted_by = models.CharField(max_length=200, blank=True, help_text="Who moved it to the trash.")

    objects = VersionQuerySet.as_manager()

    class Meta:
        ordering = ["project", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="version_unique_number_per_project"),
            models.CheckConstraint(condition=Q(number__gte=1), name="version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.number}"


def blob_upload_to(blob: "Blob", filename: str) -> str:
    return f"blobs/{blob.workspace_id}/{blob.sha256[:2]}/{filename}"


class Blob(models.Model):
    """An image's bytes as versions froze them: stored once per workspace by their SHA-256,
    shared by every version that holds them, deleted with the last one."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to=blob_upload_to)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "sha256"], name="blob_unique_bytes_per_workspace")]

    def __str__(self) -> str:
        return self.sha256


class VersionImage(models.Model):
    """One image of a version, as it was when the version was generated: its bytes (a blob),
    name, split, size, tags and annotation. `source_id` is the project image it came from
    (its id in exports), kept when that image is deleted; `variant` numbers the outputs of one
    image (several when augmentation makes more than one per training image)."""

    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="images")
    source_id = models.PositiveBigIntegerField()
    variant = models.PositiveSmallIntegerField(default=0)
    blob = models.ForeignKey(
        Blob,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="None until a worker froze it.",
    )
    name = models.CharField(max_length=255)
    split = models.CharField(max_length=10, choices=Split.choices)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    tags = models.JSONField(default=list, blank=True)
    annotated = models.BooleanField(default=False)
    annotation = models.JSONField(null=True, blank=True)
    labels = models.JSONField(default=list, blank=True, help_text="The annotation's labels, sorted.")

    class Meta:
        ordering = ["split", "source_id", "variant"]
        constraints = [
            models.UniqueConstraint(fields=["version", "source_id", "variant"], name="version_image_once"),
            models.CheckConstraint(condition=Q(split__in=Split.values), name="version_image_split_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.version} image {self.source_id}"


def weights_upload_to(model: "Model", filename: str) -> str:
    name = filename.rsplit("/", 1)[-1]
    return f"weights/{model.project.workspace_id}/{model.project_id}/{secrets.token_hex(8)}-{name}"


class Model(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="models")
    version = models.ForeignKey(Version, null=True, blank=True, on_delete=models.SET_NULL, related_name="models")
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=50, help_text="Architecture, e.g. yolov8n.")
    weights = models.FileField(upload_to=weights_upload_to)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="model_unique_name_per_project"),
            models.CheckConstraint(condition=~Q(name=""), name="model_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"

    def clean(self) -> None:
        if self.version is not None and self.version.project_id != self.project_id:
            raise ValidationError({"version": "The version belongs to another project."})


def export_upload_to(export: "Export", filename: str) -> str:
    return f"exports/{export.version.project.workspace_id}/{export.version_id}/{filename}"


class Export(BackgroundWork):
    """A version's zip in one format, built once by a worker and kept (deleted with the version)."""

    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="built_exports")
    format = models.CharField(max_length=30)
    file = models.FileField(upload_to=export_upload_to, blank=True)
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes of the zip.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "format"], name="export_once_per_format")]

    def __str__(self) -> str:
        return f"{self.version} {self.format}"
