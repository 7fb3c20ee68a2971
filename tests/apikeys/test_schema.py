"""The OpenAPI schema names the scope of every operation, and the docs page works offline."""

import re

import pytest
from django.contrib.staticfiles import finders

from apikeys.permissions import required_for_method
from tests.routes import api_routes, methods_of, openapi_path

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
    for route, view in api_routes():
        path = openapi_path(route)
        for method in methods_of(view):
            operation = documented[(path, method)]
            required = list(required_for_method(view, method))
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
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/").split("?")[0]), asset
    assert "cdn" not in page.lower()
