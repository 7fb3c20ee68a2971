import json

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from tests.keys import update_key
from web.demo import DEMO_PASSWORD
from workspaces.models import Folder, Image, Membership, Model, Project, Version, Workspace

pytestmark = pytest.mark.django_db

MODELS = [get_user_model(), Workspace, Membership, Folder, Project, Image, Version, Model]
LIVE_KEYS = "live keys"


def row_counts():
    from apikeys.models import ApiKey

    return {model.__name__: model.objects.count() for model in MODELS} | {LIVE_KEYS: ApiKey.objects.live().count()}


def run_seed(*args):
    from io import StringIO

    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_seed_demo_creates_the_demo_and_is_idempotent():
    run_seed()
    first = row_counts()
    first_images = sorted(Image.objects.values_list("sha256", "file"))
    run_seed()
    assert row_counts() == first
    assert sorted(Image.objects.values_list("sha256", "file")) == first_images
    assert Workspace.objects.get(url="acme").plan == "enterprise"
    assert Workspace.objects.get(url="hobby").plan == "free"
    assert first["Project"] >= 3 and first["Image"] >= 6 and first["Version"] >= 1 and first["Model"] >= 1


def test_seed_demo_images_are_real_files_with_their_dimensions():
    run_seed()
    from PIL import Image as PILImage

    for image in Image.objects.all():
        with image.file.open("rb") as f, PILImage.open(f) as picture:
            assert picture.size == (image.width, image.height)


def test_seed_demo_json_lists_users_with_working_passwords():
    data = json.loads(run_seed("--json"))
    assert {w["url"]: w["plan"] for w in data["workspaces"]} == {"acme": "enterprise", "hobby": "free"}
    roles = {(u["email"], u["workspace"]): u["role"] for u in data["users"]}
    assert roles[("owner@example.com", "acme")] == "owner"
    assert roles[("admin@example.com", "acme")] == "admin"
    assert roles[("member@example.com", "acme")] == "member"
    for user in data["users"]:
        assert user["password"] == DEMO_PASSWORD
        assert authenticate(username=user["email"], password=user["password"]) is not None


def test_seed_demo_prints_a_working_key_per_workspace_keeps_it_and_rolls_it_only_when_asked(client):
    first = {w["url"]: w["apiKey"] for w in json.loads(run_seed("--json"))["workspaces"]}
    for url, secret in first.items():
        response = client.post("/", HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code == 200
        assert response.json()["workspace"] == url
    # Running the demo again keeps the keys a user may have exported.
    again = {w["url"]: w for w in json.loads(run_seed("--json"))["workspaces"]}
    for url, secret in first.items():
        assert again[url]["apiKey"] is None and secret.startswith(again[url]["apiKeyPrefix"] + "_")
        assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    # --new-keys rolls them: a new secret each, and the old one dies.
    second = {w["url"]: w["apiKey"] for w in json.loads(run_seed("--new-keys", "--json"))["workspaces"]}
    for url in first:
        assert second[url] != first[url]
        assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {first[url]}").status_code == 401
        assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {second[url]}").status_code == 200


def test_seed_demo_makes_an_operator_who_can_open_the_admin(client):
    data = json.loads(run_seed("--json"))
    [operator] = data["operators"]
    assert client.login(username=operator["email"], password=operator["password"])
    assert client.get("/admin/apikeys/apikey/").status_code == 200


def test_seed_demo_repairs_a_restricted_default_key(client):
    from apikeys.models import ApiKey
    from workspaces.actors import Actor

    run_seed()
    key = ApiKey.objects.live().get(workspace__url="acme", is_default=True)
    update_key(key=key, actor=Actor(), scopes=[], protected=True, allowed_ips=["10.0.0.0/8"])
    secret = next(w["apiKey"] for w in json.loads(run_seed("--json"))["workspaces"] if w["url"] == "acme")
    fresh = ApiKey.objects.live().get(workspace__url="acme", is_default=True)
    assert fresh.scopes is None and not fresh.allowed_ips and not fresh.protected
    assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200


def test_seed_demo_text_output_names_logins_and_keys():
    from apikeys.models import ApiKey

    out = run_seed()
    assert f"owner@example.com / {DEMO_PASSWORD}" in out
    for key in ApiKey.objects.live().filter(is_default=True):
        assert f"full-access API key: {key.prefix}_" in out
    assert "operator@example.com" in out
    kept = run_seed()
    for key in ApiKey.objects.live().filter(is_default=True):
        assert f"full-access API key {key.prefix}_... kept as it was" in kept
