"""`prepared()`: the same rows as the queryset it stands for, whatever the values and shapes."""

import pytest
from django.db import connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import (
    FolderFactory,
    ImageFactory,
    MembershipFactory,
    ProjectFactory,
    VersionFactory,
    WorkspaceFactory,
)
from workspaces import prepared as module
from workspaces.models import Project
from workspaces.prepared import prepared
from workspaces.selectors import counted_projects, project_versions, reachable_projects, workspace_members

pytestmark = pytest.mark.django_db

COUNTS = ("image_count", "unannotated_count", "train_count", "valid_count", "test_count", "version_count")


def as_rows(projects):
    return [
        (p.pk, p.slug, p.name, p.classes, p.created, p.folder_id, *(getattr(p, c) for c in COUNTS)) for p in projects
    ]


@pytest.fixture
def two_workspaces():
    mine, theirs = WorkspaceFactory(url="mine"), WorkspaceFactory(url="theirs")
    folders = [FolderFactory(workspace=mine) for _ in range(3)]
    for n, folder in enumerate([None, *folders, folders[0]]):
        project = ProjectFactory(workspace=mine, folder=folder, slug=f"p{n}", classes={"cat": n, "ünï": 1})
        for _ in range(n):
            ImageFactory(project=project)
    ProjectFactory(workspace=theirs, slug="p0")
    return mine, theirs, folders


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_rows_are_the_querysets_for_any_folders_and_slug(two_workspaces, data):
    mine, theirs, folders = two_workspaces
    ids = [f.pk for f in folders] + [10**6]  # and a folder that is not there
    limit = data.draw(st.none() | st.lists(st.sampled_from(ids), max_size=4))
    slug = data.draw(st.none() | st.sampled_from(["p0", "p1", "p3", "nope", "P0", "p0 ", "\x00"]))
    workspace = data.draw(st.sampled_from([mine, theirs]))
    try:
        with transaction.atomic():
            expected = as_rows(counted_projects(workspace.pk, limit, slug))
    except Exception as exc:  # PostgreSQL refuses NUL in text: the same way on both paths
        with pytest.raises(type(exc)), transaction.atomic():
            prepared(counted_projects, workspace=workspace.pk, folders=limit, slug=slug)
        return
    assert as_rows(prepared(counted_projects, workspace=workspace.pk, folders=limit, slug=slug)) == expected


def test_each_shape_is_compiled_once_and_then_only_run(two_workspaces, monkeypatch):
    mine, _, folders = two_workspaces
    compiled = []
    real = module._compile
    monkeypatch.setattr(module, "_compile", lambda *a: compiled.append(a[2]) or real(*a))
    module._cache.clear()
    for _ in range(3):
        prepared(reachable_projects, workspace=mine.pk, folders=None, slug=None)
        prepared(reachable_projects, workspace=mine.pk, folders=[folders[0].pk], slug=None)
        prepared(reachable_projects, workspace=mine.pk, folders=[folders[0].pk, folders[1].pk], slug=None)
    assert len(compiled) == 3  # None, a list of one and a list of two are three shapes


def test_a_limit_of_one_folder_is_not_the_shape_of_no_limit(two_workspaces):
    # The regression: (True == 1) once made "no limit" and "one folder" share their SQL.
    mine, _, folders = two_workspaces
    module._cache.clear()
    everything = prepared(reachable_projects, workspace=mine.pk, folders=None, slug=None)
    one = prepared(reachable_projects, workspace=mine.pk, folders=[folders[1].pk], slug=None)
    again = prepared(reachable_projects, workspace=mine.pk, folders=None, slug=None)
    assert len(everything) == len(again) == 5
    assert [p.folder_id for p in one] == [folders[1].pk]


def test_an_empty_folder_limit_reaches_nothing_without_a_query(two_workspaces):
    mine, _, _ = two_workspaces
    with CaptureQueriesContext(connection) as captured:
        assert prepared(reachable_projects, workspace=mine.pk, folders=[], slug=None) == []
    assert captured.captured_queries == []


def test_values_querysets_give_dicts():
    membership = MembershipFactory()
    [row] = prepared(workspace_members, workspace=membership.workspace.pk)
    assert row == {"user_id": membership.user_id, "user__email": membership.user.email, "role": membership.role}


def test_a_value_that_does_not_reach_the_parameters_unchanged_is_refused():
    def by_name(name: str):
        return Project.objects.filter(name__icontains=name)  # the value is wrapped in %…%

    with pytest.raises(ValueError, match="did not reach"):
        prepared(by_name, name="cat")


def test_select_related_and_other_value_types_are_refused():
    with pytest.raises(ValueError, match="select_related"):
        prepared(lambda workspace: Project.objects.filter(workspace_id=workspace).select_related("folder"), workspace=1)
    with pytest.raises(TypeError):
        prepared(lambda flag: Project.objects.filter(public=flag), flag=True)


def test_annotations_come_with_the_instances(two_workspaces):
    mine, _, _ = two_workspaces

    def with_images(workspace: int):
        return Project.objects.filter(workspace_id=workspace).annotate(n=Count("images"))

    found = {p.slug: p.n for p in prepared(with_images, workspace=mine.pk)}
    assert found == {f"p{n}": n for n in range(5)}


def test_values_of_small_positive_columns_are_found():
    # The regression: a stand-in out of a PositiveIntegerField's range made Django skip the
    # query (EmptyResultSet), and every version looked missing.
    version = VersionFactory(number=1)
    module._cache.clear()
    for _ in range(2):
        [found] = prepared(project_versions, project=version.project_id, number=1)
        assert found.pk == version.pk
    assert prepared(project_versions, project=version.project_id, number=2) == []
