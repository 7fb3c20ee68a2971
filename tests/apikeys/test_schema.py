"""The OpenAPI schema names the scope of every operation, and the docs page works offline."""

import re

import pytest
from django.contrib.staticfiles import finders

from tests.routes import api_routes, openapi_path

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
            for status in ["401", "403", "404", "429"]:
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
