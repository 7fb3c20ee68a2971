"""Usage per key: counted in the cache on the request path, flushed to KeyUsage rows, shown in
the key objects, and the least-privilege suggestions built on it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys import scopes as registry
from apikeys import usage
from apikeys.models import ApiKey, KeyUsage
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def admin(enterprise, make_key):
    return make_key(enterprise, name="admin")


@pytest.fixture
def reader(enterprise, make_key):
    ProjectFactory(workspace=enterprise, slug="cats")
    return make_key(enterprise, name="reader", scopes=["workspace:read", "project:read", "image:read"])


def rows(key: ApiKey) -> dict[str, int]:
    return {u.scope: u.requests for u in KeyUsage.objects.filter(api_key=key)}


def key_object(client, admin_secret: str, key: ApiKey) -> dict:
    response = client.get(f"/acme/api-keys/{key.key_id}", **bearer(admin_secret))
    assert response.status_code == 200, response.content
    return response.json()["apiKey"]


def test_requests_are_counted_per_scope_and_flushed_once(client, reader, settings):
    key, secret = reader
    for _ in range(3):
        assert client.get("/acme", **bearer(secret), HTTP_USER_AGENT="roboflow-python/1.7.3").status_code == 200
    assert client.get("/acme/cats", **bearer(secret), REMOTE_ADDR="203.0.113.9").status_code == 200
    assert KeyUsage.objects.count() == 0  # nothing is written on the request path
    assert usage.flush() == 4
    assert rows(key) == {"": 4, "workspace:read": 3, "project:read": 1}
    key.refresh_from_db()
    assert key.last_used_ip == "203.0.113.9" and key.last_used_user_agent == ""
    assert usage.flush() == 0  # a second flush moves nothing more
    call_command("flush_key_usage", stdout=(out := __import__("io").StringIO()))
    assert "Flushed 0 requests" in out.getvalue()
    assert rows(key) == {"": 4, "workspace:read": 3, "project:read": 1}


def test_where_a_key_was_used_from_is_written_only_when_it_changed(client, reader):
    key, secret = reader

    def flushed_writes(**sent) -> list[str]:
        assert client.get("/acme", **bearer(secret), **sent).status_code == 200
        with CaptureQueriesContext(connection) as captured:
            assert usage.flush() == 1
        return [q["sql"] for q in captured if q["sql"].startswith("UPDATE")]

    assert len(flushed_writes(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="cli/1")) == 1
    assert flushed_writes(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="cli/1") == []  # the same client
    assert len(flushed_writes(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="cli/2")) == 1
    assert len(flushed_writes(REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="cli/2")) == 1
    key.refresh_from_db()
    assert (key.last_used_ip, key.last_used_user_agent) == ("198.51.100.7", "cli/2")
    assert rows(key)[""] == 4


def test_a_page_of_keys_reads_the_usage_of_its_keys_only(client, admin, enterprise, make_key):
    """By id: not every usage row of a workspace of a thousand keys for a page of 50."""
    _, secret = admin
    for n in range(3):
        make_key(enterprise, name=f"k{n}")
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/acme/api-keys?limit=2", **bearer(secret)).status_code == 200
    [read] = [q["sql"] for q in captured if "apikeys_keyusage" in q["sql"] and q["sql"].startswith("SELECT")]
    assert '"api_key_id" IN (' in read and "workspace_id" not in read, read


def test_counts_add_up_across_flushes_and_with_the_rate_limit_off(client, reader, settings):
    key, secret = reader
    client.get("/acme", **bearer(secret))
    usage.flush()
    settings.API_RATE_LIMIT = "off"  # then the count takes its own round trip
    client.get("/acme", **bearer(secret))
    client.get("/acme", **bearer(secret))
    usage.flush()
    assert rows(key) == {"": 3, "workspace:read": 3}


def test_refused_requests_are_not_counted_and_rate_limited_ones_are(client, reader, settings):
    key, secret = reader
    assert client.get("/acme/api-keys", **bearer(secret)).status_code == 403  # lacks api-key:read
    assert client.get("/acme", HTTP_AUTHORIZATION="Bearer sak_nope").status_code == 401
    settings.API_RATE_LIMIT = "1/min"
    assert client.get("/acme", **bearer(secret)).status_code == 200
    assert client.get("/acme", **bearer(secret)).status_code == 429
    usage.flush()
    assert rows(key) == {"": 2, "workspace:read": 2}


def test_a_failed_database_write_gives_the_counts_back(client, reader, monkeypatch):
    key, secret = reader
    client.get("/acme", **bearer(secret))

    def broken(_rows):
        raise RuntimeError("database down")

    monkeypatch.setattr(usage, "_add", broken)
    with pytest.raises(RuntimeError):
        usage.flush()
    monkeypatch.undo()
    assert usage.flush() == 1
    assert rows(key) == {"": 1, "workspace:read": 1}


def test_a_request_between_taking_and_writing_is_kept_for_the_next_flush(client, reader, monkeypatch):
    key, secret = reader
    client.get("/acme", **bearer(secret))
    real = usage._add

    def meanwhile(taken):
        client.get("/acme", **bearer(secret))  # lands after the counters were taken
        real(taken)

    monkeypatch.setattr(usage, "_add", meanwhile)
    assert usage.flush() == 1
    monkeypatch.undo()
    assert usage.flush() == 1
    assert rows(key) == {"": 2, "workspace:read": 2}


def test_the_key_object_shows_usage_and_the_read_flushes_first(client, admin, reader):
    key, secret = reader
    client.get("/acme/cats", **bearer(secret))
    client.get("/acme", **bearer(secret), HTTP_USER_AGENT="roboflow-python/1.7.3\x00\x07")
    shown = key_object(client, admin[1], key)["usage"]
    assert shown["requests30d"] == 2
    assert shown["daily"][-1] == 2 and len(shown["daily"]) == usage.WINDOW_DAYS and sum(shown["daily"]) == 2
    assert shown["since"] == (timezone.now().astimezone(UTC).date() - timedelta(days=29)).isoformat()
    assert shown["scopes"] == {"workspace:read": 1, "project:read": 1}
    assert shown["lastIp"] == "127.0.0.1"
    assert shown["lastUserAgent"] == "roboflow-python/1.7.3"  # NUL and control characters dropped
    listed = client.get("/acme/api-keys", **bearer(admin[1])).json()["apiKeys"]
    assert next(k for k in listed if k["keyId"] == key.key_id)["usage"]["requests30d"] == 2


def test_a_read_moves_the_counts_of_the_keys_it_shows_only(client, admin, reader, free, make_key):
    """Up to date for what it shows; the other keys' counts (another workspace's too) wait for
    the next read of them or the cron flush, instead of being moved on every read."""
    key, secret = reader
    elsewhere, elsewhere_secret = make_key(free, name="elsewhere")
    client.get("/acme", **bearer(secret), REMOTE_ADDR="203.0.113.9")
    assert client.get("/", **bearer(elsewhere_secret)).status_code == 200
    assert key_object(client, admin[1], key)["usage"]["lastIp"] == "203.0.113.9"
    assert rows(key) == {"": 1, "workspace:read": 1}
    assert rows(elsewhere) == {}  # still in the cache
    moved = usage.flush()
    assert rows(elsewhere)[""] == 1 and moved == 1 + 1  # the other key's request and the admin's read


def test_the_edit_modal_shows_where_the_key_was_last_used_from(client, owner, reader):
    key, secret = reader
    client.get("/acme", **bearer(secret), REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="cli/9")
    client.force_login(owner)
    modal = client.get(f"/app/acme/settings/api-keys/{key.key_id}/edit").content.decode()
    assert "203.0.113.9" in modal and "cli/9" in modal
    assert usage.flush() == 0  # the modal moved its key's counts


def test_days_outside_the_window_do_not_count(client, admin, reader):
    key, _ = reader
    today = timezone.now().astimezone(UTC).date()
    KeyUsage.objects.create(api_key=key, day=today - timedelta(days=30), scope="", requests=5)
    KeyUsage.objects.create(api_key=key, day=today - timedelta(days=30), scope="image:read", requests=5)
    KeyUsage.objects.create(api_key=key, day=today - timedelta(days=29), scope="", requests=7)
    KeyUsage.objects.create(api_key=key, day=today - timedelta(days=29), scope="project:read", requests=7)
    shown = key_object(client, admin[1], key)
    assert shown["usage"]["daily"][0] == 7 and shown["usage"]["requests30d"] == 7
    assert shown["usage"]["scopes"] == {"project:read": 7}


def age(key: ApiKey, days: float) -> None:
    ApiKey.objects.filter(pk=key.pk).update(usage_since=timezone.now() - timedelta(days=days))


def test_unused_scopes_wait_for_thirty_days_of_counting(client, admin, reader):
    key, secret = reader
    client.get("/acme", **bearer(secret))
    age(key, 29.9)
    assert key_object(client, admin[1], key)["unusedScopes"] is None
    age(key, 30.01)
    assert key_object(client, admin[1], key)["unusedScopes"] == ["project:read", "image:read"]


def test_a_full_access_key_lists_every_scope_it_did_not_use(client, admin):
    key, secret = admin
    age(key, 31)
    client.get("/acme", **bearer(secret))
    unused = key_object(client, secret, key)["unusedScopes"]
    assert "workspace:read" not in unused and "api-key:read" not in unused  # the read itself used it
    assert set(unused) == set(registry.SCOPE_NAMES) - {"workspace:read", "api-key:read"}


def test_suggestion_rules():
    now = datetime(2026, 11, 27, tzinfo=UTC)
    since = now - timedelta(days=30)
    assert usage.unused_scopes(scopes=["a:b", "c:d"], usage_since=since, used={"a:b"}, now=now) == ["c:d"]
    assert usage.unused_scopes(scopes=["a:b"], usage_since=since + timedelta(seconds=1), used=set(), now=now) is None
    assert usage.unused_scopes(scopes=[], usage_since=since, used=set(), now=now) == []
    assert usage.narrowed(["image:read", "workspace:read"], {"workspace:read", "model:manage"}) == ["workspace:read"]
    assert usage.narrowed(None, {"image:read", "workspace:read"}) == ["workspace:read", "image:read"]


def test_counting_costs_no_query_and_no_write(client, reader):
    _, secret = reader
    client.get("/acme", **bearer(secret))
    with CaptureQueriesContext(connection) as captured:
        client.get("/acme", **bearer(secret))
    assert all(q["sql"].lstrip().upper().startswith("SELECT") for q in captured.captured_queries)


def test_a_dead_cache_loses_counts_but_never_a_request(client, reader, monkeypatch):
    _, secret = reader
    backend = caches["default"]

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    for name in ("add", "incr", "get", "set", "get_many", "delete", "delete_many"):
        monkeypatch.setattr(backend, name, down)

    class DeadRedis:
        def __getattr__(self, name):
            return down

    from core import throttling

    monkeypatch.setattr(throttling, "redis_client", lambda _backend: DeadRedis())
    monkeypatch.setattr(usage, "redis_client", lambda _backend: DeadRedis())
    assert client.get("/acme", **bearer(secret)).status_code == 200
    assert usage.flush() == 0


def test_entries_of_deleted_keys_and_malformed_entries_are_dropped(client, reader):
    key, secret = reader
    client.get("/acme", **bearer(secret))
    backend = caches["default"]
    if not isinstance(backend, usage.RedisCache):
        backend.set(usage.PENDING, (backend.get(usage.PENDING) or set()) | {"x:y:z"}, timeout=None)
        backend.set("usage:n:x:y:z", 3)
    ApiKey.objects.filter(pk=key.pk).delete()
    assert usage.flush() == 0  # counted, but there is no key left to write it to
    assert KeyUsage.objects.count() == 0


# The settings page ----------------------------------------------------------------------


def page_url(name: str, ws: str = "acme", **kwargs) -> str:
    from django.urls import reverse

    return reverse(f"apikeys:{name}", kwargs={"ws": ws, **kwargs})


def test_the_row_and_the_modal_show_what_the_key_used(client, owner, reader):
    key, secret = reader
    client.get("/acme", **bearer(secret), REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="ci-bot/2")
    client.force_login(owner)
    listing = client.get(page_url("list")).content.decode()
    row = listing[listing.index(f'id="key-{key.key_id}"') :].split("</tr>")[0]
    assert "from 198.51.100.7" in row and 'aria-label="1 requests in the last 30 days' in row
    modal = client.get(page_url("edit", key_id=key.key_id)).content.decode()
    assert "<strong>1</strong> request in the last 30 days" in modal
    assert "Last from 198.51.100.7" in modal and "ci-bot/2" in modal
    assert "<code>workspace:read</code> 1" in modal
    assert "once its use has been counted for 30 days" in modal and "Narrow to what it uses" not in modal


def edit_form(key, **fields):
    """The edit form as the browser sends it for this key, with `fields` changed."""
    scoped = {"access": "scoped", "scopes": key.scopes} if key.scopes is not None else {"access": "full"}
    return {"name": key.name, **scoped, "folder_limit": "all", **fields}


def test_narrowing_shows_what_it_keeps_and_removes_then_saves_with_the_other_edits(client, owner, reader):
    key, secret = reader
    age(key, 31)
    client.get("/acme", **bearer(secret))
    client.get("/acme/cats", **bearer(secret))
    client.force_login(owner)
    edit = page_url("edit", key_id=key.key_id)
    modal = client.get(edit).content.decode()
    assert "Unused for 30 days:</strong> <code>image:read</code>" in modal
    assert 'name="narrow" value="preview"' in modal
    # The preview keeps what was typed and saves nothing.
    preview = client.post(edit, edit_form(key, name="Renamed", narrow="preview")).content.decode()
    assert "Narrowing keeps</strong> <code>workspace:read</code>, <code>project:read</code>" in preview
    assert "and removes</strong> <code>image:read</code>" in preview and 'value="Renamed"' in preview
    key.refresh_from_db()
    assert key.name == "reader" and key.scopes == ["workspace:read", "project:read", "image:read"]
    # Confirmed: the rename and the narrowing, in one save. A tampered form cannot choose the
    # scopes narrowing keeps: they come from the counts.
    response = client.post(edit, edit_form(key, name="Renamed", narrow="confirm"))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.name == "Renamed" and key.scopes == ["workspace:read", "project:read"]
    event = key.audit_events.latest("created")
    assert event.action == "update" and event.actor_user == owner
    assert event.before == {"scopes": ["workspace:read", "project:read", "image:read"]}
    assert event.after == {"scopes": ["workspace:read", "project:read"]}
    searched = client.post("/acme/search/v1", {"query": "cat"}, content_type="application/json", **bearer(secret))
    assert searched.status_code == 403  # from the next request


def test_a_rename_without_narrowing_keeps_every_scope(client, owner, reader):
    key, secret = reader
    age(key, 31)
    client.get("/acme", **bearer(secret))
    client.force_login(owner)
    assert client.post(page_url("edit", key_id=key.key_id), edit_form(key, name="Just renamed")).status_code == 302
    key.refresh_from_db()
    assert key.name == "Just renamed" and key.scopes == ["workspace:read", "project:read", "image:read"]


def test_nothing_to_narrow_changes_nothing(client, owner, reader):
    key, _ = reader
    client.force_login(owner)
    edit = page_url("edit", key_id=key.key_id)
    response = client.post(edit, edit_form(key, narrow="preview"), follow=True)  # too new to tell
    assert "nothing to narrow" in response.content.decode() and "data-narrow-preview" not in response.content.decode()
    client.post(edit, edit_form(key, narrow="confirm"))
    key.refresh_from_db()
    assert key.scopes == ["workspace:read", "project:read", "image:read"]


def test_a_made_up_narrow_choice_is_refused(client, owner, reader):
    key, _ = reader
    client.force_login(owner)
    response = client.post(page_url("edit", key_id=key.key_id), edit_form(key, name="x", narrow="everything"))
    assert response.status_code == 400 and "is not a choice of this form" in response.content.decode()
    key.refresh_from_db()
    assert key.name == "reader"


def test_a_full_access_key_becomes_scoped_to_what_it_used(client, owner, enterprise, make_key):
    key, secret = make_key(enterprise, name="everything")
    age(key, 40)
    client.get("/acme", **bearer(secret))
    client.force_login(owner)
    edit = page_url("edit", key_id=key.key_id)
    modal = client.get(edit).content.decode()
    assert "This full-access key used only:</strong> <code>workspace:read</code>" in modal
    assert "(it has full access today)" in client.post(edit, edit_form(key, narrow="preview")).content.decode()
    client.post(edit, edit_form(key, narrow="confirm"))
    key.refresh_from_db()
    assert key.scopes == ["workspace:read"]


def test_narrowing_keeps_the_plan_rules(client, owner, free, make_key):
    key, secret = make_key(free, name="only key")
    age(key, 40)
    client.get("/hobby", **bearer(secret))
    client.force_login(owner)
    edit = page_url("edit", "hobby", key_id=key.key_id)
    modal = client.get(edit).content.decode()
    assert "Narrow to what it uses" not in modal and "Enterprise feature" in modal
    response = client.post(edit, {"name": "only key", "narrow": "confirm"}, follow=True)
    assert "Enterprise" in response.content.decode()
    key.refresh_from_db()
    assert key.scopes is None


def test_members_and_strangers_cannot_narrow(client, member, outsider, reader):
    key, _ = reader
    for user in (member, outsider):
        client.force_login(user)
        assert client.post(page_url("edit", key_id=key.key_id), edit_form(key, narrow="confirm")).status_code == 404


# manage.py apikeys suggest ------------------------------------------------------------------


def test_suggest_on_the_shell(client, enterprise, make_key, reader):
    import io
    import json

    key, secret = reader
    everything, everything_secret = make_key(enterprise, name="everything")
    make_key(enterprise, name="fresh", scopes=["workspace:read"])
    age(key, 31)
    age(everything, 31)
    client.get("/acme", **bearer(secret))
    client.get("/acme", **bearer(everything_secret))
    out = io.StringIO()
    call_command("apikeys", "suggest", "--workspace", "acme", stdout=out)
    text = out.getvalue()
    assert f"{key.prefix}  reader: unused for 30 days: project:read, image:read. Narrow it to: workspace:read." in text
    assert f"{everything.prefix}  everything: full access, but used only: workspace:read. Scope it to those." in text
    assert "fresh: too new to tell" in text and "2 of 3 live keys could be narrowed." in text
    out = io.StringIO()
    call_command("apikeys", "suggest", "--workspace", "acme", "--json", stdout=out)
    found = {item["name"]: item for item in json.loads(out.getvalue())}
    assert found["reader"]["unusedScopes"] == ["project:read", "image:read"]
    assert found["reader"]["narrowTo"] == ["workspace:read"] and found["reader"]["usedScopes"] == ["workspace:read"]
    assert found["fresh"]["unusedScopes"] is None and found["everything"]["fullAccess"] is True


def test_suggest_refuses_an_unknown_workspace():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="workspace"):
        call_command("apikeys", "suggest", "--workspace", "nope")
