"""Odd and hostile input gets a clear 4xx, never a 500, and writes nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import FolderFactory, ProjectFactory
from web.demo import demo_png
from workspaces.models import Folder, Image, Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(enterprise, make_key):
    return make_key(enterprise, name="full")[1]


@pytest.fixture
def project(enterprise):
    return ProjectFactory(workspace=enterprise, slug="cats")


def send(client, method, path, body, key):
    return client.generic(method, path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.mark.parametrize("bad_id", ['"²"', '"' + "9" * 5000 + '"', '"-1"', "1.5", "true"])
def test_ids_that_are_not_plain_numbers_are_400s(client, key, project, bad_id):
    response = send(
        client,
        "POST",
        "/acme/projects",
        f'{{"name": "x", "type": "object-detection", "annotation": "x", "folderId": {bad_id}}}',
        key,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "validation_error"
    response = send(client, "DELETE", "/acme/cats/images", f'{{"images": [{bad_id}]}}', key)
    assert response.status_code == 400


def test_a_deeply_nested_body_is_a_parse_error_with_or_without_a_key(client, key, project):
    body = '{"a": ' + "[" * 100_000
    assert client.post("/acme/cats/search", body, content_type="application/json").status_code == 400
    response = send(client, "POST", "/acme/cats/search", body, key)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "parse_error"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/acme/cats/search", '{"name": "a\\u0000b"}'),
        ("PATCH", "/acme/cats", '{"classes": {"a\\u0000": 1}}'),
        ("POST", "/acme/cats/generate", '{"preprocessing": {"x": "\\u0000"}}'),
        ("POST", "/acme/api-keys", '{"name": "a\\u0000"}'),
    ],
)
def test_nul_characters_are_refused(client, key, project, method, path, body):
    response = send(client, method, path, body, key)
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]


def test_nul_in_a_path_is_a_404(client, key, project):
    assert client.get("/acme/ca%00ts", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 404
    assert client.get("/acme/api-keys/ab%00cd", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 404


@pytest.mark.parametrize(
    ("fields", "query"),
    [
        ({"name": "a\x00b"}, ""),
        ({}, "?batch=a%00b"),
        ({"metadata": '{"x": "\\u0000"}'}, ""),
        ({"metadata": '{"x": NaN}'}, ""),
        ({"metadata": '{"x": ' + "[" * 50_000}, ""),
    ],
)
def test_uploads_with_unstorable_fields_are_400s_and_keep_nothing(client, key, project, fields, query, settings):
    upload = SimpleUploadedFile("a.png", demo_png("a"), content_type="image/png")
    response = client.post(
        f"/dataset/cats/upload{query}", {"file": upload, **fields}, HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 400
    assert not Image.objects.exists()
    assert not (settings.MEDIA_ROOT / "images").exists()


def test_a_blank_upload_name_falls_back_to_the_file_name(client, key, project):
    upload = SimpleUploadedFile("kitten.png", demo_png("k"), content_type="image/png")
    response = client.post("/dataset/cats/upload", {"file": upload, "name": "   "}, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert Image.objects.get().name == "kitten.png"


def test_search_offsets_are_bounded(client, key, project):
    assert send(client, "POST", "/acme/cats/search", f'{{"offset": {2**63}}}', key).status_code == 400


def test_project_names_with_underscores_get_a_valid_url(client, key):
    response = send(
        client, "POST", "/acme/projects", '{"name": "my_project", "type": "object-detection", "annotation": "x"}', key
    )
    assert response.status_code == 201
    assert response.json()["id"] == "acme/my-project"
    assert Project.objects.filter(slug="my-project").exists()


def test_a_folder_limited_key_cannot_rename_folders_or_probe_their_names(client, enterprise, make_key):
    mine = FolderFactory(workspace=enterprise, name="Mine")
    FolderFactory(workspace=enterprise, name="Secret")
    _, limited = make_key(enterprise, name="limited", folder_ids=[mine.pk])
    for name in ["Secret", "Nope"]:
        response = send(client, "PATCH", f"/acme/groups/{mine.pk}", f'{{"name": "{name}"}}', limited)
        assert response.status_code == 403
    assert Folder.objects.get(pk=mine.pk).name == "Mine"
