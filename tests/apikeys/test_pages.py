"""Settings -> API Keys: the pages, as a browser without JavaScript drives them."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apikeys.models import ApiKey, AuditAction, AuditEvent
from apikeys.views import ALREADY_SUBMITTED, PROTECTED_REASON
from tests.factories import FolderFactory, MembershipFactory, UserFactory
from workspaces.actors import Actor
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def url(name, ws="acme", **kwargs):
    return reverse(f"apikeys:{name}", kwargs={"ws": ws, **kwargs})


@pytest.fixture
def admin(enterprise):
    user = UserFactory(email="admin@example.com")
    MembershipFactory(user=user, workspace=enterprise, role=Role.ADMIN)
    return user


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def token_of(response) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', response.content.decode())
    assert found is not None
    return found[1]


def secret_of(response) -> str:
    found = re.search(r"data-secret>(sak_[^<]+)<", response.content.decode())
    assert found is not None
    return found[1]


def generate(client, ws="acme", **fields):
    token = token_of(client.get(url("generate", ws)))
    data = {"name": "CI uploader", "access": "full", "folder_limit": "all", "form_token": token, **fields}
    if "expires_at" not in fields and "no_expiry" not in fields:
        data["no_expiry"] = "on"
    return client.post(url("generate", ws), data)


def api(client, secret, path="/acme"):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}")


class TestAccess:
    @pytest.mark.parametrize("name", ["list", "generate", "activity"])
    def test_owners_and_admins_see_the_pages(self, client, owner, admin, name):
        for user in (owner, admin):
            client.force_login(user)
            assert client.get(url(name)).status_code == 200

    @pytest.mark.parametrize("name", ["list", "generate", "activity"])
    def test_members_and_outsiders_get_a_404(self, client, member, outsider, name):
        for user in (member, outsider):
            client.force_login(user)
            assert client.get(url(name)).status_code == 404

    def test_anonymous_visitors_are_sent_to_log_in(self, client):
        response = client.get(url("list"))
        assert response.status_code == 302 and response.url.startswith(reverse("accounts:login"))

    def test_the_settings_link_shows_for_managers_only(self, client, owner, member):
        client.force_login(owner)
        assert (
            f'href="{url("list")}"' in client.get(reverse("workspaces:detail", kwargs={"ws": "acme"})).content.decode()
        )
        client.force_login(member)
        home = client.get(reverse("workspaces:detail", kwargs={"ws": "acme"})).content.decode()
        assert f'href="{url("list")}"' not in home
        assert f'href="{url("requests")}"' in home  # members ask for keys instead

    def test_a_member_cannot_post_an_action_and_nothing_changes(self, client, member, enterprise, make_key):
        key, _ = make_key(enterprise, name="Target")
        client.force_login(member)
        assert client.post(url("revoke", key_id=key.key_id)).status_code == 404
        assert client.post(url("edit", key_id=key.key_id), {"name": "x", "access": "full"}).status_code == 404
        assert ApiKey.objects.get(pk=key.pk).revoked_at is None and ApiKey.objects.get(pk=key.pk).name == "Target"

    def test_a_key_of_another_workspace_is_a_404_through_this_workspaces_pages(self, signed_in, free, make_key):
        other, _ = make_key(free, name="Hobby key")
        assert signed_in.get(url("edit", key_id=other.key_id)).status_code == 404
        assert signed_in.post(url("revoke", key_id=other.key_id)).status_code == 404
        assert ApiKey.objects.get(pk=other.pk).revoked_at is None


class TestList:
    def test_rows_show_name_badges_access_prefix_and_last_use(self, signed_in, enterprise, make_key):
        folder = FolderFactory(workspace=enterprise)
        make_key(enterprise, name="Main", default=True, protected=True)
        scoped, _ = make_key(enterprise, name="Uploader", scopes=["image:create", "image:read"], folder_ids=[folder.pk])
        soon = timezone.now() + timedelta(days=3)
        make_key(enterprise, name="Rotating", rotation_due_at=soon)
        page = signed_in.get(url("list")).content.decode()
        assert "Main" in page and ">Default<" in page and ">Protected<" in page
        assert f"Scoped: Images: upload, read · folder {folder.name}" in page
        assert scoped.prefix in page and "never" in page
        assert ">Rotation due<" in page and ">New<" in page
        assert 'aria-label="Edit Uploader"' in page

    def test_rows_show_expiry_allowlist_folder_names_and_a_rolled_keys_grace(self, signed_in, enterprise, make_key):
        from apikeys import services

        retail, factory = (
            FolderFactory(workspace=enterprise, name="Retail"),
            FolderFactory(workspace=enterprise, name="Factory"),
        )
        make_key(
            enterprise,
            name="Fenced",
            allowed_ips=["10.0.0.0/8"],
            folder_ids=[retail.pk, factory.pk],
            expires_at=timezone.now() + timedelta(days=12, hours=1),
        )
        old, _ = make_key(enterprise, name="Rolled")
        new, _ = services.api_key_roll(key=old, actor=Actor(), grace=timedelta(hours=1))
        page = signed_in.get(url("list")).content.decode()
        fenced = page[page.index(">Fenced<") :].split("</tr>")[0]
        assert ">Expires in 12 days<" in fenced and ">IP allowlist<" in fenced
        assert "folders Retail, Factory" in fenced or "folders Factory, Retail" in fenced
        rolled = page[page.index(f'id="key-{new.key_id}"') :].split("</tr>")[0]
        assert "Old secret works until" in rolled and url("end_grace", key_id=new.key_id) in rolled

        confirm = signed_in.get(url("end_grace", key_id=new.key_id)).content.decode()
        assert "The old secret stops working now" in confirm
        token = token_of(signed_in.get(url("end_grace", key_id=new.key_id)))
        assert signed_in.post(url("end_grace", key_id=new.key_id), {"form_token": token}).status_code == 302
        old.refresh_from_db()
        assert old.revoked_at is not None and not old.in_grace()
        assert "Old secret works until" not in signed_in.get(url("list")).content.decode()
        assert signed_in.get(url("end_grace", key_id=new.key_id)).status_code == 404  # nothing left to end

    def test_many_keys_are_searched_filtered_sorted_and_paged_in_the_url(self, signed_in, enterprise, make_key):
        from apikeys.models import ApiKey as Key

        for i in range(55):
            make_key(enterprise, name=f"Bot {i:02d}", scopes=["image:create"])
        make_key(enterprise, name="Auditor", scopes=["usage:read"], expires_at=timezone.now() + timedelta(days=9))
        first = signed_in.get(url("list")).content.decode()
        assert "1–50 of 56 keys in use" in first and 'rel="next"' in first and first.count('class="key-name"') == 50
        second = signed_in.get(url("list") + "?page=2").content.decode()
        assert "51–56 of 56 keys" in second and second.count('class="key-name"') == 6
        found = signed_in.get(url("list") + "?search=audit").content.decode()
        assert found.count('class="key-name"') == 1 and "Auditor" in found and "1 key found" in found
        prefix = Key.objects.get(name="Bot 07").prefix
        assert "Bot 07" in signed_in.get(url("list") + f"?search={prefix}").content.decode()
        expiring = signed_in.get(url("list") + "?expiresWithin=30&scope=usage:read").content.decode()
        assert expiring.count('class="key-name"') == 1
        by_name = signed_in.get(url("list") + "?sort=name&search=bot").content.decode()
        assert by_name.index("Bot 00") < by_name.index("Bot 01") < by_name.index("Bot 49")
        assert 'href="?sort=name&amp;search=bot&amp;page=2"' in by_name  # the next page keeps the view
        # The form's "Any" choices come empty: not chosen. A made-up value is a 400 naming it.
        assert signed_in.get(url("list") + "?state=&scope=&sort=").status_code == 200
        bad = signed_in.get(url("list") + "?sort=colour")
        assert bad.status_code == 400 and "sort: " in bad.content.decode()
        assert "No key matches" in signed_in.get(url("list") + "?search=nothing-like-it").content.decode()

    def test_each_row_says_who_made_the_key(self, signed_in, owner, enterprise, make_key):
        maker, _ = make_key(enterprise, name="Maker")
        by_person, _ = make_key(enterprise, name="By a person")
        by_key, _ = make_key(enterprise, name="By a key")
        ApiKey.objects.filter(pk=by_person.pk).update(created_by_user=owner)
        ApiKey.objects.filter(pk=by_key.pk).update(created_by_key=maker)
        page = signed_in.get(url("list")).content.decode()
        rows = {name: page[page.index(f">{name}<") :][:3000] for name in ("By a person", "By a key")}
        assert f" by {owner.email}</td>" in rows["By a person"]
        assert f" by key <code>{maker.prefix}</code></td>" in rows["By a key"]

    def test_what_users_named_is_shown_as_text_never_as_markup(self, signed_in, owner, enterprise, make_key):
        """Key, folder and user names reach the table, its filters and the edit modal escaped."""
        evil = '<img src=x onerror="alert(1)">'
        folder = FolderFactory(workspace=enterprise, name=f"F {evil}")
        key, _ = make_key(enterprise, name=f"K {evil}", scopes=["image:read"], folder_ids=[folder.pk])
        owner.email = f"x{evil}@example.com"
        owner.save()
        ApiKey.objects.filter(pk=key.pk).update(created_by_user=owner)
        for path in (url("list"), url("list") + f"?folder={folder.pk}", url("edit", key_id=key.key_id)):
            page = signed_in.get(path).content.decode()
            assert "<img" not in page, path
            assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page, path
        listing = signed_in.get(url("list") + f"?folder={folder.pk}").content.decode()
        assert f'<option value="{folder.pk}" selected>F &lt;img' in listing  # the filter's choice, escaped

    def test_each_time_shows_its_exact_moment_on_hover(self, signed_in, enterprise, make_key):
        key, _ = make_key(enterprise, name="Timed")
        made = datetime(2026, 3, 7, 9, 5, 4, 123456, tzinfo=UTC)
        ApiKey.objects.filter(pk=key.pk).update(created=made, last_used_at=made + timedelta(hours=30))
        page = signed_in.get(url("list")).content.decode()
        assert '<time datetime="2026-03-07T09:05:04.123456+00:00" title="7 Mar 2026, 09:05:04 UTC">' in page
        assert '<time datetime="2026-03-08T15:05:04.123456+00:00" title="8 Mar 2026, 15:05:04 UTC">' in page

    def test_disabled_keys_show_only_when_asked(self, signed_in, enterprise, make_key):
        make_key(enterprise, name="Sleeping", disabled=True)
        assert "Sleeping" not in signed_in.get(url("list")).content.decode()
        assert "Sleeping" in signed_in.get(url("list") + "?disabled=1").content.decode()

    def test_five_hundred_keys_render_in_as_many_queries_as_five(self, signed_in, enterprise, make_key):
        folder = FolderFactory(workspace=enterprise)

        def queries():
            with CaptureQueriesContext(connection) as captured:
                assert signed_in.get(url("list")).status_code == 200
            return len(captured)

        for n in range(5):
            make_key(enterprise, name=f"k{n}", scopes=["image:read"], folder_ids=[folder.pk])
        few = queries()
        keys = [
            ApiKey(
                workspace=enterprise, key_id=f"bulk{n:08d}", digest="0" * 64, name=f"bulk {n}", scopes=["image:read"]
            )
            for n in range(495)
        ]
        ApiKey.objects.bulk_create(keys)
        assert queries() == few


class TestGenerate:
    def test_the_modal_comes_alone_for_the_pages_script(self, signed_in):
        response = signed_in.get(url("generate"), HTTP_X_FRAGMENT="1")
        body = response.content.decode()
        assert response.status_code == 200
        assert body.lstrip().startswith("<form") and "<html" not in body
        assert "Generate New Key" in body and "role:uploader" in body

    def test_a_scoped_folder_limited_key_is_created_and_its_secret_shown_once(self, signed_in, enterprise):
        folder = FolderFactory(workspace=enterprise, name="Retail")
        response = generate(
            signed_in,
            access="scoped",
            scopes=["role:uploader", "image:tag"],
            folder_limit="some",
            folders=[folder.pk],
            expires_at=(timezone.now() + timedelta(days=30)).date().isoformat(),
        )
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        secret = secret_of(response)
        key = ApiKey.objects.get(name="CI uploader")
        assert key.scopes == ["workspace:read", "project:read", "image:create", "image:read", "image:tag"]
        assert key.folder_limit() == [folder.pk] and key.expires_at is not None
        assert key.created_by_user is not None
        assert AuditEvent.objects.filter(api_key=key, action=AuditAction.CREATE).exists()
        assert api(signed_in, secret).status_code == 200
        # The secret is in that one answer only: not in the list, not in any URL.
        assert secret not in signed_in.get(url("list")).content.decode()
        assert secret not in response.get("Location", "")

    def test_sending_the_same_form_again_creates_nothing(self, signed_in):
        token = token_of(signed_in.get(url("generate")))
        data = {"name": "Once", "access": "full", "folder_limit": "all", "no_expiry": "on", "form_token": token}
        assert signed_in.post(url("generate"), data).status_code == 200
        again = signed_in.post(url("generate"), data, follow=True)
        assert ALREADY_SUBMITTED.split(";")[0] in again.content.decode()
        assert ApiKey.objects.filter(name="Once").count() == 1

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"allowed_ips": "10.0.0.0/8\nnot-an-address"}, "not an IP address"),
            ({"access": "scoped", "scopes": ["image:fly"]}, "Select a valid choice"),
            ({"expires_at": "2001-01-01"}, "in the future"),
            ({"expires_at": "2999-01-01"}, "10 years"),
            ({"name": ""}, "required"),
            ({"name": "x" * 101}, "100 characters"),
            ({"name": "a\x1b[2Jb"}, "control characters"),
            # "Only these folders" with none ticked: never saved as every folder.
            ({"folder_limit": "some"}, "Pick at least one folder"),
        ],
    )
    def test_bad_values_reopen_the_modal_with_the_error_and_what_was_typed(self, signed_in, fields, message):
        before = ApiKey.objects.count(), AuditEvent.objects.count()
        response = generate(signed_in, **{"name": "Typed name", **fields})
        body = response.content.decode()
        assert response.status_code == 400
        assert message in body
        assert "data-open" in body
        if "name" not in fields:
            assert 'value="Typed name"' in body
        assert (ApiKey.objects.count(), AuditEvent.objects.count()) == before

    def test_generate_starts_with_no_access_chosen_and_an_expiry_proposed(self, signed_in):
        body = signed_in.get(url("generate")).content.decode()
        assert not re.search(r'name="access" value="\w+" checked', body)
        proposed = (timezone.now() + timedelta(days=90)).date().isoformat()
        assert f'name="expires_at" value="{proposed}"' in body
        assert 'name="no_expiry"' in body and 'name="no_expiry" data-no-expiry checked' not in body

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"access": ""}, "Choose what the key may do"),
            ({"no_expiry": ""}, "Pick the day the key expires, or choose No expiry"),
            ({"expires_at": "2030-01-01", "no_expiry": "on"}, "not both"),
        ],
    )
    def test_generate_refuses_a_key_without_the_choices_it_needs(self, signed_in, fields, message):
        response = generate(signed_in, name="Undecided", **fields)
        assert response.status_code == 400 and message in response.content.decode()
        assert not ApiKey.objects.filter(name="Undecided").exists()

    @pytest.mark.parametrize(
        ("scopes", "sdk", "cli"),
        [
            (["role:uploader"], True, "roboflow project list"),
            (["image:create"], False, None),
            (["role:key-admin"], False, "roboflow api-key list"),
        ],
    )
    def test_the_new_keys_snippets_are_calls_it_may_make(self, signed_in, scopes, sdk, cli):
        response = generate(signed_in, name="Snippets", access="scoped", scopes=scopes)
        body = response.content.decode()
        secret = secret_of(response)
        curl = re.search(
            r'<code id="snippet-curl">curl -H "Authorization: Bearer [^"]+" http://testserver(/[^<]*)</code>', body
        )
        assert curl is not None
        assert api(signed_in, secret, curl[1]).status_code == 200  # the call shown works with this key
        assert ('id="snippet-python"' in body) is sdk and ("data-no-sdk" in body) is not sdk
        assert (cli is None) is ('id="snippet-cli"' not in body)
        if cli:
            assert cli in body

    def test_every_bad_value_is_reported_at_once_in_a_summary_and_at_its_field(self, signed_in, enterprise):
        FolderFactory(workspace=enterprise, name="Retail")
        response = generate(
            signed_in, name="Many faults", access="", folder_limit="some", allowed_ips="10.0.0.0/8\nnope\n300.1.1.1"
        )
        body = response.content.decode()
        assert response.status_code == 400
        summary = body[body.index("data-error-summary") : body.index("</ul>", body.index("data-error-summary"))]
        assert "Fix these 3" in summary
        assert 'href="#access-error"' in summary and 'href="#folders-error"' in summary
        assert "&#x27;nope&#x27;, &#x27;300.1.1.1&#x27; are not IP addresses" in summary
        for field in ("access", "folders", "allowed_ips"):
            assert f'id="{field}-error"' in body and f'aria-describedby="{field}-error"' in body
        assert body.count('aria-invalid="true"') >= 4  # both access radios, the folders, the allowlist
        assert not ApiKey.objects.filter(name="Many faults").exists()

    def test_no_expiry_is_a_choice_that_makes_a_key_that_never_expires(self, signed_in):
        assert generate(signed_in, name="Forever").status_code == 200  # the helper chooses No expiry
        assert ApiKey.objects.get(name="Forever").expires_at is None

    def test_a_free_workspace_gets_the_apis_refusal_for_a_second_key(self, client, owner, free, make_key):
        make_key(free, name="The key")
        client.force_login(owner)
        page = client.get(url("list", "hobby")).content.decode()
        assert "Enterprise feature" in page and url("generate", "hobby") not in page
        response = generate(client, "hobby", name="Second")
        assert response.status_code == 403
        assert "single API key" in response.content.decode()
        assert ApiKey.objects.filter(workspace=free).count() == 1


class TestEdit:
    def test_the_modal_is_filled_with_the_key(self, signed_in, enterprise, make_key):
        key, _ = make_key(enterprise, name="Reader", scopes=["image:read"], allowed_ips=["10.0.0.0/8"])
        body = signed_in.get(url("edit", key_id=key.key_id), HTTP_X_FRAGMENT="1").content.decode()
        assert 'value="Reader"' in body and "10.0.0.0/8" in body
        assert re.search(r'value="image:read"[^>]*checked', body)
        assert not re.search(r'value="image:create"[^>]*checked', body)

    def test_removing_a_scope_applies_on_the_next_request(self, signed_in, enterprise, make_key):
        key, secret = make_key(enterprise, name="Uploader", scopes=["workspace:read", "image:read"])
        assert api(signed_in, secret).status_code == 200
        response = signed_in.post(
            url("edit", key_id=key.key_id),
            {"name": "Uploader", "access": "scoped", "scopes": ["image:read"], "folder_limit": "all"},
        )
        assert response.status_code == 302 and response.url == url("list")
        refused = api(signed_in, secret)
        assert refused.status_code == 403 and "workspace:read" in refused.json()["error"]["message"]
        event = AuditEvent.objects.get(api_key=key, action=AuditAction.UPDATE)
        assert event.before == {"scopes": ["workspace:read", "image:read"]} and event.after == {
            "scopes": ["image:read"]
        }

    def test_an_edit_changes_only_what_was_changed(self, signed_in, enterprise, make_key):
        expiry = timezone.now() + timedelta(days=40, hours=5)
        key, _ = make_key(enterprise, name="Old name", expires_at=expiry, custom_metadata={"team": "ml"})
        form = {"name": "New name", "access": "full", "folder_limit": "all", "expires_at": expiry.date().isoformat()}
        assert signed_in.post(url("edit", key_id=key.key_id), form).status_code == 302
        key.refresh_from_db()
        assert key.name == "New name" and key.expires_at == expiry and key.custom_metadata == {"team": "ml"}

    def test_a_free_workspace_renames_its_key_as_a_browser_sends_the_form(self, client, owner, free, make_key):
        """The page disables the Enterprise fields, and a browser sends nothing for them: they
        keep their values (it was a 400: no access chosen)."""
        key, _ = make_key(free, name="The key")
        client.force_login(owner)
        edit = url("edit", "hobby", key_id=key.key_id)
        token = token_of(client.get(edit))
        assert client.post(edit, {"name": "Renamed", "form_token": token}).status_code == 302
        key.refresh_from_db()
        assert key.name == "Renamed" and key.scopes is None and not key.folders_limited

    def test_a_tampered_post_on_a_free_plan_gets_the_plan_refusal(self, client, owner, free, make_key):
        key, _ = make_key(free, name="The key")
        client.force_login(owner)
        form = {"name": "The key", "access": "scoped", "scopes": ["image:read"], "folder_limit": "all"}
        response = client.post(url("edit", "hobby", key_id=key.key_id), form)
        assert response.status_code == 403
        assert "Enterprise features" in response.content.decode()
        assert ApiKey.objects.get(pk=key.pk).scopes is None


class TestActions:
    def test_roll_shows_the_new_secret_and_the_old_one_dies(self, signed_in, enterprise, make_key):
        key, old = make_key(enterprise, name="Rolling")
        page = signed_in.get(url("roll", key_id=key.key_id))
        assert "Code using the current secret stops working" in page.content.decode()
        response = signed_in.post(url("roll", key_id=key.key_id), {"grace": "0", "form_token": token_of(page)})
        assert response.status_code == 200 and response["Cache-Control"] == "no-store"
        new = secret_of(response)
        assert api(signed_in, old).status_code == 401
        assert api(signed_in, new).status_code == 200

    def test_roll_with_a_grace_period_keeps_the_old_secret_for_a_while(self, signed_in, enterprise, make_key):
        key, old = make_key(enterprise, name="Rolling")
        token = token_of(signed_in.get(url("roll", key_id=key.key_id)))
        response = signed_in.post(url("roll", key_id=key.key_id), {"grace": "3600", "form_token": token})
        assert "keeps working until" in response.content.decode()
        assert api(signed_in, old).status_code == 200

    @pytest.mark.parametrize(
        ("action", "check", "audit"),
        [
            ("disable", lambda k: k.disabled, AuditAction.DISABLE),
            ("protect", lambda k: k.protected, AuditAction.PROTECT),
            ("revoke", lambda k: k.revoked_at is not None, AuditAction.REVOKE),
        ],
    )
    def test_each_action_asks_first_then_acts_and_is_audited(
        self, signed_in, enterprise, make_key, action, check, audit
    ):
        key, _ = make_key(enterprise, name="Target", default=True)
        confirm = signed_in.get(url(action, key_id=key.key_id)).content.decode()
        assert "default key" in confirm and "Never used" in confirm
        response = signed_in.post(url(action, key_id=key.key_id))
        assert response.status_code == 302
        assert check(ApiKey.objects.get(pk=key.pk))
        event = AuditEvent.objects.get(api_key=key, action=audit)
        assert event.actor_user is not None

    def test_enable_and_unprotect_undo(self, signed_in, enterprise, make_key):
        key, _ = make_key(enterprise, name="Target", disabled=True, protected=True)
        signed_in.post(url("enable", key_id=key.key_id))
        signed_in.post(url("unprotect", key_id=key.key_id))
        key.refresh_from_db()
        assert not key.disabled and not key.protected

    @pytest.mark.parametrize("action", ["roll", "disable", "revoke"])
    def test_a_protected_key_offers_unprotect_instead_and_a_post_changes_nothing(
        self, signed_in, enterprise, make_key, action
    ):
        key, _ = make_key(enterprise, name="Shielded", protected=True)
        confirm = signed_in.get(url(action, key_id=key.key_id)).content.decode()
        assert PROTECTED_REASON in confirm and url("unprotect", key_id=key.key_id) in confirm
        assert 'type="submit"' not in confirm.split('id="modal"')[1]
        response = signed_in.post(
            url(action, key_id=key.key_id), {"form_token": token_of(signed_in.get(url(action, key_id=key.key_id)))}
        )
        assert response.status_code == 409 and PROTECTED_REASON in response.content.decode()
        key.refresh_from_db()
        assert key.revoked_at is None and key.rolled_at is None and not key.disabled

    def test_a_protected_keys_row_shows_its_actions_disabled_with_the_reason(self, signed_in, enterprise, make_key):
        key, _ = make_key(enterprise, name="Shielded", protected=True)
        body = signed_in.get(url("list")).content.decode()
        row = body[body.index(f'id="key-{key.key_id}"') :].split("</tr>")[0]
        for action in ("Roll", "Disable", "Revoke"):
            assert re.search(rf'<button type="button" class="link-button" disabled[^>]*>{action}</button>', row)
            assert url(action.lower(), key_id=key.key_id) not in row
        assert url("unprotect", key_id=key.key_id) in row and PROTECTED_REASON in row


class TestActivity:
    def test_the_log_says_who_did_what_with_before_and_after(self, signed_in, enterprise, make_key, owner):
        key, _ = make_key(enterprise, name="Logged", scopes=["image:read"])
        signed_in.post(
            url("edit", key_id=key.key_id),
            {"name": "Logged", "access": "scoped", "scopes": ["image:read", "image:tag"], "folder_limit": "all"},
        )
        page = signed_in.get(url("activity")).content.decode()
        assert owner.email in page and "Updated" in page and "Logged" in page
        assert "<del>image:read</del>" in page and "<ins>image:read, image:tag</ins>" in page

    def test_the_log_is_paginated(self, signed_in, enterprise, make_key):
        for n in range(30):
            make_key(enterprise, name=f"k{n}")
        first = signed_in.get(url("activity")).content.decode()
        assert "Page 1 of 2" in first and "?page=2" in first
        assert signed_in.get(url("activity") + "?page=2").status_code == 200


def test_a_key_row_escapes_every_value_it_shows():
    """The key table's row tag writes HTML itself: every value goes through escaping, in text
    and in attributes alike."""
    from datetime import UTC, datetime

    from apikeys import usage
    from apikeys.templatetags.keytags import key_row

    hostile = "<script>alert(1)</script>\"'&"
    when = datetime(2026, 12, 1, 12, tzinfo=UTC)
    row = {
        "key": {
            "name": hostile, "key_id": "abc123def456", "prefix": "sak_abc123def456", "disabled": False,
            "protected": True, "created": when, "last_used_at": when, "last_used_ip": "10.0.0.1",
        },
        "url": "/app/acme/settings/api-keys/abc123def456",
        "badges": [(hostile, "new")],
        "access": f"Scoped: folders {hostile}",
        "listed": [("Description", hostile)],
        "by_user": hostile,
        "by_key": None,
        "grace_until": when,
        "usage": usage.empty(when),
    }  # fmt: skip
    html = key_row(row, enterprise=True, reason=hostile)
    assert "<script>" not in html and "'&" not in html and "\"'" not in html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;"
    assert html.count(escaped) == 12  # the name 4 times, badge, access, listed, creator, the reason 4 times
    assert f'aria-label="Edit {escaped}"' in html
