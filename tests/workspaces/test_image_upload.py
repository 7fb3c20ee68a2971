"""`POST /dataset/<project>/upload`, as the official SDK sends it, through Django's test client:
multipart `file`, `name`, `split` and `metadata` (a JSON string); query `api_key`, `batch` and
repeated `tag`. Every refusal uses the error envelope and leaves no row and no file behind."""

import hashlib
import io
import json
import random
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from core.exceptions import PayloadTooLarge
from tests.factories import FolderFactory, ProjectFactory
from web.demo import demo_png
from workspaces.models import Image
from workspaces.services import NOT_AN_IMAGE

pytestmark = pytest.mark.django_db


def upload_url(slug, **query):
    return f"/dataset/{slug}/upload?{urlencode(query, doseq=True)}"


def png_file(data, name="photo.png"):
    return SimpleUploadedFile(name, data, content_type="image/png")


def noisy_png(size):
    """A PNG that does not compress: about 3 bytes a pixel."""
    width, height = size
    pixels = random.Random(f"{width}x{height}").randbytes(width * height * 3)
    buffer = io.BytesIO()
    PILImage.frombytes("RGB", size, pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def stored_files(settings):
    root = settings.MEDIA_ROOT
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def error_of(response, status, type_):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"message", "type", "hint"} <= set(error)
    assert error["type"] == type_
    assert error["message"]
    return error


@pytest.fixture
def project(enterprise):
    return ProjectFactory(workspace=enterprise, slug="shelf-audit")


@pytest.fixture
def secret(enterprise, make_key):
    return make_key(enterprise, name="Uploader", scopes=["role:uploader"])[1]


def test_an_upload_is_stored_with_its_real_size_and_the_sent_tags_batch_split_and_metadata(
    client, project, secret, settings
):
    data = demo_png("shelf", size=(97, 61))
    response = client.post(
        upload_url(project.slug, api_key=secret, batch="Store 12", tag=["night", "aisle-4"]),
        {
            "file": png_file(data, "upload-name.png"),
            "name": "aisle-4.png",
            "split": "valid",
            "metadata": json.dumps({"camera": "c-7", "shift": 2}),
        },
    )

    assert response.status_code == 200, response.content
    image = Image.objects.get()
    assert response.json() == {"success": True, "id": str(image.pk)}
    assert image.project_id == project.pk
    assert image.name == "aisle-4.png"
    assert (image.width, image.height) == (97, 61)
    assert image.tags == ["night", "aisle-4"]
    assert image.batch == "Store 12"
    assert image.split == "valid"
    assert image.metadata == {"camera": "c-7", "shift": 2}
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    with image.file.open("rb") as stored:
        assert stored.read() == data
    assert stored_files(settings) == [settings.MEDIA_ROOT / image.file.name]


def test_without_optional_fields_the_file_name_and_the_train_split_are_used(client, project, secret):
    response = client.post(upload_url(project.slug, api_key=secret), {"file": png_file(demo_png("bare"), "bare.png")})

    assert response.status_code == 200, response.content
    image = Image.objects.get()
    assert (image.name, image.split, image.tags, image.batch, image.metadata) == ("bare.png", "train", [], "", {})


def test_the_key_may_be_sent_as_a_bearer_header(client, project, secret):
    response = client.post(
        upload_url(project.slug, tag="bearer"),
        {"file": png_file(demo_png("bearer"))},
        headers={"Authorization": f"Bearer {secret}"},
    )

    assert response.status_code == 200, response.content
    assert response.json()["success"] is True
    assert Image.objects.get().tags == ["bearer"]


def test_the_same_bytes_again_report_a_duplicate_of_the_first_image_and_store_nothing_new(
    client, project, secret, settings
):
    data = demo_png("twice")
    first = client.post(upload_url(project.slug, api_key=secret, tag="first"), {"file": png_file(data, "a.png")})
    assert first.status_code == 200, first.content
    files_before = stored_files(settings)

    again = client.post(
        upload_url(project.slug, api_key=secret, tag="second"), {"file": png_file(data, "b.png"), "split": "test"}
    )

    assert again.status_code == 200, again.content
    assert again.json() == {"duplicate": True, "id": first.json()["id"]}
    image = Image.objects.get()
    assert (image.name, image.tags, image.split) == ("a.png", ["first"], "train")
    assert stored_files(settings) == files_before


def test_the_same_bytes_in_another_project_are_a_new_image(client, enterprise, project, secret):
    other = ProjectFactory(workspace=enterprise, slug="weld-seams")
    data = demo_png("shared")
    for slug in (project.slug, other.slug):
        response = client.post(upload_url(slug, api_key=secret), {"file": png_file(data)})
        assert response.json()["success"] is True
    assert sorted(Image.objects.values_list("project__slug", flat=True)) == ["shelf-audit", "weld-seams"]


