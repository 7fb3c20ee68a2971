"""The OpenAPI schema names the scope of every operation, says what requests the server takes,
and the docs page works offline."""

import re

import pytest
from django.contrib.staticfiles import finders
from drf_spectacular.settings import patched_settings
from drf_spectacular.validation import validate_schema
from rest_framework.exceptions import ValidationError
from rest_framework.serializers import Serializer

from core.fields import (
    MAX_ID,
    MAX_ID_DIGITS,
    FileTextField,
    FormSerializer,
    IdField,
    QuerySerializer,
    StrictCharField,
    StrictSerializer,
)
from tests.routes import api_routes, openapi_path
from web.api.serializers import RESTORABLE
from workspaces.models import MEDIA_TYPES

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_every_api_operation_documents_its_scope_and_errors(schema):
    documented = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            documented[(path, method.upper())] = operation
    for route in api_routes():
        path = openapi_path(route.pattern)
        for method in route.methods:
            operation = documented[(path, method)]
            required = list(route.required(method))
            assert operation["x-required-scopes"] == required
            assert all(scope in operation["description"] for scope in required if scope != "*")
            for status in ["401", "403", "404", "429", "503"]:
                assert operation["responses"][status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
    assert len(api_routes()) >= 5


def test_the_docs_page_serves_its_assets_locally(client):
    page = client.get("/api/docs").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any("swagger-ui" in a for a in assets)
    for asset in assets:
        if asset.startswith("/api/docs?"):  # the start-up script, served by the page's own view
            script = client.get(asset)
            assert script.status_code == 200
            assert script["Content-Type"].startswith("application/javascript")
            assert "/api/schema" in script.content.decode()
            continue
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/").split("?")[0]), asset
    assert "cdn" not in page.lower()


# The resource table of SPEC §5, as written there: catches a view that declares the wrong scope,
# which the generated matrix (reading the views' own declarations) cannot.
SPEC_SCOPES = {
    ("GET", "/{ws}"): "workspace:read",
    ("POST", "/{ws}/projects"): "project:create",
    ("GET", "/{ws}/{project}"): "project:read",
    ("PATCH", "/{ws}/{project}"): "project:update",
    ("DELETE", "/{ws}/{project}"): "project:update",
    ("GET", "/{ws}/groups"): "folder:read",
    ("POST", "/{ws}/groups"): "folder:create",
    ("GET", "/{ws}/groups/{folder_id}"): "folder:read",
    ("PATCH", "/{ws}/groups/{folder_id}"): "folder:update",
    ("DELETE", "/{ws}/groups/{folder_id}"): "folder:delete",
    ("PATCH", "/{ws}/groups/{folder_id}/projects"): "folder:update",
    ("DELETE", "/{ws}/groups/{folder_id}/projects"): "folder:update",
    ("POST", "/dataset/{project}/upload"): "image:create",
    ("GET", "/{ws}/{project}/images/{image_id}"): "image:read",
    ("GET", "/{ws}/{project}/images/{image_id}/file"): "image:read",
    ("POST", "/{ws}/{project}/search"): "image:read",
    ("POST", "/{ws}/{project}/images/{image_id}/tags"): "image:tag",
    ("DELETE", "/{ws}/{project}/images"): "image:delete",
    ("POST", "/{ws}/{project}/generate"): "version:create",
    ("GET", "/{ws}/{project}/{version}"): "version:read",
    ("DELETE", "/{ws}/{project}/{version}"): "version:update",
    ("GET", "/{ws}/{project}/models"): "project:read",
    ("POST", "/{ws}/{project}/models"): "model:deploy",
    ("PATCH", "/{ws}/{project}/models/{model_id}"): "model:manage",
    ("DELETE", "/{ws}/{project}/models/{model_id}"): "model:manage",
    ("GET", "/{ws}/api-keys"): "api-key:read",
    ("POST", "/{ws}/api-keys"): "api-key:create",
    ("GET", "/{ws}/api-keys/publishable"): "workspace:read",
    ("GET", "/{ws}/api-keys/{key_id}"): "api-key:read",
    ("PATCH", "/{ws}/api-keys/{key_id}"): "api-key:update",
    ("DELETE", "/{ws}/api-keys/{key_id}"): "api-key:revoke",
    ("POST", "/{ws}/api-keys/{key_id}/roll"): "api-key:create api-key:revoke",
    ("GET", "/{ws}/api-key-policy"): "api-key:read",  # (issue 22: read by keys, changed by owners alone)
    ("GET", "/"): "*",
    ("POST", "/"): "*",
    # What the official client calls besides (issue 12), each with the registry's fitting scope.
    ("POST", "/dataset/{project}/annotate/{image_id}"): "image:annotate",
    ("GET", "/usage/plan"): "workspace:read",
    ("GET", "/{ws}/stats"): "workspace:read",
    ("POST", "/{ws}/billing-usage-report"): "usage:read",
    ("GET", "/{ws}/{project}/health"): "project:read",
    ("GET", "/{ws}/trash"): "project:update",
    ("POST", "/{ws}/trash/restore"): "project:update",
    ("POST", "/{ws}/search/v1"): "image:read",
    ("DELETE", "/{ws}/images"): "image:delete",
    ("POST", "/{ws}/images/{image_id}/metadata"): "image:tag",
    ("POST", "/{ws}/groups/{folder_id}"): "folder:update",
    ("GET", "/{ws}/{project}/{version}/{export_format}"): "version:read",
    ("GET", "/{ws}/{project}/{version}/{export_format}/download"): "version:read",
}


def test_every_route_declares_the_scope_of_the_spec_table():
    declared = {
        (method, openapi_path(route.pattern)): " ".join(route.required(method) or ["(none)"])
        for route in api_routes()
        for method in route.methods
    }
    assert declared == SPEC_SCOPES


# What request bodies and query strings take: the schema says what the server refuses, so that a
# request it calls valid is one the server takes (tests/security/test_schema_fuzz.py sends them).


def resolved(schema, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def request_body(schema, method: str, path: str, media_type: str = "application/json") -> dict:
    body = schema["paths"][path][method]["requestBody"]["content"][media_type]["schema"]
    return resolved(schema, body)


def query(schema, method: str, path: str) -> dict:
    return {p["name"]: p["schema"] for p in schema["paths"][path][method]["parameters"] if p["in"] == "query"}


def ecma(pattern: str) -> re.Pattern[str]:
    """A schema's pattern as JSON Schema reads it: `$` is the end of the text, never a newline."""
    return re.compile(pattern.removesuffix("$") + r"\Z" if pattern.endswith("$") else pattern)


def admits(node: dict, text: str) -> bool:
    """Whether a string schema takes `text` (its pattern, lengths and `oneOf` choices)."""
    choices = node.get("oneOf")
    if choices is not None:
        return sum(admits(choice, text) for choice in choices) == 1
    return (
        ("pattern" not in node or bool(ecma(node["pattern"]).search(text)))
        and len(text) <= node.get("maxLength", len(text))
        and len(text) >= node.get("minLength", 0)
    )


def takes(field, text: str) -> bool:
    try:
        field.run_validation(text)
    except ValidationError:
        return False
    return True


def strings_in(schema, node, seen=()):
    """Every string schema a request schema holds, names of objects included."""
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        if node["$ref"] not in seen:
            yield from strings_in(schema, resolved(schema, node), (*seen, node["$ref"]))
        return
    types = node.get("type", [])
    if "string" in ([types] if isinstance(types, str) else types):
        yield node
    for child in [*node.get("properties", {}).values(), *node.get("oneOf", []), *node.get("anyOf", [])]:
        yield from strings_in(schema, child, seen)
    for keyword in ("items", "additionalProperties", "propertyNames"):
        yield from strings_in(schema, node.get(keyword), seen)


def test_the_trash_restore_type_is_what_restore_takes(schema):
    body = request_body(schema, "post", "/{ws}/trash/restore")
    assert resolved(schema, body["properties"]["type"])["enum"] == list(RESTORABLE)


@pytest.mark.parametrize(
    "method, path, field",
    [
        ("delete", "/{ws}/images", "images"),
        ("delete", "/{ws}/{project}/images", "images"),
        ("post", "/{ws}/api-keys/{key_id}/roll", "owners"),
        ("post", "/{ws}/api-keys", "owners"),
        ("post", "/{ws}/api-keys", "folderIds"),
    ],
)
def test_lists_of_ids_take_positive_integers_or_their_digits(schema, method, path, field):
    items = request_body(schema, method, path)["properties"][field]["items"]
    integer, digits = items["oneOf"]
    assert integer == {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    assert digits["type"] == "string" and digits["maxLength"] == MAX_ID_DIGITS
    for text in ["0", "00", "7", "007", "12a", "-1", "１", "9" * MAX_ID_DIGITS, "1" * (MAX_ID_DIGITS + 1)]:
        assert admits(digits, text) == takes(IdField(), text), text


def test_a_folder_is_asked_for_by_a_positive_integer(schema):
    group = query(schema, "get", "/{ws}/groups")["groupId"]
    assert group["type"] == "integer" and group["minimum"] == 1


TEXTS = [
    "cats",
    "Café 🐈 ok",
    " padded ",
    "a\tb",
    "a\nb",
    "a\n",
    "\r",
    "\t \n",
    "\x7f",
    "\x85",
    "\x9f",
    "\x00",
    "",
    " ",
    "\xa0",
    "my key: sak_abcdefghijkl_0123456789",
    "sak_ starts every key",
]


@pytest.mark.parametrize(
    "method, path, name, field",
    [
        ("post", "/{ws}/projects", "name", StrictCharField(max_length=100)),
        ("patch", "/{ws}/{project}", "license", StrictCharField(max_length=50, allow_blank=True)),
        ("post", "/{ws}/{project}/search", "tag", StrictCharField(max_length=100)),
        ("post", "/dataset/{project}/annotate/{image_id}", "annotationFile", FileTextField(allow_blank=True)),
    ],
)
def test_body_text_says_which_characters_it_refuses(schema, method, path, name, field):
    text_schema = request_body(schema, method, path)["properties"][name]
    for text in TEXTS:
        assert admits(text_schema, text) == takes(field, text), repr(text)


def test_query_text_says_which_characters_it_refuses(schema):
    parameters = query(schema, "post", "/dataset/{project}/annotate/{image_id}")
    for text in TEXTS:
        assert admits(parameters["name"], text) == takes(StrictCharField(max_length=255), text), repr(text)
        assert admits(parameters["jobName"], text) == takes(StrictCharField(allow_blank=True), text), repr(text)


def test_every_text_a_request_takes_says_what_it_takes(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            sources = [p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"]
            sources += [c["schema"] for c in operation.get("requestBody", {}).get("content", {}).values()]
            for source in sources:
                for text in strings_in(schema, source):
                    says = {"enum", "format", "pattern"} & text.keys() or text.get("maxLength") == 0
                    assert says, (method, path, text)


def is_nullable(node: dict) -> bool:
    """Null allowed: OpenAPI 3.0's `nullable`, or 3.1's `null` type, directly or as one of a `oneOf`."""
    types = node.get("type", [])
    return (
        bool(node.get("nullable"))
        or (isinstance(types, list) and "null" in types)
        or types == "null"
        or any(is_nullable(choice) for choice in node.get("oneOf", []))
    )


def test_null_is_allowed_exactly_where_the_server_takes_it(schema):
    """Where a field allows null, and not in a form (which cannot send one)."""
    checked = 0
    for serializer in [*request_serializers(StrictSerializer), *request_serializers(QuerySerializer)]:
        component = schema["components"]["schemas"].get(serializer.__name__.removesuffix("Serializer") + "Request")
        if component is None:
            continue
        for name, field in serializer().fields.items():
            expected = field.allow_null and not issubclass(serializer, FormSerializer)
            assert is_nullable(component["properties"][name]) == expected, (serializer.__name__, name)
            checked += 1
    assert checked > 50
    upload = request_body(schema, "post", "/{ws}/{project}/models", "multipart/form-data")
    assert not is_nullable(upload["properties"]["version"])  # a form sends no null
    search = request_body(schema, "post", "/{ws}/{project}/search")
    assert search["properties"]["annotation_job"]["not"] == {}  # nothing, null neither, is served


def request_serializers(base: type[Serializer]) -> list[type[Serializer]]:
    found: list[type[Serializer]] = []
    for subclass in base.__subclasses__():
        found += [subclass, *request_serializers(subclass)]
    return found


def test_a_form_says_which_of_its_parts_are_not_text(schema):
    encoding = schema["paths"]["/dataset/{project}/upload"]["post"]["requestBody"]["content"]["multipart/form-data"][
        "encoding"
    ]
    assert set(encoding["file"]["contentType"].split(", ")) == set(MEDIA_TYPES.values())
    assert encoding["metadata"]["contentType"] == "application/json"


@pytest.mark.parametrize(
    "method, path, names",
    [
        ("get", "/{ws}/stats", {"startDate"}),
        ("post", "/{ws}/api-keys", {"folderIds", "owners", "rotationDueAt", "expiresAt"}),
        ("patch", "/{ws}/api-keys/{key_id}", {"folderIds", "owners", "rotationDueAt", "expiresAt"}),
        ("post", "/{ws}/api-keys/{key_id}/roll", {"owners", "rotationDueAt"}),
        ("post", "/dataset/{project}/annotate/{image_id}", {"annotationFile"}),
    ],
)
def test_rules_no_schema_can_state_are_in_the_operation(schema, method, path, names):
    operation = schema["paths"][path][method]
    assert set(operation["x-business-rules"]) == names
    for name, rule in operation["x-business-rules"].items():
        assert f"`{name}`: {rule}" in operation["description"]


def test_the_schema_is_valid_openapi(schema):
    validate_schema(schema)


def test_as_openapi_3_1_the_schema_also_says_what_object_names_it_takes(client):
    with patched_settings({"OAS_VERSION": "3.1.0"}):
        served = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    validate_schema(served)
    classes = request_body(served, "patch", "/{ws}/{project}")["properties"]["classes"]
    for text in TEXTS:
        assert admits(classes["propertyNames"], text) == takes(StrictCharField(max_length=100), text), repr(text)
