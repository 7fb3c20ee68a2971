"""The official `roboflow` CLI (PyPI roboflow-slim 1.7.x), unchanged, against the running app.

The app serves on a free loopback port (pytest-django's live server); the CLI runs as a
subprocess (the `cli` fixture of tests/conftest.py).
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKey, AuditEvent
from tests.factories import FolderFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin(enterprise, make_key):
    key, secret = make_key(enterprise, name="Admin")
    return key, secret


def listed(cli, secret):
    return {
        k["name"]: k for k in json.loads(cli("--json", "api-key", "list", "--include-disabled", key=secret))["apiKeys"]
    }


def test_list_get_and_publishable(cli, admin, enterprise):
    key, secret = admin
    table = cli("api-key", "list", key=secret)
    assert key.key_id in table and "Admin" in table and key.prefix in table
    assert secret not in table
    as_json = json.loads(cli("--json", "api-key", "list", key=secret))
    assert as_json["publishableKey"] == enterprise.publishable_key
    details = cli("api-key", "get", key.key_id, key=secret)
    assert f"Key ID: {key.key_id}" in details and "Name: Admin" in details and "Created:" in details
    assert cli("api-key", "publishable", key=secret).strip() == enterprise.publishable_key


def test_create_with_every_option(cli, admin, enterprise, owner):
    _, secret = admin
    folder = FolderFactory(workspace=enterprise, name="Retail")
    due = (timezone.now() + timedelta(days=30)).date().isoformat()
    out = cli(
        "api-key",
        "create",
        "Scoped",
        "--scope",
        "role:uploader",
        "--scope",
        "image:tag",
        "--folder",
        str(folder.pk),
        "--metadata",
        "team=vision",
        "--metadata",
        "env=prod",
        "--protected",
        "--rotation-due-at",
        due,
        "--owner",
        str(owner.pk),
        key=secret,
    )
    assert "This is the only time the secret key will be shown" in out
    created = ApiKey.objects.get(name="Scoped")
    new_secret = out.split("Key: ")[1].split()[0]
    assert new_secret.startswith(f"sak_{created.key_id}_")
    assert created.scopes == ["workspace:read", "project:read", "image:create", "image:read", "image:tag"]
    assert created.folder_limit() == [folder.pk]
    assert created.custom_metadata == {"team": "vision", "env": "prod"}
    assert created.protected
    assert created.rotation_due_at.date().isoformat() == due
    assert [u.pk for u in created.owners.all()] == [owner.pk]
    # The new key works with the CLI too, within its scopes: it may not read keys.
    refusal = cli("api-key", "list", key=new_secret, workspace="acme", expect=1)
    assert "lacks the scope 'api-key:read'" in refusal

    cli("api-key", "create", "Nothing", "--no-scopes", key=secret)
    cli("api-key", "create", "Everything", "--full-access", key=secret)
    cli("api-key", "create", "Inherit", key=secret)
    keys = {k.name: k for k in ApiKey.objects.all()}
    assert keys["Nothing"].scopes == []
    assert keys["Everything"].scopes is None
    assert keys["Inherit"].scopes is None  # the caller is full access
    created_json = json.loads(cli("--json", "api-key", "create", "Json", "--scope", "image:read", key=secret))
    assert created_json["key"].startswith("sak_") and created_json["scopes"] == ["image:read"]


def test_update_protect_disable_enable(cli, admin, enterprise, make_key):
    _, secret = admin
    target, _ = make_key(enterprise, name="Target", scopes=["image:read"], custom_metadata={"a": "1"})
    out = cli(
        "api-key",
        "update",
        target.key_id,
        "--name",
        "Renamed",
        "--scope",
        "role:labeler",
        "--clear-metadata",
        key=secret,
    )
    assert f"Updated API key '{target.key_id}'" in out
    target.refresh_from_db()
    assert target.name == "Renamed" and target.custom_metadata == {}
    assert target.scopes == ["workspace:read", "project:read", "image:read", "image:tag", "image:annotate"]
    updated = json.loads(cli("--json", "api-key", "update", target.key_id, "--full-access", key=secret))
    assert updated["apiKey"]["scopes"] is None

    cli("api-key", "disable", target.key_id, "--disable", key=secret)
    assert ApiKey.objects.get(pk=target.pk).disabled
    assert "Renamed" not in cli("api-key", "list", key=secret)
    assert listed(cli, secret)["Renamed"]["disabled"] is True
    cli("api-key", "disable", target.key_id, "--enable", key=secret)
    assert not ApiKey.objects.get(pk=target.pk).disabled

    assert "as protected" in cli("api-key", "protect", target.key_id, key=secret)
    assert ApiKey.objects.get(pk=target.pk).protected
    actions = list(AuditEvent.objects.filter(api_key=target).order_by("created", "id").values_list("action", flat=True))
    assert actions == ["create", "update", "update", "disable", "enable", "protect"]


def test_roll_and_revoke(cli, admin, enterprise, make_key):
    _, secret = admin
    target, old_secret = make_key(enterprise, name="Rolling", scopes=["image:read"])
    out = cli("api-key", "roll", target.key_id, "--yes", key=secret)
    replacement = ApiKey.objects.get(rolled_from=target)
    assert f"revoked {target.key_id}, replacement keyId: {replacement.key_id}" in out
    new_secret = out.split("Key: ")[1].split()[0]
    assert new_secret.startswith(f"sak_{replacement.key_id}_")
    assert replacement.scopes == ["image:read"]
    # The old secret is dead: the CLI reports the 401 and exits 2.
    assert "rolled" in cli("api-key", "list", key=old_secret, workspace="acme", expect=2)

    rolled = json.loads(cli("--json", "api-key", "roll", replacement.key_id, "--yes", key=secret))
    assert rolled["revokedKeyId"] == replacement.key_id and rolled["key"].startswith("sak_")

    latest = ApiKey.objects.get(key_id=rolled["keyId"])
    assert f"Revoked API key '{latest.key_id}'" in cli("api-key", "revoke", latest.key_id, "--yes", key=secret)
    assert ApiKey.objects.get(pk=latest.pk).revoked_at is not None


def test_error_paths(cli, admin, enterprise, make_key):
    _, secret = admin
    bad = "sak_aaaaaaaaaaaa_" + "a" * 38
    assert "malformed" in cli("api-key", "list", key=bad, workspace="acme", expect=2)
    out = cli("api-key", "get", "nosuchkey123", key=secret, expect=3)
    assert "No API key 'nosuchkey123'" in out
    shielded, _ = make_key(enterprise, name="Shielded", protected=True)
    out = cli("api-key", "revoke", shielded.key_id, "--yes", key=secret, expect=1)
    assert "protected" in out
    assert ApiKey.objects.get(pk=shielded.pk).revoked_at is None
    cli("api-key", "disable", shielded.key_id, "--disable", key=secret, expect=1)
    cli("api-key", "roll", shielded.key_id, "--yes", key=secret, expect=1)
    out = cli("api-key", "create", "Bad", "--scope", "image:fly", key=secret, expect=1)
    assert "image:fly" in out
    _, weak = make_key(enterprise, name="Weak", scopes=["api-key:read"])
    out = cli("api-key", "create", "Nope", key=weak, expect=1)
    assert "api-key:create" in out
    assert not ApiKey.objects.filter(name__in=["Bad", "Nope"]).exists()
