"""Demo data for `manage.py seed_demo`: the same rows however often it runs."""

import hashlib
import io
import random
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image as PILImage
from PIL import ImageDraw

from workspaces.annotations import Annotation, Box
from workspaces.models import (
    CLASSIFICATION_TYPES,
    Folder,
    Image,
    Membership,
    Model,
    Plan,
    Project,
    ProjectType,
    Role,
    Split,
    Version,
    Workspace,
)
from workspaces.services import image_annotate, image_create, version_generate

User = get_user_model()

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - the demo password is printed on purpose
OPERATOR = "operator@example.com"  # a superuser, for /admin

USERS = [
    ("owner@example.com", [("acme", Role.OWNER), ("hobby", Role.OWNER)]),
    ("admin@example.com", [("acme", Role.ADMIN)]),
    ("member@example.com", [("acme", Role.MEMBER)]),
]

WORKSPACES: dict[str, dict[str, Any]] = {
    "acme": {
        "name": "Acme Vision",
        "plan": Plan.ENTERPRISE,
        "folders": ["Manufacturing", "Retail"],
        "projects": [
            (
                "defect-detection",
                "Defect detection",
                ProjectType.OBJECT_DETECTION,
                "defects",
                "Manufacturing",
                ["scratch", "dent"],
            ),
            (
                "shelf-monitoring",
                "Shelf monitoring",
                ProjectType.OBJECT_DETECTION,
                "products",
                "Retail",
                ["bottle", "can"],
            ),
            ("safety-gear", "Safety gear", ProjectType.SINGLE_LABEL, "ppe", None, ["helmet", "no-helmet"]),
        ],
    },
    "hobby": {
        "name": "Hobby Lab",
        "plan": Plan.FREE,
        "folders": ["Experiments"],
        "projects": [
            ("bird-species", "Bird species", ProjectType.SINGLE_LABEL, "birds", "Experiments", ["robin", "wren"]),
        ],
    },
}
IMAGES_PER_PROJECT = 3


@dataclass
class DemoResult:
    users: list[dict] = field(default_factory=list)
    workspaces: list[dict] = field(default_factory=list)
    operators: list[dict] = field(default_factory=list)


