"""The authorization matrix: every API route and method against every kind of key.

The matrix is built from the URL configuration (`tests.routes.api_routes`) and the scope
registry (`apikeys.scopes`), never from a hand-written list: a new route or method joins it
by existing. For each (route, method):

- a full-access key is allowed;
- a key holding exactly the declared scope(s) is allowed;
- a key holding every other scope of the registry but one required scope gets a 403 that
  names that scope (once per required scope);
- a key of another workspace gets a 404, as if the object did not exist;
- a key limited to another folder gets a 404 on project-bound routes;
- disabled, expired, revoked and rolled-away keys get a 401 `invalid_token`;
- no key gets a 401 `missing_token`.

"Allowed" means the request got past authentication and authorization: not a 401, 403 or
404, and not a server error. The body is a harmless empty object, so a 400 validation error
for a missing field counts as allowed (and is the only error that does).
"""

import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core import signing
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.utils import timezone
from rest_framework.parsers import JSONParser

from apikeys import authentication, keyformat
from apikeys.models import ApiKey
from apikeys.scopes import ANY_KEY, SCOPE_NAMES
from apikeys.services import api_key_revoke
from tests.factories import FolderFactory, ImageFactory, ModelFactory, ProjectFactory, VersionFactory
from tests.keys import roll_key
from tests.routes import Route, api_routes, openapi_path
from workspaces import services
from workspaces.actors import Actor
from workspaces.models import Folder

PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
pytestmark = pytest.mark.django_db

WORLD_PARAMS = {"ws", "project", "folder_id", "image_id", "version", "model_id", "key_id", "export_format"}
REFUSALS = (401, 403, 404)


@dataclass(frozen=True)
class Action:
    route: Route
    method: str

    @property
    def required(self) -> tuple[str, ...] | None:
        return self.route.required(self.method)

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.route.pattern)

    @property
    def project_bound(self) -> bool:
        return "project" in self.params

    @property
    def any_key(self) -> bool:
        return self.required is not None and ANY_KEY in self.required

    def __str__(self) -> str:
        return f"{self.method} {openapi_path(self.route.pattern)}"


ROUTES = api_routes()
ACTIONS = [Action(route, method) for route in ROUTES for method in route.methods]
DECLARED = [a for a in ACTIONS if a.required is not None]
DEAD_STATES = {
    "disabled": authentication.DISABLED,
    "expired": authentication.EXPIRED,
    "revoked": authentication.REVOKED,
    "rolled": authentication.ROLLED,
}

# The cases of the matrix, one list per kind of caller.
FULL_ACCESS = ACTIONS
EXACT_SCOPES = DECLARED
ALL_BUT_ONE = [(a, scope) for a in DECLARED if not a.any_key for scope in a.required or ()]
OTHER_WORKSPACE = ACTIONS
OTHER_FOLDER = [a for a in ACTIONS if a.project_bound]
DEAD_KEYS = [(a, state) for a in ACTIONS for state in DEAD_STATES]
NO_KEY = ACTIONS
CASES = {
    "full access": len(FULL_ACCESS),
    "exactly the required scopes": len(EXACT_SCOPES),
    "every other scope": len(ALL_BUT_ONE),
    "another workspace": len(OTHER_WORKSPACE),
    "another folder": len(OTHER_FOLDER),
    "dead keys": len(DEAD_KEYS),
    "no key": len(NO_KEY),
}


def action_id(value) -> str:
    return str(value)


# The world the requests act on --------------------------------------------------------


@dataclass
class World:
    values: dict[str, str]
    folder_b: Folder


@pytest.fixture
def world(enterprise, make_key):
    """In `acme`: folder A with project `proj` (an image, version 1 exported in coco, a model), an empty folder B,
    and a key without scopes for the key-management routes to act on."""
    folder_a = FolderFactory(workspace=enterprise, name="A")
    folder_b = FolderFactory(workspace=enterprise, name="B")
    project = ProjectFactory(workspace=enterprise, slug="proj", folder=folder_a)
    image = ImageFactory(project=project)
    version = VersionFactory(project=project, number=1)
    services.export_request(version=version, format="coco")  # built (in this process): downloadable
    model = ModelFactory(project=project)
    target, _ = make_key(enterprise, name="Target", scopes=[])
    values = {
        "ws": enterprise.url,
        "project": project.slug,
        "folder_id": str(folder_a.pk),
        "image_id": str(image.pk),
        "version": "1",
        "model_id": str(model.pk),
        "key_id": target.key_id,
        "export_format": "coco",
    }
    return World(values=values, folder_b=folder_b)


