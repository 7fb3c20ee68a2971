import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from apikeys import services
from apikeys.models import ApiKey, AuditAction, AuditEvent, KeyState
from apikeys.services import api_key_revoke, workspace_create_with_key
from core.errors import Conflict, Forbidden, InvalidValue, PlanRequired, PrivilegeExceeded
from tests.factories import FolderFactory, MembershipFactory, UserFactory
from tests.keys import create_key, roll_key, update_key
from workspaces.actors import Actor
from workspaces.models import Plan, Role

pytestmark = pytest.mark.django_db


def events(key, action=None):
    qs = AuditEvent.objects.filter(api_key=key)
    return list(qs.filter(action=action) if action else qs)


class TestDefaultKey:
    def test_every_new_workspace_gets_a_full_access_default_key(self, outsider):
        workspace, made, _ = workspace_create_with_key(name="New", url="new", owner=outsider)
        key = ApiKey.objects.get(workspace=workspace)
        assert key == made
        assert key.is_default and key.scopes is None and key.state() == KeyState.ACTIVE

    def test_the_database_allows_one_default_key_per_workspace(self, enterprise, make_key):
        make_key(enterprise, name="a", default=True)
        second, _ = make_key(enterprise, name="b")
        with pytest.raises(IntegrityError), transaction.atomic():
            ApiKey.objects.filter(pk=second.pk).update(is_default=True)

    def test_making_a_key_default_moves_the_flag(self, enterprise, make_key):
        first, _ = make_key(enterprise, name="a", default=True)
        second, _ = make_key(enterprise, name="b")
        update_key(key=second, actor=Actor(), default=True)
        first.refresh_from_db()
        assert not first.is_default
        assert ApiKey.objects.get(pk=second.pk).is_default


class TestPlans:
    def test_a_free_workspace_has_a_single_key(self, free, make_key):
        make_key(free)
        with pytest.raises(PlanRequired, match="single API key"):
            make_key(free, name="second")

    @pytest.mark.parametrize(
        "fields",
        [
            {"scopes": ["image:read"]},
            {"scopes": []},
            {"custom_metadata": {"team": "ml"}},
            {"protected": True},
            {"disabled": True},
            {"allowed_ips": ["10.0.0.0/8"]},
            {"expires_at": timezone.now() + timedelta(days=1)},
            {"rotation_due_at": timezone.now() + timedelta(days=1)},
        ],
    )
    def test_scoped_features_need_enterprise(self, free, make_key, fields):
        with pytest.raises(PlanRequired):
            make_key(free, **fields)
        assert not ApiKey.objects.exists()

    def test_free_keys_can_be_renamed_disabled_rolled_and_revoked(self, free, make_key):
        key, _ = make_key(free)
        key = update_key(key=key, actor=Actor(), name="Renamed")
        assert ApiKey.objects.get(pk=key.pk).name == "Renamed"
        key = update_key(key=key, actor=Actor(), disabled=True)
        assert ApiKey.objects.get(pk=key.pk).disabled
        key = update_key(key=key, actor=Actor(), disabled=False)
        assert not ApiKey.objects.get(pk=key.pk).disabled
        new, _ = roll_key(key=key, actor=Actor())
        assert new.name == "Renamed" and ApiKey.objects.get(pk=key.pk).rolled_at is not None
        api_key_revoke(key=new, actor=Actor())
        assert ApiKey.objects.get(pk=new.pk).revoked_at is not None
        again, _ = make_key(free, name="after revoke")  # the single slot is free again
        assert again.scopes is None and again.workspace == free

    def test_a_downgrade_never_widens_a_key_and_scope_edits_are_refused(self, enterprise, make_key):
        key, _ = make_key(enterprise, scopes=["image:read"])
        enterprise.plan = Plan.FREE
        enterprise.save()
        folder = FolderFactory(workspace=enterprise)
        for change in [{"scopes": None}, {"scopes": ["image:read", "image:create"]}, {"folder_ids": [folder.pk]}]:
            with pytest.raises(PlanRequired):
                update_key(key=key, actor=Actor(), **change)
        key.refresh_from_db()
        assert key.scopes == ["image:read"]
        update_key(key=key, actor=Actor(), disabled=True)
        new, _ = roll_key(key=key, actor=Actor())
        assert new.scopes == ["image:read"]
        api_key_revoke(key=new, actor=Actor())


