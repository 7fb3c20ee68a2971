"""What background workers do: freeze a version's images, build an export's zip.

Each piece of work is a row (`Version`, `Export`: `BackgroundWork`) and a task of Django's Tasks
API (`generate_version`, `build_export`) enqueued in the transaction that made the row. The
worker running the task claims the row with a lease (`Hold`), renews it as it reports progress,
and builds in steps that each commit whole and give the same result when repeated. So a worker
that stops (killed, its machine lost) leaves nothing half-made visible, and the next worker
carries on where it stopped: `sweep()`, which every worker runs, hands work whose lease ran out
(or whose task vanished) to a new task, and marks it failed after MAX_ATTEMPTS.
"""

import contextlib
import hashlib
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, timedelta
from functools import partial
from typing import BinaryIO, cast

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.tasks import Task, TaskResultStatus, default_task_backend, task
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils import timezone

from . import exports, generation
from .annotations import Annotation, Box
from .models import Blob, Export, Image, Split, Version, VersionImage, Work

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # workers that may take a piece of work on before it fails for good
RENEW_EVERY = 2.0  # seconds between progress writes (each renews the lease)
GENERATE_BATCH = 20  # images whose bytes are frozen in one transaction (progress moves per batch)
BATCH_SECONDS = 10.0  # ...or fewer: a batch commits once it has worked this long
SWEEP_LIMIT = 100  # rows looked at per sweep, per kind


class Failed(Exception):
    """The work cannot be done, for a reason the API shows; trying again would not help."""


class Lost(Exception):
    """Another worker took the work over (this one's lease ran out): this one stops."""


def lease() -> timedelta:
    return timedelta(seconds=settings.TASK_LEASE_SECONDS)


def renew_every() -> float:
    """Seconds between renewals: RENEW_EVERY, or a quarter of a short lease."""
    return min(RENEW_EVERY, settings.TASK_LEASE_SECONDS / 4)


