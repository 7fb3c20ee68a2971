"""Versions and exports built by background workers (`manage.py work`, the database task
backend), as the official client polls them: the request answers at once, the version reports
`generating` and `progress`, the export `ready: false` until a worker has built it. The work is
leased: a worker that stops leaves nothing half-made visible, and the next one finishes it.

Elsewhere the suite runs tasks in the request (`tests/conftest.py`); here they wait for a worker.
"""

import functools
import io
import os
import subprocess
import sys
import time
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from tests.workspaces.test_roboflow_cli_data import annotate
from web import chores
from web.demo import demo_png
from workspaces import background, services
from workspaces.actors import Actor
from workspaces.annotations import Annotation
from workspaces.models import Blob, Export, Image, Project, ProjectType, Split, Version

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def database_backend(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def auth(enterprise, make_key):
    _, key = make_key(enterprise)
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def make_project(workspace, images: int = 3) -> Project:
    project = services.project_create(
        workspace=workspace, name="Shelf", type=ProjectType.OBJECT_DETECTION, annotation="things"
    )
    for n in range(images):
        split = Split.TRAIN if n % 3 < 2 else Split.VALID
        image, _ = services.image_create(
            project=project, data=demo_png(f"bg{n}", size=(64, 48)), name=f"{n}.png", split=split
        )
        annotate(image, ("cat", 4, 4, 20, 10 + n))
    return project


def work() -> None:
    """A worker runs every task waiting: django-tasks-db's, as `manage.py work` runs it, on this
    test's connection (the command itself closes connections between tasks, as a worker must;
    the live test runs it: `test_beyond_one_machine.py`)."""
    worker = Worker(
        queue_names=["default"], interval=0, batch=True, backend_name="default", startup_delay=False,
        max_tasks=None, worker_id="test-worker", excluded_queue_names=[],
    )  # fmt: skip
    while (waiting := DBTaskResult.objects.ready().first()) is not None:
        waiting.claim(worker.worker_id)
        worker.run_task(waiting)


def test_generate_answers_at_once_and_a_worker_builds_the_version(client, enterprise, auth):
    project = make_project(enterprise)
    answer = client.post(
        "/acme/shelf/generate", {"preprocessing": {}, "augmentation": {}}, content_type="application/json", **auth
    )
    assert answer.status_code == 200 and answer.json()["version"] == 1
    shown = client.get("/acme/shelf/1", **auth).json()["version"]
    assert (shown["generating"], shown["progress"], shown["images"]) == (True, 0.0, 3)  # what it will hold
    [queued] = DBTaskResult.objects.all()
    assert queued.status == TaskResultStatus.READY and queued.task_path == "workspaces.background.generate_version"
    assert Version.objects.get().task_id == str(queued.id)
    assert client.get("/acme/shelf/1/coco", **auth).status_code == 202  # nothing to export yet

    work()
    shown = client.get("/acme/shelf/1", **auth).json()["version"]
    assert (shown["generating"], shown["progress"], shown["failed"], shown["images"]) == (False, 1.0, False, 3)
    version = Version.objects.get()
    assert version.attempts == 1 and version.lease_until is None
    assert not version.images.filter(blob__isnull=True).exists()
    assert sorted(version.images.values_list("source_id", flat=True)) == sorted(
        project.images.values_list("pk", flat=True)
    )


def test_an_export_is_built_once_by_a_worker_and_kept(client, enterprise, auth):
    make_project(enterprise)
    client.post(
        "/acme/shelf/generate", {"preprocessing": {}, "augmentation": {}}, content_type="application/json", **auth
    )
    work()
    pending = client.get("/acme/shelf/1/coco", **auth)
    assert pending.status_code == 202
    body = pending.json()
    assert body == {"ready": False, "progress": 0.0, "export": {"format": "coco", "ready": False, "progress": 0.0}}
    assert client.get("/acme/shelf/1/coco", **auth).status_code == 202  # asked again: the same export
    assert Export.objects.count() == 1 and DBTaskResult.objects.filter(task_path__endswith="build_export").count() == 1
    download = "/acme/shelf/1/coco/download"
    assert client.get(download, **auth).status_code in (401, 404)  # no zip before the worker built it

    work()
    ready = client.get("/acme/shelf/1/coco", **auth)
    assert ready.status_code == 200
    export = ready.json()["export"]
    assert (export["ready"], export["progress"], export["format"]) == (True, 1.0, "coco")
    parts = urlsplit(export["link"])
    zipped = b"".join(client.get(f"{parts.path}?{parts.query}").streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(zipped))
    assert len([n for n in archive.namelist() if n.endswith(".png")]) == 3
    built = Export.objects.get()
    assert built.size == len(zipped)
    assert client.get("/acme/shelf/1", **auth).json()["version"]["exports"] == ["coco"]

    client.get("/acme/shelf/1/coco", **auth)  # asked again: kept, never built again
    assert DBTaskResult.objects.filter(task_path__endswith="build_export").count() == 1
    assert Export.objects.get().file.name == built.file.name


def test_the_version_is_what_the_images_were_when_it_was_asked_for(client, enterprise, auth):
    """Annotated again, deleted, or uploaded after the request and before the worker ran:
    the version holds what was asked for (an image deleted before its bytes were frozen is
    left out: its bytes are gone)."""
    project = make_project(enterprise)
    first, second, third = project.images.order_by("pk")
    services.version_generate(project=project, settings={})
    services.image_annotate(image=first, annotation=Annotation(format="coco", boxes=()), overwrite=True)
    services.images_delete(images=[second], actor=Actor())
    services.image_create(project=project, data=demo_png("late", size=(64, 48)), name="late.png")
    work()
    version = Version.objects.get()
    assert version.state == "ready"
    held = {row.source_id: row for row in version.images.all()}
    assert sorted(held) == [first.pk, third.pk]
    assert held[first.pk].labels == ["cat"]  # as it was annotated when the version was asked for


def test_a_worker_that_stops_leaves_its_work_to_another(enterprise, settings):
    """Killed mid-way: half the images frozen, its lease left to run out. The sweep hands the
    version to a new task; the next worker freezes the rest, not the first half again."""
    settings.TASK_LEASE_SECONDS = 30
    project = make_project(enterprise, images=4)
    version = services.version_generate(project=project, settings={})
    DBTaskResult.objects.update(status=TaskResultStatus.RUNNING, started_at=timezone.now())  # taken...
    hold = background.claim(Version, version.pk)
    assert hold is not None
    first = version.images.order_by("pk").first()
    image = Image.objects.get(pk=first.source_id)
    first.blob = background._Blobs(enterprise.pk).of_image(image)
    first.save()  # ...one batch committed, then the worker died

    assert background.claim(Version, version.pk) is None  # held: nobody else takes it on
    assert background.sweep() == 0  # the lease has not run out
    Version.objects.filter(pk=version.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert background.sweep() == 1
    assert background.sweep() == 0  # handed on once
    work()
    version.refresh_from_db()
    assert (version.state, version.attempts) == ("ready", 2)
    assert version.images.filter(blob__isnull=False).count() == 4
    assert version.images.get(pk=first.pk).blob_id == first.blob_id  # not frozen again
    with pytest.raises(background.Lost):  # the first worker, come back: it writes nothing
        hold.progress(0.5, now=True)


def test_a_task_whose_worker_stopped_before_taking_the_work_on_is_run_again(enterprise, settings):
    settings.TASK_LEASE_SECONDS = 30
    version = services.version_generate(project=make_project(enterprise, images=1), settings={})
    long_ago = timezone.now() - timedelta(seconds=60)
    Version.objects.filter(pk=version.pk).update(created=long_ago)
    assert background.sweep() == 0  # its task waits in the queue: nothing to hand on
    DBTaskResult.objects.update(status=TaskResultStatus.RUNNING, started_at=timezone.now())
    assert background.sweep() == 0  # taken just now
    DBTaskResult.objects.update(started_at=long_ago)
    assert background.sweep() == 1  # taken a lease ago and never claimed: its worker is gone
    work()
    version.refresh_from_db()
    assert version.state == "ready"


def test_work_that_stops_every_time_fails_for_good(client, enterprise, auth):
    version = services.version_generate(project=make_project(enterprise, images=1), settings={})
    Version.objects.filter(pk=version.pk).update(attempts=background.MAX_ATTEMPTS, lease_until=timezone.now())
    assert background.sweep() == 1
    version.refresh_from_db()
    assert version.state == "failed"
    answer = client.get("/acme/shelf/1", **auth)
    assert answer.status_code == 409
    assert answer.json()["error"]["message"] == (
        "Version 1 failed: The workers building it stopped 3 times; it was not finished."
    )


def test_the_chores_are_enqueued_once_per_period_whatever_the_workers(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "chores"}}
    assert sorted(chores.enqueue_due()) == sorted(c.name for c in chores.CHORES)
    assert chores.enqueue_due() == []  # another worker, the same period
    paths = sorted(DBTaskResult.objects.values_list("task_path", flat=True))
    assert paths == [
        "web.chores.enforce_key_policies", "web.chores.flush_key_usage", "web.chores.prune_task_results",
        "web.chores.purge_trash", "web.chores.remind_rotations",
    ]  # fmt: skip
    work()
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {TaskResultStatus.SUCCESSFUL}
    DBTaskResult.objects.update(finished_at=timezone.now() - timedelta(days=15))
    chores.prune_task_results.call()
    assert not DBTaskResult.objects.exists()  # finished a fortnight ago: pruned


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        (["--interval", "-1"], "--interval takes seconds from 0 to 3600."),
        (["--interval", "nan"], "--interval takes seconds from 0 to 3600."),
        (["--sweep-every", "0"], "--sweep-every takes seconds above 0, up to 3600."),
        (["--sweep-every", "inf"], "--sweep-every takes seconds above 0, up to 3600."),
        (["--worker-id", "x" * 65], "--worker-id takes up to 64 printable characters, without surrounding spaces."),
        (["--worker-id", "a\x00b"], "--worker-id takes up to 64 printable characters, without surrounding spaces."),
    ],
)
def test_the_worker_refuses_bad_arguments_in_one_line(arguments, refusal):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="^" + refusal.replace(".", r"\.") + "$"):
        call_command("work", "--batch", *arguments)
    assert not DBTaskResult.objects.exists()