def demo_png(seed: str, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small real PNG whose pixels depend only on `seed`, so reseeding finds the same bytes."""
    rng = random.Random(seed)
    picture = PILImage.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(picture)
    for _ in range(4):
        x0, y0 = rng.randrange(size[0] // 2), rng.randrange(size[1] // 2)
        x1, y1 = x0 + rng.randrange(4, size[0] // 2), y0 + rng.randrange(4, size[1] // 2)
        draw.rectangle((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def demo_annotation(image: Image, labels: list[str], classification: bool) -> Annotation:
    """The same labels and boxes for the same image, every run."""
    rng = random.Random(f"{image.project_id}/{image.name}")
    if classification:
        return Annotation(format="classification", classes=(rng.choice(labels),))
    boxes = []
    for _ in range(rng.randint(1, 3)):
        width, height = rng.randint(6, image.width // 2), rng.randint(6, image.height // 2)
        x, y = rng.randint(0, image.width - width), rng.randint(0, image.height - height)
        boxes.append(Box(rng.choice(labels), float(x), float(y), float(width), float(height)))
    return Annotation(format="coco", boxes=tuple(boxes))


def _seed_images(project: Project, labels: list[str]) -> list[Image]:
    """Three images, the first two annotated (the last one left for a labeler)."""
    images = []
    for n in range(1, IMAGES_PER_PROJECT + 1):
        image, _ = image_create(
            project=project,
            data=demo_png(f"{project.workspace.url}/{project.slug}/{n}"),
            name=f"{project.slug}-{n}.png",
            split=Split.TRAIN if n < IMAGES_PER_PROJECT else Split.VALID,
            tags=["demo"],
        )
        if n < IMAGES_PER_PROJECT:
            annotation = demo_annotation(image, labels, project.type in CLASSIFICATION_TYPES)
            image = image_annotate(image=image, annotation=annotation, overwrite=True)
        images.append(image)
    return images


def _seed_project(workspace: Workspace, folders: dict[str, Folder], spec) -> None:
    slug, name, type_, annotation, folder_name, labels = spec
    project, _ = Project.objects.update_or_create(
        workspace=workspace,
        slug=slug,
        defaults={
            "name": name,
            "type": type_,
            "annotation": annotation,
            "folder": folders.get(folder_name) if folder_name else None,
            "deleted_at": None,
            "deleted_by": "",
        },
    )
    _seed_images(project, labels)
    version = project.versions.filter(number=1).first()
    if version is None:
        version = version_generate(project=project, settings={}, name="demo")
    elif version.deleted_at is not None:  # back from the trash, as it was frozen
        Version.objects.filter(pk=version.pk).update(deleted_at=None, deleted_by="")
    if not Model.objects.filter(project=project, name=f"{slug}-v1").exists():
        model = Model(project=project, version=version, name=f"{slug}-v1", type="yolov8n")
        weights = hashlib.sha256(f"weights:{workspace.url}/{slug}".encode()).digest() * 32
        model.weights.save(f"{slug}-v1.bin", ContentFile(weights), save=False)
        model.save()


def _demo_key(workspace: Workspace, *, new_keys: bool) -> tuple[str, str | None]:
    """The workspace's default key: its prefix, and its secret when this run made one.

    Secrets are never stored, so an existing key's cannot be shown again: it is kept as it is
    (a user may have exported it), unless `new_keys` asks for a fresh secret (a roll). A
    default key that is missing or was restricted is replaced by a full-access one.
    """
    from apikeys.models import ApiKey
    from apikeys.services import DEFAULT_KEY, api_key_create, api_key_revoke, api_key_roll, api_key_unprotect
    from workspaces.actors import Actor

    actor = Actor()
    key = ApiKey.objects.live().filter(workspace=workspace, is_default=True).first()
    plain = (
        key is not None
        and key.scopes is None
        and not (key.folders_limited or key.allowed_ips or key.expires_at or key.disabled or key.protected)
    )
    if key is not None and plain:
        if not new_keys:
            return key.prefix, None
        new, secret = api_key_roll(key=key, actor=actor)
        return new.prefix, secret
    retire = [key] if key is not None else []
    if not workspace.is_enterprise:  # a single-key plan: the slot must be free
        retire = list(ApiKey.objects.live().filter(workspace=workspace))
    for old in retire:
        if old.protected:
            api_key_unprotect(key=old, actor=actor)
        api_key_revoke(key=old, actor=actor)
    new, secret = api_key_create(workspace=workspace, actor=actor, spec=DEFAULT_KEY)
    return new.prefix, secret


@transaction.atomic
def seed_demo(password: str = DEMO_PASSWORD, *, new_keys: bool = False) -> DemoResult:
    result = DemoResult()
    workspaces: dict[str, Workspace] = {}
    for url, spec in WORKSPACES.items():
        workspace, _ = Workspace.objects.update_or_create(
            url=url, defaults={"name": spec["name"], "plan": spec["plan"]}
        )
        workspaces[url] = workspace
        folders = {name: Folder.objects.get_or_create(workspace=workspace, name=name)[0] for name in spec["folders"]}
        for project_spec in spec["projects"]:
            _seed_project(workspace, folders, project_spec)
        prefix, secret = _demo_key(workspace, new_keys=new_keys)
        result.workspaces.append({"url": url, "plan": workspace.plan, "apiKey": secret, "apiKeyPrefix": prefix})

    for email, memberships in USERS:
        user, _ = User.objects.get_or_create(username=email, defaults={"email": email})
        user.set_password(password)
        user.save()
        for url, role in memberships:
            Membership.objects.update_or_create(user=user, workspace=workspaces[url], defaults={"role": role})
            result.users.append({"email": email, "password": password, "workspace": url, "role": role.value})

    operator, _ = User.objects.get_or_create(username=OPERATOR, defaults={"email": OPERATOR})
    operator.is_staff = operator.is_superuser = True
    operator.set_password(password)
    operator.save()
    result.operators.append({"email": OPERATOR, "password": password, "admin": "/admin/"})
    return result
