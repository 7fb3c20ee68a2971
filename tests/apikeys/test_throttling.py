import pytest

from apikeys.throttling import TOO_MANY_FAILURES

pytestmark = pytest.mark.django_db


def test_each_key_has_its_own_rate_limit(client, enterprise, make_key, settings):
    settings.API_RATE_LIMIT = "3/min"
    _, first = make_key(enterprise, name="first")
    _, second = make_key(enterprise, name="second")
    for _ in range(3):
        assert client.get("/acme/api-keys", HTTP_AUTHORIZATION=f"Bearer {first}").status_code == 200
    response = client.get("/acme/api-keys", HTTP_AUTHORIZATION=f"Bearer {first}")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["type"] == "rate_limited"
    assert client.get("/acme/api-keys", HTTP_AUTHORIZATION=f"Bearer {second}").status_code == 200


def test_failed_authentication_is_limited_per_client_ip(client, enterprise, make_key, settings):
    settings.API_AUTH_FAILURE_LIMIT = "3/min"
    _, good = make_key(enterprise)
    for _ in range(3):
        assert client.post("/", HTTP_AUTHORIZATION="Bearer sak_guess", REMOTE_ADDR="198.51.100.7").status_code == 401
    blocked = client.post("/", HTTP_AUTHORIZATION="Bearer sak_guess", REMOTE_ADDR="198.51.100.7")
    assert blocked.status_code == 429
    assert blocked.json()["error"]["message"].startswith(TOO_MANY_FAILURES)
    assert int(blocked["Retry-After"]) > 0
    # Another address is not affected, and a valid key is never locked out by its address.
    assert client.post("/", HTTP_AUTHORIZATION="Bearer sak_guess", REMOTE_ADDR="198.51.100.8").status_code == 401
    assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {good}", REMOTE_ADDR="198.51.100.7").status_code == 200


def test_successful_calls_do_not_count_as_failures(client, enterprise, make_key, settings):
    settings.API_AUTH_FAILURE_LIMIT = "2/min"
    _, good = make_key(enterprise)
    for _ in range(5):
        assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {good}").status_code == 200