class TestPrivilegeSubset:
    def test_a_key_cannot_grant_what_it_does_not_hold(self, enterprise, make_key):
        caller, _ = make_key(enterprise, scopes=["api-key:create", "image:read"])
        actor = Actor(key=caller)
        with pytest.raises(PrivilegeExceeded, match="image:delete"):
            create_key(workspace=enterprise, actor=actor, name="x", scopes=["image:delete"])
        with pytest.raises(PrivilegeExceeded, match="full access"):
            create_key(workspace=enterprise, actor=actor, name="x", scopes=None)
        key, _ = create_key(workspace=enterprise, actor=actor, name="x", scopes=["image:read"])
        assert key.scopes == ["image:read"]
        assert key.created_by_key == caller

    def test_omitted_scopes_and_folders_copy_the_caller(self, enterprise, make_key):
        folder = FolderFactory(workspace=enterprise)
        caller, _ = make_key(enterprise, scopes=["api-key:create", "image:read"], folder_ids=[folder.pk])
        key, _ = create_key(workspace=enterprise, actor=Actor(key=caller), name="child")
        assert key.scopes == caller.scopes
        assert key.folder_limit() == [folder.pk]

    def test_a_folder_limited_key_cannot_grant_workspace_wide_or_other_folders(self, enterprise, make_key):
        mine, other = FolderFactory(workspace=enterprise), FolderFactory(workspace=enterprise)
        caller, _ = make_key(enterprise, folder_ids=[mine.pk])
        with pytest.raises(PrivilegeExceeded, match="workspace-wide"):
            create_key(workspace=enterprise, actor=Actor(key=caller), name="x", folder_ids=[])
        # A folder outside the caller's limit reads exactly like one that does not exist.
        with pytest.raises(ValidationError) as outside:
            create_key(workspace=enterprise, actor=Actor(key=caller), name="x", folder_ids=[other.pk])
        with pytest.raises(ValidationError) as missing:
            create_key(workspace=enterprise, actor=Actor(key=caller), name="x", folder_ids=[999999])
        assert str(outside.value).replace(str(other.pk), "N") == str(missing.value).replace("999999", "N")

    def test_deleting_a_keys_last_folder_never_makes_it_workspace_wide(self, enterprise, make_key):
        from tests.factories import ProjectFactory

        folder = FolderFactory(workspace=enterprise)
        ProjectFactory(workspace=enterprise, slug="elsewhere")
        key, _ = make_key(enterprise, folder_ids=[folder.pk])
        folder.delete()
        key.refresh_from_db()
        assert key.folder_limit() == []
        with pytest.raises(PrivilegeExceeded, match="workspace-wide"):
            create_key(workspace=enterprise, actor=Actor(key=key), name="x", folder_ids=[])

    def test_children_inherit_the_callers_ip_allowlist_and_expiry_and_cannot_widen_them(self, enterprise, make_key):
        expiry = timezone.now() + timedelta(days=3)
        caller, _ = make_key(enterprise, allowed_ips=["10.0.0.0/8"], expires_at=expiry)
        actor = Actor(key=caller)
        child, _ = create_key(workspace=enterprise, actor=actor, name="child")
        assert child.allowed_ips == ["10.0.0.0/8"] and child.expires_at == expiry
        narrower, _ = create_key(
            workspace=enterprise,
            actor=actor,
            name="narrow",
            allowed_ips=["10.1.0.0/16"],
            expires_at=expiry - timedelta(days=1),
        )
        assert narrower.allowed_ips == ["10.1.0.0/16"]
        for widening in [
            {"allowed_ips": []},
            {"allowed_ips": ["8.8.8.8"]},
            {"expires_at": None},
            {"expires_at": expiry + timedelta(days=1)},
        ]:
            with pytest.raises(PrivilegeExceeded):
                create_key(workspace=enterprise, actor=actor, name="wide", **widening)
            with pytest.raises(PrivilegeExceeded):
                update_key(key=caller, actor=actor, **widening)  # nor lift its own limits
        caller.refresh_from_db()
        assert caller.allowed_ips == ["10.0.0.0/8"] and caller.expires_at == expiry

    def test_services_refuse_actors_from_another_workspace(self, enterprise, free, make_key, owner):
        foreign, _ = make_key(free)
        target, _ = make_key(enterprise)
        with pytest.raises(Forbidden):
            api_key_revoke(key=target, actor=Actor(key=foreign))
        with pytest.raises(Forbidden):
            create_key(workspace=enterprise, actor=Actor(key=foreign), name="x")
        stranger = UserFactory()
        with pytest.raises(Forbidden):
            update_key(key=target, actor=Actor(user=stranger), name="x")
        member = UserFactory()
        MembershipFactory(user=member, workspace=enterprise, role=Role.MEMBER)
        with pytest.raises(Forbidden):
            roll_key(key=target, actor=Actor(user=member))
        target.refresh_from_db()
        assert target.state() == KeyState.ACTIVE

    def test_updates_cannot_widen_past_the_caller(self, enterprise, make_key):
        caller, _ = make_key(enterprise, scopes=["api-key:update", "image:read"])
        target, _ = make_key(enterprise, scopes=["image:read"])
        with pytest.raises(PrivilegeExceeded):
            update_key(key=target, actor=Actor(key=caller), scopes=["image:read", "model:manage"])
        update_key(key=target, actor=Actor(key=caller), name="renamed")

    def test_rolling_needs_at_least_the_targets_scopes(self, enterprise, make_key):
        caller, _ = make_key(enterprise, scopes=["api-key:create", "api-key:revoke"])
        target, _ = make_key(enterprise, scopes=["image:read"])
        with pytest.raises(PrivilegeExceeded):
            roll_key(key=target, actor=Actor(key=caller))
        target.refresh_from_db()
        assert target.rolled_at is None


