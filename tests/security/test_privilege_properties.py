"""Property: no sequence of key-management calls made with a key yields a key that can do more
than the key that made the call, in any dimension (scopes, folders, IP allowlist, expiry).

A hypothesis state machine plays a workspace with a fixed cast of keys (among them stronger
ones that an operator made) and a key under test, then runs random create, update, enable,
disable, protect, roll and revoke calls through the services with that key, or with any key
descended from it, as the actor. After every call:

- a call that fails fails with a service refusal (a 4xx on the wire), never anything else;
- a key that a call created, rolled or widened is within the power of the key that called;
- no refusal leaves a change behind.

"Power" is a partial order written here independently of `apikeys.scopes.grant_excess`.
"""

import ipaddress
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from rest_framework.exceptions import ValidationError

from apikeys.models import ApiKey
from apikeys.scopes import SCOPE_NAMES
from apikeys.services import api_key_disable, api_key_enable, api_key_protect, api_key_revoke
from core.errors import ServiceError
from tests.factories import FolderFactory, WorkspaceFactory
from tests.keys import create_key, roll_key, update_key
from workspaces.actors import Actor
from workspaces.models import Plan

MANAGE = ["api-key:read", "api-key:create", "api-key:update", "api-key:revoke"]
NETWORKS = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "192.168.0.0/24", "2001:db8::/32"]
NOW = timezone.now()
urls = itertools.count()


@dataclass(frozen=True)
class Power:
    """What a key can do, comparable: active or not, scopes, folders, addresses, lifetime."""

    active: bool
    scopes: frozenset[str] | None  # None: every scope
    folders: frozenset[int] | None  # None: every folder
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None  # None: any address
    expires: datetime | None  # None: never

    @classmethod
    def of(cls, key: ApiKey) -> "Power":
        key = ApiKey.objects.get(pk=key.pk)
        live = key.revoked_at is None and key.rolled_at is None
        limit = key.folder_limit()
        return cls(
            active=live and not key.disabled,
            scopes=None if key.scopes is None else frozenset(key.scopes),
            folders=None if limit is None else frozenset(limit),
            networks=tuple(ipaddress.ip_network(n) for n in key.allowed_ips) or None,
            expires=key.expires_at,
        )

    def within(self, other: "Power") -> bool:
        if not self.active:
            return True  # a key that cannot be used can do nothing
        if other.scopes is not None and (self.scopes is None or not self.scopes <= other.scopes):
            return False
        if other.folders is not None and (self.folders is None or not self.folders <= other.folders):
            return False
        if other.networks is not None and (
            self.networks is None
            or not all(any(n.version == o.version and n.subnet_of(o) for o in other.networks) for n in self.networks)  # type: ignore[arg-type]
        ):
            return False
        return other.expires is None or (self.expires is not None and self.expires <= other.expires)


scope_sets = st.lists(st.sampled_from(SCOPE_NAMES), unique=True, max_size=6)
network_lists = st.lists(st.sampled_from(NETWORKS), unique=True, max_size=2)
expiries = st.one_of(st.none(), st.sampled_from([1, 30, 400]).map(lambda d: NOW + timedelta(days=d)))


@st.composite
def key_fields(draw, folder_ids):
    """Fields for a create or an update: each one present or absent."""
    fields = {}
    if draw(st.booleans()):
        scopes = draw(st.one_of(st.none(), scope_sets))
        fields["scopes"] = None if scopes is None else sorted({*scopes, *draw(st.sets(st.sampled_from(MANAGE)))})
    if draw(st.booleans()):
        fields["folder_ids"] = draw(st.lists(st.sampled_from(folder_ids), unique=True, max_size=2))
    if draw(st.booleans()):
        fields["allowed_ips"] = draw(network_lists)
    if draw(st.booleans()):
        fields["expires_at"] = draw(expiries)
    if draw(st.booleans()):
        fields["disabled"] = draw(st.booleans())
    return fields


