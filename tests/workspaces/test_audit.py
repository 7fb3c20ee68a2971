"""Destructive changes to a workspace's data (trash, restore, delete, purge) are recorded in the
same audit log as the keys' events, with the key (or user, or operator) that made them, and
show on the workspace's activity page."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from apikeys.models import AuditAction, AuditEvent
from tests.workspaces.test_resource_api import Client
from workspaces import audit
from workspaces.actors import Actor
from workspaces.models import Project
from workspaces.services import project_trash

pytestmark = pytest.mark.django_db


@pytest.fixture
def janitor(client, enterprise, make_key):
    key, secret = make_key(enterprise, name="janitor")
    return key, Client(client, secret)


def data_events():
    return [
        (event.action, event.subject, event.actor_key_id)
        for event in AuditEvent.objects.filter(api_key=None).order_by("created", "id")
    ]


def test_every_destructive_change_through_the_api_is_recorded_with_its_key(janitor, world):
    key, api = janitor
    shelf = world["shelf"]
    assert api.delete("/acme/shelf/1").status_code == 200
    assert api.post("/acme/trash/restore", {"type": "version", "id": 1, "parentId": shelf.pk}).status_code == 200
    assert api.delete("/acme/shelf/images", {"images": [world["image"].pk]}).status_code == 200
    assert api.delete(f"/acme/shelf/models/{world['model'].pk}").status_code == 200
    assert api.delete(f"/acme/groups/{world['factory'].pk}").status_code == 200
    assert api.delete("/acme/shelf").status_code == 200
    assert api.post("/acme/trash/restore", {"type": "project", "id": shelf.pk}).status_code == 200
    assert data_events() == [
        (AuditAction.TRASH, "version 1 of project shelf", key.pk),
        (AuditAction.RESTORE, "version 1 of project shelf", key.pk),
        (AuditAction.DELETE, "1 image of project shelf", key.pk),
        (AuditAction.DELETE, "model best of project shelf", key.pk),
        (AuditAction.DELETE, "folder Factory", key.pk),
        (AuditAction.TRASH, "project Shelf (shelf)", key.pk),
        (AuditAction.RESTORE, "project Shelf (shelf)", key.pk),
    ]
    image_event = AuditEvent.objects.get(subject="1 image of project shelf")
    assert image_event.before == {"project": shelf.pk, "images": [world["image"].pk]}
    assert image_event.actor_label == f"API key janitor ({key.prefix})"
    assert all(e.workspace_id == shelf.workspace_id for e in AuditEvent.objects.filter(api_key=None))


def test_workspace_wide_image_deletes_are_recorded_per_project_and_skipped_ids_are_not(janitor, world):
    key, api = janitor
    other = world["shelf"].images.exclude(pk=world["image"].pk).get()
    body = {"images": [world["image"].pk, other.pk, 999999]}
    assert api.delete("/acme/images", body).json()["deleted"] == 2
    assert data_events() == [(AuditAction.DELETE, "2 images of project shelf", key.pk)]
    assert api.delete("/acme/images", {"images": [999999]}).json()["deleted"] == 0
    assert len(data_events()) == 1  # nothing deleted, nothing recorded


def test_a_refused_delete_records_nothing(janitor, world):
    _, api = janitor
    assert api.delete("/acme/shelf/images", {"images": [world["image"].pk, 999999]}).status_code == 404
    assert data_events() == []


def test_the_purge_is_recorded_as_the_operator(world):
    project_trash(project=world["loose"], actor=Actor(system="test"))
    Project.objects.filter(slug="loose").update(deleted_at=timezone.now() - timedelta(days=31))
    call_command("purge_trash", stdout=io.StringIO())
    [trashed, purged] = AuditEvent.objects.filter(api_key=None).order_by("id")
    assert (trashed.action, trashed.actor_label) == (AuditAction.TRASH, "system (test)")
    assert purged.action == AuditAction.DELETE and purged.subject == "project Loose (loose)"
    assert purged.actor_label.startswith("system (operator ")


def test_the_activity_page_shows_which_key_deleted_what_to_its_own_workspace_only(client, owner, janitor, world, free):
    _, api = janitor
    api.delete("/acme/shelf")
    client.force_login(owner)  # an owner of both workspaces
    page = client.get(reverse("apikeys:activity", kwargs={"ws": "acme"})).content.decode()
    assert "Moved to the trash <strong>project Shelf (shelf)</strong>" in page
    assert "API key janitor" in page
    other = client.get(reverse("apikeys:activity", kwargs={"ws": "hobby"})).content.decode()
    assert "project Shelf" not in other and "janitor" not in other
    assert AuditEvent.objects.filter(workspace=free).count() == 0


def test_a_second_restore_changes_and_records_nothing(world):
    from workspaces.services import project_restore

    operator = Actor(system="test")
    trashed = project_trash(project=world["loose"], actor=operator)
    project_restore(project=trashed, actor=operator)
    project_restore(project=trashed, actor=operator)  # a second click, a moment later
    assert [e.action for e in AuditEvent.objects.filter(api_key=None).order_by("id")] == [
        AuditAction.TRASH,
        AuditAction.RESTORE,
    ]


def test_deletes_in_the_admin_go_through_the_services_and_are_recorded(admin_client, world):
    from workspaces.models import Folder, Image, Model, Version

    image, model, version = world["image"], world["model"], world["shelf"].versions.get()
    admin_client.post(
        reverse("admin:workspaces_image_changelist"),
        {"action": "delete_selected", "_selected_action": [image.pk], "post": "yes"},
    )
    for name, obj in [("model", model), ("version", version), ("folder", world["factory"]), ("project", world["line"])]:
        admin_client.post(reverse(f"admin:workspaces_{name}_delete", args=[obj.pk]), {"post": "yes"})
    assert not Image.objects.filter(pk=image.pk).exists() and not Model.objects.filter(pk=model.pk).exists()
    assert not Version.objects.filter(pk=version.pk).exists() and not Folder.objects.filter(name="Factory").exists()
    assert [(e.action, e.subject) for e in AuditEvent.objects.filter(api_key=None).order_by("id")] == [
        (AuditAction.DELETE, "1 image of project shelf"),
        (AuditAction.DELETE, "model best of project shelf"),
        (AuditAction.DELETE, "version 1 of project shelf"),
        (AuditAction.DELETE, "folder Factory"),
        (AuditAction.DELETE, "project Line (line)"),
    ]
    assert {e.actor_label for e in AuditEvent.objects.filter(api_key=None)} == {"admin"}


def test_a_destructive_change_nobody_would_record_is_refused(world, monkeypatch):
    monkeypatch.setattr(audit, "_recorders", [])
    with pytest.raises(RuntimeError):
        project_trash(project=world["loose"], actor=Actor(system="test"))
    assert Project.objects.get(slug="loose").deleted_at is None
