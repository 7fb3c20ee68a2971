"""Writes that span the tenancy models. Each runs in one transaction."""

import hashlib
import io
import re
import secrets
import warnings
from collections.abc import Sequence
from enum import Enum
from itertools import islice
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from PIL import Image as PILImage

from core.errors import Conflict, InvalidValue, NotFound, ServiceError

from . import audit, background, generation
from .actors import Actor
from .annotations import Annotation
from .audit import Done
from .background import delete_files_on_commit, drop_unused_blobs
from .models import (
    IMAGE_FORMATS,
    MAX_METADATA,
    MAX_TAGS,
    RESERVED_PROJECT_SLUGS,
    SIGN_UP_LINK_LIFETIME,
    TRASH_RETENTION,
    Export,
    Folder,
    Image,
    Membership,
    Model,
    PendingSignUp,
    Plan,
    Project,
    Role,
    Split,
    Version,
    VersionImage,
    Work,
    Workspace,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # the type of AUTH_USER_MODEL

UserModel = get_user_model()


@transaction.atomic
def workspace_create(*, name: str, url: str, owner: "User", plan: str = Plan.FREE) -> Workspace:
    """Create a workspace with `owner` as its owner member. (Its default API key comes from
    `apikeys.services.workspace_create_with_key`, which callers use.)"""
    workspace = Workspace(name=name, url=url, plan=plan)
    workspace.full_clean()
    workspace.save()
    Membership.objects.create(user=owner, workspace=workspace, role=Role.OWNER)
    return workspace


SIGN_UP_LINK_INVALID = "This link is not valid: it was used already, or it expired. Sign up again to get a new one."
ACCOUNT_EXISTS = "An account with this address exists already: log in, or reset its password."
MAIL_FAILED = "The mail could not be sent just now. Nothing was saved: try again in a few minutes."


def send_account_mail(*, to: str, template: str, context: dict) -> None:
    """One plain-text mail: the template's first line is the subject, the rest the body.
    ServiceError when the mail server refuses it, so that the caller's transaction rolls back."""
    subject, _, body = render_to_string(template, {**context, "site_url": settings.SITE_URL}).partition("\n")
    try:
        EmailMessage(subject=subject.strip(), body=body.lstrip("\n"), to=[to]).send()
    except Exception as exc:  # whatever the mail backend raises
        raise ServiceError(MAIL_FAILED) from exc


def _sign_up_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def user_sign_up_begin(*, email: str, workspace_name: str, workspace_url: str) -> None:
    """A sign-up's first step: mail the address, and answer the same whether or not it has an
    account (the caller shows "check your inbox" either way). A new address gets a link that
    creates the account with a password chosen then (`user_sign_up_complete`); an address with
    an account gets a mail saying so, and nothing changes."""
    email = email.lower()
    PendingSignUp.objects.filter(created__lt=timezone.now() - SIGN_UP_LINK_LIFETIME).delete()
    if UserModel.objects.filter(username=email).exists():
        send_account_mail(
            to=email,
            template="accounts/email/already_registered.txt",
            context={"email": email, "login": reverse("accounts:login"), "reset": reverse("accounts:password_reset")},
        )
        return
    token = secrets.token_hex(32)  # hex: nothing in a page's path may look like an API key
    PendingSignUp.objects.create(
        email=email,
        workspace_name=workspace_name,
        workspace_url=workspace_url,
        token_digest=_sign_up_digest(token),
    )
    send_account_mail(
        to=email,
        template="accounts/email/confirm_sign_up.txt",
        context={
            "email": email,
            "link": reverse("accounts:confirm_sign_up", kwargs={"token": token}),
            "hours": int(SIGN_UP_LINK_LIFETIME.total_seconds() // 3600),
        },
    )


def user_sign_up_pending(*, token: str) -> PendingSignUp:
    """The sign-up a link confirms; NotFound when it was used already or has expired."""
    found = PendingSignUp.objects.filter(
        token_digest=_sign_up_digest(token), created__gte=timezone.now() - SIGN_UP_LINK_LIFETIME
    ).first()
    if found is None:
        raise NotFound(SIGN_UP_LINK_INVALID)
    return found


@transaction.atomic
def user_sign_up_complete(*, token: str, password: str) -> tuple["User", PendingSignUp]:
    """Create the account a link confirms, with `password` (validated by the caller's form);
    the link, and every other pending sign-up of that address, are used up. NotFound when the
    link was used meanwhile (a second click); Conflict when the address got an account
    meanwhile (through another of its links)."""
    locked = PendingSignUp.objects.select_for_update().filter(pk=user_sign_up_pending(token=token).pk).first()
    if locked is None:
        raise NotFound(SIGN_UP_LINK_INVALID)
    pending = locked
    PendingSignUp.objects.filter(email=pending.email).delete()
    if UserModel.objects.filter(username=pending.email).exists():
        raise Conflict(ACCOUNT_EXISTS)
    user = UserModel(username=pending.email, email=pending.email)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # another of its links, followed at the same moment, made it
        raise Conflict(ACCOUNT_EXISTS) from None
    return user, pending


NOT_AN_IMAGE = "The file is not an image that can be read (PNG, JPEG, GIF, BMP, TIFF or WebP)."
TOO_MANY_PIXELS = "The image is {width} × {height} pixels; this server accepts at most {limit} pixels per image."


def read_image(data: bytes) -> tuple[int, int, str]:
    """Width, height and file suffix of an image, read from its bytes; InvalidValue if it is
    not one. The image is decoded in full, so a header that claims a size its data does not
    have is refused, and only after its size is checked against MAX_IMAGE_PIXELS, so that a
    small file that would decompress to gigabytes (a decompression bomb) is never decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data), formats=list(IMAGE_FORMATS)) as picture:
                width, height = picture.size
                suffix = IMAGE_FORMATS.get(picture.format or "", (None, None))[0]
                if suffix is None or width < 1 or height < 1:
                    raise InvalidValue(NOT_AN_IMAGE, field="file")
                if width * height > settings.MAX_IMAGE_PIXELS:
                    limit = settings.MAX_IMAGE_PIXELS
                    raise InvalidValue(TOO_MANY_PIXELS.format(width=width, height=height, limit=limit), field="file")
                picture.load()
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise InvalidValue(NOT_AN_IMAGE, field="file") from None
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
    _full_clean(image, exclude=["file"])
    # A name of its own: an upload of the same bytes at once (which loses the row's race below)
    # then removes only its own file, whatever the storage's name check saw (S3 has no atomic one).
    image.file.save(f"{digest}-{secrets.token_hex(4)}.{suffix}", ContentFile(data), save=False)
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


# Projects, folders, images, versions and models ------------------------------------------
# Views check who may do what (scopes, folders); these enforce what the data allows and
# keep files and rows in step: a file is deleted only once the row's deletion has committed.


def _save_unique(obj, conflict: str) -> None:
    """Save; a unique constraint lost to a concurrent writer is the same 409 as one seen before."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise Conflict(conflict, field="name") from None


def unique_project_slug(workspace: Workspace, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", slugify(name))[:40].strip("-") or "project"
    if base in RESERVED_PROJECT_SLUGS or len(base) < 2:
        base = f"{base}-project"
    taken = set(Project.objects.filter(workspace=workspace, slug__startswith=base).values_list("slug", flat=True))
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def _full_clean(obj, exclude=None, validate_unique=True) -> None:
    """Field validation as a 400. With validate_unique=False the database's constraints judge
    uniqueness at save time (see `_save_unique`), so that a race gives the same answer."""
    try:
        obj.full_clean(exclude=exclude, validate_unique=validate_unique, validate_constraints=validate_unique)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise InvalidValue(f"{field}: {' '.join(messages)}", field=field) from None


def project_create(
    *, workspace: Workspace, name: str, type: str, annotation: str, license: str = "", folder: Folder | None = None
) -> Project:
    """A project with a url made from its name: `my-cars`, else `my-cars-2`, and so on."""
    for _ in range(5):  # a concurrent create may take the slug between the check and the insert
        project = Project(
            workspace=workspace,
            slug=unique_project_slug(workspace, name),
            name=name,
            type=type,
            annotation=annotation,
            license=license,
            folder=folder,
        )
        _full_clean(project, exclude=["classes"], validate_unique=False)
        try:
            with transaction.atomic():
                project.save()
            return project
        except IntegrityError:
            continue
    raise Conflict("Too many projects are being created with this name at once; try again.")


@transaction.atomic
def project_update(
    *,
    project: Project,
    name: str | None = None,
    annotation: str | None = None,
    license: str | None = None,
    public: bool | None = None,
    classes: dict[str, int] | None = None,
) -> Project:
    """Change what is given (None: leave as it is)."""
    changes = {"name": name, "annotation": annotation, "license": license, "public": public, "classes": classes}
    for field, value in changes.items():
        if value is not None:
            setattr(project, field, value)
    _full_clean(project)
    project.save()
    return project


@transaction.atomic
def project_delete(*, project: Project, actor: Actor) -> None:
    """Gone for good, with its files: the trash's purge (deleting through the API trashes)."""
    list(Version.objects.select_for_update().filter(project=project))  # (as version_delete: workers first)
    files = [i.file for i in project.images.all()] + [m.weights for m in project.models.all()]
    files += [e.file for e in Export.objects.filter(version__project=project)]
    _record(Done.DELETE, project.workspace, actor, f"project {project.name} ({project.slug})", project=project.pk)
    held = list(VersionImage.objects.filter(version__project=project).values_list("blob_id", flat=True))
    project.delete()
    delete_files_on_commit(files)
    drop_unused_blobs(held)


def project_trash(*, project: Project, actor: Actor) -> Project:
    """Into the trash: out of every listing and route, restorable for TRASH_RETENTION."""
    return _trash(project, actor)


def project_restore(*, project: Project, actor: Actor) -> Project:
    return _restore(project, actor)


def _subject(item: Project | Version) -> tuple[Workspace, str, dict]:
    if isinstance(item, Project):
        return item.workspace, f"project {item.name} ({item.slug})", {"project": item.pk}
    project = item.project
    return project.workspace, f"version {item.number} of project {project.slug}", {"version": item.pk}


@transaction.atomic
def _trash[T: (Project, Version)](item: T, actor: Actor) -> T:
    """A project or version into the trash (once: trashing it again changes nothing)."""
    locked = type(item).objects.select_for_update().get(pk=item.pk)
    if locked.deleted_at is None:
        locked.deleted_at, locked.deleted_by = timezone.now(), actor.label[:200]
        locked.save(update_fields=["deleted_at", "deleted_by"])
        workspace, subject, detail = _subject(item)
        _record(Done.TRASH, workspace, actor, subject, **detail)
    return locked


@transaction.atomic
def _restore[T: (Project, Version)](item: T, actor: Actor) -> T:
    locked = type(item).objects.select_for_update().get(pk=item.pk)
    if locked.deleted_at is not None:  # restored once: a second restore changes nothing
        locked.deleted_at, locked.deleted_by = None, ""
        locked.save()
        workspace, subject, detail = _subject(item)
        _record(Done.RESTORE, workspace, actor, subject, **detail)
    return locked


def _record(action: Done, workspace: Workspace, actor: Actor, subject: str, **detail) -> None:
    audit.record(audit.Change(workspace=workspace, actor=actor, action=action, subject=subject, detail=detail))


def trash_purge(*, actor: Actor, now=None, dry_run: bool = False) -> list[str]:
    """Delete for good what has been in the trash for longer than TRASH_RETENTION: projects
    (with their files) and versions. Their names (`workspace/project`, `workspace/project/3`);
    each goes in its own transaction."""
    cutoff = (now or timezone.now()) - TRASH_RETENTION
    purged = []
    projects = Project.objects.filter(deleted_at__lte=cutoff).select_related("workspace").order_by("deleted_at", "pk")
    for project in projects:
        purged.append(f"{project.workspace.url}/{project.slug}")
        if not dry_run:
            with transaction.atomic():
                project_delete(project=project, actor=actor)
    versions = Version.objects.filter(deleted_at__lte=cutoff).select_related("project__workspace").order_by("pk")
    for version in versions:
        purged.append(f"{version.project.workspace.url}/{version.project.slug}/{version.number}")
        if not dry_run:
            version_delete(version=version, actor=actor)
    return purged


@transaction.atomic
def folder_create(*, workspace: Workspace, name: str, projects: Sequence[Project] = ()) -> Folder:
    if Folder.objects.filter(workspace=workspace, name=name).exists():
        raise Conflict(f"A folder named {name!r} exists already.", field="name")
    folder = Folder(workspace=workspace, name=name)
    _full_clean(folder, validate_unique=False)
    _save_unique(folder, f"A folder named {name!r} exists already.")
    Project.objects.filter(pk__in=[p.pk for p in projects]).update(folder=folder)
    return folder


@transaction.atomic
def folder_rename(*, folder: Folder, name: str) -> Folder:
    if Folder.objects.filter(workspace_id=folder.workspace_id, name=name).exclude(pk=folder.pk).exists():
        raise Conflict(f"A folder named {name!r} exists already.", field="name")
    folder.name = name
    _full_clean(folder, validate_unique=False)
    _save_unique(folder, f"A folder named {name!r} exists already.")
    return folder


@transaction.atomic
def folder_delete(*, folder: Folder, actor: Actor) -> None:
    """Its projects stay, out of any folder. Keys limited to it lose it (never widen)."""
    _record(Done.DELETE, folder.workspace, actor, f"folder {folder.name}", folder=folder.pk)
    folder.delete()


@transaction.atomic
def folder_move_projects(*, folder: Folder, projects: list[Project], into: bool) -> None:
    """Move `projects` into `folder`, or (into=False) out of it to no folder."""
    ids = [p.pk for p in projects]
    if into:
        Project.objects.filter(pk__in=ids).update(folder=folder)
    else:
        outside = [p.slug for p in projects if p.folder_id != folder.pk]
        if outside:
            raise InvalidValue(f"Not in this folder: {', '.join(outside)}.", field="projects")
        Project.objects.filter(pk__in=ids).update(folder=None)


@transaction.atomic
def image_update(
    *,
    image: Image,
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
    set_tags: Sequence[str] | None = None,
    metadata: dict | None = None,
    remove_metadata: Sequence[str] = (),
) -> Image:
    """Tags set, added or removed (in that order), metadata merged and keys removed."""
    image = Image.objects.select_for_update().get(pk=image.pk)
    tags = list(dict.fromkeys(set_tags)) if set_tags is not None else image.tags
    tags = [t for t in tags + [t for t in add_tags if t not in tags] if t not in remove_tags]
    merged = {k: v for k, v in {**image.metadata, **(metadata or {})}.items() if k not in remove_metadata}
    if len(tags) > MAX_TAGS:
        raise InvalidValue(f"An image has at most {MAX_TAGS} tags.", field="tags")
    if len(merged) > MAX_METADATA:
        raise InvalidValue(f"An image has at most {MAX_METADATA} metadata entries.", field="metadata")
    image.tags, image.metadata = list(dict.fromkeys(tags)), merged
    image.save(update_fields=["tags", "metadata"])
    return image


def _count_classes(project: Project, images: Sequence[Image], *, sign: int) -> None:
    """Add (sign 1) or take away (sign -1) the images' labels in the project's class counts;
    the caller holds the project's row lock."""
    classes = dict(project.classes)
    for image in images:
        if image.annotation:
            for label, n in Annotation.from_json(image.annotation).counts().items():
                classes[label] = classes.get(label, 0) + sign * n
    project.classes = {label: n for label, n in classes.items() if n > 0}


@transaction.atomic
def image_annotate(
    *, image: Image, annotation: Annotation, overwrite: bool, prediction: bool = False, job: str = ""
) -> Image:
    """The image's annotation, and its labels counted in the project's classes."""
    project = Project.objects.select_for_update().get(pk=image.project_id)
    image = Image.objects.select_for_update().get(pk=image.pk)
    if image.annotation and not overwrite:
        raise Conflict(
            "This image is already annotated.", field="overwrite", hint="Send overwrite=true to replace its annotation."
        )
    _count_classes(project, [image], sign=-1)
    stored = annotation.to_json()
    if prediction:
        stored["prediction"] = True
    if job:
        stored["job"] = job
    image.annotation, image.labels, image.annotated = stored, sorted(annotation.counts()), True
    image.save(update_fields=["annotation", "labels", "annotated"])
    _count_classes(project, [image], sign=1)
    project.save(update_fields=["classes", "updated"])
    return image


@transaction.atomic
def images_delete(*, images: Sequence[Image], actor: Actor) -> list[int]:
    """Delete these images (and their files, once committed), taking their labels out of their
    projects' class counts; recorded once per project."""
    ids = [i.pk for i in images]
    locked = list(Image.objects.select_for_update().filter(pk__in=ids))
    # Locks the projects (their class counts change), not their workspace rows.
    projects = Project.objects.select_for_update(of=("self",)).filter(pk__in={i.project_id for i in locked})
    for project in projects.select_related("workspace"):
        gone = [i for i in locked if i.project_id == project.pk]
        _count_classes(project, gone, sign=-1)
        project.save(update_fields=["classes", "updated"])
        what = f"{len(gone)} image{'s' if len(gone) != 1 else ''} of project {project.slug}"
        _record(Done.DELETE, project.workspace, actor, what, project=project.pk, images=sorted(i.pk for i in gone))
    Image.objects.filter(pk__in=[i.pk for i in locked]).delete()
    delete_files_on_commit([i.file for i in locked])
    return sorted(i.pk for i in locked)


FREEZE_BATCH = 1000
MAX_VERSION_IMAGES = 20_000  # what tiles, isolated objects and outputs per image may multiply to


@transaction.atomic
def version_generate(*, project: Project, settings: dict, name: str = "") -> Version:
    """The project's next version, answered at once: what each image is now (name, split, size,
    tags, annotation) is frozen here, so that nothing done to the images later changes the
    version; a worker then freezes their bytes, applying the preprocessing and augmentation
    (`background.generate_version`; the version is pending until then). Settings that cannot be
    applied are refused (a 400 naming them) before anything is made."""
    try:
        steps = generation.plan(settings)
    except generation.SettingsError as error:
        raise InvalidValue(str(error), field=error.path.split(".")[0]) from None
    project = Project.objects.select_for_update().get(pk=project.pk)
    if not project.images.exists():
        # The SDK waits for a version of no images as for one still generating: forever.
        raise InvalidValue("The project has no images to put in a version; upload some first.")
    if steps.outputs > 1 or steps.tiles or steps.isolate:
        total = sum(
            steps.outputs_of(split, len((annotation or {}).get("boxes") or []))
            for split, annotation in project.images.values_list("split", "annotation").iterator()
        )
        if total > MAX_VERSION_IMAGES:
            raise InvalidValue(
                f"These settings make {total:,} images; a version holds at most {MAX_VERSION_IMAGES:,}.",
                field="augmentation" if steps.outputs > 1 else "preprocessing",
            )
    number = (project.versions.aggregate(m=Max("number"))["m"] or 0) + 1
    version = Version.objects.create(project=project, number=number, name=name, settings=steps.settings)
    fields = ("pk", "name", "split", "width", "height", "tags", "annotated", "annotation", "labels")
    rows = project.images.order_by("pk").values_list(*fields).iterator(chunk_size=FREEZE_BATCH)
    while batch := list(islice(rows, FREEZE_BATCH)):  # written as they come: memory stays flat
        VersionImage.objects.bulk_create(
            VersionImage(version=version, source_id=pk, name=n, split=sp, width=w, height=h, tags=t, annotated=a,
                         annotation=an, labels=lb)
            for pk, n, sp, w, h, t, a, an, lb in batch
        )  # fmt: skip
    background.enqueue(version)
    version.refresh_from_db()
    return version


@transaction.atomic
def export_request(*, version: Version, format: str) -> Export | None:
    """The version's export in `format`: built once by a worker (`background.build_export`),
    then kept. Asking again answers the same export, in whatever state it is (one that failed
    is tried again). None while the version itself is generating (its export is asked for once
    it is ready)."""
    if version.state == Work.FAILED:
        raise Conflict(f"Version {version.number} failed: {version.failure}")
    if version.state == Work.PENDING:
        return None
    export, made = Export.objects.get_or_create(version=version, format=format)
    # Failed for good (an outage outlasted its attempts): asked for again, it is tried again.
    again = not made and Export.objects.filter(pk=export.pk, state=Work.FAILED).update(
        state=Work.PENDING, progress=0.0, attempts=0, lease_until=None
    )
    if made or again:
        background.enqueue(export)
        export.refresh_from_db()
    return export


def version_trash(*, version: Version, actor: Actor) -> Version:
    """Into the trash: out of the project's versions, restorable for TRASH_RETENTION."""
    return _trash(version, actor)


def version_restore(*, version: Version, actor: Actor) -> Version:
    return _restore(version, actor)


@transaction.atomic
def version_delete(*, version: Version, actor: Actor) -> None:
    """Gone for good (the project's images stay), with the blobs no other version holds: the
    trash's purge, and the admin."""
    # Locked first: a worker's batch or export in progress commits before what it holds is read.
    version = Version.objects.select_for_update(of=("self",)).select_related("project__workspace").get(pk=version.pk)
    workspace, subject, detail = _subject(version)
    _record(Done.DELETE, workspace, actor, subject, **detail)
    held = list(version.images.values_list("blob_id", flat=True))
    files = [e.file for e in version.built_exports.all()]
    version.delete()
    delete_files_on_commit(files)
    drop_unused_blobs(held)


@transaction.atomic
def model_create(*, project: Project, name: str, type: str, upload, version: Version | None = None) -> Model:
    if Model.objects.filter(project=project, name=name).exists():
        raise Conflict(f"A model named {name!r} exists already in this project.", field="name")
    model = Model(project=project, name=name, type=type, version=version)
    _full_clean(model, exclude=["weights"], validate_unique=False)
    model.weights.save(upload.name, upload, save=False)
    try:
        _save_unique(model, f"A model named {name!r} exists already in this project.")
    except BaseException:
        model.weights.delete(save=False)
        raise
    return model


class Unchanged(Enum):
    """A keyword left out: what it names stays as it is (where None is a value of its own)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@transaction.atomic
def model_update(
    *,
    model: Model,
    name: str | None = None,
    type: str | None = None,
    version: Version | Unchanged | None = UNCHANGED,
) -> Model:
    """Change what is given: a name or type (None: leave it), the version it was trained on
    (None: none)."""
    if name is not None and Model.objects.filter(project=model.project, name=name).exclude(pk=model.pk).exists():
        raise Conflict(f"A model named {name!r} exists already in this project.", field="name")
    if name is not None:
        model.name = name
    if type is not None:
        model.type = type
    if not isinstance(version, Unchanged):
        model.version = version
    _full_clean(model, validate_unique=False)
    _save_unique(model, f"A model named {model.name!r} exists already in this project.")
    return model


@transaction.atomic
def model_delete(*, model: Model, actor: Actor) -> None:
    project = model.project
    _record(Done.DELETE, project.workspace, actor, f"model {model.name} of project {project.slug}", model=model.pk)
    weights = model.weights
    model.delete()
    delete_files_on_commit([weights])
