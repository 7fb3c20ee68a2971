"""The workspace's key policy: the rules every key must meet, set by its owners or an operator,
never by a key; enforced by the one service every channel calls, with one error naming the
rule broken (`policy_violation`, `rule`); keys that broke it before are listed, never changed
silently; and a property: under any policy, no sequence of creates, updates, rolls and
enables makes a key that breaks it."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apikeys import policy, services
from apikeys.models import ApiKey, AuditEvent, KeyPolicy
from apikeys.spec import KeySpec
from core.errors import Forbidden, PolicyViolation
from tests.factories import FolderFactory, MembershipFactory, UserFactory
from tests.keys import create_key, roll_key, update_key
from workspaces.actors import Actor
from workspaces.models import Role

pytestmark = pytest.mark.django_db

SOON = timedelta(days=10)


def set_policy(workspace, **rules) -> KeyPolicy:
    return services.key_policy_update(workspace=workspace, actor=Actor(), **rules)


class refused:
    """Asserts the block is refused by the policy's rule `rule`."""

    def __init__(self, rule: str):
        self.rule = rule

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        assert isinstance(error, PolicyViolation), f"not refused by the policy: {error!r}"
        assert error.rule == self.rule, f"refused by {error.rule}, not {self.rule}: {error}"
        return True


# Each rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "fields", "rule"),
    [
        ({"require_expiry": True}, {"scopes": ["image:read"]}, "require_expiry"),
        ({"max_lifetime_days": 30}, {"scopes": ["image:read"]}, "max_lifetime"),
        ({"max_lifetime_days": 30}, {"scopes": ["image:read"], "expires_at": "+40"}, "max_lifetime"),
        ({"forbid_full_access": True}, {"scopes": None}, "no_full_access"),
        ({"scope_ceiling": ["role:read-only"]}, {"scopes": ["image:create"]}, "scope_ceiling"),
        ({"require_folders": True}, {"scopes": ["image:read"]}, "require_folders"),
        ({"require_ip_allowlist": "all"}, {"scopes": ["image:read"]}, "require_ip_allowlist"),
        ({"require_ip_allowlist": "write"}, {"scopes": ["image:create"]}, "require_ip_allowlist"),
        ({"allow_key_management": False}, {"scopes": ["api-key:read"]}, "no_key_management"),
        ({"allow_key_management": False}, {"scopes": None}, "no_key_management"),
    ],
)
def test_a_key_that_would_break_a_rule_is_not_created(enterprise, rules, fields, rule):
    set_policy(enterprise, **rules)
    if fields.get("expires_at") == "+40":
        fields = {**fields, "expires_at": timezone.now() + timedelta(days=40)}
    with refused(rule):
        create_key(workspace=enterprise, name="breaks it", **fields)
    assert not ApiKey.objects.filter(name="breaks it").exists()


def test_a_key_that_meets_every_rule_is_created(enterprise):
    folder = FolderFactory(workspace=enterprise)
    set_policy(
        enterprise, require_expiry=True, max_lifetime_days=30, forbid_full_access=True,
        scope_ceiling=["role:read-only"], require_folders=True, require_ip_allowlist="all", allow_key_management=False,
    )  # fmt: skip
    key, _ = create_key(
        workspace=enterprise, scopes=["image:read"], folder_ids=[folder.pk], allowed_ips=["10.0.0.0/8"],
        expires_at=timezone.now() + SOON,
    )  # fmt: skip
    assert policy.violations(services.key_policy_of(enterprise), KeySpec.of(key), now=timezone.now()) == []


def test_an_ip_allowlist_for_writers_leaves_read_only_keys_alone(enterprise):
    set_policy(enterprise, require_ip_allowlist="write")
    create_key(workspace=enterprise, scopes=["image:read", "project:read"])
    with refused("require_ip_allowlist"):
        create_key(workspace=enterprise, scopes=["image:read", "image:tag"])


# Existing keys ----------------------------------------------------------------------------


