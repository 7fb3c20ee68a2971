"""Hostile input, table-driven over every operation and every body field the OpenAPI schema
documents: each hostile value is a 4xx with the error envelope, and nothing is written (rows of
every table and files under MEDIA_ROOT are counted before and after).

The field list comes from the schema, so a new endpoint or field joins the table by existing;
`BASE_BODIES` gives each body operation a valid body for the hostile field to spoil, and a test
fails when an operation has none.
"""

import email.message
import io
import json
import zlib
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from drf_spectacular.generators import SchemaGenerator
from PIL import Image as PILImage

from tests.factories import FolderFactory, ImageFactory, ModelFactory, ProjectFactory, VersionFactory
from tests.keys import create_key
from web.demo import demo_png
from workspaces.actors import Actor

pytestmark = pytest.mark.django_db

BASE_BODIES = {
    "api_keys_create": {"name": "ok"},
    "api_keys_update": {},
    "api_keys_roll": {},
    "projects_create": {"name": "P", "type": "object-detection", "annotation": "a"},
    "project_update": {},
    "folders_create": {"name": "F"},
    "folder_rename": {"name": "G"},
    "folder_add_projects": {"projects": ["cats"]},
    "folder_remove_projects": {"projects": ["cats"]},
    "image_tags": {"tags": ["a"]},
    "images_delete": {"images": ["1"]},
    "images_search": {},
    "version_generate": {},
    "model_update": {},
    "image_annotate": {"annotationFile": ""},
    "workspace_search": {"query": ""},
    "image_metadata": {"addTags": ["a"]},
    "workspace_images_delete": {"images": ["1"]},
    "trash_restore": {"type": "project", "id": "1"},
    "folder_rename_by_post": {"name": "G"},
}
# What an operation needs in its query string besides.
QUERIES = {"image_annotate": "?name=a.txt"}
MULTIPART_OPERATIONS = {"image_upload", "models_upload"}

STRINGS = {
    "NUL": "a\x00b",
    "lone surrogate": "a\ud800b",
    "escape sequence": "a\x1b[2Jb",
    "header injection": "x\r\nSet-Cookie: session=stolen",
    "oversize": "x" * 5000,
}
FAR_DATES = {
    "past UTC's end": "9999-12-31T23:59:59-14:00",
    "year zero": "0000-01-01",
    "no such day": "2027-02-30",
    "before the epoch": "0001-01-01T00:00:00+14:00",
    "a century ahead": "2126-01-01",
    "in the past": "2001-01-01",
}
# JSON has no infinity, but `1e999` is a valid number that overflows to one when parsed. Bodies are
# written with json.dumps, which cannot write it: this marker is swapped for the bare literal.
OVERFLOW = "<1e999>"
NUMBERS = {
    "huge": 10**40,
    "negative": -1,
    "fraction": 1.5,
    "boolean": True,
    "string": "1e400",
    "overflowing to infinity": OVERFLOW,
}
OBJECTS = {
    "overflowing number": {"a": OVERFLOW},
    "overflowing number deep inside": {"a": [{"b": f"-{OVERFLOW}"}]},
    "NUL key": {"a\x00": 1},
    "surrogate value": {"a": "\ud83d"},
    "deep": json.loads("[" * 200 + "]" * 200),
    "too many entries": {f"k{i}": i for i in range(2000)},
    "not an object": ["a"],
}
ARRAYS = {
    "oversize": ["x"] * 5000,
    "NUL item": ["a\x00"],
    "deep item": [json.loads("[" * 100 + "]" * 100)],
    "overflowing item": [OVERFLOW],
}
BOOLEANS = {"string": "true", "number": 1, "null": None}


def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


SCHEMA = openapi()


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def body_operations():
    """(operation id, method, path, {field: field schema}) of every operation with a JSON body."""
    schema = SCHEMA
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            body = resolve(schema, content["application/json"]["schema"])
            fields = {name: resolve(schema, field) for name, field in body.get("properties", {}).items()}
            found.append((operation["operationId"], method.upper(), path, fields))
    return found


