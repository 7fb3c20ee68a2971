"""A generated version never changes: whatever is done to the project's images afterwards
(deleted, re-annotated, re-tagged, their metadata changed, new ones uploaded, the project
trashed and restored), its image count, its splits and every export stay byte for byte the
same. Image bytes are stored once per workspace, whatever the number of versions holding them.
"""

import hashlib
import os
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.workspaces.test_roboflow_cli_data import annotate
from web.demo import demo_png
from workspaces import background, services
from workspaces.actors import Actor
from workspaces.models import Blob, Image, Project, ProjectType, Split, Version, VersionImage

pytestmark = pytest.mark.django_db

FORMATS = ("coco", "yolov8", "voc")


def make_project(workspace, slug: str) -> Project:
    project = services.project_create(
        workspace=workspace, name=slug.title(), type=ProjectType.OBJECT_DETECTION, annotation="things"
    )
    for n, split in enumerate([Split.TRAIN, Split.TRAIN, Split.VALID], start=1):
        image, _ = services.image_create(
            project=project, data=demo_png(f"{slug}-{n}", size=(64, 48)), name=f"{slug}-{n}.png", split=split
        )
        annotate(image, ("cat", 4, 4, 20, 10 + n))
    return project


def exported(client, key: str, project: Project, number: int) -> dict[str, str]:
    """The SHA-256 of the version's zip in each format, and its JSON as the API shows it."""
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    found = {}
    for fmt in FORMATS:
        link = client.get(f"/acme/{project.slug}/{number}/{fmt}", **auth).json()["export"]["link"]
        parts = urlsplit(link)
        response = client.get(f"{parts.path}?{parts.query}")
        assert response.status_code == 200
        found[fmt] = hashlib.sha256(b"".join(response.streaming_content)).hexdigest()
    shown = client.get(f"/acme/{project.slug}/{number}", **auth).json()["version"]
    found["shown"] = repr({k: shown[k] for k in ("images", "splits")})
    return found


@pytest.fixture
def key(enterprise, make_key):
    return make_key(enterprise, name="snapshots")[1]


EDITS = st.lists(
    st.one_of(
        st.tuples(st.just("delete"), st.integers(0, 2)),
        st.tuples(st.just("annotate"), st.integers(0, 2), st.integers(1, 30)),
        st.tuples(st.just("tag"), st.integers(0, 2), st.sampled_from(["night", "blurry", "x"])),
        st.tuples(st.just("metadata"), st.integers(0, 2), st.text(max_size=5)),
        st.tuples(st.just("upload"), st.integers(0, 1000)),
    ),
    min_size=1,
    max_size=6,
)


# Each example makes its own project; the client and the key serve them all.
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=EDITS)
def test_no_sequence_of_image_edits_changes_a_generated_version(client, enterprise, key, edits):
    project = make_project(enterprise, f"p{Project.objects.count()}")
    version = services.version_generate(project=project, settings={})
    before = exported(client, key, project, version.number)
    for edit in edits:
        images = list(Image.objects.filter(project=project).order_by("pk"))
        kind, *args = edit
        if kind == "upload":
            services.image_create(project=project, data=demo_png(f"new-{args[0]}-{project.pk}"), name="new.png")
            continue
        if args[0] >= len(images):
            continue
        image = images[args[0]]
        if kind == "delete":
            services.images_delete(images=[image], actor=Actor())
        elif kind == "annotate":
            annotate(image, ("dog", 1, 1, args[1], args[1]))
        elif kind == "tag":
            services.image_update(image=image, set_tags=[args[1]])
        else:
            services.image_update(image=image, metadata={"note": args[1]})
    assert exported(client, key, project, version.number) == before


def test_trashing_and_restoring_the_project_leaves_its_versions_as_they_were(client, enterprise, key):
    project = make_project(enterprise, "shelf")
    version = services.version_generate(project=project, settings={})
    before = exported(client, key, project, version.number)
    services.project_trash(project=project, actor=Actor())
    services.project_restore(project=Project.objects.get(pk=project.pk), actor=Actor())
    assert exported(client, key, project, version.number) == before


