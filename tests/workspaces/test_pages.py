import pytest
from django.urls import reverse

from tests.factories import FolderFactory, ProjectFactory
from workspaces.models import Membership, Role

pytestmark = pytest.mark.django_db


def detail(ws):
    return reverse("workspaces:detail", kwargs={"ws": ws})


def test_workspace_home_lists_folders_and_projects(client, owner, enterprise):
    folder = FolderFactory(workspace=enterprise, name="Retail")
    ProjectFactory(workspace=enterprise, folder=folder, name="Shelves")
    ProjectFactory(workspace=enterprise, name="Loose one")
    ProjectFactory(name="Someone else's")
    client.force_login(owner)
    page = client.get(detail("acme")).content.decode()
    assert "Retail" in page
    assert "Shelves" in page
    assert "Loose one" in page
    assert "Someone else" not in page


def test_switcher_lists_every_workspace_of_the_user(client, owner):
    client.force_login(owner)
    page = client.get(detail("acme")).content.decode()
    assert detail("acme") in page
    assert detail("hobby") in page


def test_home_remembers_the_last_workspace(client, owner):
    client.force_login(owner)
    client.get(detail("hobby"))
    assert client.get(reverse("workspaces:home")).url == detail("hobby")
    client.get(detail("acme"))
    assert client.get(reverse("workspaces:home")).url == detail("acme")


def test_a_workspace_you_are_not_in_is_a_404(client, outsider, enterprise):
    client.force_login(outsider)
    assert client.get(detail("acme")).status_code == 404
    assert client.get(detail("no-such-workspace")).status_code == 404


def test_members_can_see_the_workspace_home(client, member):
    client.force_login(member)
    assert client.get(detail("acme")).status_code == 200


def test_a_user_without_workspaces_is_offered_to_create_one(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("workspaces:home")).url == reverse("workspaces:create")
    response = client.post(reverse("workspaces:create"), {"workspace_name": "Solo", "workspace_url": "solo"})
    assert response.status_code == 200  # the new workspace's key page, its secret shown once
    assert "Key created" in response.content.decode() and response["Cache-Control"] == "no-store"
    assert Membership.objects.get(user=outsider).role == Role.OWNER


def test_login_page_is_served(client):
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
    assert b"Log in" in response.content


def test_a_project_name_leads_to_its_page_for_any_member(client, member, outsider, enterprise):
    from tests.factories import ImageFactory, ProjectFactory, VersionFactory

    project = ProjectFactory(workspace=enterprise, slug="cats", name="Cats")
    ImageFactory(project=project)
    VersionFactory(project=project, number=1)
    client.force_login(member)
    home = client.get(detail("acme")).content.decode()
    page_url = reverse("workspaces:project", kwargs={"ws": "acme", "slug": "cats"})
    assert f'href="{page_url}"' in home
    page = client.get(page_url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Cats" in body and "/acme/cats/images/" in body and 'project("cats")' in body
    assert client.get(reverse("workspaces:project", kwargs={"ws": "acme", "slug": "dogs"})).status_code == 404
    client.force_login(outsider)
    assert client.get(page_url).status_code == 404


def test_the_project_page_shows_each_version_generating_ready_or_failed(client, member, enterprise):
    from tests.factories import ProjectFactory, VersionFactory
    from workspaces.models import Work

    project = ProjectFactory(workspace=enterprise, slug="cats", name="Cats")
    VersionFactory(project=project, number=1)
    VersionFactory(project=project, number=2, state=Work.PENDING, progress=0.42)
    VersionFactory(project=project, number=3, state=Work.FAILED, failure="These settings leave <no> image.")
    client.force_login(member)
    body = client.get(reverse("workspaces:project", kwargs={"ws": "acme", "slug": "cats"})).content.decode()
    rows = body.split("<h2>Versions</h2>")[1].split("</table>")[0]
    assert '<td data-label="State">Ready</td>' in rows
    assert '<td data-label="State">Generating, 42 %</td>' in rows
    assert '<td data-label="State">Failed: These settings leave &lt;no&gt; image.</td>' in rows
