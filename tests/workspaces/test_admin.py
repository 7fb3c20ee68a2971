"""The admin's JSON fields refuse what the API's parsers refuse: an operator typing NaN or
1e999 (which Python's json reads as numbers PostgreSQL cannot store) gets a form error, not a
500, and nothing is saved."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import ImageFactory, ProjectFactory
from web.demo import demo_png
from workspaces.models import Image

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(enterprise):
    project = ProjectFactory(workspace=enterprise, slug="cats")
    return ImageFactory(project=project, file=SimpleUploadedFile("c.png", demo_png("c")), metadata={"a": 1})


def change(admin_client, image, metadata: str):
    url = reverse("admin:workspaces_image_change", args=[image.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) for name in form.fields if form.initial.get(name) is not None}
    data.update(
        {
            "project": image.project_id,
            "split": image.split,
            "tags": "[]",
            "labels": "[]",
            "annotation": "null",
            "metadata": metadata,
        }
    )
    data.pop("file", None)
    return admin_client.post(url, data)


@pytest.mark.parametrize(
    "metadata", ['{"a": 1e999}', '{"a": [NaN]}', '{"a": -Infinity}', '{"a": "x\\u0000y"}', '{"\\ud800": 1}']
)
def test_an_unstorable_json_value_is_a_form_error(admin_client, image, metadata):
    response = change(admin_client, image, metadata)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["metadata"]
    assert Image.objects.get(pk=image.pk).metadata == {"a": 1}


def test_a_storable_json_value_is_saved(admin_client, image):
    response = change(admin_client, image, '{"a": 1.25e3, "b": "ok"}')
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Image.objects.get(pk=image.pk).metadata == {"a": 1250, "b": "ok"}


def test_operators_see_the_workers_state_but_never_write_it(admin_client, enterprise):
    from tests.factories import VersionFactory
    from workspaces import services
    from workspaces.models import Export, Work

    version = VersionFactory(
        project=ProjectFactory(workspace=enterprise, slug="cats"), state=Work.PENDING, progress=0.5
    )
    page = admin_client.get(reverse("admin:workspaces_version_change", args=[version.pk]))
    form = page.context["adminform"].form
    assert not {"state", "progress", "failure", "attempts", "lease_until", "task_id"} & set(form.fields)
    assert admin_client.get(reverse("admin:workspaces_version_changelist") + "?state__exact=pending").status_code == 200

    version.state = Work.READY
    version.save()
    export = services.export_request(version=version, format="coco")
    assert admin_client.get(reverse("admin:workspaces_export_changelist")).status_code == 200
    shown = admin_client.get(reverse("admin:workspaces_export_change", args=[export.pk]))
    assert shown.status_code == 200 and b"coco" in shown.content
    assert (
        admin_client.post(reverse("admin:workspaces_export_delete", args=[export.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Export.objects.filter(pk=export.pk).exists()