def test_a_key_that_broke_a_rule_before_keeps_working_and_may_change_in_other_ways(enterprise):
    folder = FolderFactory(workspace=enterprise)
    key, _ = create_key(workspace=enterprise, name="old", scopes=None, folder_ids=[folder.pk])
    set_policy(enterprise, forbid_full_access=True, require_expiry=True, require_folders=True)
    update_key(key=key, name="renamed")  # the rules it broke already: listed, not enforced on a rename
    assert ApiKey.objects.get(pk=key.pk).name == "renamed"
    [(listed, broken)] = services.policy_breakers(enterprise)
    assert listed.pk == key.pk and [v.rule for v in broken] == ["require_expiry", "no_full_access"]
    with refused("require_folders"):  # ...but it breaks no rule it met
        update_key(key=key, folder_ids=[])
    assert ApiKey.objects.get(pk=key.pk).folders_limited


def test_an_expiry_is_never_pushed_past_the_maximum_lifetime(enterprise):
    key, _ = create_key(workspace=enterprise, scopes=["image:read"], expires_at=timezone.now() + SOON)
    set_policy(enterprise, max_lifetime_days=30)
    with refused("max_lifetime"):
        update_key(key=key, expires_at=timezone.now() + timedelta(days=45))
    with refused("max_lifetime"):
        update_key(key=key, expires_at=None)
    update_key(key=key, expires_at=timezone.now() + timedelta(days=29))


def test_an_old_key_beyond_the_lifetime_may_not_be_pushed_further(enterprise):
    key, _ = create_key(workspace=enterprise, scopes=["image:read"], expires_at=timezone.now() + timedelta(days=300))
    set_policy(enterprise, max_lifetime_days=30)
    update_key(key=key, name="renamed")
    with refused("max_lifetime"):
        update_key(key=key, expires_at=timezone.now() + timedelta(days=301))


def test_a_key_that_breaks_the_policy_is_enabled_again_only_once_it_meets_it(enterprise):
    key, _ = create_key(workspace=enterprise, scopes=None, disabled=True)
    set_policy(enterprise, forbid_full_access=True)
    with refused("no_full_access"):
        services.api_key_enable(key=ApiKey.objects.get(pk=key.pk), actor=Actor())
    update_key(key=key, scopes=["image:read"])
    services.api_key_enable(key=ApiKey.objects.get(pk=key.pk), actor=Actor())
    assert not ApiKey.objects.get(pk=key.pk).disabled


def test_a_rolled_key_gets_at_most_the_maximum_lifetime_and_meets_the_rest(enterprise):
    key, _ = create_key(workspace=enterprise, scopes=["image:read"])
    set_policy(enterprise, max_lifetime_days=30)
    new, _ = roll_key(key=key)
    assert timezone.now() + timedelta(days=29) < new.expires_at <= timezone.now() + timedelta(days=30)
    set_policy(enterprise, forbid_full_access=True)
    full, _ = create_key(workspace=enterprise, name="full", scopes=["image:read"], expires_at=timezone.now() + SOON)
    ApiKey.objects.filter(pk=full.pk).update(scopes=None)  # made before the rule
    with refused("no_full_access"):
        roll_key(key=full)
    assert ApiKey.objects.get(pk=full.pk).rolled_at is None


# Who changes the policy, who creates keys --------------------------------------------------


def test_only_owners_and_operators_change_the_policy_and_never_a_key(enterprise, owner, make_key):
    admin = UserFactory(email="admin@example.com")
    MembershipFactory(user=admin, workspace=enterprise, role=Role.ADMIN)
    key, _ = make_key(enterprise, name="manager")
    with pytest.raises(Forbidden, match="A key cannot change the key policy"):
        services.key_policy_update(workspace=enterprise, actor=Actor(key=key), require_expiry=True)
    with pytest.raises(Forbidden, match="Only the workspace's owners"):
        services.key_policy_update(workspace=enterprise, actor=Actor(user=admin), require_expiry=True)
    assert not KeyPolicy.objects.exists()
    services.key_policy_update(workspace=enterprise, actor=Actor(user=owner), require_expiry=True, max_lifetime_days=90)
    [event] = AuditEvent.objects.filter(subject="key policy")
    assert event.action == "policy" and event.actor_user == owner
    assert (event.before, event.after) == (
        {"require_expiry": False, "max_lifetime_days": None},
        {"require_expiry": True, "max_lifetime_days": 90},
    )


