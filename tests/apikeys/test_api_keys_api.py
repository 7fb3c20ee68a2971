"""The key-management endpoints of SPEC §5, as a client drives them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKey, AuditEvent, KeyState
from tests.factories import FolderFactory
from tests.keys import roll_key

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, client, secret, ws="acme"):
        self.client, self.secret, self.ws = client, secret, ws

    def _call(self, method, path, body=None, **extra):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {self.secret}", **extra}
        if body is not None:
            kwargs.update(data=body, content_type="application/json")
        elif method == "post":  # no body at all, as the CLI sends a bare roll
            return self.client.generic("POST", f"/{self.ws}/api-keys{path}", **kwargs)
        return getattr(self.client, method)(f"/{self.ws}/api-keys{path}", **kwargs)

    def get(self, path="", **kw):
        return self._call("get", path, **kw)

    def post(self, path="", body=None, **kw):
        return self._call("post", path, body, **kw)

    def patch(self, path, body, **kw):
        return self._call("patch", path, body, **kw)

    def delete(self, path, **kw):
        return self._call("delete", path, **kw)


@pytest.fixture
def admin_key(enterprise, make_key):
    return make_key(enterprise, name="Admin")


@pytest.fixture
def api(client, admin_key):
    return Api(client, admin_key[1])


def err(response):
    return response.json()["error"]


def counts():
    return ApiKey.objects.count(), AuditEvent.objects.count()


class TestList:
    def test_search_filters_sort_and_pages_with_a_cursor(self, api, enterprise, make_key):
        from datetime import timedelta

        from django.utils import timezone

        for i in range(7):
            make_key(enterprise, name=f"Uploader {i}", scopes=["image:create"])
        make_key(enterprise, name="Reader", scopes=["image:read"], expires_at=timezone.now() + timedelta(days=5))
        names = lambda body: [k["name"] for k in body["apiKeys"]]  # noqa: E731
        everything = api.get().json()
        assert "nextCursor" not in everything and len(everything["apiKeys"]) == 9  # as the official client reads it
        assert names(api.get(QUERY_STRING="search=reader").json()) == ["Reader"]
        assert names(api.get(QUERY_STRING="expiresWithin=30").json()) == ["Reader"]
        holders = names(api.get(QUERY_STRING="scope=image:read").json())
        assert sorted(holders) == ["Admin", "Reader"]  # full access holds every scope
        first = api.get(QUERY_STRING="search=uploader&sort=name&limit=3").json()
        assert names(first) == ["Uploader 0", "Uploader 1", "Uploader 2"] and first["nextCursor"]
        seen = names(first)
        cursor = first["nextCursor"]
        while cursor:
            page = api.get(QUERY_STRING=f"search=uploader&sort=name&limit=3&cursor={cursor}").json()
            seen += names(page)
            cursor = page["nextCursor"]
        assert seen == [f"Uploader {i}" for i in range(7)]
        # A cursor works only for the view it was made for, and a made-up one is refused.
        moved = api.get(QUERY_STRING=f"search=reader&limit=3&cursor={first['nextCursor']}")
        assert moved.status_code == 400 and "cursor" in moved.json()["error"]["fields"]
        assert api.get(QUERY_STRING="limit=3&cursor=made-up").status_code == 400
        alone = api.get(QUERY_STRING=f"search=uploader&sort=name&cursor={first['nextCursor']}")  # no limit
        assert alone.status_code == 400 and "limit" in alone.json()["error"]["fields"]["cursor"][0]
        for bad in ("sort=colour", "state=gone", "limit=0", "limit=501", "scope=image:fly", "expiresWithin=x"):
            response = api.get(QUERY_STRING=bad)
            assert response.status_code == 400, bad
            assert bad.split("=")[0] in response.json()["error"]["fields"]

    def test_lists_live_keys_and_the_publishable_key(self, api, enterprise, make_key):
        make_key(enterprise, name="Off", disabled=True)
        rolled, _ = make_key(enterprise, name="Rolled")
        from workspaces.actors import Actor

        roll_key(key=rolled, actor=Actor())
        body = api.get().json()
        assert body["publishableKey"] == enterprise.publishable_key
        names = sorted(k["name"] for k in body["apiKeys"])
        assert names == ["Admin", "Rolled"]  # the replacement, not the rolled key; no disabled key
        with_disabled = api.get(QUERY_STRING="includeDisabled=true").json()
        assert "Off" in [k["name"] for k in with_disabled["apiKeys"]]

    def test_key_objects_carry_the_fields_the_client_reads_and_no_secret(self, api, admin_key):
        key, secret = admin_key
        item = api.get().json()["apiKeys"][0]
        for field in [
            "keyId",
            "name",
            "prefix",
            "scopes",
            "folderIds",
            "default",
            "protected",
            "disabled",
            "created_on",
            "created_by",
            "customMetadata",
            "rotationDueAt",
            "owners",
        ]:
            assert field in item
        assert item["keyId"] == key.key_id and item["prefix"] == f"sak_{key.key_id}"
        assert secret not in str(api.get().content) and key.digest not in str(api.get().content)

    def test_include_folders_adds_folder_names(self, api, enterprise, make_key):
        folder = FolderFactory(workspace=enterprise, name="Retail")
        make_key(enterprise, name="Shelf", folder_ids=[folder.pk])
        items = {k["name"]: k for k in api.get(QUERY_STRING="includeFolders=true").json()["apiKeys"]}
        assert items["Shelf"]["folderIds"] == [str(folder.pk)]
        assert items["Shelf"]["folders"] == [{"id": str(folder.pk), "name": "Retail"}]
        assert "folders" not in api.get().json()["apiKeys"][0]

    def test_a_bad_flag_is_a_400_naming_it(self, api):
        response = api.get(QUERY_STRING="includeDisabled=maybe")
        assert response.status_code == 400
        assert "includeDisabled" in err(response)["message"]

    def test_reading_keys_needs_api_key_read(self, client, enterprise, make_key):
        _, secret = make_key(enterprise, name="weak", scopes=["workspace:read"])
        response = Api(client, secret).get()
        assert response.status_code == 403
        assert err(response)["scope"] == "api-key:read"
        assert Api(client, secret).get("/publishable").json() == {"publishableKey": enterprise.publishable_key}

    def test_a_folder_limited_caller_sees_only_keys_within_its_folders(self, client, enterprise, make_key):
        mine, other = FolderFactory(workspace=enterprise), FolderFactory(workspace=enterprise)
        _, secret = make_key(enterprise, name="limited", folder_ids=[mine.pk])
        inside, _ = make_key(enterprise, name="inside", folder_ids=[mine.pk])
        outside, _ = make_key(enterprise, name="outside", folder_ids=[other.pk])
        limited = Api(client, secret)
        assert sorted(k["name"] for k in limited.get().json()["apiKeys"]) == ["inside", "limited"]
        assert limited.get(f"/{outside.key_id}").status_code == 404
        assert limited.get(f"/{inside.key_id}").status_code == 200


class TestGet:
    def test_get_one_key(self, api, admin_key):
        key, _ = admin_key
        body = api.get(f"/{key.key_id}").json()
        assert body["apiKey"]["keyId"] == key.key_id
        assert body["apiKey"]["state"] == "active"

    def test_unknown_revoked_and_foreign_keys_are_404(self, api, free, make_key, enterprise):
        foreign, _ = make_key(free)
        gone, _ = make_key(enterprise, name="gone")
        from apikeys.services import api_key_revoke
        from workspaces.actors import Actor

        api_key_revoke(key=gone, actor=Actor())
        for key_id in ["nosuchkey123", foreign.key_id, gone.key_id]:
            response = api.get(f"/{key_id}")
            assert response.status_code == 404
            assert err(response)["type"] == "not_found"


class TestCreate:
    def test_create_returns_the_secret_once_and_it_works(self, api, client):
        response = api.post(body={"name": "CI uploader", "scopes": ["role:uploader"], "customMetadata": {"team": "ml"}})
        assert response.status_code == 201
        body = response.json()
        assert set(body) >= {"keyId", "key", "name", "scopes", "folderIds", "protected", "publishableKey"}
        assert body["scopes"] == ["workspace:read", "project:read", "image:create", "image:read"]
        assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {body['key']}").status_code == 200
        assert body["key"] not in str(api.get(f"/{body['keyId']}").content)

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({}, None),  # omitted: copies the caller (full access)
            ({"scopes": None}, None),
            ({"scopes": []}, []),
            ({"scopes": ["image"]}, ["image:create", "image:read", "image:tag", "image:annotate", "image:delete"]),
        ],
    )
    def test_scopes_omitted_null_empty_or_listed(self, api, body, expected):
        response = api.post(body={"name": "k", **body})
        assert response.status_code == 201, response.content
        assert response.json()["scopes"] == expected

    @pytest.mark.parametrize(
        ("body", "needle"),
        [
            ({"name": "k", "workspace": "hobby"}, "workspace"),
            ({"name": "k", "prefix": "sak_x"}, "prefix"),
            ({"name": "k", "created_by": 1}, "created_by"),
            ({"name": "k", "digest": "0" * 64}, "digest"),
            ({"name": "k", "colour": "red"}, "colour"),
            ({}, "name"),
            ({"name": 42}, "name"),
            ({"name": "x" * 101}, "name"),
            ({"name": "k", "scopes": "image:read"}, "scopes"),
            ({"name": "k", "scopes": ["image:fly"]}, "image:fly"),
            ({"name": "k", "protected": "yes"}, "protected"),
            ({"name": "k", "customMetadata": {f"k{i}": "v" for i in range(101)}}, "customMetadata"),
            ({"name": "k", "customMetadata": {"big": "x" * 1025}}, "customMetadata"),
            ({"name": "k", "customMetadata": ["not", "an", "object"]}, "customMetadata"),
            ({"name": "k", "rotationDueAt": "next tuesday"}, "rotationDueAt"),
            ({"name": "k", "rotationDueAt": "2001-01-01"}, "rotationDueAt"),
            ({"name": "k", "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
            ({"name": "k", "allowedIps": ["300.1.1.1"]}, "allowedIps"),
            ({"name": "k", "folderIds": ["abc"]}, "folderIds"),
            ({"name": "k", "folderIds": [999999]}, "folderIds"),
            ({"name": "k", "owners": ["999999"]}, "owners"),
        ],
    )
    def test_bad_bodies_are_400s_naming_the_problem_and_write_nothing(self, api, body, needle):
        before = counts()
        response = api.post(body=body)
        assert response.status_code == 400, response.content
        assert needle in err(response)["message"]
        assert err(response)["type"] == "validation_error"
        assert counts() == before

    def test_a_folder_of_another_workspace_is_refused(self, api):
        before = counts()
        response = api.post(body={"name": "k", "folderIds": [str(FolderFactory().pk)]})
        assert response.status_code == 400
        assert counts() == before

    def test_dates_may_be_plain_dates(self, api):
        year = timezone.now().year + 2
        response = api.post(body={"name": "k", "rotationDueAt": f"{year}-01-31", "expiresAt": f"{year}-02-01T10:00:00"})
        assert response.status_code == 201
        assert response.json()["apiKey"]["rotationDueAt"] == f"{year}-01-31T00:00:00Z"
        assert response.json()["apiKey"]["expiresAt"] == f"{year}-02-01T10:00:00Z"

    def test_a_key_cannot_create_a_wider_key(self, client, enterprise, make_key):
        _, secret = make_key(enterprise, name="limited", scopes=["api-key:create", "image:read"])
        before = counts()
        response = Api(client, secret).post(body={"name": "wider", "scopes": ["image:delete"]})
        assert response.status_code == 403
        assert err(response)["type"] == "privilege_exceeded"
        assert counts() == before
        response = Api(client, secret).post(body={"name": "full", "scopes": None})
        assert response.status_code == 403

    def test_free_workspaces_have_one_key_and_no_scopes(self, client, free, make_key):
        _, secret = make_key(free)
        api = Api(client, secret, ws="hobby")
        response = api.post(body={"name": "second"})
        assert response.status_code == 403
        assert err(response)["type"] == "plan_required"


class TestUpdate:
    def test_only_sent_fields_change(self, api, enterprise, make_key):
        key, _ = make_key(enterprise, name="k", scopes=["image:read"], custom_metadata={"a": "1"})
        response = api.patch(f"/{key.key_id}", {"name": "renamed"})
        assert response.status_code == 200
        body = response.json()["apiKey"]
        assert body["name"] == "renamed"
        assert body["scopes"] == ["image:read"] and body["customMetadata"] == {"a": "1"}

    def test_every_bad_address_of_an_allowlist_is_named_at_once(self, api, enterprise, make_key):
        key, _ = make_key(enterprise, name="k")
        response = api.patch(f"/{key.key_id}", {"allowedIps": ["10.0.0.0/8", "nope", "300.1.1.1"]})
        assert response.status_code == 400
        assert response.json()["error"]["fields"]["allowedIps"] == [
            "'nope', '300.1.1.1' are not IP addresses or CIDR blocks."
        ]
        key.refresh_from_db()
        assert key.allowed_ips == []

    def test_scopes_null_empty_and_list(self, api, enterprise, make_key):
        key, _ = make_key(enterprise, name="k", scopes=["image:read"])
        path = f"/{key.key_id}"
        assert api.patch(path, {"scopes": []}).json()["apiKey"]["scopes"] == []
        assert api.patch(path, {"scopes": ["role:labeler"]}).json()["apiKey"]["scopes"] == [
            "workspace:read",
            "project:read",
            "image:read",
            "image:tag",
            "image:annotate",
        ]
        assert api.patch(path, {"scopes": None}).json()["apiKey"]["scopes"] is None

    def test_clearing_metadata_and_rotation(self, api, enterprise, make_key):
        key, _ = make_key(
            enterprise, name="k", custom_metadata={"a": "1"}, rotation_due_at=timezone.now() + timedelta(days=9)
        )
        body = api.patch(f"/{key.key_id}", {"customMetadata": {}, "rotationDueAt": None}).json()["apiKey"]
        assert body["customMetadata"] == {} and body["rotationDueAt"] is None

    def test_protect_is_one_way_through_the_api(self, api, enterprise, make_key):
        key, _ = make_key(enterprise, name="k")
        assert api.patch(f"/{key.key_id}", {"protected": True}).json()["apiKey"]["protected"] is True
        response = api.patch(f"/{key.key_id}", {"protected": False})
        assert response.status_code == 403
        assert ApiKey.objects.get(pk=key.pk).protected
        response = api.patch(f"/{key.key_id}", {"disabled": True})
        assert response.status_code == 409
        assert err(response)["type"] == "conflict"

    def test_disable_and_enable(self, api, enterprise, make_key, client):
        key, secret = make_key(enterprise, name="k")
        api.patch(f"/{key.key_id}", {"disabled": True})
        assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
        api.patch(f"/{key.key_id}", {"disabled": False})
        assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200

    def test_bad_patches_write_nothing(self, api, enterprise, make_key):
        key, _ = make_key(enterprise, name="k")
        before = counts()
        for body in [{"keyId": "x"}, {"name": ""}, {"scopes": ["nope"]}, {"allowedIps": ["x"]}, {"disabled": 1}]:
            assert api.patch(f"/{key.key_id}", body).status_code == 400, body
        assert api.patch(f"/{key.key_id}", ["not", "an", "object"]).status_code == 400
        assert counts() == before
        assert ApiKey.objects.get(pk=key.pk).name == "k"


class TestRevoke:
    def test_revoke_answers_json_and_kills_the_key(self, api, enterprise, make_key, client):
        key, secret = make_key(enterprise, name="k")
        response = api.delete(f"/{key.key_id}")
        assert response.status_code == 200
        assert response.json() == {"status": "revoked", "keyId": key.key_id}
        assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
        assert api.delete(f"/{key.key_id}").status_code == 404

    def test_a_protected_key_is_a_409(self, api, enterprise, make_key):
        key, _ = make_key(enterprise, name="k", protected=True)
        response = api.delete(f"/{key.key_id}")
        assert response.status_code == 409
        assert ApiKey.objects.get(pk=key.pk).state() == KeyState.ACTIVE


class TestRoll:
    def test_roll_mints_a_replacement_and_kills_the_old_secret(self, api, enterprise, make_key, client):
        key, old_secret = make_key(enterprise, name="k", scopes=["image:read"])
        response = api.post(f"/{key.key_id}/roll")
        assert response.status_code == 200
        body = response.json()
        assert body["revokedKeyId"] == key.key_id
        assert body["keyId"] != key.key_id
        assert body["name"] == "k" and body["scopes"] == ["image:read"]
        assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {old_secret}").status_code == 401
        assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {body['key']}").status_code == 200
        assert api.post(f"/{key.key_id}/roll").status_code == 409

    def test_a_grace_period_keeps_the_old_secret_alive(self, api, enterprise, make_key, client):
        key, old_secret = make_key(enterprise, name="k")
        body = api.post(f"/{key.key_id}/roll", {"oldKeyExpiresIn": 3600}).json()
        assert body["oldKeyExpiresAt"] is not None
        assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {old_secret}").status_code == 200
        assert api.post(f"/{key.key_id}/roll", {"oldKeyExpiresIn": 8 * 24 * 3600}).status_code == 400

    def test_rolling_needs_create_and_revoke_and_the_targets_scopes(self, client, enterprise, make_key):
        target, _ = make_key(enterprise, name="target", scopes=["model:manage"])
        _, only_create = make_key(enterprise, name="c", scopes=["api-key:create"])
        _, both = make_key(enterprise, name="cr", scopes=["api-key:create", "api-key:revoke"])
        response = Api(client, only_create).post(f"/{target.key_id}/roll")
        assert response.status_code == 403 and err(response)["scope"] == "api-key:revoke"
        response = Api(client, both).post(f"/{target.key_id}/roll")
        assert response.status_code == 403 and err(response)["type"] == "privilege_exceeded"
        assert ApiKey.objects.get(pk=target.pk).rolled_at is None
