"""What a security review of the key lifecycle (usage, narrowing, leak reports, operator
commands, reminders, mail settings) found, one test each: leak mail to ex-members, a free
workspace's leak-disabled key hidden from its page, narrowing from a stale copy of the key,
scopes checked inside a view left uncounted, an SMTP password in a settings error."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apikeys import usage, views
from apikeys.leaks import Finding, report
from apikeys.models import ApiKey, KeyUsage
from tests.config.test_settings import manage
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, VersionFactory
from tests.keys import update_key
from workspaces.actors import Actor
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def page_url(name: str, ws: str = "acme", **kwargs) -> str:
    return reverse(f"apikeys:{name}", kwargs={"ws": ws, **kwargs})


def age(key: ApiKey, days: float) -> None:
    ApiKey.objects.filter(pk=key.pk).update(usage_since=timezone.now() - timedelta(days=days))


# F1: the leak mail goes to key owners who are no longer members of the workspace ---------


def test_leak_mail_skips_key_owners_who_left_the_workspace(
    enterprise, owner, make_key, mailoutbox, django_capture_on_commit_callbacks
):
    gone = UserFactory(email="gone@example.com")
    MembershipFactory(user=gone, workspace=enterprise, role=Role.ADMIN)
    _, secret = make_key(enterprise, name="Deploy", owners=[gone])
    gone.memberships.all().delete()  # removed from the workspace; still in key.owners
    with django_capture_on_commit_callbacks(execute=True):
        report([Finding(secret, url="https://github.com/x/y/blob/1/a.py")], Actor(system="test"))
    [mail] = mailoutbox
    # The rotation reminders drop owners who left (reminders.recipients_of); the leak mail does not.
    assert "gone@example.com" not in mail.to, mail.to


# F2: a leak-disabled key of a non-Enterprise workspace cannot be recovered from the page --


def test_a_free_workspace_can_recover_its_leak_disabled_key_from_the_page(
    client, free, owner, make_key, django_capture_on_commit_callbacks
):
    key, secret = make_key(free, name="only key")
    with django_capture_on_commit_callbacks(execute=True):
        [outcome] = report([Finding(secret)], Actor(system="test"))
    assert outcome.action == "disabled"
    client.force_login(owner)
    listing = client.get(page_url("list", "hobby")).content.decode()
    shown = client.get(page_url("list", "hobby") + "?disabled=1").content.decode()
    # The leak mail says: roll it, then enable the replacement. On the free plan the page hides
    # disabled keys (no "Show disabled keys" either), offers no Enable, and no Generate: the
    # workspace's only key has vanished from its settings page.
    assert f'id="key-{key.key_id}"' in listing + shown, "the disabled key is not on the page at all"
    assert page_url("enable", "hobby", key_id=key.key_id) in listing + shown, "no way to enable it"


# F3: Narrow to what it uses writes scopes computed from a stale copy of the key ----------


def test_narrow_never_restores_a_scope_removed_meanwhile(client, enterprise, owner, make_key, monkeypatch):
    ProjectFactory(workspace=enterprise, slug="cats")
    key, secret = make_key(enterprise, name="reader", scopes=["workspace:read", "project:read", "image:read"])
    age(key, 31)
    client.get("/acme", **bearer(secret))
    client.get("/acme/cats", **bearer(secret))  # used: workspace:read, project:read

    real = views.usage_context

    def with_a_concurrent_edit(stale_key):
        found = real(stale_key)
        # Another admin removes project:read between the narrow's read and its write.
        update_key(key=stale_key, scopes=["workspace:read"])
        return found

    monkeypatch.setattr(views, "usage_context", with_a_concurrent_edit)
    client.force_login(owner)
    form = {"name": "reader", "access": "scoped", "scopes": key.scopes, "folder_limit": "all", "narrow": "confirm"}
    assert client.post(page_url("edit", key_id=key.key_id), form).status_code == 302
    key.refresh_from_db()
    assert key.scopes == ["workspace:read"], f"narrowing widened the key back to {key.scopes}"


# F4: scopes checked inside a view (`permissions.require`) are never counted -------------


def test_a_scope_required_by_the_body_is_counted_so_narrowing_keeps_it(client, enterprise, owner, make_key):
    project = ProjectFactory(workspace=enterprise, slug="shelf")
    VersionFactory(project=project, number=1, deleted_at=timezone.now())
    key, secret = make_key(enterprise, name="restorer", scopes=["project:update", "version:update"])
    age(key, 31)
    body = {"type": "version", "id": 1, "parentId": project.pk}
    restored = client.post("/acme/trash/restore", body, content_type="application/json", **bearer(secret))
    assert restored.status_code == 200, restored.content
    usage.flush()
    counted = {u.scope for u in KeyUsage.objects.filter(api_key=key)}
    # The restore needed version:update (views call `require`), but only project:update is
    # counted; "Narrow to what it uses" would then drop version:update and break this call.
    assert "version:update" in counted, counted


# F5: a mistyped EMAIL_URL prints the SMTP password --------------------------------------


def test_a_bad_email_url_does_not_print_its_password():
    result = manage("check", DEBUG="true", EMAIL_URL="smtps://keys:hunter2-smtp-password@mail.example.com:465")
    output = result.stdout + result.stderr
    assert "EMAIL_URL must be a URL with one of the schemes" in output
    assert "hunter2-smtp-password" not in output
