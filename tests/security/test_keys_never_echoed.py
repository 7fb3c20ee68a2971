"""A key pasted where it does not belong is never sent back (probe round three, defect 4): not in
a redirect, not in the log-in's `next`, not in a page or a form that re-renders what was typed.
Each case pastes a whole key and its secret part alone, and looks at every byte of the answer:
the status line's headers and the body."""

import json

import pytest
from django.urls import reverse

from apikeys import keyformat
from apikeys.models import ApiKey
from core.middleware import KEY_IN_PAGE_PATH

pytestmark = pytest.mark.django_db


@pytest.fixture
def pasted(enterprise, make_key):
    """A live key of the workspace, and the forms a careless paste takes."""
    _, secret = make_key(enterprise, name="pasted")
    key_id, secret_part = secret[4:].split("_", 1)
    return {"whole": secret, "secret part": secret_part, "id and secret": f"{key_id}_{secret_part}"}


def assert_not_echoed(response, pasted: dict, *labels: str):
    """Neither the pasted forms named (all by default) nor a 24-character piece of the secret
    part is anywhere in the answer."""
    headers = "\n".join(f"{name}: {value}" for name, value in response.items())
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if "Content-Length" in response:
        assert int(response["Content-Length"]) == len(body)
    secret_part = pasted["secret part"]
    for label in labels or pasted:
        for fragment in (pasted[label], secret_part[:24], secret_part[-24:]):
            assert fragment not in headers, f"{label} echoed in a header: {headers}"
            assert fragment.encode() not in body, f"{label} echoed in the page"


PAGE_PATHS = [
    "/app/acme/settings/api-keys/{}/edit",
    "/app/acme/settings/api-keys/{}",
    "/app/{}",
    "/admin/{}",
    "/admin/apikeys/apikey/{}/change/",
    "/accounts/{}",
]


@pytest.mark.parametrize("path", PAGE_PATHS)
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed in"])
def test_a_key_in_a_page_path_is_a_404_that_quotes_nothing(client, owner, pasted, path, signed_in):
    if signed_in:
        client.force_login(owner)
    for value in pasted.values():
        response = client.get(path.format(value))
        assert response.status_code == 404
        assert response.content.decode() == KEY_IN_PAGE_PATH
        assert_not_echoed(response, pasted)


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/login?next=/app/acme/settings/api-keys/{}/edit",
        "/admin/login/?next=/admin/{}",
        "/accounts/login?next=/app/acme&note={}",
        "/accounts/signup?email={}",
    ],
)
def test_a_key_in_a_page_query_is_not_sent_back(client, pasted, path):
    for value in pasted.values():
        response = client.get(path.format(value))
        assert response.status_code in (200, 302)
        assert_not_echoed(response, pasted)


def test_a_key_typed_into_a_page_form_is_not_rendered_back(client, owner, pasted, make_key, enterprise):
    """The edit modal re-renders a refused form with what was typed: a whole key typed as the
    name (with an error elsewhere, an unknown access choice) comes back cut out."""
    key, _ = make_key(enterprise, name="target")
    client.force_login(owner)
    edit = reverse("apikeys:edit", kwargs={"ws": "acme", "key_id": key.key_id})
    response = client.post(edit, {"name": pasted["whole"], "access": "nonsense", "folder_limit": "all"})
    assert response.status_code in (200, 400)
    assert_not_echoed(response, pasted, "whole")
    key.refresh_from_db()
    assert key.name == "target"


def test_a_random_looking_value_typed_into_a_form_is_shown_as_typed(client, owner, make_key, enterprise):
    """Only whole keys are cut from a form's answer: an id that merely looks random (a Drive
    file id, a camel-case name) is the user's own text, shown back unharmed."""
    key, _ = make_key(enterprise, name="target")
    client.force_login(owner)
    edit = reverse("apikeys:edit", kwargs={"ws": "acme", "key_id": key.key_id})
    for typed in ("1AbCdEfGhIjKlMnOpQrStUvWxYz012345", "ProductionInferenceServerForVision"):
        response = client.post(edit, {"name": typed, "access": "nonsense", "folder_limit": "all"})
        assert typed in response.content.decode()


def test_the_https_redirect_never_carries_a_key(client, pasted, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(f"/accounts/login?next=/app/acme/{pasted['whole']}")
    assert response.status_code == 301 and response["Location"].startswith("https://")
    assert_not_echoed(response, pasted, "whole")
    in_path = client.get(f"/app/{pasted['whole']}")
    assert in_path.status_code == 404
    assert_not_echoed(in_path, pasted)


def test_the_key_in_path_answer_has_the_security_headers(client, pasted):
    response = client.get(f"/admin/{pasted['whole']}")
    assert response["Content-Security-Policy"] == "default-src 'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cache-Control"] == "no-store"


def test_a_log_in_with_a_key_as_the_email_does_not_show_it(client, pasted):
    response = client.post("/accounts/login", {"username": pasted["whole"], "password": pasted["whole"]})
    assert response.status_code == 200
    assert_not_echoed(response, pasted, "whole")


def test_the_admin_search_for_a_whole_key_still_finds_it_by_prefix(admin_client, pasted):
    response = admin_client.get(f"/admin/apikeys/apikey/?q={pasted['whole']}")
    assert response.status_code == 302
    assert response["Location"].endswith(f"?q={pasted['whole'][: len(keyformat.PREFIX) + keyformat.KEY_ID_LENGTH]}")
    assert_not_echoed(response, pasted)


def test_a_page_without_a_key_is_served_as_before(client, owner):
    client.force_login(owner)
    assert client.get("/app/acme/settings/api-keys").status_code == 200
    assert client.get("/accounts/login?next=/app/acme").status_code == 302  # signed in: straight on


def test_a_key_is_never_stored_as_a_name_or_tag(client, owner, pasted, make_key, enterprise):
    """Names and tags are shown to everyone in the workspace, and in flash messages after a
    save: a whole key typed there is refused (a 400 naming the field), never stored."""
    from core.fields import KEY_IN_TEXT
    from tests.factories import ProjectFactory

    key, secret = make_key(enterprise, name="target")
    ProjectFactory(workspace=enterprise, slug="cats")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    for method, path, body, field in [
        ("POST", "/acme/api-keys", {"name": pasted["whole"]}, "name"),
        ("PATCH", f"/acme/api-keys/{key.key_id}", {"name": f"ci {pasted['whole']}"}, "name"),
        ("POST", "/acme/projects", {"name": pasted["whole"], "type": "object-detection", "annotation": "a"}, "name"),
    ]:
        response = client.generic(method, path, json.dumps(body), content_type="application/json", **auth)
        assert response.status_code == 400, response.content
        assert response.json()["error"]["fields"][field] == [KEY_IN_TEXT]
        assert_not_echoed(response, pasted, "whole")
    client.force_login(owner)
    edit = reverse("apikeys:edit", kwargs={"ws": "acme", "key_id": key.key_id})
    response = client.post(edit, {"name": pasted["whole"], "access": "full", "folder_limit": "all"})
    assert KEY_IN_TEXT in response.content.decode()
    key.refresh_from_db()
    assert key.name == "target"
    assert not ApiKey.objects.filter(name__contains="sak_").exists()
