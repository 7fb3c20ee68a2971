"""The database itself refuses bad rows, whatever code path writes them."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tests.factories import (
    FolderFactory,
    ImageFactory,
    MembershipFactory,
    ModelFactory,
    ProjectFactory,
    UserFactory,
    VersionFactory,
    WorkspaceFactory,
)
from workspaces.models import Project, Workspace

pytestmark = pytest.mark.django_db


def refused(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_workspace_url_is_unique():
    WorkspaceFactory(url="acme")
    refused(lambda: WorkspaceFactory(url="acme"))


@pytest.mark.parametrize("url", ["admin", "api", "dataset", "settings", "static", "accounts", "app"])
def test_reserved_words_cannot_be_workspace_urls(url):
    refused(lambda: Workspace.objects.create(name="x", url=url))
    with pytest.raises(ValidationError, match="reserved"):
        Workspace(name="x", url=url).full_clean()


def test_workspace_url_must_be_lowercase():
    refused(lambda: Workspace.objects.create(name="x", url="Acme"))


def test_workspace_plan_must_be_known():
    refused(lambda: WorkspaceFactory(plan="platinum"))


def test_membership_is_unique_per_user_and_workspace():
    membership = MembershipFactory()
    refused(lambda: MembershipFactory(user=membership.user, workspace=membership.workspace))


def test_membership_role_must_be_known():
    refused(lambda: MembershipFactory(role="superuser"))


def test_folder_name_is_unique_within_a_workspace_only():
    folder = FolderFactory(name="Retail")
    FolderFactory(name="Retail")  # another workspace: fine
    refused(lambda: FolderFactory(workspace=folder.workspace, name="Retail"))


def test_project_slug_is_unique_within_a_workspace_only():
    project = ProjectFactory(slug="cars")
    ProjectFactory(slug="cars")
    refused(lambda: ProjectFactory(workspace=project.workspace, slug="cars"))


@pytest.mark.parametrize("slug", ["projects", "groups", "api-keys", "search"])
def test_api_words_cannot_be_project_slugs(slug):
    refused(lambda: ProjectFactory(slug=slug))


def test_project_type_must_be_known():
    refused(lambda: ProjectFactory(type="telepathy"))


def test_project_folder_must_be_in_the_same_workspace():
    project = ProjectFactory(folder=FolderFactory())
    with pytest.raises(ValidationError, match="another workspace"):
        project.full_clean()


def test_deleting_a_folder_keeps_its_projects():
    folder = FolderFactory()
    project = ProjectFactory(workspace=folder.workspace, folder=folder)
    folder.delete()
    assert Project.objects.get(pk=project.pk).folder is None


def test_same_image_bytes_are_stored_once_per_project():
    image = ImageFactory()
    refused(lambda: ImageFactory(project=image.project, sha256=image.sha256))
    ImageFactory(sha256=image.sha256)  # another project: fine


def test_image_split_and_dimensions_are_checked():
    refused(lambda: ImageFactory(split="holdout"))
    refused(lambda: ImageFactory(width=0))


def test_version_number_is_unique_per_project_and_positive():
    version = VersionFactory(number=1)
    refused(lambda: VersionFactory(project=version.project, number=1))
    refused(lambda: VersionFactory(number=0))


def test_model_name_is_unique_per_project():
    model = ModelFactory(name="best")
    refused(lambda: ModelFactory(project=model.project, name="best"))


def test_model_version_must_belong_to_its_project():
    model = ModelFactory(version=VersionFactory())
    with pytest.raises(ValidationError, match="another project"):
        model.full_clean()


def test_deleting_a_user_removes_their_memberships_only():
    membership = MembershipFactory()
    UserFactory()
    membership.user.delete()
    assert Workspace.objects.filter(pk=membership.workspace_id).exists()