def hostile_values(field: dict) -> dict:
    """The hostile values for a field of this schema type."""
    if field.get("format") == "date-time":
        return {**FAR_DATES, **STRINGS}
    if "oneOf" in field:  # ids: a number or a string of digits
        return {**NUMBERS, "NUL": "1\x00", "superscript digits": "²", "oversize": "9" * 5000}
    kind = field.get("type")
    if kind == "string" or "enum" in field:
        return STRINGS
    if kind == "integer":
        return NUMBERS
    if kind == "object":
        return OBJECTS
    if kind == "array":
        item = resolve(SCHEMA, field.get("items", {}))
        values = dict(ARRAYS)
        if item.get("type") == "string" or "enum" in item:
            values.update({f"item {k}": [v] for k, v in STRINGS.items()})
        return values
    if kind == "boolean":
        return BOOLEANS
    return STRINGS


CASES = [
    pytest.param(op, method, path, name, value, id=f"{op}-{name}-{label}")
    for op, method, path, fields in body_operations()
    for name, field in fields.items()
    for label, value in hostile_values(field).items()
]


@pytest.fixture
def world(enterprise, settings):
    settings.API_RATE_LIMIT = "100000/min"
    folder = FolderFactory(workspace=enterprise, name="Inside")
    project = ProjectFactory(workspace=enterprise, slug="cats", folder=folder)
    image = ImageFactory(project=project, file=SimpleUploadedFile("cats.png", demo_png("cats")))
    version = VersionFactory(project=project, number=1)
    model = ModelFactory(project=project, version=version)
    operator = Actor()
    _, secret = create_key(workspace=enterprise, actor=operator, name="hostile")
    victim, _ = create_key(workspace=enterprise, actor=operator, name="victim")
    params = {
        "ws": "acme",
        "project": "cats",
        "image_id": image.pk,
        "version": version.number,
        "model_id": model.pk,
        "folder_id": folder.pk,
        "key_id": victim.key_id,
    }
    return {"secret": secret, "params": params}


def state(media_root: Path) -> tuple:
    """Every row of every model, and every file under MEDIA_ROOT: what a refusal must not change."""
    rows = tuple(
        sorted(map(str, model._default_manager.values_list("pk", flat=True)))
        for model in apps.get_models()
        if model._meta.app_label in {"apikeys", "workspaces", "auth"}
    )
    files = tuple(sorted(str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file()))
    return rows, files


def updated_marks() -> tuple:
    from apikeys.models import ApiKey
    from workspaces.models import Image, Project

    return (
        tuple(ApiKey.objects.order_by("pk").values_list("name", "scopes", "disabled", "expires_at", "custom_metadata")),
        tuple(Project.objects.order_by("pk").values_list("name", "classes", "annotation")),
        tuple(Image.objects.order_by("pk").values_list("tags", "metadata")),
    )


def assert_refused(response, before, settings, statuses=(400, 413)):
    assert response.status_code in statuses, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["message"] and error["type"]
    assert (state(settings.MEDIA_ROOT), updated_marks()) == before


def dump(body: dict) -> bytes:
    return (
        json.dumps(body, ensure_ascii=True)
        .replace(f'"{OVERFLOW}"', "1e999")
        .replace(f'"-{OVERFLOW}"', "-1e999")
        .encode()
    )