def path_of(action: Action, world: World) -> str:
    return "/" + PARAM.sub(lambda m: world.values[m.group(1)], action.route.pattern)


def link(path: str, secret: str) -> str:
    """`path` with the token of a download link that the key of `secret` asked for."""
    parsed = keyformat.parse(secret)
    assert parsed is not None
    key_id = parsed.key_id
    return f"{path}?{urlencode({'token': signing.dumps({'k': key_id, 'p': path}, salt=authentication.LINK_SALT)})}"


def call(client, action: Action, world: World, secret: str | None = None):
    """The request of `action` with an empty body, as JSON when the view parses JSON, else
    multipart; on a download link's route, the key is in the link's token."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret is not None else {}
    path = path_of(action, world)
    if authentication.LinkAuthentication in action.route.initkwargs.get("authentication_classes", ()):
        return client.get(path if secret is None else link(path, secret))
    if action.method == "GET":
        return client.get(path, **headers)
    if any(issubclass(parser, JSONParser) for parser in action.route.parser_classes):
        return client.generic(action.method, path, b"{}", content_type="application/json", **headers)
    return client.generic(
        action.method, path, encode_multipart(BOUNDARY, {}), content_type=MULTIPART_CONTENT, **headers
    )


def described(response) -> str:
    content = b"<streamed>" if response.streaming else response.content[:500]
    return f"got {response.status_code}: {content!r}"


def error_of(response, status: int, type_: str) -> dict:
    assert response.status_code == status, f"expected {status} {type_}, {described(response)}"
    error = response.json()["error"]
    assert error["type"] == type_, f"expected {status} {type_}, {described(response)}"
    return error


def assert_allowed(response) -> None:
    """Past authentication and authorization: a success, or the view's own validation of the empty body."""
    try:
        expectation = f"expected to get past authorization, {described(response)}"
        assert response.status_code not in REFUSALS and response.status_code < 500, expectation
        if response.status_code >= 400:
            assert response.json()["error"]["type"] == "validation_error", expectation
    finally:
        response.close()


# The matrix itself --------------------------------------------------------------------


def test_every_api_action_declares_its_scopes():
    undeclared = [str(a) for a in ACTIONS if a.required is None]
    assert not undeclared, f"API actions without a declared scope: {', '.join(undeclared)}"


def test_every_declared_scope_is_in_the_registry():
    unknown = sorted({f"{a}: {s}" for a in DECLARED for s in a.required or () if s not in (*SCOPE_NAMES, ANY_KEY)})
    assert not unknown, f"API actions declaring scopes the registry does not know: {unknown}"


def test_only_the_api_root_accepts_any_valid_key():
    any_key = sorted(str(a) for a in DECLARED if a.any_key)
    assert any_key == ["GET /", "POST /"]
    assert all(a.required == (ANY_KEY,) for a in DECLARED if a.any_key), "'*' must stand alone"


# GET actions that need more than a read scope, and why.
GUARDED_READS = {"GET /{ws}/trash": "the trash shows what was deleted: it needs the scope that deletes"}


def test_reading_needs_only_read_scopes_and_changing_needs_more_than_reading():
    writes_on_read = [
        f"{a}: {a.required}"
        for a in DECLARED
        if a.method == "GET"
        and not a.any_key
        and str(a) not in GUARDED_READS
        and not all(s.endswith(":read") for s in a.required or ())
    ]
    reads_on_write = [
        f"{a}: {a.required}"
        for a in DECLARED
        if a.method in ("PATCH", "DELETE") and all(s.endswith(":read") for s in a.required or ())
    ]
    assert not writes_on_read, f"GET actions that need a scope other than a read scope: {writes_on_read}"
    assert not reads_on_write, f"PATCH and DELETE actions that a read scope alone allows: {reads_on_write}"


