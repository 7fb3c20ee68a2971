"""Every API error, DRF's own and Django's, comes in the one envelope."""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.apikeys.urls")]


def assert_envelope(response, status, type_):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == type_
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "hint" in body["error"]


def test_unknown_api_path(client):
    assert_envelope(client.get("/acme/things/deeper/still"), 404, "not_found")


def test_unknown_method(client, enterprise, make_key):
    _, secret = make_key(enterprise)
    assert_envelope(client.put("/acme/things", HTTP_AUTHORIZATION=f"Bearer {secret}"), 405, "method_not_allowed")


def test_malformed_json(client, enterprise, make_key):
    _, secret = make_key(enterprise)
    response = client.post(
        "/acme/things", "{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert_envelope(response, 400, "parse_error")


def test_a_json_body_that_is_not_an_object(client, enterprise, make_key):
    _, secret = make_key(enterprise)
    response = client.post(
        "/acme/things", "[1, 2]", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert_envelope(response, 400, "parse_error")


def test_pages_keep_their_html_404(client):
    response = client.get("/app/nope/at/all")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_field_errors_never_echo_a_key(client, enterprise, make_key):
    _, secret = make_key(enterprise)
    for body in [{"name": "x", "allowedIps": [secret]}, {"name": "x", secret: 1}, {"name": "x", "scopes": [secret]}]:
        response = client.post(
            "/acme/api-keys", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
        )
        assert response.status_code == 400
        assert secret not in response.content.decode()


@pytest.mark.urls("config.urls")
@pytest.mark.parametrize(
    "path", ["/acme/shelf/batches", "/acme/shelf/1/coco/download/more", "/dataset/shelf/nothing/1/2", "/a/b/c/d/e/f"]
)
def test_an_api_path_that_matches_no_route_is_the_envelope_with_debug_on_too(client, settings, path):
    # With DEBUG on, Django's own answer is a 10 KB HTML page that the CLI would print.
    settings.DEBUG = True
    response = client.get(f"{path}?api_key=sak_x", HTTP_ACCEPT="*/*", HTTP_USER_AGENT="roboflow-python/1.7.3")
    assert_envelope(response, 404, "not_found")
    assert len(response.content) < 300


# Workspaces whose url starts like a page prefix ("applied" and "/app") still get the API's JSON.
LOOKALIKES = ["applied", "administration", "accountsco", "settings-team", "static-site", "mediaco", "api-docs"]


@pytest.mark.urls("config.urls")
@pytest.mark.parametrize("url", LOOKALIKES)
def test_a_workspace_named_like_a_page_prefix_gets_json_errors(client, settings, url):
    from workspaces.models import Plan, Workspace

    settings.DEBUG = True
    Workspace.objects.create(url=url, name=url, plan=Plan.ENTERPRISE)
    assert_envelope(client.get(f"/{url}/nope/x?api_key=sak_x"), 404, "not_found")
    response = client.post(
        f"/{url}/api-keys", b'{"name": "' + b"x" * (3 * 1024 * 1024) + b'"}', content_type="application/json"
    )
    assert_envelope(response, 413, "payload_too_large")


def test_every_page_prefix_is_a_reserved_workspace_url():
    from core.middleware import PAGE_PREFIXES
    from workspaces.models import RESERVED_WORKSPACE_SLUGS

    assert {prefix.split("/")[0] for prefix in PAGE_PREFIXES} <= RESERVED_WORKSPACE_SLUGS


def test_every_top_level_route_is_a_reserved_workspace_url():
    """A route of the site's own at `/<word>...` would shadow (or be shadowed by) a workspace of that url."""
    from django.urls import get_resolver

    from workspaces.models import RESERVED_WORKSPACE_SLUGS

    words = set()
    patterns = list(get_resolver("config.urls").url_patterns)
    while patterns:
        pattern = patterns.pop()
        route = str(pattern.pattern)
        if not route and hasattr(pattern, "url_patterns"):  # an include at the root: its routes are top-level
            patterns.extend(pattern.url_patterns)
            continue
        first = route.split("/")[0]
        if first and "<" not in first:
            words.add(first)
    assert {"admin", "accounts", "api", "app", "dataset", "usage"} <= words
    assert words <= RESERVED_WORKSPACE_SLUGS, sorted(words - RESERVED_WORKSPACE_SLUGS)