def test_a_worker_that_lost_its_lease_commits_nothing(enterprise, settings, monkeypatch):
    """Its lease ran out in the middle of a batch (a long pause) and another worker took the
    version over: the first one's batch is rolled back, whatever it had done, and its files
    removed; the second one makes the version."""
    settings.TASK_LEASE_SECONDS = 30
    version = services.version_generate(project=make_project(enterprise, images=3), settings={})
    first = background.claim(Version, version.pk)
    assert first is not None
    frozen = background._frozen
    taken: list = []

    def paused_then_taken_over(*args):
        if len(taken) == 0 and args[1].source_id != version.images.order_by("pk").first().source_id:
            Version.objects.filter(pk=version.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
            taken.append(background.claim(Version, version.pk))
        return frozen(*args)

    monkeypatch.setattr(background, "_frozen", paused_then_taken_over)
    with pytest.raises(background.Lost):
        background._generate(first)
    assert taken and taken[0] is not None  # (taken over while the first worker was at its second image)
    assert not version.images.filter(blob__isnull=False).exists()  # not even the image before the pause
    assert not Blob.objects.exists()
    monkeypatch.setattr(background, "_frozen", frozen)
    # (The takeover ran on this test's one connection, inside the batch: rolled back with it.)
    Version.objects.filter(pk=version.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    second = background.claim(Version, version.pk)
    assert second is not None
    background._generate(second)
    version.refresh_from_db()
    assert version.state == "ready" and version.images.filter(blob__isnull=False).count() == 3


def test_an_export_whose_worker_stopped_is_built_by_another(enterprise, settings):
    settings.TASK_LEASE_SECONDS = 30
    version = services.version_generate(project=make_project(enterprise, images=2), settings={})
    work()
    version.refresh_from_db()
    export = services.export_request(version=version, format="yolov8")
    abandoned = background.claim(Export, export.pk)  # a worker took it on, then died
    assert abandoned is not None and background.sweep() == 0
    Export.objects.filter(pk=export.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert background.sweep() == 1
    work()
    export.refresh_from_db()
    assert (export.state, export.attempts) == ("ready", 2)
    with export.file.open("rb") as zipped:
        names = zipfile.ZipFile(zipped).namelist()
    assert "data.yaml" in names and len([n for n in names if n.endswith(".png")]) == 2


@pytest.mark.live
def test_manage_py_work_builds_the_demo_versions_on_the_embedded_defaults(tmp_path):
    """What `make run` does: a SQLite file, the demo seeded (its versions waiting for a worker),
    then the worker command, here in batch mode (run what waits, then exit)."""
    root = Path(__file__).resolve().parents[2]
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "DEBUG": "true", "MEDIA_ROOT": str(tmp_path / "media"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "CACHE_URL": "locmemcache://",
    }  # fmt: skip
    manage = [sys.executable, str(root / "manage.py")]
    run = functools.partial(subprocess.run, env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert run([*manage, "migrate", "--noinput", "-v0"]).returncode == 0
    assert run([*manage, "seed_demo"]).returncode == 0
    count = "from workspaces.models import Version; print(sorted(set(Version.objects.values_list('state', flat=True))))"
    assert run([*manage, "shell", "-c", count]).stdout.split()[-1] == "['pending']"
    worked = run([*manage, "work", "--batch"])
    assert worked.returncode == 0, worked.stderr
    assert run([*manage, "shell", "-c", count]).stdout.split()[-1] == "['ready']"


def test_an_export_that_failed_for_good_is_tried_again_when_asked_for_again(client, enterprise, auth):
    make_project(enterprise, images=1)
    client.post(
        "/acme/shelf/generate", {"preprocessing": {}, "augmentation": {}}, content_type="application/json", **auth
    )
    work()
    client.get("/acme/shelf/1/coco", **auth)
    Export.objects.update(
        state="failed", failure="The workers building it stopped 3 times; it was not finished.", attempts=3
    )
    refused = client.get("/acme/shelf/1", **auth).json()["version"]
    assert refused["exports"] == []
    again = client.get("/acme/shelf/1/coco", **auth)
    assert again.status_code == 202  # (an outage outlasted its attempts: tried again from the start)
    assert Export.objects.get().attempts == 0
    work()
    assert client.get("/acme/shelf/1/coco", **auth).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_long_upload_keeps_the_lease(enterprise, settings, monkeypatch):
    """Uploading a large zip can outlast a lease: a thread renews it meanwhile, so no other
    worker takes the export over (and builds it again) while the upload is under way."""
    settings.TASK_LEASE_SECONDS = 2
    version = services.version_generate(project=make_project(enterprise, images=1), settings={})
    work()
    version.refresh_from_db()
    export = Export.objects.create(version=version, format="coco")
    hold = background.claim(Export, export.pk)
    from django.core.files.storage import FileSystemStorage

    saved = FileSystemStorage.save
    seen = []

    def slow_save(self, name, content, max_length=None):
        time.sleep(3)  # longer than the lease
        seen.append((Export.objects.get(pk=export.pk).lease_until, timezone.now()))
        return saved(self, name, content, max_length)

    monkeypatch.setattr(FileSystemStorage, "save", slow_save)
    background._export(hold)
    [(lease_until, at)] = seen
    assert lease_until > at  # renewed during the upload: still held when it ends
    export.refresh_from_db()
    assert export.state == "ready" and export.attempts == 1
