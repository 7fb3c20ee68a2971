"""Schema fuzzing: schemathesis generates requests from our own OpenAPI schema and sends them to
the app on a live server, with two keys: a full-access key, and a narrowly scoped key limited
to one folder. For every response:

- never a 5xx;
- the status, content type, headers and body are the ones the schema documents;
- a request the schema calls valid (positive mode) is never refused as invalid (400, 413, 415,
  422), but for the business rules an operation lists as no schema can state them
  (`x-business-rules`: a folder that must exist, a date ahead of today);
- a request that breaks the schema (negative mode) is refused with a 4xx;
- the scoped key never gets a 2xx from an operation whose `x-required-scopes` it lacks, nor from
  a project outside its folder.

Path parameters are either generated or the real objects of a seeded workspace, so requests
reach past the 404s into the views. Uploaded images are real ones of each type the schema names
(schemathesis cannot make images). Operations that delete run last. `FUZZ_EXAMPLES` sets the
number of examples per operation and mode, about 75 requests per key each: 40 by default and in
CI (about 3,000 requests per key), 12 in `make test` (about 900), 400 in `make fuzz`. The run
reports how many it sent (`record_property`, printed at the end of the run by tests/conftest.py).
"""

import io
import os
import threading

import pytest
import requests
import schemathesis
from django.core.files.base import ContentFile
from django.core.signals import request_started
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from PIL import Image as PILImage
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import ImageFactory, ModelFactory, VersionFactory
from tests.keys import create_key
from web.demo import demo_png
from workspaces.actors import Actor
from workspaces.models import IMAGE_FORMATS, Folder, Plan, Project, Workspace

pytestmark = [pytest.mark.live, pytest.mark.fuzz]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
SCOPED = ["workspace:read", "project:read", "folder:read", "image:read", "image:tag", "version:read", "api-key:read"]


def valid_data_is_accepted(ctx, response, case):
    """`positive_data_acceptance`, but a 400 naming only fields whose rules the operation lists
    in `x-business-rules` (rules no schema can state) is the server applying them."""
    if response.status_code == 400:
        rules = case.operation.definition.raw.get("x-business-rules", {})
        try:
            refused = response.json()["error"].get("fields") or {}
        except (ValueError, KeyError, AttributeError):
            refused = {}
        if refused and set(refused) <= set(rules):
            return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    valid_data_is_accepted,
]


def images_of(image_format: str) -> list[bytes]:
    images = []
    for colour in ("red", "green", "blue"):
        buffer = io.BytesIO()
        PILImage.new("RGB", (3, 2), colour).save(buffer, format=image_format)
        images.append(buffer.getvalue())
    return images


for image_format, (_, media_type) in IMAGE_FORMATS.items():
    schemathesis.openapi.media_type(media_type, st.sampled_from(images_of(image_format)))


def seed_world() -> dict:
    """The objects the fuzzer's real path parameters name; idempotent, so deleted ones return."""
    workspace, _ = Workspace.objects.get_or_create(url="acme", defaults={"name": "Acme", "plan": Plan.ENTERPRISE})
    world: dict = {"ws": "acme"}
    for slug, folder_name in [("cats", "Inside"), ("dogs", "Outside")]:
        folder, _ = Folder.objects.get_or_create(workspace=workspace, name=folder_name)
        project, _ = Project.objects.get_or_create(
            workspace=workspace, slug=slug, defaults={"name": slug.title(), "folder": folder, "annotation": "pets"}
        )
        image = project.images.first() or ImageFactory.create(
            project=project, file=ContentFile(demo_png(slug), name=f"{slug}.png")
        )
        version = project.versions.first() or VersionFactory.create(project=project, number=1)
        model = project.models.first() or ModelFactory.create(project=project, version=version)
        world[folder_name.lower()] = folder
        world[slug] = {"project": slug, "image_id": image.pk, "version": version.number, "model_id": model.pk}
    return world