class Hold:
    """A worker's lease on one row of work. Every write is conditional on the lease being the
    one this worker took, so a worker that lost it can never overwrite its successor."""

    def __init__(self, model: type[Version] | type[Export], pk: int, until):
        self.model, self.pk, self.until = model, pk, until
        self.renewed = time.monotonic()

    def _update(self, **fields) -> None:
        if not self.model.objects.filter(pk=self.pk, state=Work.PENDING, lease_until=self.until).update(**fields):
            raise Lost

    def progress(self, share: float, *, now: bool = False) -> None:
        """Report progress (at most every `renew_every()` seconds unless `now`), renewing the lease."""
        if not now and time.monotonic() - self.renewed < renew_every():
            return
        until = timezone.now() + lease()
        self._update(progress=round(min(max(share, 0.0), 0.99), 4), lease_until=until)
        self.until, self.renewed = until, time.monotonic()

    @contextlib.contextmanager
    def kept(self, share: float) -> Iterator[None]:
        """Renew the lease from a thread of its own (and its own connection) while the caller
        does one long thing with no progress to report (an upload)."""
        stop = threading.Event()

        def renewing() -> None:
            try:
                while not stop.wait(renew_every()):
                    self.progress(share, now=True)
            except Lost:
                pass
            finally:
                connection.close()

        self.progress(share, now=True)
        thread = threading.Thread(target=renewing, name=f"lease-{self.pk}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def done(self, **fields) -> None:
        self._update(state=Work.READY, progress=1.0, lease_until=None, failure="", **fields)

    def failed(self, reason: str) -> None:
        self._update(state=Work.FAILED, lease_until=None, failure=reason[:500])

    def retry_later(self, attempts: int) -> None:
        """Let the lease run out soon (later with each attempt), so that a sweep hands it on."""
        self._update(lease_until=timezone.now() + timedelta(seconds=2 * attempts))


def claim(model: type[Version] | type[Export], pk: int) -> Hold | None:
    """Take the work on, unless it is done, failed, or held by a live worker."""
    now = timezone.now()
    until = now + lease()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    taken = model.objects.filter(free, pk=pk, state=Work.PENDING).update(lease_until=until, attempts=F("attempts") + 1)
    return Hold(model, pk, until) if taken else None


def _run(model: type[Version] | type[Export], pk: int, build: Callable[[Hold], None]) -> None:
    hold = claim(model, pk)
    if hold is None:
        return
    try:
        build(hold)
    except Lost:
        logger.warning("%s %s: another worker took it over", model.__name__, pk)
    except Failed as error:
        with contextlib.suppress(Lost):
            hold.failed(str(error))
    except Exception as error:
        attempts = model.objects.filter(pk=pk).values_list("attempts", flat=True).first() or MAX_ATTEMPTS
        logger.exception("%s %s: attempt %s failed", model.__name__, pk, attempts)
        with contextlib.suppress(Lost):
            if attempts >= MAX_ATTEMPTS:
                name = type(error).__name__
                hold.failed(f"The workers failed {attempts} times building it ({name}); the operators' logs say more.")
            else:
                hold.retry_later(attempts)


# The tasks -----------------------------------------------------------------------------------


@task
def generate_version(version_id: int) -> None:
    """Freeze the version's images (bytes, with its settings applied), then mark it ready."""
    _run(Version, version_id, _generate)


@task
def build_export(export_id: int) -> None:
    """Write the export's zip to storage, then mark it ready."""
    _run(Export, export_id, _export)


TASKS: dict[type[Version] | type[Export], Task] = {Version: generate_version, Export: build_export}


def enqueue(obj: Version | Export) -> None:
    """Hand the work to a worker (in the caller's transaction: the task exists if the row does)."""
    result = TASKS[type(obj)].enqueue(obj.pk)
    type(obj).objects.filter(pk=obj.pk, task_id=obj.task_id).update(task_id=str(result.id))


def sweep() -> int:
    """Hand on the work whose worker stopped: a lease run out, or a task that ended or vanished
    without taking its work on. Work tried MAX_ATTEMPTS times fails for good. Rows a worker has
    locked (a batch in progress) are passed by. Returns how many pieces were handed on or failed."""
    now = timezone.now()
    handled = 0
    for model in (Version, Export):
        with transaction.atomic():
            expired = model.objects.select_for_update(skip_locked=True).filter(state=Work.PENDING, lease_until__lt=now)
            for obj in expired.only("pk", "attempts", "task_id")[:SWEEP_LIMIT]:
                mine = model.objects.filter(pk=obj.pk)
                if obj.attempts >= MAX_ATTEMPTS:
                    reason = f"The workers building it stopped {obj.attempts} times; it was not finished."
                    handled += mine.update(state=Work.FAILED, lease_until=None, failure=reason)
                else:
                    mine.update(lease_until=None)
                    enqueue(obj)
                    handled += 1
        waiting = model.objects.filter(state=Work.PENDING, lease_until__isnull=True, created__lt=now - lease())
        for obj in waiting.only("pk", "task_id")[:SWEEP_LIMIT]:
            if _abandoned(obj.task_id, now):
                with transaction.atomic():
                    enqueue(obj)
                handled += 1
    return handled


def _abandoned(task_id: str, now) -> bool:
    """Whether the task will never take its work on: gone, ended, or started by a worker that
    stopped before it could (a lease ago)."""
    if not task_id:
        return True
    try:
        result = default_task_backend.get_result(task_id)
    except (TaskResultDoesNotExist, ValueError, NotImplementedError):
        return True
    if result.status == TaskResultStatus.READY:
        return False
    if result.status == TaskResultStatus.RUNNING:
        return result.started_at is not None and result.started_at < now - lease()
    return True


# Generation -----------------------------------------------------------------------------------


def _generate(hold: Hold) -> None:
    version = Version.objects.select_related("project").get(pk=hold.pk)
    steps = generation.plan(version.settings)
    blobs = _Blobs(version.project.workspace_id)
    sources = version.images.filter(variant=0).count() or 1
    partners = _Partners(version) if steps.mosaic else None
    done = sources - version.images.filter(blob__isnull=True).count()
    hold.progress(done / sources, now=True)
    while batch := list(version.images.filter(blob__isnull=True).order_by("pk")[:GENERATE_BATCH]):
        images = Image.objects.in_bulk([row.source_id for row in batch])
        held_until = hold.until
        try:
            # A batch commits whole, and only while this worker holds the lease: it begins by
            # renewing it (which locks the version's row until the batch commits: sweeps pass it
            # by), its renewals are in its transaction, and a worker that lost the lease commits
            # nothing. It ends after GENERATE_BATCH images or BATCH_SECONDS, whichever is first.
            with transaction.atomic():
                hold.progress(done / sources, now=True)
                started = time.monotonic()
                for row in batch:
                    image = images.get(row.source_id)
                    renew = partial(hold.progress, done / sources)
                    outputs = _frozen(version, row, image, steps, blobs, partners, renew) if image else []
                    if not outputs:  # deleted before its bytes were frozen, or no output of it
                        row.delete()
                    else:
                        first, *others = outputs
                        first.pk = row.pk
                        first.save(force_update=True)
                        VersionImage.objects.bulk_create(others)
                    done += 1
                    if time.monotonic() - started > BATCH_SECONDS:
                        break
                hold.progress(done / sources, now=True)
        except BaseException:
            hold.until = held_until  # (its renewals were rolled back with the batch)
            blobs.remove_written()
            raise
        blobs.written.clear()
    if steps.filter_null is not None:
        _filter_null(version, steps.filter_null)
    if not version.images.exists():
        raise Failed("These settings leave no image in the version.")
    hold.done()


def _frozen(
    version: Version,
    row: VersionImage,
    image: Image,
    steps: "generation.Plan",
    blobs: "_Blobs",
    partners,
    renew: Callable[[], None],
) -> list[VersionImage]:
    """A pending row as the version holds it: the image's bytes, or the outputs of the
    version's settings (one, or `image.versions` for a training image), its labels remapped as
    they say. The row holds what the image was when the version was asked for. `renew` is
    called after each output (a row may make thousands: tiles times outputs)."""
    annotation = Annotation.from_json(row.annotation) if row.annotation else None
    data = None
    made = []
    for variant in range(steps.outputs_of(row.split, len(annotation.boxes) if annotation else 0)):
        frozen = replace_row(row, variant)
        held = annotation
        if steps.changes_images:
            if data is None:
                with image.file.open("rb") as source:
                    data = source.read()
            boxes = [(b.label, b.x, b.y, b.width, b.height) for b in annotation.boxes] if annotation else []
            seed = (version.pk * 1_000_003 + row.source_id * 101 + variant) % 2**32
            chosen = partners.of(row.source_id, seed) if partners is not None and row.split == Split.TRAIN else ()
            output = steps.apply(data, boxes, split=row.split, seed=seed, variant=variant, partners=chosen)
            frozen.blob = blobs.of_bytes(output.data, output.extension)
            frozen.width, frozen.height = output.width, output.height
            if annotation is not None:
                held = replace(annotation, boxes=tuple(Box(*box) for box in output.boxes))
        else:
            frozen.blob = blobs.of_image(image)
        if held is not None and (steps.changes_images or steps.remap):
            boxes_kept = tuple(replace(b, label=new) for b in held.boxes if (new := steps.relabel(b.label)) is not None)
            classes_kept = tuple(dict.fromkeys(new for c in held.classes if (new := steps.relabel(c)) is not None))
            held = replace(held, boxes=boxes_kept, classes=classes_kept)
            frozen.annotation, frozen.labels = held.to_json(), sorted(held.counts())
        made.append(frozen)
        renew()
    return made


def replace_row(row: VersionImage, variant: int) -> VersionImage:
    return VersionImage(
        version_id=row.version_id, source_id=row.source_id, variant=variant, name=row.name, split=row.split,
        width=row.width, height=row.height, tags=row.tags, annotated=row.annotated,
        annotation=row.annotation, labels=row.labels,
    )  # fmt: skip


class _Partners:
    """What a mosaic puts beside a training image: three other training images of the version
    (fewer if it has fewer), chosen at random (seeded), with their boxes as the version froze them."""

    def __init__(self, version: Version):
        self.rows = dict(
            version.images.filter(split=Split.TRAIN, variant=0)
            .order_by("source_id")
            .values_list("source_id", "annotation")
        )
        self.ids = list(self.rows)

    def of(self, source_id: int, seed: int) -> list[tuple[bytes, list]]:
        others = [i for i in self.ids if i != source_id]
        chosen = random.Random(seed).sample(others, min(3, len(others)))  # noqa: S311 - reproducible, not a secret
        partners = []
        for other in Image.objects.filter(pk__in=chosen).order_by("pk"):
            held = self.rows[other.pk]
            annotation = Annotation.from_json(held) if held else None
            boxes = [(b.label, b.x, b.y, b.width, b.height) for b in annotation.boxes] if annotation else []
            with other.file.open("rb") as source:
                partners.append((source.read(), boxes))
        return partners


def _filter_null(version: Version, share: float) -> None:
    """Leave out images without labels (chosen at random, seeded by the version) until at least
    `share` percent of the version's images have labels. Repeated, it leaves out nothing more."""
    held = list(version.images.order_by("pk").values_list("pk", "labels", "blob_id"))
    labelled = sum(1 for _, labels, _ in held if labels)
    nulls = [(pk, blob) for pk, labels, blob in held if not labels]
    allowed = len(nulls) if share <= 0 else int(labelled * (100 - share) / share + 1e-9)
    if len(nulls) <= allowed:
        return
    random.Random(version.pk).shuffle(nulls)  # noqa: S311 - a reproducible choice, not a secret
    dropped = nulls[: len(nulls) - allowed]
    with transaction.atomic():
        VersionImage.objects.filter(pk__in=[pk for pk, _ in dropped]).delete()
        drop_unused_blobs([blob for _, blob in dropped])


class _Blobs:
    """The workspace's blobs by digest, made as needed; what was written since the last
    `written.clear()` is removed again if its rows are not committed."""

    def __init__(self, workspace_id: int):
        self.workspace_id = workspace_id
        self.found: dict[str, Blob] = {}
        self.written: list[str] = []

    def _get(self, sha256: str) -> Blob | None:
        if sha256 not in self.found:
            blob = Blob.objects.filter(workspace_id=self.workspace_id, sha256=sha256).first()
            if blob is None:
                return None
            self.found[sha256] = blob
        return self.found[sha256]

    def _save(self, sha256: str, extension: str, content) -> Blob:
        blob = Blob(workspace_id=self.workspace_id, sha256=sha256)
        # A name of its own (never another writer's, whatever the storage's name check does),
        # so that removing what this worker wrote can never remove what another one did.
        blob.file.save(f"{sha256}-{secrets.token_hex(4)}.{extension}", content, save=False)
        name = blob.file.name or ""
        try:
            with transaction.atomic():
                blob.save()
        except IntegrityError:  # another version of the workspace stored the same bytes meanwhile
            blob.file.storage.delete(name)
            blob = Blob.objects.get(workspace_id=self.workspace_id, sha256=sha256)
        else:
            self.written.append(name)
        self.found[sha256] = blob
        return blob

    def of_image(self, image: Image) -> Blob:
        """The blob of an image's stored bytes (its digest is the image's)."""
        found = self._get(image.sha256)
        if found is not None:
            return found
        stored = image.file.name or ""
        with image.file.open("rb") as source:
            return self._save(image.sha256, stored.rsplit(".", 1)[-1] if "." in stored else "bin", File(source))

    def of_bytes(self, data: bytes, extension: str) -> Blob:
        digest = hashlib.sha256(data).hexdigest()
        return self._get(digest) or self._save(digest, extension, ContentFile(data))

    def remove_written(self) -> None:
        storage = Blob._meta.get_field("file").storage  # type: ignore[attr-defined]
        for name in self.written:
            storage.delete(name)
        for sha256 in [s for s, blob in self.found.items() if blob.file.name in self.written]:
            del self.found[sha256]
        self.written.clear()


def drop_unused_blobs(blob_ids) -> None:
    """Delete the blobs among these that no version holds any more (their files once committed)."""
    ids = {pk for pk in blob_ids if pk is not None}
    held = VersionImage.objects.filter(blob_id__in=ids).values("blob_id")
    unused = list(Blob.objects.filter(pk__in=ids).exclude(pk__in=held))  # read once: these rows, these files
    Blob.objects.filter(pk__in=[b.pk for b in unused]).delete()  # (refused if a version took one up meanwhile)
    delete_files_on_commit([b.file for b in unused])


def delete_files_on_commit(files) -> None:
    names = [(f.storage, f.name) for f in files if f]
    transaction.on_commit(lambda: [storage.delete(name) for storage, name in names])


# Exports --------------------------------------------------------------------------------------


def _export(hold: Hold) -> None:
    export = Export.objects.select_related("version__project").get(pk=hold.pk)
    version = export.version
    if version.state != Work.READY:
        raise Failed(f"Version {version.number} is not ready ({version.state}).")
    project = version.project
    images = version.images.select_related("blob").order_by("split", "source_id", "variant")
    try:
        archive = exports.build_export(
            format=export.format,
            project_name=project.name,
            version=version.number,
            images=(export_image(image) for image in images.iterator(chunk_size=500)),
            classes=sorted({label for labels in version.images.values_list("labels", flat=True) for label in labels}),
            settings=version.settings,
            generated=version.created.astimezone(UTC).isoformat(timespec="seconds"),
            progress=lambda share: hold.progress(share * 0.9),
        )
    except exports.UnknownFormat:
        raise Failed(f"No export in {export.format!r}.") from None
    with archive, hold.kept(0.9):  # the upload may take longer than a lease
        size = archive.seek(0, 2)
        archive.seek(0)
        name = f"{project.slug}-{version.number}-{export.format}-{secrets.token_hex(4)}.zip"
        export.file.save(name, File(archive, name=name), save=False)
    try:
        with transaction.atomic():
            hold.done(file=export.file.name, size=size)
            locked = Version.objects.select_for_update().get(pk=version.pk)
            if export.format not in locked.exports:
                locked.exports = [*locked.exports, export.format]
                locked.save(update_fields=["exports"])
    except Lost:
        export.file.storage.delete(export.file.name or "")
        raise


def export_image(image: VersionImage) -> exports.ExportImage:
    """An image of a version as it was frozen, by the id of the image it came from."""
    annotation = Annotation.from_json(image.annotation) if image.annotation else None
    boxes = annotation.boxes if annotation else ()
    blob = image.blob
    assert blob is not None, "only a ready version is exported"
    return exports.ExportImage(
        id=image.source_id,
        name=image.name,
        split=image.split,
        width=image.width,
        height=image.height,
        # Opened through the storage, not the field: a field keeps the file object it opened
        # (for S3, a boto3 resource of some 50 kB), which would then live as long as the list.
        open=lambda: cast(BinaryIO, blob.file.storage.open(blob.file.name or "", "rb")),
        boxes=tuple(exports.ExportBox(b.label, b.x, b.y, b.width, b.height) for b in boxes),
        annotated=image.annotated,
        classes=annotation.classes if annotation else (),
        variant=image.variant,
    )
