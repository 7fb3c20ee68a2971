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