def test_with_owners_only_no_admin_or_key_creates_a_key(enterprise, owner, make_key):
    admin = UserFactory(email="admin@example.com")
    MembershipFactory(user=admin, workspace=enterprise, role=Role.ADMIN)
    manager, _ = make_key(enterprise, name="manager")
    set_policy(enterprise, creators=KeyPolicy.CREATORS_OWNERS)
    for actor in (Actor(user=admin), Actor(key=manager)):
        with refused("creators"):
            create_key(workspace=enterprise, actor=actor, name="not theirs", scopes=["image:read"])
    create_key(workspace=enterprise, actor=Actor(user=owner), name="the owner's", scopes=["image:read"])


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"max_lifetime_days": 0}, "A maximum lifetime is 1 to 3,650 days."),
        ({"max_lifetime_days": 3651}, "A maximum lifetime is 1 to 3,650 days."),
        ({"scope_ceiling": ["image:fly"]}, "Unknown scope"),
        ({"require_ip_allowlist": "some"}, "require_ip_allowlist"),
        ({"creators": "anyone"}, "creators"),
    ],
)
def test_a_bad_rule_is_refused_and_nothing_changes(enterprise, rules, message):
    from core.errors import InvalidValue

    with pytest.raises(InvalidValue, match=message):
        set_policy(enterprise, **rules)
    assert not KeyPolicy.objects.exists() and not AuditEvent.objects.filter(subject="key policy").exists()


# Through the API ---------------------------------------------------------------------------


def test_the_api_names_the_rule_broken_and_keys_read_the_policy(client, enterprise, make_key):
    _, manager = make_key(enterprise, name="manager")
    _, reader = make_key(enterprise, name="reader", scopes=["image:read"])
    set_policy(enterprise, forbid_full_access=True, max_lifetime_days=30)
    answer = client.post(
        "/acme/api-keys", {"name": "x", "scopes": ["image:read"]}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {manager}",
    )  # fmt: skip
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert (error["type"], error["rule"]) == ("policy_violation", "max_lifetime")
    assert "at most 30 days" in error["message"] and "Policy" in error["hint"]
    shown = client.get("/acme/api-key-policy", HTTP_AUTHORIZATION=f"Bearer {manager}")
    assert shown.status_code == 200
    body = shown.json()["policy"]
    assert (body["forbidFullAccess"], body["maxLifetimeDays"], body["scopeCeiling"]) == (True, 30, None)
    assert "No full-access keys." in body["rules"]
    assert client.get("/acme/api-key-policy", HTTP_AUTHORIZATION=f"Bearer {reader}").status_code == 403
    for method in ("put", "patch", "post", "delete"):  # no key changes it
        assert (
            getattr(client, method)("/acme/api-key-policy", HTTP_AUTHORIZATION=f"Bearer {manager}").status_code == 405
        )


# On the shell --------------------------------------------------------------------------------


