"""A key field is declared once (`apikeys.spec.KeySpec`, each field with its `KeyField`), and
everything that shows or reads keys follows the declarations: the API's input and output, the
edit modal, the shell's `show`, the activity page, the audit log and the plan rule."""

from dataclasses import replace
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from apikeys import services
from apikeys.models import AuditEvent
from apikeys.serializers import ApiKeySerializer, ApiKeySpecSerializer, key_objects
from apikeys.spec import BY_WIRE, KEY_FIELDS, PLAIN, KeySpec, Kind
from apikeys.views import changes
from workspaces.actors import Actor

pytestmark = pytest.mark.django_db


def test_every_field_of_the_spec_is_declared_once_with_a_wire_name_and_a_title():
    assert [f.name for f in KEY_FIELDS] == list(KeySpec.__dataclass_fields__)
    assert len(BY_WIRE) == len(KEY_FIELDS)
    assert all(f.wire and f.title for f in KEY_FIELDS)
    assert all(f.section in ("", "top", "options", "limits") for f in KEY_FIELDS)
    # Only plain fields are laid out from their declaration alone.
    assert all(f.kind in PLAIN for f in KEY_FIELDS if f.section)


def test_the_api_reads_and_writes_every_declared_field(enterprise):
    inputs = ApiKeySpecSerializer(context={}).fields
    outputs = ApiKeySerializer().fields
    for declared in KEY_FIELDS:
        assert declared.wire in inputs, declared.name
        assert declared.wire in outputs, declared.name
        if declared.help:
            assert inputs[declared.wire].help_text == declared.help


def test_a_key_object_carries_exactly_the_fields_its_serializer_declares(enterprise, make_key):
    key, _ = make_key(enterprise, expires_at=None)
    with_folders, without = (
        key_objects(type(key).objects.filter(pk=key.pk), workspace=enterprise, include_folders=include)[0]
        for include in (True, False)
    )
    declared = set(ApiKeySerializer().fields)
    assert set(with_folders) == declared
    assert set(without) == declared - {"folders"}  # the one optional field


def test_the_edit_modal_shows_every_plain_field_with_a_section(client, owner, enterprise, make_key):
    key, _ = make_key(enterprise)
    client.force_login(owner)
    page = client.get(reverse("apikeys:edit", kwargs={"ws": "acme", "key_id": key.key_id})).content.decode()
    for declared in (f for f in KEY_FIELDS if f.section):
        assert f'name="{declared.name}"' in page
        assert declared.label in page


def test_the_shell_shows_every_declared_field_by_its_title(enterprise, make_key):
    key, _ = make_key(enterprise)
    out = StringIO()
    call_command("apikeys", "show", key.prefix, stdout=out)
    titles = [line.split(":")[0] for line in out.getvalue().splitlines()]
    for declared in KEY_FIELDS:
        assert declared.title in titles


def test_the_audit_log_records_every_field_and_the_activity_page_names_each(enterprise, make_key):
    key, _ = make_key(enterprise)
    [created] = AuditEvent.objects.filter(api_key=key)
    assert set(created.after) == {f.name for f in KEY_FIELDS}
    # A new key's entry lists what it was made with, and nothing empty.
    shown = changes(created, {"folders": {}, "owners": {}})
    assert shown and all(after.strip() for _, _, after in shown)
    assert [what for what, _, _ in shown] == ["name", "scopes"]
    created.after = {**created.after, "name": ""}  # an empty text, as a new optional text field holds
    assert [what for what, _, _ in changes(created, {})] == ["scopes"]


def test_empty_values_read_as_their_declaration_says_on_the_activity_page(enterprise, make_key):
    soon = timezone.now() + timedelta(days=5)
    key, _ = make_key(enterprise, expires_at=soon, rotation_due_at=soon)
    later = services.api_key_update(key=key, actor=Actor(), spec=replace(KeySpec.of(key), name="Renamed"))
    assert later.name == "Renamed"
    assert changes(AuditEvent.objects.filter(api_key=key).first(), {}) == [("name", "Test key", "Renamed")]
    cleared = replace(KeySpec.of(key), expires_at=None, rotation_due_at=None)
    services.api_key_update(key=key, actor=Actor(), spec=cleared)
    shown = {what: after for what, _, after in changes(AuditEvent.objects.filter(api_key=key).first(), {})}
    assert shown == {"expires": "never", "rotate by": "not set"}


SAMPLES = {
    Kind.TEXT: "Renamed",
    Kind.FLAG: True,
    Kind.DATE: "2030-01-01",
    Kind.SCOPES: ["image:read"],
    Kind.NETWORKS: ["10.0.0.0/8"],
    Kind.METADATA: {"team": "ml"},
}


def test_a_workspace_on_another_plan_cannot_set_any_field_declared_enterprise(client, owner, free, make_key):
    from tests.factories import FolderFactory

    samples = {**SAMPLES, Kind.FOLDERS: [FolderFactory(workspace=free).pk], Kind.MEMBERS: [owner.pk]}
    key, secret = make_key(free, name="Only")
    path = f"/hobby/api-keys/{key.key_id}"
    refused = []
    for declared in KEY_FIELDS:
        if declared.name in ("protected", "disabled"):
            continue  # rules of their own (protecting is Enterprise; disabling the only key is not)
        body = {declared.wire: samples[declared.kind]}
        answer = client.patch(path, body, "application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
        if answer.status_code != 200:
            assert answer.json()["error"]["type"] == "plan_required", (declared.name, answer.content)
            refused.append(declared.name)
    assert set(refused) == {f.name for f in KEY_FIELDS if f.enterprise}
    assert set(refused) >= {"scopes", "folders", "expires_at", "allowed_ips"}
