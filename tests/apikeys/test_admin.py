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
    from apikeys.services import Actor, api_key_revoke
    from workspaces.errors import Forbidden

    with pytest.raises(Forbidden):
        api_key_revoke(key=key, actor=Actor(user=staff))