def test_image_bytes_are_stored_once_and_go_with_the_last_version_holding_them(
    enterprise, django_capture_on_commit_callbacks
):
    project = make_project(enterprise, "shelf")
    first = services.version_generate(project=project, settings={})
    second = services.version_generate(project=project, settings={})
    blobs = list(Blob.objects.filter(workspace=enterprise))
    assert len(blobs) == 3 and VersionImage.objects.filter(version__project=project).count() == 6
    files = [blob.file.path for blob in blobs]
    with django_capture_on_commit_callbacks(execute=True):
        services.images_delete(images=list(project.images.all()), actor=Actor())
        services.version_delete(version=first, actor=Actor())
    assert Blob.objects.filter(workspace=enterprise).count() == 3  # the second version holds them
    assert all(os.path.exists(path) for path in files)
    with django_capture_on_commit_callbacks(execute=True):
        services.version_delete(version=Version.objects.get(pk=second.pk), actor=Actor())
    assert not Blob.objects.filter(workspace=enterprise).exists()
    assert not any(os.path.exists(path) for path in files)


@pytest.mark.django_db(transaction=True)
def test_the_migration_freezes_versions_made_before_snapshots(enterprise):
    """Versions that held live images are frozen as their images were when migrating."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("workspaces", "0005_key_version")], [("workspaces", "0006_version_snapshots")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    project = old.get_model("workspaces", "Project").objects.create(
        workspace_id=enterprise.pk, slug="old", name="Old", type="object-detection", annotation="things"
    )
    version = old.get_model("workspaces", "Version").objects.create(project=project, number=1, exports=["coco"])
    image = services.image_create(project=Project.objects.get(pk=project.pk), data=demo_png("old"), name="old.png")[0]
    annotate(image, ("cat", 1, 2, 3, 4))
    version.images.set([image.pk])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    try:
        executor.migrate(after)
        [frozen] = VersionImage.objects.filter(version_id=version.pk)
        assert (frozen.source_id, frozen.name, frozen.labels, frozen.width) == (
            image.pk,
            "old.png",
            ["cat"],
            image.width,
        )
        with frozen.blob.file.open("rb") as kept, image.file.open("rb") as source:
            assert kept.read() == source.read()
    finally:  # the database as the other tests expect it
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    made = Version.objects.get(pk=version.pk)
    assert (made.state, made.progress) == ("ready", 1.0)  # made whole before workers existed
    assert made.exports == []  # no zip was kept: the official client asks for one before downloading


def test_a_generation_that_fails_halfway_leaves_no_blob_behind_and_is_tried_again(enterprise, monkeypatch, settings):
    from django.db.models.fields.files import FieldFile

    project = make_project(enterprise, "shelf")
    opened = FieldFile.open
    calls = []

    def open_twice(self, mode="rb"):
        calls.append(self.name)
        if len(calls) == 2:
            raise OSError("the disk went away")
        return opened(self, mode)

    monkeypatch.setattr(FieldFile, "open", open_twice)
    version = services.version_generate(project=project, settings={})
    blobs = os.path.join(settings.MEDIA_ROOT, "blobs")
    assert not [f for _, _, files in os.walk(blobs) for f in files]  # the first image's blob, removed again
    assert (version.state, version.attempts) == ("pending", 1)  # to be tried again...
    assert not version.images.filter(blob__isnull=False).exists() and not Blob.objects.exists()

    monkeypatch.setattr(FieldFile, "open", opened)
    assert background.sweep() == 0  # ...once the lease it was left with runs out (2 s)
    Version.objects.filter(pk=version.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert background.sweep() == 1  # handed to a new task (run at once here)
    version.refresh_from_db()
    assert (version.state, version.attempts, version.progress) == ("ready", 2, 1.0)
    assert version.images.filter(blob__isnull=False).count() == 3


def test_work_that_keeps_failing_fails_for_good_with_a_reason(enterprise, monkeypatch):
    from django.db.models.fields.files import FieldFile

    project = make_project(enterprise, "shelf")

    def broken(self, mode="rb"):
        raise OSError("the disk went away")

    monkeypatch.setattr(FieldFile, "open", broken)
    version = services.version_generate(project=project, settings={})
    for _ in range(background.MAX_ATTEMPTS - 1):
        Version.objects.filter(pk=version.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        assert background.sweep() == 1
    version.refresh_from_db()
    assert version.state == "failed" and version.attempts == background.MAX_ATTEMPTS
    assert version.failure == "The workers failed 3 times building it (OSError); the operators' logs say more."