class TestValidation:
    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"name": ""}, "name"),
            ({"name": "x" * 101}, "name"),
            ({"scopes": ["image:fly"]}, "scopes"),
            ({"scopes": "image:read"}, "scopes"),
            ({"folder_ids": [999999]}, "folderIds"),
            ({"custom_metadata": {f"k{i}": i for i in range(101)}}, "customMetadata"),
            ({"custom_metadata": {"big": "x" * 1100}}, "customMetadata"),
            ({"custom_metadata": {"nested": {"a": 1}}}, "customMetadata"),
            ({"expires_at": timezone.now() - timedelta(days=1)}, "expiresAt"),
            ({"rotation_due_at": timezone.now() - timedelta(days=1)}, "rotationDueAt"),
            ({"allowed_ips": ["10.0.0.0/33"]}, "allowedIps"),
            ({"allowed_ips": ["not-an-ip"]}, "allowedIps"),
            ({"owners": [999999]}, "owners"),
            ({"protected": "yes"}, "protected"),
        ],
    )
    def test_bad_values_are_refused_naming_the_field_and_nothing_is_written(self, enterprise, make_key, fields, field):
        fields.setdefault("name", "ok")
        with pytest.raises(ValidationError) as exc:
            make_key(enterprise, **fields)
        assert set(exc.value.detail) == {field}
        assert not ApiKey.objects.exists()
        assert not AuditEvent.objects.exists()

    def test_a_folder_of_another_workspace_is_refused(self, enterprise, make_key):
        with pytest.raises(ValidationError, match="No folder"):
            make_key(enterprise, folder_ids=[FolderFactory().pk])

    def test_ips_are_normalised(self, enterprise, make_key):
        key, _ = make_key(enterprise, allowed_ips=["10.1.2.3/8", "192.168.0.1"])
        assert key.allowed_ips == ["10.0.0.0/8", "192.168.0.1/32"]


class TestProtection:
    def test_protected_keys_cannot_be_disabled_revoked_or_rolled(self, enterprise, make_key):
        key, _ = make_key(enterprise, protected=True)
        for attempt in [
            lambda: update_key(key=key, actor=Actor(), disabled=True),
            lambda: api_key_revoke(key=key, actor=Actor()),
            lambda: roll_key(key=key, actor=Actor()),
        ]:
            with pytest.raises(Conflict, match="protected"):
                attempt()
        key.refresh_from_db()
        assert key.state() == KeyState.ACTIVE

    def test_a_protected_key_on_a_downgraded_workspace_can_still_be_unprotected_and_revoked(
        self, enterprise, make_key, owner
    ):
        key, _ = make_key(enterprise, protected=True)
        enterprise.plan = Plan.FREE
        enterprise.save()
        update_key(key=key, actor=Actor(user=owner), protected=False)
        api_key_revoke(key=key, actor=Actor(user=owner))
        with pytest.raises(PlanRequired):
            other, _ = make_key(enterprise, name="after")
            update_key(key=other, actor=Actor(user=owner), protected=True)

    def test_a_key_cannot_unprotect_but_a_dashboard_user_can(self, enterprise, make_key, owner):
        caller, _ = make_key(enterprise, name="caller")
        key, _ = make_key(enterprise, protected=True)
        with pytest.raises(Forbidden):
            update_key(key=key, actor=Actor(key=caller), protected=False)
        update_key(key=key, actor=Actor(user=owner), protected=False)
        assert [e.action for e in events(key)] == [AuditAction.UNPROTECT, AuditAction.CREATE]


