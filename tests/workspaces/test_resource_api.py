"""The workspace resource endpoints of SPEC §5, driven as an API client would."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import ImageFactory
from web.demo import demo_png
from workspaces.models import Image, Model, Project, Version

pytestmark = pytest.mark.django_db


class Client:
    def __init__(self, client, secret):
        self.client, self.auth = client, {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def __getattr__(self, method):
        def call(path, body=None, **extra):
            kwargs = {**self.auth, **extra}
            if body is not None and any(isinstance(v, SimpleUploadedFile) for v in body.values()):
                kwargs.update(data=body)  # multipart
            elif body is not None:
                kwargs.update(data=body, content_type="application/json")
            return getattr(self.client, method)(path, **kwargs)

        return call


@pytest.fixture
def full(client, enterprise, make_key):
    return Client(client, make_key(enterprise, name="full")[1])


def error(response):
    return response.json()["error"]


class TestWorkspaceAndProjects:
    def test_workspace_lists_projects_and_members_in_the_sdk_shape(self, full, world, owner):
        body = full.get("/acme").json()["workspace"]
        assert body["url"] == "acme" and body["name"] == "Acme"
        assert sorted(p["id"] for p in body["projects"]) == ["acme/line", "acme/loose", "acme/shelf"]
        assert {"email": "owner@example.com", "role": "owner"}.items() <= body["members"][0].items()

    def test_project_shape_matches_what_the_sdk_reads(self, full, world):
        body = full.get("/acme/shelf").json()
        project = body["project"]
        for field in [
            "annotation",
            "classes",
            "colors",
            "created",
            "updated",
            "id",
            "images",
            "name",
            "public",
            "splits",
            "type",
            "unannotated",
        ]:
            assert field in project
        assert project["id"] == "acme/shelf"
        assert project["images"] == 2 and project["splits"] == {"train": 1, "valid": 1, "test": 0}
        assert isinstance(project["created"], float)
        assert set(project["colors"]) == {"can"}
        assert [v["version"] for v in body["versions"]] == [1]

    def test_create_update_and_delete_a_project(self, full, world, enterprise):
        response = full.post(
            "/acme/projects", {"name": "Cars", "type": "object-detection", "annotation": "cars", "license": "MIT"}
        )
        assert response.status_code == 201
        assert response.json()["id"] == "acme/cars"
        again = full.post("/acme/projects", {"name": "Cars", "type": "object-detection", "annotation": "cars"})
        assert again.json()["id"] == "acme/cars-2"
        patched = full.patch("/acme/cars", {"name": "Cars!", "public": True})
        assert patched.json()["project"]["name"] == "Cars!" and patched.json()["project"]["public"] is True
        deleted = full.delete("/acme/cars").json()
        cars = Project.objects.get(workspace=enterprise, slug="cars")
        assert deleted["deleted"] is True and deleted["url"] == "cars" and deleted["id"] == str(cars.pk)
        assert cars.deleted_at is not None and deleted["deletedBy"].startswith("API key full")
        # In the trash: out of every route and listing, its slug still taken until it is purged.
        assert full.get("/acme/cars").status_code == 404
        assert "acme/cars" not in [p["id"] for p in full.get("/acme").json()["workspace"]["projects"]]
        assert (
            full.post("/acme/projects", {"name": "Cars", "type": "object-detection", "annotation": "c"}).json()["id"]
            == "acme/cars-3"
        )

    def test_project_slugs_never_take_an_api_word(self, full, world):
        response = full.post("/acme/projects", {"name": "Search", "type": "object-detection", "annotation": "x"})
        assert response.json()["id"] == "acme/search-project"

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "x", "type": "telepathy", "annotation": "x"},
            {"name": "x", "type": "object-detection"},
            {"name": "", "type": "object-detection", "annotation": "x"},
            {"name": "x", "type": "object-detection", "annotation": "x", "workspace": "hobby"},
            {"name": "x", "type": "object-detection", "annotation": "x", "folderId": "abc"},
        ],
    )
    def test_bad_project_bodies_are_400s_and_create_nothing(self, full, world, body):
        before = Project.objects.count()
        response = full.post("/acme/projects", body)
        assert response.status_code == 400
        assert error(response)["type"] == "validation_error"
        assert Project.objects.count() == before

    def test_purging_a_trashed_project_removes_its_files_once_committed(
        self, full, world, django_capture_on_commit_callbacks
    ):
        from datetime import timedelta
        from pathlib import Path

        from django.core.management import call_command
        from django.utils import timezone

        path = world["image"].file.path
        weights = world["model"].weights.path
        assert full.delete("/acme/shelf").status_code == 200
        assert Path(path).exists() and Path(weights).exists()  # in the trash, restorable
        with django_capture_on_commit_callbacks(execute=True):
            call_command("purge_trash", stdout=io.StringIO())  # not due yet
        assert Project.objects.filter(slug="shelf").exists()
        Project.objects.filter(slug="shelf").update(deleted_at=timezone.now() - timedelta(days=31))
        out = io.StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("purge_trash", stdout=out)
        assert "acme/shelf" in out.getvalue()
        assert not Project.objects.filter(slug="shelf").exists()
        assert not Path(path).exists() and not Path(weights).exists()


class TestFolders:
    def test_list_create_rename_move_and_delete(self, full, world):
        groups = {g["name"]: g for g in full.get("/acme/groups").json()["groups"]}
        assert groups["Retail"]["projects"] == ["shelf"]
        created = full.post("/acme/groups", {"name": "New", "projects": ["loose"]})
        assert created.status_code == 201
        new_id = created.json()["group"]["id"]
        assert Project.objects.get(slug="loose").folder_id == int(new_id)
        assert full.post("/acme/groups", {"name": "New"}).status_code == 409
        assert full.patch(f"/acme/groups/{new_id}", {"name": "Renamed"}).json()["group"]["name"] == "Renamed"
        moved = full.patch(f"/acme/groups/{new_id}/projects", {"projects": ["line"]})
        assert sorted(moved.json()["group"]["projects"]) == ["line", "loose"]
        out = full.delete(f"/acme/groups/{new_id}/projects", {"projects": ["line"]})
        assert out.json()["group"]["projects"] == ["loose"]
        assert full.patch(f"/acme/groups/{new_id}/projects", {"projects": ["nope"]}).status_code == 400
        assert full.delete(f"/acme/groups/{new_id}").json()["status"] == "deleted"
        assert Project.objects.get(slug="loose").folder is None  # projects stay

    def test_a_folder_limited_key_sees_only_its_folders_projects(self, client, enterprise, world, make_key):
        limited = Client(client, make_key(enterprise, name="retail only", folder_ids=[world["retail"].pk])[1])
        assert [p["id"] for p in limited.get("/acme").json()["workspace"]["projects"]] == ["acme/shelf"]
        assert [g["name"] for g in limited.get("/acme/groups").json()["groups"]] == ["Retail"]
        for path in ["/acme/line", "/acme/loose", f"/acme/groups/{world['factory'].pk}", "/acme/line/models"]:
            response = limited.get(path)
            assert response.status_code == 404, path
            assert error(response)["type"] == "not_found"
        assert limited.post("/acme/groups", {"name": "Mine"}).status_code == 403
        no_folder = limited.post("/acme/projects", {"name": "X", "type": "object-detection", "annotation": "x"})
        assert no_folder.status_code == 403
        in_folder = limited.post(
            "/acme/projects",
            {"name": "X", "type": "object-detection", "annotation": "x", "folderId": world["retail"].pk},
        )
        assert in_folder.status_code == 201
        other = limited.post(
            "/acme/projects",
            {"name": "Y", "type": "object-detection", "annotation": "x", "folderId": world["factory"].pk},
        )
        assert other.status_code == 404


class TestImages:
    def test_details_download_tags_search_and_delete(self, full, world):
        image = world["image"]
        details = full.get(f"/acme/shelf/images/{image.pk}").json()["image"]
        assert details["width"] == image.width and details["tags"] == ["a"]
        download = full.get(details["url"])
        assert download.status_code == 200
        with image.file.open("rb") as f:
            assert b"".join(download.streaming_content) == f.read()
        tagged = full.post(
            f"/acme/shelf/images/{image.pk}/tags", {"operation": "add", "tags": ["x", "a"], "metadata": {"cam": 1}}
        )
        assert tagged.json()["image"]["tags"] == ["a", "x"] and tagged.json()["image"]["metadata"]["cam"] == 1
        removed = full.post(f"/acme/shelf/images/{image.pk}/tags", {"operation": "remove", "tags": ["a"]})
        assert removed.json()["image"]["tags"] == ["x"]
        found = full.post("/acme/shelf/search", {"tag": "x"}).json()
        assert found["total"] == 1 and found["results"][0]["id"] == str(image.pk)
        assert full.post("/acme/shelf/search", {"split": "valid", "batch_id": "nightly"}).json()["total"] == 1
        page = full.post("/acme/shelf/search", {"limit": 1, "offset": 1}).json()
        assert page["total"] == 2 and len(page["results"]) == 1
        assert full.post("/acme/shelf/search", {"limit": 0}).status_code == 400
        assert full.delete("/acme/shelf/images", {"images": [image.pk, 999999]}).status_code == 404
        assert Image.objects.filter(pk=image.pk).exists()  # all or nothing
        assert full.delete("/acme/shelf/images", {"images": [image.pk]}).json() == {"deleted": [str(image.pk)]}
        assert not Image.objects.filter(pk=image.pk).exists()

    def test_an_image_of_another_project_is_a_404(self, full, world):
        stranger = ImageFactory(project=world["line"])
        assert full.get(f"/acme/shelf/images/{stranger.pk}").status_code == 404


class TestVersionsAndModels:
    def test_generate_read_and_delete_versions(self, full, world):
        response = full.post(
            "/acme/shelf/generate", {"preprocessing": {}, "augmentation": {"flip": {"horizontal": True}}}
        )
        assert response.status_code == 200
        assert response.json()["version"] == 2
        version = full.get("/acme/shelf/2").json()["version"]
        assert version["images"] == 2 and version["augmentation"] == {"flip": {"horizontal": True}}
        assert version["id"] == "acme/shelf/2" and version["preprocessing"] == {}
        deleted = full.delete("/acme/shelf/2").json()
        assert deleted["deleted"] is True and deleted["type"] == "version" and deleted["id"] == "2"
        assert full.get("/acme/shelf/2").status_code == 404
        assert Version.objects.filter(project=world["shelf"]).live().count() == 1  # the other is in the trash
        assert Version.objects.get(project=world["shelf"], number=2).deleted_at is not None

    def test_upload_list_update_and_delete_models(self, full, world):
        weights = SimpleUploadedFile("best.pt", b"\x80\x02weights" * 10)
        response = full.post(
            "/acme/shelf/models", {"weights": weights, "name": "v2", "type": "yolov8s", "version": "1"}
        )
        assert response.status_code == 201, response.content
        model = response.json()["model"]
        assert model["version"] == 1 and model["size"] == 90
        names = sorted(m["name"] for m in full.get("/acme/shelf/models").json()["models"])
        assert names == ["best", "v2"]
        assert full.patch(f"/acme/shelf/models/{model['id']}", {"name": "best"}).status_code == 409
        assert full.patch(f"/acme/shelf/models/{model['id']}", {"name": "v2b"}).json()["model"]["name"] == "v2b"
        assert full.delete(f"/acme/shelf/models/{model['id']}").json()["status"] == "deleted"
        assert not Model.objects.filter(pk=int(model["id"])).exists()

    def test_model_upload_needs_weights_name_and_type(self, full, world):
        before = Model.objects.count()
        assert full.post("/acme/shelf/models", {"name": "x", "type": "y"}).status_code == 400
        weights = SimpleUploadedFile("w.pt", b"w")
        assert full.post("/acme/shelf/models", {"weights": weights, "type": "y"}).status_code == 400
        weights = SimpleUploadedFile("w.pt", b"w")
        assert (
            full.post("/acme/shelf/models", {"weights": weights, "name": "x", "type": "y", "version": "9"}).status_code
            == 400
        )
        assert Model.objects.count() == before


def test_an_uploader_key_uploads_and_reads_images_but_cannot_delete_a_model(client, enterprise, world, make_key):
    uploader = Client(client, make_key(enterprise, name="uploader", scopes=["role:uploader"])[1])
    upload = SimpleUploadedFile("cat.png", demo_png("cat"), content_type="image/png")
    response = uploader.post(
        "/dataset/shelf/upload?batch=b&tag=t", {"file": upload, "name": "cat.png", "split": "train"}
    )
    assert response.status_code == 200 and response.json()["success"] is True
    assert uploader.get(f"/acme/shelf/images/{response.json()['id']}").status_code == 200
    refused = uploader.delete(f"/acme/shelf/models/{world['model'].pk}")
    assert refused.status_code == 403
    assert error(refused)["type"] == "insufficient_scope"
    assert "model:manage" in error(refused)["message"]
    assert Model.objects.filter(pk=world["model"].pk).exists()


def test_members_use_the_resource_api_from_the_dashboard_session(client, member, world):
    client.force_login(member)
    assert client.get("/acme/shelf").status_code == 200
    assert client.get("/acme/api-keys").status_code == 404


def test_uploaded_files_are_only_reachable_through_the_api(client, world, settings):
    settings.DEBUG = True
    name = world["image"].file.name
    assert client.get(f"/media/{name}").status_code == 404