def test_operators_set_and_show_the_policy_on_the_shell(enterprise):
    key, _ = create_key(workspace=enterprise, name="Everything", scopes=None)
    out = io.StringIO()
    call_command(
        "apikeys", "policy", "acme", "--no-full-access", "--max-lifetime-days", "60", "--scope-ceiling",
        "role:read-only", "image:create", "--require-ip-allowlist", "write", "--creators", "owners", stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert "Key policy of acme (changed):" in text and "No full-access keys." in text
    assert f"Breaks it: {key.prefix} (Everything, workspace acme)" in text
    rules = KeyPolicy.objects.get()
    assert (rules.max_lifetime_days, rules.require_ip_allowlist, rules.creators) == (60, "write", "owners")
    assert "image:create" in rules.scope_ceiling and "image:delete" not in rules.scope_ceiling
    out = io.StringIO()
    call_command("apikeys", "policy", "acme", "--show", "--json", stdout=out)
    shown = json.loads(out.getvalue())
    assert shown["breaking"] == [
        {
            "keyId": key.key_id,
            "name": "Everything",
            "rules": ["max_lifetime", "no_full_access", "scope_ceiling", "require_ip_allowlist"],
        }
    ]
    call_command("apikeys", "policy", "acme", "--max-lifetime-days", "0", "--scope-ceiling", stdout=io.StringIO())
    rules.refresh_from_db()
    assert (rules.max_lifetime_days, rules.scope_ceiling) == (None, None)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--max-lifetime-days", "-1"], "--max-lifetime-days takes 1 to 3650 days"),
        (["--max-lifetime-days", "٣"], "--max-lifetime-days takes 1 to 3650 days"),
        (["--max-lifetime-days", "99999"], "--max-lifetime-days takes 1 to 3650 days"),
        (["--scope-ceiling", "image:fly"], "Unknown scope"),
        (["--scope-ceiling", "a\x00b"], "--scope-ceiling may not contain control characters"),
        (["--show", "--no-full-access"], "--show only shows"),
    ],
)
def test_the_shell_refuses_bad_rules_in_one_line(enterprise, arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("apikeys", "policy", "acme", *arguments, stdout=io.StringIO())
    assert not KeyPolicy.objects.exists()


# The property --------------------------------------------------------------------------------

SCOPE_CHOICES = [None, ["image:read"], ["image:create", "image:read"], ["api-key:read"], ["project:read"]]
policies = st.fixed_dictionaries(
    {},
    optional={
        "require_expiry": st.booleans(),
        "max_lifetime_days": st.sampled_from([None, 1, 30]),
        "forbid_full_access": st.booleans(),
        "scope_ceiling": st.sampled_from([None, ["role:read-only"], ["image"]]),
        "require_folders": st.booleans(),
        "require_ip_allowlist": st.sampled_from(["", "all", "write"]),
        "allow_key_management": st.booleans(),
    },
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "scopes": st.sampled_from(SCOPE_CHOICES),
        "expires_at": st.sampled_from([None, 5, 60]),
        "folders": st.booleans(),
        "allowed_ips": st.sampled_from([[], ["10.0.0.0/8"]]),
        "disabled": st.booleans(),
    },
)
operations = st.lists(
    st.tuples(st.sampled_from(["create", "update", "roll", "enable", "disable"]), fields), min_size=1, max_size=6
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=policies, steps=operations)
def test_no_sequence_of_calls_makes_a_key_that_breaks_the_policy(enterprise, rules, steps):
    folder = FolderFactory(workspace=enterprise)
    ApiKey.objects.filter(workspace=enterprise).delete()
    KeyPolicy.objects.filter(workspace=enterprise).delete()
    set_policy(enterprise, **rules)
    made: list[ApiKey] = []
    for operation, chosen in steps:
        values = dict(chosen)
        if "expires_at" in values:
            values["expires_at"] = (
                None if values["expires_at"] is None else timezone.now() + timedelta(days=values["expires_at"])
            )
        if "folders" in values:
            values["folder_ids"] = [folder.pk] if values.pop("folders") else []
        try:
            if operation == "create" or not made:
                made.append(create_key(workspace=enterprise, **values)[0])
            elif operation == "update":
                update_key(key=made[-1], **values)
            elif operation == "roll":
                made.append(roll_key(key=made[-1])[0])
            elif operation == "enable":
                services.api_key_enable(key=ApiKey.objects.get(pk=made[-1].pk), actor=Actor())
            else:
                services.api_key_disable(key=ApiKey.objects.get(pk=made[-1].pk), actor=Actor())
        except Exception as error:  # refused: by the policy, or another rule (a rolled key changes no more)
            assert type(error).__name__ in {"PolicyViolation", "Conflict", "ValidationError"}, repr(error)
    current = services.key_policy_of(enterprise)
    for key in ApiKey.objects.filter(workspace=enterprise).live():
        broken = policy.violations(current, KeySpec.of(key), now=timezone.now())
        assert not broken, f"{key.name}: {broken}"


