"""Row locks under real concurrency: PostgreSQL only (SQLite serialises writers anyway)."""

import threading

import pytest
from django.db import connection

from apikeys.models import ApiKey
from core.errors import Conflict, PlanRequired
from tests.keys import create_key, roll_key
from workspaces.actors import Actor

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(count, work):
    """Run `work` in `count` threads released together; returns their results or exceptions."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = work()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_two_concurrent_rolls_of_one_key_exactly_one_wins(enterprise, make_key):
    key, _ = make_key(enterprise)
    results = race(2, lambda: roll_key(key=ApiKey.objects.get(pk=key.pk), actor=Actor()))
    wins = [r for r in results if isinstance(r, tuple)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1, results
    assert len(conflicts) == 1, results
    assert ApiKey.objects.filter(rolled_from=key).count() == 1


def test_concurrent_creates_on_a_free_plan_leave_a_single_key(free):
    results = race(4, lambda: create_key(workspace=free, actor=Actor(), name="k"))
    assert len([r for r in results if isinstance(r, tuple)]) == 1, results
    assert len([r for r in results if isinstance(r, PlanRequired)]) == 3, results
    assert ApiKey.objects.filter(workspace=free).count() == 1


def test_concurrent_version_generation_numbers_versions_one_after_another(enterprise):
    from tests.factories import ImageFactory, ProjectFactory
    from workspaces.models import Project, Version
    from workspaces.services import version_generate

    project = ProjectFactory(workspace=enterprise)
    ImageFactory(project=project)  # a version of an empty project is refused
    results = race(3, lambda: version_generate(project=Project.objects.get(pk=project.pk), settings={}))
    assert all(isinstance(r, Version) for r in results), results
    assert sorted(Version.objects.filter(project=project).values_list("number", flat=True)) == [1, 2, 3]


def test_concurrent_folders_of_one_name_leave_one_folder_and_409s(enterprise):
    from workspaces.models import Folder
    from workspaces.services import folder_create

    results = race(3, lambda: folder_create(workspace=enterprise, name="Same"))
    assert len([r for r in results if isinstance(r, Folder)]) == 1, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Folder)), results
    assert Folder.objects.filter(workspace=enterprise, name="Same").count() == 1


def test_concurrent_versions_sharing_image_bytes_store_them_once(enterprise):
    """Two projects of a workspace holding the same image bytes, generated at once: one blob,
    both versions holding it, no stray file."""
    import os

    from django.conf import settings

    from web.demo import demo_png
    from workspaces import services
    from workspaces.models import Blob, ProjectType

    data = demo_png("shared", size=(32, 24))
    projects = []
    for name in ("One", "Two"):
        project = services.project_create(
            workspace=enterprise, name=name, type=ProjectType.OBJECT_DETECTION, annotation="x"
        )
        services.image_create(project=project, data=data, name="same.png")
        projects.append(project)
    results = race(2, lambda: services.version_generate(project=projects.pop(), settings={}))
    assert not [r for r in results if isinstance(r, Exception)], results
    [blob] = Blob.objects.filter(workspace=enterprise)
    assert {v.images.get().blob_id for p in enterprise.projects.all() for v in p.versions.all()} == {blob.pk}
    stored = [f for _, _, files in os.walk(os.path.join(settings.MEDIA_ROOT, "blobs")) for f in files]
    assert stored == [os.path.basename(blob.file.name)]