class KeyFamily(RuleBasedStateMachine):
    """A key under test and what it makes, in a workspace with stronger keys beside them."""

    def __init__(self):
        super().__init__()
        self.workspace = WorkspaceFactory(url=f"prop-{next(urls)}", plan=Plan.ENTERPRISE)
        self.folders = [FolderFactory(workspace=self.workspace, name=f"F{i}").pk for i in range(3)]
        operator = Actor()
        self.others = [
            create_key(workspace=self.workspace, actor=operator, name="full")[0],
            create_key(
                workspace=self.workspace,
                actor=operator,
                name="fenced full",
                allowed_ips=["10.0.0.0/8"],
                expires_at=NOW + timedelta(days=30),
            )[0],
            create_key(workspace=self.workspace, actor=operator, name="disabled full", disabled=True, scopes=None)[0],
            create_key(workspace=self.workspace, actor=operator, name="other folder", folder_ids=[self.folders[2]])[0],
        ]
        self.family: list[ApiKey] = []
        self.root_power: Power | None = None
        self.calls = 0

    @initialize(
        scopes=st.one_of(st.none(), scope_sets.map(lambda s: sorted({*s, *MANAGE}))),
        folders=st.one_of(st.none(), st.lists(st.integers(0, 1), unique=True, min_size=1)),
        networks=network_lists,
        expires=expiries,
    )
    def make_key_under_test(self, scopes, folders, networks, expires):
        fields = {"scopes": scopes, "allowed_ips": networks, "expires_at": expires}
        if folders is not None:
            fields["folder_ids"] = [self.folders[i] for i in folders]
        key, _ = create_key(workspace=self.workspace, actor=Actor(), name="under test", **fields)
        self.family.append(key)
        self.root_power = Power.of(key)

    # -- helpers

    def actor(self, data) -> ApiKey:
        return ApiKey.objects.get(pk=data.draw(st.sampled_from(self.family)).pk)

    def target(self, data) -> ApiKey:
        return data.draw(st.sampled_from(self.family + self.others))

    def attempt(self, actor: ApiKey, target: ApiKey | None, call) -> object | None:
        """Run a call; a refusal must be a ServiceError and change nothing."""
        self.calls += 1
        before = Power.of(target) if target is not None else None
        try:
            return call(Actor(key=actor))
        except (ServiceError, ValidationError):  # refused by the rules, or at the edge
            if target is not None:
                assert Power.of(target) == before, "a refused call changed the key"
            return None

    def check_result(self, actor: ApiKey, before: Power | None, key: ApiKey) -> None:
        after = Power.of(key)
        widened = before is None or not after.within(before)
        if widened:
            assert after.within(Power.of(actor)), f"{key.name} now exceeds the key that changed it"

    # -- rules

    @rule(data=st.data())
    def create(self, data):
        actor = self.actor(data)
        fields = data.draw(key_fields(self.folders))
        made = self.attempt(
            actor, None, lambda a: create_key(workspace=self.workspace, actor=a, name="child", **fields)
        )
        if made is not None:
            key = made[0]  # type: ignore[index]
            self.check_result(actor, None, key)
            self.family.append(key)

    @rule(data=st.data())
    def update(self, data):
        actor, target = self.actor(data), self.target(data)
        fields = data.draw(key_fields(self.folders))
        before = Power.of(target)
        if self.attempt(actor, target, lambda a: update_key(key=target, actor=a, **fields)) is not None:
            self.check_result(actor, before, target)

    @rule(data=st.data(), call=st.sampled_from([api_key_enable, api_key_disable, api_key_protect, api_key_revoke]))
    def toggle(self, data, call):
        actor, target = self.actor(data), self.target(data)
        before = Power.of(target)
        if self.attempt(actor, target, lambda a: call(key=target, actor=a)) is not None:
            self.check_result(actor, before, target)

    @rule(data=st.data())
    def roll(self, data):
        actor, target = self.actor(data), self.target(data)
        made = self.attempt(actor, target, lambda a: roll_key(key=target, actor=a))
        if made is not None:
            new = made[0]  # type: ignore[index]
            self.check_result(actor, None, new)
            if target in self.family:
                self.family.append(new)

    @invariant()
    def nothing_in_the_family_exceeds_what_the_key_under_test_started_with(self):
        for key in self.family:
            assert self.root_power is not None
            assert Power.of(key).within(self.root_power), f"{key.name} exceeds the key under test"


@pytest.mark.django_db
def test_no_sequence_of_calls_with_a_key_yields_a_stronger_key():
    machine_settings = settings(
        max_examples=100,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    calls = []

    class Counted(KeyFamily):
        def teardown(self):
            calls.append(self.calls)

    run_state_machine_as_test(Counted, settings=machine_settings)
    print(f"privilege properties: {len(calls)} examples, {sum(calls)} service calls")
    assert sum(calls) >= 1000
