import pytest
from django.contrib.auth import get_user_model

from apikeys.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("ops@example.com", "ops@example.com", "x-long-password")
    client.force_login(user)
    return user


def test_operators_find_keys_by_prefix_and_never_see_secrets(client, operator, enterprise, make_key):
    key, secret = make_key(enterprise, name="Findable")
    make_key(enterprise, name="Other")
    page = client.get("/admin/apikeys/apikey/", {"q": key.prefix}).content.decode()
    assert "Findable" in page and "Other" not in page
    detail = client.get(f"/admin/apikeys/apikey/{key.pk}/change/").content.decode()
    assert key.key_id in detail
    assert secret not in detail and key.digest not in detail


def test_operators_filter_by_state(client, operator, enterprise, make_key):
    make_key(enterprise, name="On")
    make_key(enterprise, name="Off", disabled=True)
    page = client.get("/admin/apikeys/apikey/", {"state": "disabled"}).content.decode()
    assert "Off" in page and ">On<" not in page


def test_admin_actions_go_through_the_services_and_are_audited(client, operator, enterprise, make_key):
    key, _ = make_key(enterprise, name="Victim")
    protected, _ = make_key(enterprise, name="Shielded", protected=True)
    response = client.post(
        "/admin/apikeys/apikey/",
        {"action": "revoke_keys", "_selected_action": [key.pk, protected.pk]},
        follow=True,
    )
    assert response.status_code == 200
    key.refresh_from_db()
    protected.refresh_from_db()
    assert key.revoked_at is not None
    assert protected.revoked_at is None
    event = AuditEvent.objects.get(api_key=key, action="revoke")
    assert event.actor_user == operator


def test_the_audit_log_is_read_only(client, operator, enterprise, make_key):
    key, _ = make_key(enterprise)
    event = AuditEvent.objects.get(api_key=key)
    assert client.get("/admin/apikeys/auditevent/").status_code == 200
    assert client.post(f"/admin/apikeys/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_staff_without_the_key_permission_can_neither_list_nor_revoke_keys(client, enterprise, make_key):
    key, _ = make_key(enterprise, name="Victim")
    staff = get_user_model().objects.create_user("helpdesk@example.com", "helpdesk@example.com", "x-long-password")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    assert client.get("/admin/apikeys/apikey/").status_code == 403
    client.post("/admin/apikeys/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is None
    from apikeys.services import api_key_revoke
    from core.errors import Forbidden
    from workspaces.actors import Actor

    with pytest.raises(Forbidden):
        api_key_revoke(key=key, actor=Actor(user=staff))


def test_operators_find_keys_by_keyid_name_and_workspace(client, operator, enterprise, free, make_key):
    key, _ = make_key(enterprise, name="Nightly export")
    make_key(free, name="Hobby key")
    for term in (key.key_id, "nightly", "acme", enterprise.name):
        page = client.get("/admin/apikeys/apikey/", {"q": term}).content.decode()
        assert "Nightly export" in page and "Hobby key" not in page, term


def test_one_page_shows_state_usage_and_audit_trail(client, operator, enterprise, make_key):
    key, secret = make_key(enterprise, name="Busy", scopes=["workspace:read", "image:read"])
    client.get("/acme", HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_USER_AGENT="roboflow-python/1.7.3")
    client.force_login(operator)  # the API call above is anonymous to the session
    page = client.get(f"/admin/apikeys/apikey/{key.pk}/change/").content.decode()
    assert "<strong>1</strong> requests" in page and "workspace:read 1" in page  # flushed on the way in
    assert "last from 127.0.0.1" in page and "roboflow-python/1.7.3" in page
    assert "Too new to tell" in page
    assert "Created" in page and "system" in page  # the audit trail: made by the test's operator actor
    listing = client.get("/admin/apikeys/apikey/").content.decode()
    assert '<td class="field-requests_30d">1</td>' in listing


def test_disable_enable_and_revoke_from_the_key_page(client, operator, enterprise, make_key):
    key, secret = make_key(enterprise, name="Leaky")
    page = client.get(f"/admin/apikeys/apikey/{key.pk}/change/").content.decode()
    assert f"/admin/apikeys/apikey/{key.pk}/disable/" in page and "/enable/" not in page
    confirm = client.get(f"/admin/apikeys/apikey/{key.pk}/disable/")
    assert confirm.status_code == 200 and "Requests with it fail" in confirm.content.decode()
    assert client.post(f"/admin/apikeys/apikey/{key.pk}/disable/").status_code == 302
    key.refresh_from_db()
    assert key.disabled
    assert client.get("/acme", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    client.post(f"/admin/apikeys/apikey/{key.pk}/enable/")
    client.post(f"/admin/apikeys/apikey/{key.pk}/revoke/")
    key.refresh_from_db()
    assert not key.disabled and key.revoked_at is not None
    actions = list(AuditEvent.objects.filter(api_key=key).values_list("action", "actor_user"))
    assert ("disable", operator.pk) in actions and ("enable", operator.pk) in actions
    assert ("revoke", operator.pk) in actions
    page = client.get(f"/admin/apikeys/apikey/{key.pk}/change/").content.decode()
    assert "/disable/" not in page and "/revoke/" not in page  # nothing left to do


def test_a_protected_key_is_refused_with_the_services_message(client, operator, enterprise, make_key):
    key, _ = make_key(enterprise, name="Shielded", protected=True)
    response = client.post(f"/admin/apikeys/apikey/{key.pk}/revoke/", follow=True)
    assert "protected" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None


def test_the_key_page_operations_need_the_key_permission(client, enterprise, make_key):
    key, _ = make_key(enterprise, name="Victim")
    staff = get_user_model().objects.create_user("desk@example.com", "desk@example.com", "x-long-password")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    assert client.post(f"/admin/apikeys/apikey/{key.pk}/revoke/").status_code in (403, 404)
    key.refresh_from_db()
    assert key.revoked_at is None


def test_key_usage_is_listed_read_only(client, operator, enterprise, make_key):
    from datetime import date

    from apikeys.models import KeyUsage

    key, _ = make_key(enterprise, name="Counted")
    KeyUsage.objects.create(api_key=key, day=date(2026, 11, 20), scope="", requests=12)
    page = client.get("/admin/apikeys/keyusage/").content.decode()
    assert "Counted" in page and "(every request)" in page and "12" in page
    assert client.get("/admin/apikeys/keyusage/add/").status_code == 403


def test_a_plan_downgrade_says_what_happens_to_the_keys(client, operator, enterprise, make_key):
    key, secret = make_key(enterprise, name="Scoped", scopes=["workspace:read"])
    data = {
        "url": "acme",
        "name": enterprise.name,
        "plan": "free",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    response = client.post(f"/admin/workspaces/workspace/{enterprise.pk}/change/", data, follow=True)
    text = response.content.decode()
    assert "keep their scopes" in text, text[:2000]
    key.refresh_from_db()
    assert key.scopes == ["workspace:read"]  # never widened
    assert client.get("/acme", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    from dataclasses import replace

    from apikeys.services import api_key_disable, api_key_update
    from apikeys.spec import KeySpec
    from core.errors import PlanRequired
    from workspaces.actors import Actor

    with pytest.raises(PlanRequired):
        api_key_update(key=key, actor=Actor(), spec=replace(KeySpec.of(key), scopes=("image:read",)))
    api_key_disable(key=key, actor=Actor())  # still possible
