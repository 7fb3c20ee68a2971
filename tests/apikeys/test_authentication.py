"""Every outcome of authentication, through the API root (`GET /` and `POST /`)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys import authentication as auth
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from tests.keys import roll_key, update_key
from workspaces.actors import Actor

pytestmark = pytest.mark.django_db


def call(client, secret=None, transport="header", method="post"):
    kwargs = {}
    path = "/"
    if transport == "header" and secret is not None:
        kwargs["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    elif transport == "query" and secret is not None:
        path = f"/?api_key={secret}"
    elif transport == "body" and secret is not None:
        kwargs = {"data": {"api_key": secret}, "content_type": "application/json"}
    return getattr(client, method)(path, **kwargs)


def assert_invalid(response, message):
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_token"
    assert response.json()["error"]["message"] == message
    assert response.json()["error"]["hint"]
    assert response["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')


@pytest.mark.parametrize(
    ("transport", "method"),
    [("header", "get"), ("header", "post"), ("query", "get"), ("query", "post"), ("body", "post")],
)
def test_a_valid_key_works_with_each_transport(client, enterprise, make_key, transport, method):
    _, secret = make_key(enterprise)
    response = call(client, secret, transport, method)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["workspace"] == "acme"
    assert set(body) == {"welcome", "instructions", "docs", "workspace"}


def test_no_key_gets_the_challenge_without_an_error_code(client):
    response = call(client, None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"]["type"] == "missing_token"


def test_a_browser_opening_the_root_goes_to_the_dashboard(client):
    response = client.get("/", HTTP_ACCEPT="text/html")
    assert response.status_code == 302


@pytest.mark.parametrize("bad", ["sak_nonsense", "x" * 55, "Bearer"])
def test_a_malformed_key_is_refused_without_a_query(client, bad):
    with CaptureQueriesContext(connection) as queries:
        response = call(client, bad, "query")
    assert_invalid(response, auth.MALFORMED)
    assert len(queries) == 0


def test_a_key_with_a_broken_checksum_is_refused_without_a_query(client, enterprise, make_key):
    _, secret = make_key(enterprise)
    broken = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with CaptureQueriesContext(connection) as queries:
        response = call(client, broken)
    assert_invalid(response, auth.MALFORMED)
    assert len(queries) == 0


def test_unknown_id_and_wrong_secret_fail_the_same_way(client, enterprise, make_key):
    from apikeys import keyformat

    key, _ = make_key(enterprise)
    wrong_secret = keyformat.new_key(key.key_id)  # well-formed, right id, other secret
    unknown_id = keyformat.new_key(keyformat.new_key_id())
    with CaptureQueriesContext(connection) as wrong_queries:
        first = call(client, wrong_secret)
    with CaptureQueriesContext(connection) as unknown_queries:
        second = call(client, unknown_id)
    assert len(wrong_queries) == len(unknown_queries) == 1
    assert_invalid(first, auth.INVALID)
    assert_invalid(second, auth.INVALID)
    assert first.json() == second.json()
    assert first["WWW-Authenticate"] == second["WWW-Authenticate"]


@pytest.mark.parametrize("limited", [False, True], ids=["workspace-wide", "50 folders"])
def test_authentication_scopes_and_folders_cost_one_query_and_no_write(client, enterprise, make_key, limited):
    from apikeys import lookup
    from tests.factories import FolderFactory

    folders = [FolderFactory(workspace=enterprise).pk for _ in range(50)] if limited else []
    key, secret = make_key(enterprise, scopes=["workspace:read"], folder_ids=folders)
    call(client, secret)  # sets lastUsedAt, at most once a minute
    lookup.records.forget()  # as a process that has not served the key yet
    with CaptureQueriesContext(connection) as queries:
        assert call(client, secret).status_code == 200
    [read] = queries.captured_queries
    assert "key_id" in read["sql"] and read["sql"].lstrip().upper().startswith("SELECT")
    # Then, on Redis, the process keeps the record: no query (tests/apikeys/test_key_records.py).
    from apikeys.lookup import find_for_request

    with CaptureQueriesContext(connection) as queries:
        found = find_for_request(key_id=key.key_id)
        assert found is not None and found.pk == key.pk
        assert found.workspace.url == "acme" and found.scopes == ["workspace:read"]
        assert found.folder_limit() == (sorted(folders) if limited else None)
        assert found.created == ApiKey.objects.get(pk=key.pk).created
    assert len(queries) == 2  # the lookup (never a kept record unless asked), and the comparison's own read above


def test_disabled_expired_revoked_and_rolled_keys_fail_with_their_reason(client, enterprise, make_key):
    _disabled, disabled_secret = make_key(enterprise, name="d", disabled=True)
    expiring, expiring_secret = make_key(enterprise, name="e", expires_at=timezone.now() + timedelta(seconds=30))
    ApiKey.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked, revoked_secret = make_key(enterprise, name="r")
    api_key_revoke(key=revoked, actor=Actor())
    rolled, rolled_secret = make_key(enterprise, name="o")
    roll_key(key=rolled, actor=Actor())

    assert_invalid(call(client, disabled_secret), auth.DISABLED)
    assert_invalid(call(client, expiring_secret), auth.EXPIRED)
    assert_invalid(call(client, revoked_secret), auth.REVOKED)
    assert_invalid(call(client, rolled_secret), auth.ROLLED)


def test_a_rolled_key_works_during_its_grace_period_as_its_replacement(client, enterprise, make_key):
    old, old_secret = make_key(enterprise, scopes=["project:read"])
    new, new_secret = roll_key(key=old, actor=Actor(), grace=timedelta(hours=1))
    assert call(client, old_secret).status_code == 200
    assert call(client, new_secret).status_code == 200
    # Changes to the replacement apply to the old secret too.
    update_key(key=new, actor=Actor(), disabled=True)
    assert_invalid(call(client, old_secret), auth.DISABLED)
    # Once the grace period is over, the old secret is dead.
    update_key(key=new, actor=Actor(), disabled=False)
    ApiKey.objects.filter(pk=old.pk).update(grace_until=timezone.now() - timedelta(seconds=1))
    assert_invalid(call(client, old_secret), auth.ROLLED)
    assert call(client, new_secret).status_code == 200


def test_sending_two_different_keys_is_refused(client, enterprise, make_key):
    _, one = make_key(enterprise, name="one")
    _, two = make_key(enterprise, name="two")
    response = client.post(f"/?api_key={one}", HTTP_AUTHORIZATION=f"Bearer {two}")
    assert_invalid(response, auth.CONFLICTING)
    # The same key twice is fine.
    assert client.post(f"/?api_key={one}", HTTP_AUTHORIZATION=f"Bearer {one}").status_code == 200


def test_behind_trusted_proxies_the_forwarded_client_address_counts(client, enterprise, make_key, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    _, secret = make_key(enterprise, allowed_ips=["10.0.0.0/8"])
    ok = client.post(
        "/", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="172.16.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9"
    )
    assert ok.status_code == 200
    # A spoofed entry in front of the proxy's own does not help.
    spoofed = client.post(
        "/", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="172.16.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9, 8.8.8.8"
    )
    assert spoofed.status_code == 403


def test_an_ip_allowlist_is_enforced(client, enterprise, make_key):
    _, secret = make_key(enterprise, allowed_ips=["10.0.0.0/8"])
    response = client.post("/", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="192.168.1.5")
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "ip_not_allowed"
    assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_last_used_is_written_at_most_once_a_minute(client, enterprise, make_key, monkeypatch):
    key, secret = make_key(enterprise)
    assert key.last_used_at is None
    call(client, secret)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            call(client, secret)
    assert not [q for q in queries if q["sql"].startswith("UPDATE")]
    key.refresh_from_db()
    assert key.last_used_at == first
    # Two minutes later the next request writes it again, with one conditional UPDATE.
    from apikeys import models

    later = first + timedelta(minutes=2)
    monkeypatch.setattr(models.timezone, "now", lambda: later)
    with CaptureQueriesContext(connection) as queries:
        call(client, secret)
    assert len([q for q in queries if q["sql"].startswith("UPDATE")]) == 1
    key.refresh_from_db()
    assert key.last_used_at == later


def test_failed_requests_do_not_touch_last_used(client, enterprise, make_key):
    key, secret = make_key(enterprise, allowed_ips=["10.0.0.0/8"])
    client.post("/", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="192.168.1.5")
    key.refresh_from_db()
    assert key.last_used_at is None