# The page ------------------------------------------------------------------------------------


def policy_url():
    from django.urls import reverse

    return reverse("apikeys:policy", kwargs={"ws": "acme"})


def test_owners_set_the_policy_on_its_page_and_admins_only_read_it(
    client, enterprise, owner, member, mailoutbox, django_capture_on_commit_callbacks
):
    admin = UserFactory(email="admin@example.com")
    MembershipFactory(user=admin, workspace=enterprise, role=Role.ADMIN)
    create_key(workspace=enterprise, name="Everything", scopes=None)
    client.force_login(member)
    assert client.get(policy_url()).status_code == 404
    client.force_login(admin)
    shown = client.get(policy_url())
    assert shown.status_code == 200 and "Only the workspace's owners change the policy." in shown.content.decode()
    assert client.post(policy_url(), {"creators": "managers", "forbid_full_access": "on"}).status_code == 403
    assert not KeyPolicy.objects.exists()

    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        saved = client.post(
            policy_url(),
            {"creators": "managers", "forbid_full_access": "on", "max_lifetime_days": "30", "allow_key_management": "on",
             "require_ip_allowlist": "", "enforce_from": "2027-01-15"},
        )  # fmt: skip
    assert saved.status_code == 302
    rules = KeyPolicy.objects.get()
    assert (rules.forbid_full_access, rules.max_lifetime_days, str(rules.enforce_from)) == (True, 30, "2027-01-15")
    [mail] = mailoutbox  # the owners learn which keys break it
    assert mail.to == ["owner@example.com"] and mail.subject == "[Acme] 1 API key breaks the key policy"
    assert "Everything" in mail.body and "full-access" in mail.body and "2027-01-15" in mail.body
    page = client.get(policy_url()).content.decode()
    assert (
        "1 key breaks the policy" in page and "Expire in 30 days" in page and "Narrow to what the policy allows" in page
    )


@pytest.mark.parametrize(
    ("posted", "error"),
    [
        ({"creators": "managers", "max_lifetime_days": "0"}, "greater than or equal to 1"),
        ({"creators": "managers", "max_lifetime_days": "1e3"}, "Enter a whole number"),
        ({"creators": "anyone"}, "Select a valid choice"),
        ({"creators": "managers", "scope_ceiling": ["image:fly"], "limit_scopes": "on"}, "Select a valid choice"),
        ({"creators": "managers", "enforce_from": "99999-01-01"}, "Enter a valid date"),
        ({"creators": "managers", "require_ip_allowlist": "some"}, "Select a valid choice"),
    ],
)
def test_the_page_refuses_bad_rules_and_saves_nothing(client, enterprise, owner, posted, error):
    client.force_login(owner)
    answer = client.post(policy_url(), posted)
    assert answer.status_code == 400 and error in answer.content.decode()
    assert not KeyPolicy.objects.exists()