class TestRollAndRevoke:
    def test_roll_keeps_everything_but_the_secret(self, enterprise, make_key, owner):
        folder = FolderFactory(workspace=enterprise)
        old, old_secret = make_key(
            enterprise,
            scopes=["image:read"],
            folder_ids=[folder.pk],
            custom_metadata={"team": "ml"},
            default=True,
            disabled=True,
            owners=[],
        )
        new, new_secret = roll_key(key=old, actor=Actor(user=owner))
        old.refresh_from_db()
        assert new_secret != old_secret
        assert new.key_id != old.key_id
        assert (new.name, new.scopes, new.folder_limit(), new.custom_metadata) == (
            old.name,
            old.scopes,
            old.folder_limit(),
            old.custom_metadata,
        )
        assert new.is_default and not old.is_default
        assert new.disabled
        assert new.rolled_from == old
        assert old.state() == KeyState.ROLLED

    def test_rolling_twice_is_a_conflict(self, enterprise, make_key):
        key, _ = make_key(enterprise)
        roll_key(key=key, actor=Actor())
        with pytest.raises(Conflict, match="already rolled"):
            roll_key(key=key, actor=Actor())

    def test_an_expired_key_cannot_be_rolled(self, enterprise, make_key):
        key, _ = make_key(enterprise, expires_at=timezone.now() + timedelta(seconds=30))
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        with pytest.raises(Conflict, match="expired"):
            roll_key(key=key, actor=Actor())

    def test_grace_is_at_most_seven_days(self, enterprise, make_key):
        key, _ = make_key(enterprise)
        with pytest.raises(InvalidValue):
            roll_key(key=key, actor=Actor(), grace=timedelta(days=7, seconds=1))
        _new, _ = roll_key(key=key, actor=Actor(), grace=timedelta(days=7))
        key.refresh_from_db()
        assert key.in_grace()

    def test_roll_carries_the_rotation_schedule_over_unless_given(self, enterprise, make_key, member):
        due = timezone.now() + timedelta(days=30)
        key, _ = make_key(enterprise, rotation_due_at=due, owners=[member.pk])
        carried, _ = roll_key(key=key, actor=Actor())
        assert carried.rotation_due_at == due
        assert [u.pk for u in carried.owners.all()] == [member.pk]
        later = timezone.now() + timedelta(days=90)
        renewed, _ = roll_key(key=carried, actor=Actor(), rotation_due_at=later, owners=[])
        assert renewed.rotation_due_at == later
        assert not renewed.owners.exists()

    def test_revoke_is_permanent(self, enterprise, make_key):
        key, _ = make_key(enterprise, default=True)
        api_key_revoke(key=key, actor=Actor())
        key.refresh_from_db()
        assert key.state() == KeyState.REVOKED and not key.is_default
        with pytest.raises(Conflict):
            api_key_revoke(key=key, actor=Actor())
        with pytest.raises(Conflict):
            update_key(key=key, actor=Actor(), disabled=False)


class TestAudit:
    def test_every_service_writes_an_event_with_actor_ip_and_changes(self, enterprise, make_key, owner):
        actor = Actor(user=owner, ip="203.0.113.9")
        key, secret = create_key(workspace=enterprise, actor=actor, name="k", scopes=["image:read"])
        update_key(key=key, actor=actor, scopes=["image:read", "image:create"])
        services.api_key_protect(key=key, actor=actor)
        services.api_key_unprotect(key=key, actor=actor)
        services.api_key_disable(key=key, actor=actor)
        services.api_key_enable(key=key, actor=actor)
        new, new_secret = roll_key(key=key, actor=actor)
        api_key_revoke(key=new, actor=actor)

        assert [e.action for e in reversed(events(key))] == [
            "create",
            "update",
            "protect",
            "unprotect",
            "disable",
            "enable",
            "roll",
        ]
        assert [e.action for e in events(new)] == ["revoke"]
        update = events(key, "update")[0]
        assert update.before == {"scopes": ["image:read"]}
        assert update.after == {"scopes": ["image:create", "image:read"]}  # registry order
        for event in AuditEvent.objects.all():
            assert event.actor_user == owner
            assert event.ip == "203.0.113.9"
            dumped = json.dumps([event.before, event.after])
            for value in (secret, new_secret, key.digest, new.digest):
                assert value not in dumped

    def test_a_key_actor_is_recorded_as_the_key(self, enterprise, make_key):
        caller, _ = make_key(enterprise, name="ci")
        key, _ = create_key(workspace=enterprise, actor=Actor(key=caller), name="child")
        event = events(key)[0]
        assert event.actor_key == caller
        assert event.actor_user is None
        assert caller.prefix in event.actor_label

    def test_a_change_that_changes_nothing_writes_no_event(self, enterprise, make_key):
        key, _ = make_key(enterprise, name="same")
        update_key(key=key, actor=Actor(), name="same")
        assert len(events(key)) == 1


def test_a_weak_key_cannot_take_the_default_flag_from_a_strong_key(enterprise, make_key):
    strong, _ = make_key(enterprise, name="Strong default", default=True)
    weak, _ = make_key(enterprise, name="Weak", scopes=["api-key:create"])
    with pytest.raises(PrivilegeExceeded):
        create_key(workspace=enterprise, actor=Actor(key=weak), name="usurper", default=True)
    strong.refresh_from_db()
    assert strong.is_default