def test_the_matrix_covers_every_api_route_and_method(capsys):
    assert ROUTES, "the URL configuration yields no API route"
    assert all(route.methods for route in ROUTES), "every API route maps a method"
    unknown = sorted({f"{a}: <{p}>" for a in ACTIONS for p in a.params if p not in WORLD_PARAMS})
    assert not unknown, f"URL parameters the matrix's world cannot fill: {unknown}"
    total = sum(CASES.values())
    breakdown = ", ".join(f"{name} {count}" for name, count in CASES.items())
    with capsys.disabled():
        print(
            f"\nauthorization matrix: {len(ROUTES)} routes × their methods = {len(ACTIONS)} actions; "
            f"{total} cases ({breakdown})"
        )


@pytest.mark.parametrize("action", FULL_ACCESS, ids=action_id)
def test_a_full_access_key_is_allowed(client, world, make_key, enterprise, action):
    _, secret = make_key(enterprise, name="Full access")
    assert_allowed(call(client, action, world, secret))


@pytest.mark.parametrize("action", EXACT_SCOPES, ids=action_id)
def test_a_key_with_exactly_the_required_scopes_is_allowed(client, world, make_key, enterprise, action):
    # The API root needs no scope at all: a key holding none is enough.
    scopes = [] if action.any_key else list(action.required)
    _, secret = make_key(enterprise, name="Exact", scopes=scopes)
    assert_allowed(call(client, action, world, secret))


@pytest.mark.parametrize(("action", "missing"), ALL_BUT_ONE, ids=action_id)
def test_a_key_with_every_scope_but_a_required_one_is_refused_naming_it(
    client, world, make_key, enterprise, action, missing
):
    _, secret = make_key(enterprise, name="All but one", scopes=[s for s in SCOPE_NAMES if s != missing])
    response = call(client, action, world, secret)
    error = error_of(response, 403, "insufficient_scope")
    assert error["scope"] == missing
    assert missing in error["message"]
    challenge = response["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and f'scope="{missing}"' in challenge


@pytest.mark.parametrize("action", OTHER_WORKSPACE, ids=action_id)
def test_a_key_of_another_workspace_finds_nothing(client, world, make_key, free, action):
    _, secret = make_key(free, name="Hobby key")
    response = call(client, action, world, secret)
    if "ws" not in action.params and "project" not in action.params:
        # No workspace in the path (the API root, the plan): the answer is the key's own.
        assert response.status_code == 200, described(response)
        body = response.json()
        assert body.get("workspace", body.get("plan", {}).get("workspace")) == free.url
        return
    error_of(response, 404, "not_found")


@pytest.mark.parametrize("action", OTHER_FOLDER, ids=action_id)
def test_a_key_limited_to_another_folder_finds_no_project_outside_it(client, world, make_key, enterprise, action):
    _, secret = make_key(enterprise, name="Folder B", folder_ids=[world.folder_b.pk])
    response = call(client, action, world, secret)
    error_of(response, 404, "not_found")


def dead_key(state: str, workspace, make_key) -> str:
    if state == "disabled":
        return make_key(workspace, name="Disabled", disabled=True)[1]
    if state == "expired":
        key, secret = make_key(workspace, name="Expired", expires_at=timezone.now() + timedelta(seconds=30))
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        return secret
    key, secret = make_key(workspace, name=state.capitalize())
    if state == "revoked":
        api_key_revoke(key=key, actor=Actor())
    else:
        roll_key(key=key, actor=Actor())
    return secret


@pytest.mark.parametrize(("action", "state"), DEAD_KEYS, ids=action_id)
def test_a_dead_key_is_unauthenticated(client, world, make_key, enterprise, action, state):
    secret = dead_key(state, enterprise, make_key)
    response = call(client, action, world, secret)
    error = error_of(response, 401, "invalid_token")
    assert error["message"] == DEAD_STATES[state]
    assert response["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')


@pytest.mark.parametrize("action", NO_KEY, ids=action_id)
def test_a_request_without_a_key_is_unauthenticated(client, world, action):
    response = call(client, action, world)
    error_of(response, 401, "missing_token")
    assert response["WWW-Authenticate"].startswith('Bearer realm="api"')