def test_the_fixes_are_normal_updates_that_make_the_key_meet_the_policy(client, enterprise, owner):
    from django.urls import reverse

    key, _ = create_key(workspace=enterprise, name="Everything", scopes=None)
    set_policy(enterprise, forbid_full_access=True, max_lifetime_days=30, allow_key_management=False)
    client.force_login(owner)
    fix = reverse("apikeys:policy-fix", kwargs={"ws": "acme", "key_id": key.key_id})
    assert client.post(fix, {"fix": "expiry"}).status_code == 302
    assert client.post(fix, {"fix": "narrow"}).status_code == 302
    fixed = ApiKey.objects.get(pk=key.pk)
    assert fixed.scopes is not None and not any(s.startswith("api-key:") for s in fixed.scopes)
    assert "image:read" in fixed.scopes
    assert fixed.expires_at <= timezone.now() + timedelta(days=30)
    assert services.policy_breakers(enterprise) == []
    actions = list(AuditEvent.objects.filter(api_key=key).values_list("action", flat=True))
    assert actions.count("update") == 2  # each fix, recorded like any change
    client.post(fix, {"fix": "anything"})
    assert ApiKey.objects.get(pk=key.pk).scopes == fixed.scopes


def test_from_its_enforcement_date_keys_that_still_break_it_are_disabled_and_owners_told(
    enterprise, owner, mailoutbox, django_capture_on_commit_callbacks
):
    breaks, _ = create_key(workspace=enterprise, name="Everything", scopes=None)
    meets, _ = create_key(workspace=enterprise, name="Reader", scopes=["image:read"])
    tomorrow = timezone.now().date() + timedelta(days=1)
    set_policy(enterprise, forbid_full_access=True, enforce_from=tomorrow)
    assert services.key_policy_enforce(workspace=enterprise) == []  # not yet
    with django_capture_on_commit_callbacks(execute=True):
        done = services.key_policy_enforce(workspace=enterprise, now=timezone.now() + timedelta(days=1))
    assert [k.pk for k in done] == [breaks.pk]
    assert ApiKey.objects.get(pk=breaks.pk).disabled and not ApiKey.objects.get(pk=meets.pk).disabled
    assert ApiKey.objects.get(pk=breaks.pk).revoked_at is None  # disabled, never revoked
    event = AuditEvent.objects.filter(api_key=breaks, action="disable").get()
    assert event.actor_label == "system (key policy enforcement)"
    assert mailoutbox[-1].subject == "[Acme] 1 API key was disabled by the key policy"
    with refused("no_full_access"):  # enabled again only once it meets the policy
        services.api_key_enable(key=ApiKey.objects.get(pk=breaks.pk), actor=Actor())


def test_the_workers_chore_enforces_every_policy_past_its_date(enterprise, free):
    from web import chores

    key, _ = create_key(workspace=enterprise, name="Everything", scopes=None)
    set_policy(enterprise, forbid_full_access=True, enforce_from=timezone.now().date() + timedelta(days=3))
    assert chores.enforce_key_policies.call() == 0
    KeyPolicy.objects.update(enforce_from=timezone.now().date())
    assert chores.enforce_key_policies.call() == 1
    assert ApiKey.objects.get(pk=key.pk).disabled
    assert chores.enforce_key_policies.call() == 0  # (disabled already: nothing more to do)


# Key requests ---------------------------------------------------------------------------------


def requests_url(suffix: str = "") -> str:
    return f"/app/acme/settings/api-keys/requests{suffix}"


def form_token(client) -> str:
    import re

    page = client.get(requests_url("?new=1")).content.decode()
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    assert found is not None, "the request modal carries a form token"
    return found.group(1)


def request_body(**overrides) -> dict:
    body = {
        "name": "Nightly uploads", "access": "scoped", "scopes": ["image:create", "image:read"], "folder_limit": "all",
        "expires_at": (timezone.now() + timedelta(days=20)).date().isoformat(), "reason": "The nightly camera upload",
    }  # fmt: skip
    return body | overrides


