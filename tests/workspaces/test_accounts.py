import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.factories import PASSWORD, WorkspaceFactory
from workspaces.forms import EMAIL_TAKEN, PASSWORDS_DIFFER, URL_TAKEN
from workspaces.models import Membership, Workspace

pytestmark = pytest.mark.django_db
User = get_user_model()


def sign_up(client, **overrides):
    data = {
        "email": "new@example.com",
        "password1": "a-long-unusual-password",
        "password2": "a-long-unusual-password",
        "workspace_name": "New Co",
        "workspace_url": "",
    } | overrides
    return client.post(reverse("accounts:sign_up"), data)


def test_sign_up_creates_user_and_free_workspace_owned_by_them(client):
    response = sign_up(client)
    user = User.objects.get(username="new@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.role == "owner"
    assert membership.workspace.plan == "free"
    assert membership.workspace.name == "New Co"
    # The first screen shows the workspace's key, once, and it works.
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = re.search(r"data-secret>(sak_[^<]+)<", response.content.decode())[1]
    assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {secret}").json()["workspace"] == "new-co"
    # Signed in straight away; the key page does not show the secret again.
    page = client.get(reverse("apikeys:list", kwargs={"ws": "new-co"}))
    assert page.status_code == 200
    assert secret not in page.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"password2": "something-else-entirely"}, "password2", PASSWORDS_DIFFER),
        ({"password1": "123", "password2": "123"}, "password1", "too short"),
        ({"workspace_url": "admin"}, "workspace_url", "reserved"),
        ({"workspace_url": "Bad URL!"}, "workspace_url", "lowercase letters"),
        ({"email": "not-an-email"}, "email", "valid email"),
    ],
)
def test_sign_up_refuses_bad_input_and_writes_nothing(client, overrides, field, message):
    response = sign_up(client, **overrides)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not User.objects.exists()
    assert not Workspace.objects.exists()


def test_sign_up_refuses_a_taken_email_or_url(client, owner):
    WorkspaceFactory(url="taken")
    response = sign_up(client, email="OWNER@example.com", workspace_url="taken")
    errors = response.context["form"].errors
    assert EMAIL_TAKEN in errors["email"]
    assert URL_TAKEN in errors["workspace_url"]


def test_log_in_lands_on_a_workspace_and_log_out_ends_the_session(client, owner):
    response = client.post(reverse("accounts:login"), {"username": "owner@example.com", "password": PASSWORD})
    assert response.status_code == 302
    response = client.get(response.url, follow=True)
    assert response.status_code == 200
    assert response.context["workspace"].url in {"acme", "hobby"}
    client.post(reverse("accounts:logout"))
    response = client.get(reverse("workspaces:home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_log_in_takes_the_email_in_any_case(client, owner):
    response = client.post(reverse("accounts:login"), {"username": "Owner@Example.com ", "password": PASSWORD})
    assert response.status_code == 302


def test_log_in_with_a_wrong_password_is_refused(client, owner):
    response = client.post(reverse("accounts:login"), {"username": "owner@example.com", "password": "nope"})
    assert response.status_code == 200
    assert response.context["form"].errors


def test_password_change(client, owner):
    client.force_login(owner)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": "another-long-password", "new_password2": "another-long-password"},
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("another-long-password")


def test_pages_need_a_login(client, enterprise):
    for url in [reverse("workspaces:home"), reverse("workspaces:detail", kwargs={"ws": "acme"})]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("accounts:login"))