@pytest.mark.parametrize(
    "data",
    [b"plain text, not pixels", b"", demo_png("cut")[:40]],
    ids=["text", "empty", "truncated-png"],
)
def test_a_file_that_is_not_an_image_is_a_validation_error_and_nothing_is_stored(
    client, project, secret, settings, data
):
    response = client.post(upload_url(project.slug, api_key=secret), {"file": png_file(data, "fake.png")})

    error = error_of(response, 400, "validation_error")
    assert NOT_AN_IMAGE in error["message"]
    assert not Image.objects.exists()
    assert stored_files(settings) == []


def test_a_request_without_a_file_is_a_validation_error_naming_the_field(client, project, secret, settings):
    response = client.post(upload_url(project.slug, api_key=secret), {"name": "nothing.png", "split": "train"})

    error = error_of(response, 400, "validation_error")
    assert "file" in error["fields"]
    assert not Image.objects.exists()
    assert stored_files(settings) == []


def test_a_split_other_than_train_valid_or_test_is_a_validation_error(client, project, secret, settings):
    response = client.post(
        upload_url(project.slug, api_key=secret), {"file": png_file(demo_png("split")), "split": "holdout"}
    )

    error = error_of(response, 400, "validation_error")
    assert "split" in error["fields"]
    assert not Image.objects.exists()
    assert stored_files(settings) == []


@pytest.mark.parametrize("metadata", ["{not json", "[1, 2]", '"a string"', "42"])
def test_metadata_that_is_not_a_json_object_is_a_validation_error(client, project, secret, settings, metadata):
    response = client.post(
        upload_url(project.slug, api_key=secret), {"file": png_file(demo_png("meta")), "metadata": metadata}
    )

    error = error_of(response, 400, "validation_error")
    assert "metadata" in error["fields"]
    assert not Image.objects.exists()
    assert stored_files(settings) == []


@pytest.mark.parametrize(
    "size",
    [(40, 40), (200, 200)],
    ids=["file-over-the-limit", "body-far-over-the-limit"],
)
def test_a_file_over_the_upload_limit_is_refused_with_413_and_nothing_is_stored(
    client, project, secret, settings, size
):
    settings.MAX_UPLOAD_BYTES = 1000
    data = noisy_png(size)
    assert len(data) > 1000
    response = client.post(upload_url(project.slug, api_key=secret), {"file": png_file(data)})

    # The type is the code the app declares for this refusal ("payload_too_large").
    error = error_of(response, 413, PayloadTooLarge.default_code)
    assert "1000 bytes" in error["message"]
    assert not Image.objects.exists()
    assert stored_files(settings) == []


def test_a_file_just_within_the_upload_limit_is_accepted(client, project, secret, settings):
    data = noisy_png((20, 20))
    settings.MAX_UPLOAD_BYTES = len(data)

    response = client.post(upload_url(project.slug, api_key=secret), {"file": png_file(data)})

    assert response.status_code == 200, response.content
    assert Image.objects.get().width == 20


def test_a_project_of_another_workspace_is_not_found_and_nothing_is_stored(client, free, secret, settings):
    theirs = ProjectFactory(workspace=free, slug="bird-species")

    response = client.post(upload_url(theirs.slug, api_key=secret), {"file": png_file(demo_png("elsewhere"))})

    error_of(response, 404, "not_found")
    assert not Image.objects.exists()
    assert stored_files(settings) == []


def test_a_project_outside_the_keys_folders_is_not_found_while_one_inside_accepts_uploads(
    client, enterprise, make_key, settings
):
    retail, factory = FolderFactory(workspace=enterprise), FolderFactory(workspace=enterprise)
    outside = ProjectFactory(workspace=enterprise, slug="shelf-audit", folder=retail)
    inside = ProjectFactory(workspace=enterprise, slug="weld-seams", folder=factory)
    _, limited = make_key(enterprise, name="Factory uploader", scopes=["image:create"], folder_ids=[factory.pk])

    refused = client.post(upload_url(outside.slug, api_key=limited), {"file": png_file(demo_png("outside"))})

    error_of(refused, 404, "not_found")
    assert not Image.objects.exists()
    assert stored_files(settings) == []
    accepted = client.post(upload_url(inside.slug, api_key=limited), {"file": png_file(demo_png("inside"))})
    assert accepted.status_code == 200, accepted.content
    assert list(Image.objects.values_list("project__slug", flat=True)) == ["weld-seams"]


def test_a_key_without_image_create_is_refused_with_insufficient_scope(client, enterprise, make_key, project, settings):
    _, reader = make_key(enterprise, name="Reader", scopes=["role:read-only"])

    response = client.post(upload_url(project.slug, api_key=reader), {"file": png_file(demo_png("reader"))})

    error = error_of(response, 403, "insufficient_scope")
    assert "image:create" in error["message"]
    assert 'scope="image:create"' in response["WWW-Authenticate"]
    assert not Image.objects.exists()
    assert stored_files(settings) == []


def test_an_upload_without_a_key_is_unauthenticated(client, project, settings):
    response = client.post(upload_url(project.slug), {"file": png_file(demo_png("anonymous"))})

    error_of(response, 401, "missing_token")
    assert not Image.objects.exists()
    assert stored_files(settings) == []
