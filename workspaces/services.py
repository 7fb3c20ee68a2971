"""Writes that span the tenancy models. Each runs in one transaction."""

import hashlib
import io

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User as UserType
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from PIL import Image as PILImage

from .models import Image, Membership, Plan, Project, Role, Split, Workspace

User = get_user_model()


@transaction.atomic
def workspace_create(*, name: str, url: str, owner: UserType, plan: str = Plan.FREE) -> Workspace:
    """Create a workspace with `owner` as its owner member, and its full-access default key."""
    from apikeys.services import Actor, api_key_create_default

    workspace = Workspace(name=name, url=url, plan=plan)
    workspace.full_clean()
    workspace.save()
    Membership.objects.create(user=owner, workspace=workspace, role=Role.OWNER)
    api_key_create_default(workspace=workspace, actor=Actor(user=owner))
    return workspace


@transaction.atomic
def user_sign_up(*, email: str, password: str, workspace_name: str, workspace_url: str) -> tuple[UserType, Workspace]:
    """Create a user (their email is their username) and their first workspace, on the free plan."""
    user = User.objects.create_user(username=email.lower(), email=email.lower(), password=password)
    workspace = workspace_create(name=workspace_name, url=workspace_url, owner=user)
    return user, workspace


NOT_AN_IMAGE = "The file is not an image that can be read (PNG, JPEG, GIF, BMP, TIFF or WebP)."
IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff", "WEBP": "webp"}


def read_image(data: bytes) -> tuple[int, int, str]:
    """Width, height and file suffix of an image, read from its bytes; ValidationError if it is not one."""
    try:
        with PILImage.open(io.BytesIO(data)) as picture:
            picture.verify()
            width, height = picture.size
            suffix = IMAGE_FORMATS.get(picture.format or "")
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError):
        raise ValidationError(NOT_AN_IMAGE, code="not_an_image") from None
    if suffix is None or width < 1 or height < 1:
        raise ValidationError(NOT_AN_IMAGE, code="not_an_image")
    return width, height, suffix


def image_create(
    *,
    project: Project,
    data: bytes,
    name: str,
    split: str = Split.TRAIN,
    tags: list[str] | None = None,
    metadata: dict | None = None,
    batch: str = "",
) -> tuple[Image, bool]:
    """Store an image in `project`; returns (image, created). The same bytes twice give the first image back."""
    width, height, suffix = read_image(data)
    digest = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(project=project, sha256=digest).first()
    if existing is not None:
        return existing, False
    image = Image(
        project=project,
        name=name,
        sha256=digest,
        split=split,
        width=width,
        height=height,
        tags=tags or [],
        metadata=metadata or {},
        batch=batch,
    )
    image.full_clean(exclude=["file"])
    image.file.save(f"{digest}.{suffix}", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            image.save()
    except IntegrityError:
        # A concurrent upload of the same bytes won the race: keep its row, drop our file.
        image.file.delete(save=False)
        return Image.objects.get(project=project, sha256=digest), False
    except BaseException:
        image.file.delete(save=False)
        raise
    return image, True