def call(client, method, path, params, secret, body: bytes, content_type="application/json"):
    url = path.format(**params)
    return client.generic(method, url, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_every_operation_with_a_body_has_a_base_body():
    assert {op for op, *_ in body_operations()} == set(BASE_BODIES)
    assert len(CASES) > 300


@pytest.mark.parametrize(("operation", "method", "path", "field", "value"), CASES)
def test_a_hostile_field_is_refused_and_writes_nothing(client, world, settings, operation, method, path, field, value):
    settings.MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    before = (state(settings.MEDIA_ROOT), updated_marks())
    raw = dump({**BASE_BODIES[operation], field: value})
    response = call(client, method, path + QUERIES.get(operation, ""), world["params"], world["secret"], raw)
    assert_refused(response, before, settings)


def body_cases():
    return [pytest.param(op, method, path, id=op) for op, method, path, _ in body_operations()]


RAW_BODIES = {
    "invalid UTF-8": b'{"name": "\xff\xfe"}',
    "not JSON": b"{name: 1",
    "NaN": b'{"name": NaN}',
    "Infinity": b'{"name": -Infinity}',
    "a number overflowing to infinity": b'{"name": 1e999}',
    "an array": b"[1, 2]",
    "null": b"null",
    "deeply nested": b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "oversize": b'{"name": "' + b"x" * (3 * 1024 * 1024) + b'"}',
}


@pytest.mark.parametrize("label", RAW_BODIES)
@pytest.mark.parametrize(("operation", "method", "path"), body_cases())
def test_a_hostile_body_is_refused_and_writes_nothing(client, world, settings, operation, method, path, label):
    settings.MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    before = (state(settings.MEDIA_ROOT), updated_marks())
    response = call(
        client, method, path + QUERIES.get(operation, ""), world["params"], world["secret"], RAW_BODIES[label]
    )
    assert_refused(response, before, settings)


@pytest.mark.parametrize(("operation", "method", "path"), body_cases())
def test_a_body_of_another_media_type_is_a_415(client, world, settings, operation, method, path):
    before = (state(settings.MEDIA_ROOT), updated_marks())
    path += QUERIES.get(operation, "")
    response = call(client, method, path, world["params"], world["secret"], b"name=x", "text/plain")
    assert_refused(response, before, settings, statuses=(415,))


def test_a_query_string_that_is_not_utf8_is_refused(client, world, settings):
    before = (state(settings.MEDIA_ROOT), updated_marks())
    response = client.get("/acme/api-keys?includeDisabled=%ff%fe", HTTP_AUTHORIZATION=f"Bearer {world['secret']}")
    assert_refused(response, before, settings)


# Uploads: multipart bodies and their files -------------------------------------------


def png_claiming(width: int, height: int, pixels: bytes = b"\x00\x00\x00\x00") -> bytes:
    """A PNG whose header says `width` x `height` and whose data holds far fewer pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


UPLOAD_FILES = {
    "a header that lies about its size": ("lies.png", png_claiming(640, 480)),
    "a decompression bomb": ("bomb.png", png_claiming(20_000, 20_000)),
    "not an image": ("notes.png", b"just some text"),
    "an empty file": ("empty.png", b""),
    "a truncated image": ("cut.png", demo_png("cut")[:60]),
}


@pytest.mark.parametrize("label", UPLOAD_FILES)
def test_a_hostile_image_is_refused_and_writes_nothing(client, world, settings, label):
    name, data = UPLOAD_FILES[label]
    before = (state(settings.MEDIA_ROOT), updated_marks())
    upload = SimpleUploadedFile(name, data, content_type="image/png")
    response = client.post("/dataset/cats/upload", {"file": upload}, HTTP_AUTHORIZATION=f"Bearer {world['secret']}")
    assert_refused(response, before, settings)
    assert "file" in response.json()["error"]["fields"]


MULTIPART_STRINGS = {k: v for k, v in STRINGS.items() if k != "lone surrogate"}  # no bytes encode one
UPLOAD_FIELDS = {
    "name": MULTIPART_STRINGS,
    "split": {"unknown": "holdout", **MULTIPART_STRINGS},
    "metadata": {
        "NaN": '{"a": NaN}',
        "overflowing number": '{"a": [1, -1e999]}',
        "surrogate": '{"a": "\\ud800"}',
        "NUL": '{"a": "\\u0000"}',
        "deep": '{"a": ' + "[" * 200 + "]" * 200 + "}",
        "not an object": "[1]",
        "not JSON": "{a",
    },
}


@pytest.mark.parametrize(
    ("field", "value"), [pytest.param(f, v, id=f"{f}-{k}") for f, vs in UPLOAD_FIELDS.items() for k, v in vs.items()]
)
def test_a_hostile_upload_field_is_refused_and_writes_nothing(client, world, settings, field, value):
    before = (state(settings.MEDIA_ROOT), updated_marks())
    upload = SimpleUploadedFile("ok.png", demo_png("ok"), content_type="image/png")
    response = client.post(
        "/dataset/cats/upload", {"file": upload, field: value}, HTTP_AUTHORIZATION=f"Bearer {world['secret']}"
    )
    assert_refused(response, before, settings)


@pytest.mark.parametrize(
    "query",
    ["tag=a%00b", "batch=a%0d%0aX-Injected:%201", "tag=" + "x" * 200, "batch=%ff", "&".join(["tag=t"] * 60)],
)
def test_a_hostile_upload_query_is_refused_and_writes_nothing(client, world, settings, query):
    before = (state(settings.MEDIA_ROOT), updated_marks())
    upload = SimpleUploadedFile("ok.png", demo_png("ok"), content_type="image/png")
    response = client.post(
        f"/dataset/cats/upload?{query}", {"file": upload}, HTTP_AUTHORIZATION=f"Bearer {world['secret']}"
    )
    assert_refused(response, before, settings)


@pytest.mark.parametrize("operation", sorted(MULTIPART_OPERATIONS))
@pytest.mark.parametrize(
    ("label", "raw_name"),
    [("NUL", b"a\x00b"), ("invalid UTF-8", b"caf\xe9"), ("escape", b"a\x1b[2J")],
)
def test_hostile_bytes_in_multipart_fields_are_refused(client, world, settings, operation, label, raw_name):
    before = (state(settings.MEDIA_ROOT), updated_marks())
    field = "name"
    body = (
        f"--{BOUNDARY}\r\n".encode()
        + f'Content-Disposition: form-data; name="{field}"\r\n\r\n'.encode()
        + raw_name
        + f"\r\n--{BOUNDARY}\r\n".encode()
        + b'Content-Disposition: form-data; name="type"\r\n\r\nyolov8n\r\n'
        + f"--{BOUNDARY}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
        + demo_png("multi")
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    path = "/dataset/cats/upload" if operation == "image_upload" else "/acme/cats/models"
    if operation == "models_upload":
        body = body.replace(b'name="file"', b'name="weights"')
    response = client.generic(
        "POST", path, body, content_type=MULTIPART_CONTENT, HTTP_AUTHORIZATION=f"Bearer {world['secret']}"
    )
    assert_refused(response, before, settings)


@pytest.mark.parametrize("filename", ["../../../etc/passwd.png", "..\\..\\boot.png", "/abs/olute.png", "a\x00b.png"])
def test_traversal_file_names_never_leave_the_media_folder(client, world, settings, filename):
    for path, field in [("/dataset/cats/upload", "file"), ("/acme/cats/models", "weights")]:
        body = encode_multipart(
            BOUNDARY,
            {field: SimpleUploadedFile("x.png", demo_png(filename + field)), "name": f"n-{field}", "type": "t"},
        ).replace(b'filename="x.png"', f'filename="{filename}"'.encode())
        response = client.generic(
            "POST", path, body, content_type=MULTIPART_CONTENT, HTTP_AUTHORIZATION=f"Bearer {world['secret']}"
        )
        assert response.status_code in (200, 201, 400), response.content[:300]
    media = Path(settings.MEDIA_ROOT).resolve()
    for written in media.rglob("*"):
        assert written.resolve().is_relative_to(media)
    assert not (media.parent / "etc").exists() and not (media.parent / "boot.png").exists()
    from workspaces.models import Image, Model

    for name in [*Image.objects.values_list("file", flat=True), *Model.objects.values_list("weights", flat=True)]:
        assert ".." not in name and not name.startswith("/")


def test_the_image_download_header_cannot_be_injected(client, world):
    image = PILImage.new("RGB", (4, 4))
    data = io.BytesIO()
    image.save(data, "PNG")
    response = client.post(
        "/dataset/cats/upload",
        {"file": SimpleUploadedFile("x.png", data.getvalue()), "name": 'a".png"; filename=evil.sh'},
        HTTP_AUTHORIZATION=f"Bearer {world['secret']}",
    )
    assert response.status_code == 200
    download = client.get(
        f"/acme/cats/images/{response.json()['id']}/file", HTTP_AUTHORIZATION=f"Bearer {world['secret']}"
    )
    download.close()
    message = email.message.Message()
    message["Content-Disposition"] = download["Content-Disposition"]
    assert message.get_filename() == 'a".png"; filename=evil.sh'  # one parameter, quotes escaped


def test_a_key_with_trailing_junk_in_the_header_is_a_401(client, world):
    for header in [f"Bearer {world['secret']}\tjunk", f"Bearer {world['secret']}x", "Bearer " + "A" * 10_000]:
        response = client.post("/", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "invalid_token"


@pytest.mark.parametrize("name", ["evil.html", "evil.js", "evil.svg", "evil"])
def test_a_download_is_always_an_image_attachment_whatever_its_name(client, world, name):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world['secret']}"}
    upload = SimpleUploadedFile("x.png", demo_png(name))
    image_id = client.post("/dataset/cats/upload", {"file": upload, "name": name}, **auth).json()["id"]
    download = client.get(f"/acme/cats/images/{image_id}/file", **auth)
    download.close()
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert download["X-Content-Type-Options"] == "nosniff"
