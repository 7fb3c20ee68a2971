"""`manage.py apikeys`: each subcommand's output, exit code and effect, driven as an operator
drives it (without stdin), and its JSON against the API's own answers."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apikeys import keyformat, services
from apikeys.authentication import authenticate_key
from apikeys.models import ApiKey, AuditAction, AuditEvent, KeyState
from apikeys.scopes import PRESETS, SCOPE_NAMES
from core.exceptions import InvalidToken
from tests.factories import FolderFactory
from tests.keys import roll_key, update_key
from workspaces.models import Plan

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("apikeys", *args, stdout=out, stderr=err)
    assert err.getvalue() == ""
    return out.getvalue()


def fails(*args: str) -> str:
    """The one-line error of a refused command; its exit code is 1."""
    with pytest.raises(CommandError) as info:
        run(*args)
    assert info.value.returncode == 1
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def secret_in(output: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith("Secret (shown once): ")]
    return line.removeprefix("Secret (shown once): ")


def operator_events(key, action):
    events = AuditEvent.objects.filter(api_key=key, action=action)
    assert events.exists()
    assert all("operator" in event.actor_label for event in events)
    return list(events)


def api_list(client, owner, ws="acme"):
    client.force_login(owner)
    response = client.get(f"/{ws}/api-keys?includeDisabled=true")
    assert response.status_code == 200
    return response.json()["apiKeys"]


@pytest.fixture
def keys(enterprise, make_key):
    """One key in each state, in the enterprise workspace."""
    made = {
        "active": make_key(enterprise, name="Active", scopes=["role:uploader"])[0],
        "disabled": make_key(enterprise, name="Off", disabled=True)[0],
        "expired": make_key(enterprise, name="Old", expires_at=timezone.now() + timedelta(days=1))[0],
        "revoked": make_key(enterprise, name="Gone")[0],
        "to_roll": make_key(enterprise, name="Rolled")[0],
    }
    ApiKey.objects.filter(pk=made["expired"].pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    services.api_key_revoke(key=made["revoked"], actor=services.Actor())
    made["replacement"], _ = roll_key(key=made["to_roll"])
    return made


class TestList:
    def test_lists_the_live_keys_as_a_table(self, keys):
        output = run("list", "--workspace", "acme")
        header, *lines = output.splitlines()
        assert header.split() == ["KEY", "ID", "PREFIX", "NAME", "STATE", "ACCESS", "LAST", "USED"]
        names = [line.split()[2] for line in lines]
        assert sorted(names) == ["Active", "Off", "Old", "Rolled"]  # the replacement, not the rolled key
        active = next(line for line in lines if " Active " in line)
        key = keys["active"]
        assert active.split()[:4] == [key.key_id, key.prefix, "Active", "active"]
        assert "Workspace: read · Projects: read · Images: upload, read" in active
        assert active.endswith("never")
        assert "disabled" in next(line for line in lines if " Off " in line)
        assert "expired" in next(line for line in lines if " Old " in line)

    @pytest.mark.parametrize(
        ("state", "names"),
        [
            ("active", ["Active", "Rolled"]),
            ("disabled", ["Off"]),
            ("expired", ["Old"]),
            ("revoked", ["Gone"]),
            ("rolled", ["Rolled"]),
            ("all", ["Active", "Gone", "Off", "Old", "Rolled", "Rolled"]),
        ],
    )
    def test_filters_by_state(self, keys, state, names):
        found = json.loads(run("list", "--workspace", "acme", "--state", state, "--json"))
        assert sorted(item["name"] for item in found) == names
        if state != "all":
            assert {item["state"] for item in found} == {state}

    def test_json_is_the_apis_key_objects(self, keys, client, owner):
        listed = json.loads(run("list", "--workspace", "acme", "--json"))
        assert listed == api_list(client, owner)

    def test_an_empty_workspace_says_so(self, enterprise):
        assert run("list", "--workspace", "acme").strip() == "No live keys in workspace acme."
        assert json.loads(run("list", "--workspace", "acme", "--json")) == []

    def test_names_cannot_drive_the_terminal(self, enterprise, make_key):
        key, _ = make_key(enterprise, name="Plain")
        ApiKey.objects.filter(pk=key.pk).update(name="\x1b[31mred")
        assert "?[31mred" in run("list", "--workspace", "acme")
        assert "\x1b" not in run("show", key.key_id)

    def test_unknown_workspace_and_state(self, enterprise):
        assert fails("list", "--workspace", "nope") == "No workspace with the url 'nope'."
        assert "invalid choice: 'bogus'" in fails("list", "--workspace", "acme", "--state", "bogus")
        assert "control characters" in fails("list", "--workspace", "ac\x00me")
        assert "not UTF-8" in fails("list", "--workspace", "acme\udcff")

    def test_a_subcommand_is_required(self):
        assert "subcommand" in fails().lower()


class TestShow:
    def test_shows_every_field_owners_folders_and_recent_events(self, enterprise, make_key, owner, member):
        folder = FolderFactory(workspace=enterprise, name="Cats")
        key, _ = make_key(
            enterprise,
            name="Detailed",
            scopes=["image"],
            folder_ids=[folder.pk],
            owners=[owner, member],
            custom_metadata={"team": "ml"},
            allowed_ips=["10.0.0.0/8"],
            rotation_due_at=timezone.now() + timedelta(days=30),
        )
        member.memberships.all().delete()
        for _ in range(6):
            update_key(key=key, disabled=True)
            update_key(key=key, disabled=False)
        output = run("show", key.prefix)
        assert "Name:" in output and "Detailed" in output
        assert f"Key id:       {key.key_id} (prefix {key.prefix})" in output
        assert "Workspace:    acme (Acme, Enterprise)" in output
        assert "State:        active" in output
        assert "Images: all" in output
        assert "image:create, image:read, image:tag, image:annotate, image:delete" in output
        assert f"Cats (#{folder.pk})" in output
        assert '{"team": "ml"}' in output
        assert "10.0.0.0/8" in output
        assert f"owner@example.com (#{owner.pk})" in output
        assert f"member@example.com (#{member.pk}, no longer a member)" in output
        events = output.split("Last 10 audit events:\n")[1].splitlines()
        assert len(events) == 10
        assert all(" enable " in line or " disable " in line for line in events)

    def test_json_carries_the_apis_key_object(self, enterprise, make_key, owner, client):
        folder = FolderFactory(workspace=enterprise, name="Cats")
        key, _ = make_key(enterprise, name="Folders", folder_ids=[folder.pk], owners=[owner])
        shown = json.loads(run("show", key.key_id, "--json"))
        client.force_login(owner)
        assert shown["apiKey"] == client.get(f"/acme/api-keys/{key.key_id}").json()["apiKey"]
        assert shown["apiKey"]["folders"] == [{"id": str(folder.pk), "name": "Cats"}]
        assert shown["workspace"] == {"url": "acme", "name": "Acme", "plan": "enterprise"}
        assert shown["owners"] == [
            {"id": str(owner.pk), "username": owner.username, "email": owner.email, "member": True}
        ]
        assert [event["action"] for event in shown["auditEvents"]] == ["create"]
        assert shown["revokedAt"] is None and shown["graceUntil"] is None

    def test_a_rolled_key_names_its_replacement_and_grace(self, keys):
        old = keys["to_roll"]
        new = keys["replacement"]
        output = run("show", old.key_id)
        assert "State:        rolled" in output
        assert f"into {new.prefix}" in output
        assert json.loads(run("show", old.key_id, "--json"))["replacedBy"] == new.key_id
        assert f"Rolled from:  {old.prefix}" in run("show", new.key_id)

    def test_unknown_or_malformed_key(self, enterprise, make_key):
        _, secret = make_key(enterprise)
        assert fails("show", "abcdefghijkl") == "No API key 'abcdefghijkl'."
        assert fails("show", "sak_abcdefghijkl") == "No API key 'abcdefghijkl'."
        assert "keyId (12 lowercase letters and digits)" in fails("show", "NOPE")
        whole = fails("show", secret)
        assert "whole key" in whole and secret not in whole and secret[:16] not in whole
        assert "control characters" in fails("show", "abc\x00")


class TestCreate:
    def test_prints_the_secret_once_and_it_works(self, enterprise):
        output = run("create", "--workspace", "acme", "--name", "CI uploader", "--scope", "role:uploader")
        key = ApiKey.objects.get(name="CI uploader")
        secret = secret_in(output)
        assert output.count(secret) == 1
        assert output.splitlines()[0] == (
            f"Created {key.prefix} (CI uploader, workspace acme): Workspace: read · Projects: read · Images: upload, read."
        )
        assert authenticate_key(secret, ip=None) == key
        assert key.scopes == list(PRESETS["role:uploader"])
        assert key.created_by_user is None
        [event] = operator_events(key, AuditAction.CREATE)
        assert event.actor_label.startswith("system (operator ")

    def test_expands_sections_and_presets_like_the_api(self, enterprise):
        run("create", "--workspace", "acme", "--name", "Mixed", "--scope", "version", "--scope", "usage:read")
        key = ApiKey.objects.get(name="Mixed")
        assert key.scopes == [n for n in SCOPE_NAMES if n.startswith("version:") or n == "usage:read"]

    def test_full_access(self, free):
        output = run("create", "--workspace", "hobby", "--name", "Everything", "--full-access")
        key = ApiKey.objects.get(name="Everything")
        assert key.scopes is None and "Full access" in output
        assert authenticate_key(secret_in(output), ip=None) == key

    def test_json_is_the_apis_answer_to_a_create(self, enterprise, owner, client):
        made = json.loads(run("create", "--workspace", "acme", "--name", "Json", "--scope", "image:read", "--json"))
        key = ApiKey.objects.get(name="Json")
        assert made["keyId"] == key.key_id and made["prefix"] == key.prefix
        assert authenticate_key(made["key"], ip=None) == key
        client.force_login(owner)
        response = client.post(
            "/acme/api-keys", {"name": "Via API", "scopes": ["image:read"]}, content_type="application/json"
        )
        assert response.status_code == 201, response.content
        from_api = response.json()
        assert set(made) == set(from_api)
        assert set(made["apiKey"]) == set(from_api["apiKey"])
        assert made["apiKey"] == api_list(client, owner)[1]  # the older of the two

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--scope", "image:read", "--full-access"], "Use --scope or --full-access, not both."),
            ([], "Give the key's access: --scope"),
            (["--scope", "image:reed"], "--scope: Unknown scope 'image:reed'."),
            (["--scope", "image\tread"], "--scope: May not contain control characters"),
        ],
    )
    def test_refuses_bad_access(self, enterprise, args, message):
        assert message in fails("create", "--workspace", "acme", "--name", "Bad", *args)
        assert not ApiKey.objects.exists()

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("nul\x00name", "--name: May not contain control characters"),
            ("lone \udcff", "--name: Surrogate characters are not allowed"),
            ("x" * 101, "--name: Ensure this field has no more than 100 characters."),
            ("  ", "--name: This field may not be blank."),
        ],
    )
    def test_refuses_bad_names(self, enterprise, name, message):
        assert message in fails("create", "--workspace", "acme", "--name", name, "--full-access")
        assert not ApiKey.objects.exists()

    def test_a_name_of_100_characters_is_fine(self, enterprise):
        run("create", "--workspace", "acme", "--name", "é" * 100, "--full-access")
        assert ApiKey.objects.get().name == "é" * 100

    def test_plan_rules_are_the_services(self, free, make_key):
        make_key(free)
        assert fails("create", "--workspace", "hobby", "--name", "Two", "--full-access") == services.PLAN_ONE_KEY
        ApiKey.objects.all().delete()
        assert fails("create", "--workspace", "hobby", "--name", "Scoped", "--scope", "image") == services.PLAN_SCOPED
        assert not ApiKey.objects.exists()

    def test_unknown_workspace(self, db):
        assert fails("create", "--workspace", "nope", "--name", "x", "--full-access") == (
            "No workspace with the url 'nope'."
        )


class TestRoll:
    def test_prints_the_new_secret_once_and_the_grace_end(self, enterprise, make_key):
        old, old_secret = make_key(enterprise, name="Deploy", scopes=["image:read"])
        output = run("roll", old.prefix, "--grace", "24h")
        new = ApiKey.objects.get(rolled_from=old)
        secret = secret_in(output)
        assert output.count(secret) == 1
        assert (
            output.splitlines()[0] == f"Rolled {old.prefix} (Deploy, workspace acme); its replacement is {new.prefix}."
        )
        old.refresh_from_db()
        assert timedelta(hours=23, minutes=59) < old.grace_until - timezone.now() <= timedelta(hours=24)
        assert old.grace_until.strftime("%Y-%m-%d %H:%M UTC") in output
        assert authenticate_key(secret, ip=None) == new
        assert authenticate_key(old_secret, ip=None) == new  # in its grace period, as the new key
        assert new.scopes == ["image:read"]
        operator_events(old, AuditAction.ROLL)

    @pytest.mark.parametrize(("grace", "length"), [("30m", timedelta(minutes=30)), ("7d", timedelta(days=7))])
    def test_durations(self, enterprise, make_key, grace, length):
        old, _ = make_key(enterprise)
        before = timezone.now()
        run("roll", old.key_id, "--grace", grace)
        old.refresh_from_db()
        assert before + length <= old.grace_until <= timezone.now() + length

    def test_without_grace_the_old_secret_dies_at_once(self, enterprise, make_key):
        old, old_secret = make_key(enterprise)
        output = run("roll", old.key_id)
        assert "The old secret no longer works." in output
        with pytest.raises(InvalidToken):
            authenticate_key(old_secret, ip=None)

    @pytest.mark.parametrize("grace", ["3x", "-1h", "1.5h", "24", "h", "", "1 h", "٣h"])
    def test_bad_durations(self, enterprise, make_key, grace):
        old, _ = make_key(enterprise)
        assert fails("roll", old.key_id, f"--grace={grace}").startswith("--grace must be a duration such as 30m")
        assert not ApiKey.objects.filter(rolled_from=old).exists()

    @pytest.mark.parametrize("grace", ["8d", "169h", "999999999d"])
    def test_more_than_seven_days_is_refused(self, enterprise, make_key, grace):
        old, _ = make_key(enterprise)
        assert fails("roll", old.key_id, "--grace", grace) == services.BAD_GRACE
        assert not ApiKey.objects.filter(rolled_from=old).exists()

    def test_json_is_the_apis_answer_to_a_roll(self, enterprise, make_key):
        old, _ = make_key(enterprise)
        rolled = json.loads(run("roll", old.key_id, "--grace", "1h", "--json"))
        new = ApiKey.objects.get(rolled_from=old)
        assert rolled["keyId"] == new.key_id and rolled["revokedKeyId"] == old.key_id
        assert rolled["oldKeyExpiresAt"] is not None
        assert authenticate_key(rolled["key"], ip=None) == new

    def test_state_conflicts_are_the_services(self, keys):
        assert fails("roll", keys["to_roll"].key_id) == services.ALREADY_ROLLED
        assert fails("roll", keys["revoked"].key_id) == services.REVOKED
        assert fails("roll", keys["expired"].key_id) == services.EXPIRED


class TestDisableEnableRevoke:
    def test_disable_and_enable(self, enterprise, make_key):
        key, secret = make_key(enterprise, name="Toggle")
        assert run("disable", key.key_id).strip() == (
            f"{key.prefix} (Toggle, workspace acme): disabled; its secret is refused until it is enabled again."
        )
        assert ApiKey.objects.get(pk=key.pk).state() == KeyState.DISABLED
        with pytest.raises(InvalidToken):
            authenticate_key(secret, ip=None)
        assert "already disabled; nothing changed" in run("disable", key.key_id)
        assert (
            run("enable", key.prefix).strip()
            == f"{key.prefix} (Toggle, workspace acme): enabled; its secret works again."
        )
        assert authenticate_key(secret, ip=None) == key
        assert "already enabled; nothing changed" in run("enable", key.key_id)
        assert len(operator_events(key, AuditAction.DISABLE)) == 1
        assert len(operator_events(key, AuditAction.ENABLE)) == 1

    def test_a_protected_key_is_not_disabled(self, enterprise, make_key):
        key, _ = make_key(enterprise, protected=True)
        assert fails("disable", key.key_id) == services.PROTECTED
        assert fails("revoke", key.key_id) == services.PROTECTED
        assert ApiKey.objects.get(pk=key.pk).state() == KeyState.ACTIVE

    def test_revoke_and_revoke_again(self, enterprise, make_key):
        key, secret = make_key(enterprise, name="Doomed")
        assert run("revoke", key.prefix).strip() == (
            f"{key.prefix} (Doomed, workspace acme): revoked for good; its secret no longer works."
        )
        with pytest.raises(InvalidToken):
            authenticate_key(secret, ip=None)
        operator_events(key, AuditAction.REVOKE)
        assert fails("revoke", key.key_id) == services.ALREADY_REVOKED
        assert fails("disable", key.key_id) == services.REVOKED
        assert fails("enable", key.key_id) == services.REVOKED

    def test_revoking_a_rolled_key_ends_its_grace(self, enterprise, make_key):
        old, old_secret = make_key(enterprise, name="Graceful")
        roll_key(key=old, grace=timedelta(hours=1))
        assert "its grace period is over" in run("revoke", old.key_id)
        with pytest.raises(InvalidToken):
            authenticate_key(old_secret, ip=None)

    @pytest.mark.parametrize("action", ["disable", "enable", "revoke"])
    def test_unknown_key(self, db, action):
        assert fails(action, "zzzzzzzzzzzz") == "No API key 'zzzzzzzzzzzz'."

    def test_a_downgraded_workspace_keeps_its_keys_manageable(self, enterprise, make_key):
        key, secret = make_key(enterprise)
        enterprise.plan = Plan.FREE
        enterprise.save()
        run("disable", key.key_id)
        assert ApiKey.objects.get(pk=key.pk).state() == KeyState.DISABLED
        run("enable", key.key_id)
        assert ApiKey.objects.get(pk=key.pk).state() == KeyState.ACTIVE
        run("revoke", key.key_id)
        assert ApiKey.objects.get(pk=key.pk).state() == KeyState.REVOKED
        with pytest.raises(InvalidToken):
            authenticate_key(secret, ip=None)


class TestReportLeak:
    def test_a_key_of_this_server_is_handled_and_never_echoed(self, enterprise, make_key):
        key, secret = make_key(enterprise, name="Leaky")
        output = run("report-leak", secret, "--source", "https://github.com/acme/app/blob/main/.env")
        assert output.startswith(f"{key.prefix} (Leaky, workspace acme): ")
        assert secret not in output and keyformat.parse(secret) is not None
        assert ApiKey.objects.get(pk=key.pk).state() != KeyState.ACTIVE
        with pytest.raises(InvalidToken):
            authenticate_key(secret, ip=None)
        assert all("operator" in e.actor_label for e in AuditEvent.objects.filter(api_key=key).exclude(action="create"))

    def test_reporting_it_again_says_so(self, enterprise, make_key):
        key, secret = make_key(enterprise, name="Leaky")
        run("report-leak", secret, "--source", "https://example.com/paste/1")
        again = run("report-leak", secret, "--source", "https://example.com/paste/2")
        assert again.startswith(f"{key.prefix} (Leaky, workspace acme): already")

    def test_a_key_of_no_one_is_a_false_positive(self, enterprise, make_key):
        key, secret = make_key(enterprise)
        stranger = keyformat.new_key(keyformat.new_key_id())
        for token in (stranger, "sak_not_a_key", secret[:-1] + ("A" if secret[-1] != "A" else "B")):
            message = fails("report-leak", token, "--source", "https://example.com/x")
            assert message == "Not a key of this server (false positive): nothing done."
            assert token not in message
        assert ApiKey.objects.get(pk=key.pk).state() == KeyState.ACTIVE

    def test_bad_arguments(self, enterprise, make_key):
        _, secret = make_key(enterprise)
        assert "--source" in fails("report-leak", secret)
        assert "control characters" in fails("report-leak", secret, "--source", "https://x\x00")
        assert "at most 2000" in fails("report-leak", secret, "--source", "https://x/" + "a" * 2000)