def test_a_member_requests_a_key_an_admin_narrows_it_and_only_the_member_sees_the_secret(
    client, enterprise, owner, member, mailoutbox, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from apikeys.models import KeyRequest

    admin = UserFactory(email="admin@example.com")
    MembershipFactory(user=admin, workspace=enterprise, role=Role.ADMIN)
    set_policy(enterprise, creators=KeyPolicy.CREATORS_REQUEST, max_lifetime_days=30)
    client.force_login(member)
    assert client.get(requests_url("?new=1")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(requests_url(), request_body(form_token=form_token(client)))
    assert sent.status_code == 302, sent.content.decode()[-2000:]
    asked = KeyRequest.objects.get()
    assert (asked.state, asked.scopes, asked.requested_by) == ("pending", ["image:create", "image:read"], member)
    assert sorted(mailoutbox[-1].to) == ["admin@example.com", "owner@example.com"]
    assert client.get(reverse("apikeys:list", kwargs={"ws": "acme"})).status_code == 404  # members: no key page

    client.force_login(admin)
    page = client.get(reverse("apikeys:list", kwargs={"ws": "acme"})).content.decode()
    assert "1 key request waiting" in page and "The nightly camera upload" in page
    decide = requests_url(f"/{asked.pk}/decide")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(decide, {"decision": "approve", "scopes": ["image:read"], "note": "Read only for now"})
    asked.refresh_from_db()
    assert (asked.state, asked.granted_scopes, asked.decided_by) == ("approved", ["image:read"], admin)
    assert "approved" in mailoutbox[-1].subject and mailoutbox[-1].to == ["member@example.com"]
    assert client.post(requests_url(f"/{asked.pk}/open")).status_code == 404  # not the admin's to open
    assert not ApiKey.objects.filter(name="Nightly uploads").exists()

    client.force_login(member)
    opened = client.post(requests_url(f"/{asked.pk}/open"))
    assert opened.status_code == 200 and opened["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(name="Nightly uploads")
    assert key.scopes == ["image:read"] and key.created_by_user == admin and list(key.owners.all()) == [member]
    body = opened.content.decode()
    assert f"sak_{key.key_id}_" in body  # the secret, this once
    again = client.post(requests_url(f"/{asked.pk}/open"), follow=True).content.decode()
    assert f"sak_{key.key_id}_" not in again and "not approved" in again
    events = set(AuditEvent.objects.filter(subject__startswith="key request").values_list("action", flat=True))
    assert events == {"request", "approve"}


def test_a_request_never_asks_for_more_than_the_policy_allows(client, enterprise, member):
    from apikeys.models import KeyRequest

    set_policy(enterprise, creators=KeyPolicy.CREATORS_REQUEST, max_lifetime_days=30, allow_key_management=False)
    client.force_login(member)
    for body in (
        request_body(
            form_token=form_token(client), expires_at=(timezone.now() + timedelta(days=90)).date().isoformat()
        ),
        request_body(form_token=form_token(client), scopes=["api-key:read"]),
        request_body(form_token=form_token(client), access="full"),
        request_body(form_token=form_token(client), reason=""),
        request_body(form_token=form_token(client), reason="x\x00y"),
    ):
        assert client.post(requests_url(), body).status_code in (400, 403)
    assert not KeyRequest.objects.exists()


def test_a_denied_request_makes_no_key_and_approving_runs_the_privilege_and_policy_checks(enterprise, owner, member):
    from apikeys.models import KeyRequest
    from core.errors import Conflict, InvalidValue

    set_policy(enterprise, creators=KeyPolicy.CREATORS_REQUEST)
    asked = services.key_request_create(
        workspace=enterprise, user=member, spec=KeySpec(name="x", scopes=("image:read",)), reason="why"
    )
    with pytest.raises(InvalidValue, match="image:create were not asked for"):
        services.key_request_decide(asked=asked, actor=Actor(user=owner), approve=True, scopes=["image:create"])
    set_policy(enterprise, require_folders=True)  # the policy tightened since it was asked
    with refused("require_folders"):
        services.key_request_decide(asked=asked, actor=Actor(user=owner), approve=True)
    with pytest.raises(Forbidden):
        services.key_request_decide(asked=asked, actor=Actor(user=member), approve=True)
    services.key_request_decide(asked=asked, actor=Actor(user=owner), approve=False, note="Use the team key")
    with pytest.raises(Conflict):
        services.key_request_claim(asked=KeyRequest.objects.get(), user=member)
    assert not ApiKey.objects.filter(name="x").exists()


def test_requests_are_closed_unless_the_policy_opens_them(client, enterprise, member):
    client.force_login(member)
    page = client.get(requests_url("?new=1")).content.decode()
    assert "does not let members request keys" in page
    assert client.post(requests_url(), request_body(form_token="z")).status_code == 200
    with pytest.raises(Forbidden, match="does not let members request"):
        services.key_request_create(workspace=enterprise, user=member, spec=KeySpec(name="x", scopes=()), reason="r")


def test_operators_see_policies_and_requests_in_the_admin_and_enabling_there_meets_the_policy(
    admin_client, enterprise, member
):
    from django.urls import reverse

    key, _ = create_key(workspace=enterprise, name="Everything", scopes=None, disabled=True)
    set_policy(enterprise, forbid_full_access=True, creators=KeyPolicy.CREATORS_REQUEST)
    services.key_request_create(
        workspace=enterprise, user=member, spec=KeySpec(name="r", scopes=("image:read",)), reason="w"
    )
    assert admin_client.get(reverse("admin:apikeys_keypolicy_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:apikeys_keyrequest_changelist")).status_code == 200
    rules = KeyPolicy.objects.get()
    assert admin_client.post(reverse("admin:apikeys_keypolicy_change", args=[rules.pk]), {}).status_code == 403
    enabled = admin_client.post(reverse("admin:apikeys_apikey_enable", args=[key.pk]), follow=True)
    assert "forbids full-access keys" in enabled.content.decode()
    assert ApiKey.objects.get(pk=key.pk).disabled


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        # policy page GET, policy POST, requests page, request form, decide, open
        ("outsider", (404, 404, 404, 404, 404, 404)),
        ("member", (404, 404, 200, 200, 404, 302)),
        ("admin", (200, 403, 200, 200, 302, 404)),
        ("owner", (200, 302, 200, 200, 302, 404)),
    ],
)
def test_who_reaches_the_policy_and_request_pages(client, enterprise, owner, member, outsider, who, expected):
    """The page routes of issue 22 as a matrix: members ask, owners and admins decide, only
    owners change the policy, nobody outside the workspace sees anything."""
    from apikeys.models import KeyRequest

    admin = UserFactory(email="admin@example.com")
    MembershipFactory(user=admin, workspace=enterprise, role=Role.ADMIN)
    set_policy(enterprise, creators=KeyPolicy.CREATORS_REQUEST)
    asked = services.key_request_create(
        workspace=enterprise, user=member, spec=KeySpec(name="asked", scopes=("image:read",)), reason="why"
    )
    client.force_login({"outsider": outsider, "member": member, "admin": admin, "owner": owner}[who])
    got = (
        client.get(policy_url()).status_code,
        client.post(policy_url(), {"creators": "members-request"}).status_code,
        client.get(requests_url()).status_code,
        client.get(requests_url("?new=1")).status_code,
        client.post(requests_url(f"/{asked.pk}/decide"), {"decision": "deny"}).status_code,
        client.post(requests_url(f"/{asked.pk}/open")).status_code,
    )
    assert got == expected
    state = KeyRequest.objects.get().state
    assert state == ("denied" if who in ("admin", "owner") else "pending")


def test_a_free_workspace_has_no_key_policy(client, free, owner):
    from core.errors import PlanRequired

    with pytest.raises(PlanRequired, match="Enterprise feature"):
        services.key_policy_update(workspace=free, actor=Actor(user=owner), max_lifetime_days=30)
    client.force_login(owner)
    answer = client.post("/app/hobby/settings/api-keys/policy", {"creators": "managers", "max_lifetime_days": "30"})
    assert answer.status_code == 400 and "Enterprise feature" in answer.content.decode()
    assert not KeyPolicy.objects.exists()
