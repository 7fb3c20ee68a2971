"""The permission class and the base view, on test-only views (tests/apikeys/urls.py)."""

import pytest

from apikeys.permissions import UNDECLARED
from tests.factories import FolderFactory, MembershipFactory, ProjectFactory, UserFactory
from tests.keys import update_key
from workspaces.models import Role

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.apikeys.urls")]


def bearer(secret):
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def error(response):
    return response.json()["error"]


def test_a_key_with_the_declared_scope_may_call(client, enterprise, make_key):
    _, secret = make_key(enterprise, scopes=["project:read"])
    response = client.get("/acme/things", **bearer(secret))
    assert response.status_code == 200
    assert response.json()["workspace"] == "acme"


def test_reading_does_not_allow_writing(client, enterprise, make_key):
    _, secret = make_key(enterprise, scopes=["project:read"])
    response = client.post("/acme/things", {}, content_type="application/json", **bearer(secret))
    assert response.status_code == 403
    assert error(response)["type"] == "insufficient_scope"
    assert "project:create" in error(response)["message"]
    assert error(response)["scope"] == "project:create"
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="insufficient_scope", scope="project:create"'


def test_an_action_without_a_declared_scope_is_refused_even_to_full_access(client, enterprise, make_key):
    _, secret = make_key(enterprise)
    response = client.delete("/acme/things", **bearer(secret))
    assert response.status_code == 403
    assert error(response) == {"message": UNDECLARED, "type": "undeclared_action", "hint": ""}


def test_an_action_declaring_two_scopes_needs_both(client, enterprise, make_key):
    _, one = make_key(enterprise, name="one", scopes=["api-key:create"])
    _, both = make_key(enterprise, name="both", scopes=["api-key:create", "api-key:revoke"])
    response = client.post("/acme/keys", **bearer(one))
    assert response.status_code == 403
    assert error(response)["scope"] == "api-key:revoke"
    assert client.post("/acme/keys", **bearer(both)).status_code == 200


def test_a_key_with_no_scopes_can_do_nothing(client, enterprise, make_key):
    _, secret = make_key(enterprise, scopes=[])
    assert client.get("/acme/things", **bearer(secret)).status_code == 403


def test_another_workspace_is_a_404_whatever_the_scopes(client, enterprise, free, make_key):
    _, secret = make_key(enterprise)
    response = client.get("/hobby/things", **bearer(secret))
    assert response.status_code == 404
    assert error(response)["type"] == "not_found"
    assert client.get("/no-such-ws/things", **bearer(secret)).status_code == 404


def test_querysets_are_limited_to_the_workspace_and_the_keys_folders(client, enterprise, make_key):
    inside, outside = FolderFactory(workspace=enterprise), FolderFactory(workspace=enterprise)
    ProjectFactory(workspace=enterprise, slug="in-folder", folder=inside)
    ProjectFactory(workspace=enterprise, slug="other-folder", folder=outside)
    ProjectFactory(workspace=enterprise, slug="no-folder")
    ProjectFactory(slug="other-workspace")
    _, wide = make_key(enterprise, name="wide")
    _, limited = make_key(enterprise, name="limited", folder_ids=[inside.pk])
    assert client.get("/acme/things", **bearer(wide)).json()["projects"] == ["in-folder", "no-folder", "other-folder"]
    assert client.get("/acme/things", **bearer(limited)).json()["projects"] == ["in-folder"]


def test_scope_changes_apply_on_the_next_request(client, enterprise, make_key):
    from workspaces.actors import Actor

    key, secret = make_key(enterprise, scopes=["project:read"])
    assert client.get("/acme/things", **bearer(secret)).status_code == 200
    update_key(key=key, actor=Actor(), scopes=["image:read"])
    assert client.get("/acme/things", **bearer(secret)).status_code == 403


def test_the_api_key_in_a_json_body_is_not_part_of_the_data(client, enterprise, make_key):
    _, secret = make_key(enterprise)
    response = client.post("/acme/things", {"api_key": secret, "name": "x"}, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["body"] == {"name": "x"}


def test_no_credentials_is_a_401(client, enterprise):
    response = client.get("/acme/things")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


class TestSessionUsers:
    def test_members_use_the_api_by_role_not_scope(self, client, member):
        client.force_login(member)
        assert client.get("/acme/things").status_code == 200

    def test_members_never_see_key_management(self, client, member):
        client.force_login(member)
        response = client.get("/acme/keys")
        assert response.status_code == 404

    def test_admins_manage_keys(self, client, enterprise):
        admin = UserFactory()
        MembershipFactory(user=admin, workspace=enterprise, role=Role.ADMIN)
        client.force_login(admin)
        assert client.get("/acme/keys").status_code == 200

    def test_non_members_get_a_404(self, client, outsider, enterprise):
        client.force_login(outsider)
        assert client.get("/acme/things").status_code == 404

    def test_undeclared_actions_are_refused_to_users_too(self, client, owner):
        client.force_login(owner)
        assert client.delete("/acme/things").status_code == 403

    def test_session_writes_need_the_csrf_token(self, owner, enterprise):
        from django.test import Client

        client = Client(enforce_csrf_checks=True)
        client.force_login(owner)
        response = client.post("/acme/things", {}, content_type="application/json")
        assert response.status_code == 403
        assert "CSRF" in error(response)["message"]


def test_the_permission_refuses_a_view_that_does_not_settle_the_workspace(client, enterprise, make_key):
    from django.core.exceptions import ImproperlyConfigured

    from apikeys.permissions import NOT_A_SCOPED_VIEW

    _, secret = make_key(enterprise)
    client.raise_request_exception = True
    with pytest.raises(ImproperlyConfigured, match=NOT_A_SCOPED_VIEW):
        client.get("/acme/not-scoped", **bearer(secret))