@pytest.fixture
def world(transactional_db, settings):
    settings.API_RATE_LIMIT = "100000/min"
    settings.API_AUTH_FAILURE_LIMIT = "100000/min"
    settings.ALLOWED_HOSTS = ["*"]
    world = seed_world()
    workspace = Workspace.objects.get(url="acme")
    operator = Actor()
    world["full"] = create_key(workspace=workspace, actor=operator, name="fuzz full")[1]
    world["scoped"] = create_key(
        workspace=workspace, actor=operator, name="fuzz scoped", scopes=SCOPED, folder_ids=[world["inside"].pk]
    )[1]
    victim, _ = create_key(workspace=workspace, actor=operator, name="victim", folder_ids=[world["inside"].pk])
    world["key_id"] = victim.key_id
    return world


@pytest.fixture
def served():
    """Requests the app served, counted on the server side."""
    count, lock = {"n": 0}, threading.Lock()

    def on_request(**kwargs):
        with lock:
            count["n"] += 1

    request_started.connect(on_request, weak=False)
    yield count
    request_started.disconnect(on_request)


def scope_check(allowed: set[str] | None, outside_projects: set[str]):
    """A custom check: a 2xx only for operations whose scopes the key holds, in its folders."""

    def key_stays_in_its_scopes(ctx, response, case):
        if not 200 <= response.status_code < 300 or allowed is None:
            return
        required = set(case.operation.definition.raw.get("x-required-scopes", [])) - {"*"}
        assert required <= allowed, f"2xx from {case.operation.label} without {sorted(required - allowed)}"
        project = (case.path_parameters or {}).get("project") if "{project}" in case.operation.path else None
        assert project not in outside_projects, (
            f"2xx from {case.operation.label} on {project}, outside the key's folder"
        )

    return key_stays_in_its_scopes


def real_parameters(world: dict, project: str) -> dict:
    return {
        "ws": "acme",
        "folder_id": world["inside" if project == "cats" else "outside"].pk,
        "key_id": world["key_id"],
        **world[project],
    }


def fuzz(schema, world: dict, secret: str, allowed: set[str] | None) -> int:
    sent = [0]
    check = scope_check(allowed, set() if allowed is None else {"dogs"})
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: op.method.upper() == "DELETE")  # deletions last
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {secret}"
        for operation in operations:
            json_body = all("json" in t for t in operation.get_request_payload_content_types())
            for mode in schemathesis.GenerationMode:
                checks = [*CHECKS, negative_data_rejection] if (json_body and not mode.is_positive) else CHECKS
                strategy = st.one_of(
                    operation.as_strategy(generation_mode=mode, path_parameters={"ws": "acme"}),
                    operation.as_strategy(generation_mode=mode, path_parameters=real_parameters(world, "cats")),
                    operation.as_strategy(generation_mode=mode, path_parameters=real_parameters(world, "dogs")),
                )
                try:
                    send_examples(strategy, session, checks, check, sent)
                except Unsatisfiable:
                    assert not mode.is_positive  # nothing to break: no parameters and no body
                seed_world()  # bring back what a request deleted
    return sent[0]


def send_examples(strategy, session, checks, extra_check, sent: list[int]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        sent[0] += 1
        case.call_and_validate(session=session, checks=checks, additional_checks=[extra_check])

    run()


def load_schema(live_server):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema")
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    return schema


def test_the_full_access_key_meets_the_schema(live_server, world, served, record_property):
    schema = load_schema(live_server)
    served["n"] = 0
    sent = fuzz(schema, world, world["full"], allowed=None)
    record_property("requests sent", f"{sent} (FUZZ_EXAMPLES={EXAMPLES}), {served['n']} served")
    assert sent >= 50 * EXAMPLES
    assert served["n"] >= sent


def test_the_scoped_folder_limited_key_never_escapes(live_server, world, served, record_property):
    schema = load_schema(live_server)
    served["n"] = 0
    sent = fuzz(schema, world, world["scoped"], allowed=set(SCOPED))
    record_property("requests sent", f"{sent} (FUZZ_EXAMPLES={EXAMPLES}), {served['n']} served")
    assert sent >= 50 * EXAMPLES
    assert served["n"] >= sent
