"""The official `roboflow` Python SDK (PyPI roboflow 1.7.x), unchanged, against the running app.

The app serves on a free loopback port (pytest-django's live server). The SDK reads API_URL
once at import, so it runs in a subprocess: a small script gets API_URL, a temporary HOME and
the key through its environment, does what the test asks (`Roboflow(api_key)`, `.workspace()`,
`.project()`, `project.upload()`), and prints one JSON report line that the test reads.
"""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from tests.factories import FolderFactory, ImageFactory, ProjectFactory
from web.demo import demo_png
from workspaces.models import Image, ProjectType

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

MARK = "SDK-REPORT "

SCRIPT = r"""
import json, os, sys

from roboflow import Roboflow

plan = json.loads(os.environ["SDK_PLAN"])


def error(exc):
    return {"class": type(exc).__name__, "message": str(exc), "status": getattr(exc, "status_code", None)}


def describe(project):
    return {
        "id": project.id,
        "name": project.name,
        "type": project.type,
        "annotation": project.annotation,
        "images": project.images,
        "unannotated": project.unannotated,
        "splits": project.splits,
    }


def finish(report, code):
    print("SDK-REPORT " + json.dumps(report), flush=True)
    sys.exit(code)


rf = Roboflow(api_key=os.environ["SDK_API_KEY"])
report = {"current_workspace": rf.current_workspace}
workspace = rf.workspace()
report["workspace"] = {
    "name": workspace.name,
    "url": workspace.url,
    "projects": [p["id"] for p in workspace.project_list],
}
try:
    project = workspace.project(plan["project"])
except Exception as exc:
    report["project_error"] = error(exc)
    finish(report, 3)
report["project"] = describe(project)
report["uploads"] = []
for upload in plan.get("uploads", []):
    try:
        results = project.upload(
            upload["path"],
            tag_names=upload["tags"],
            batch_name=upload["batch"],
            split=upload["split"],
            metadata=upload.get("metadata"),
        )
        report["uploads"].append({"response": results[0]["image"]})
    except Exception as exc:
        report["uploads"].append({"error": error(exc)})
report["project_after"] = describe(workspace.project(plan["project"]))
finish(report, 1 if any("error" in u for u in report["uploads"]) else 0)
"""


@pytest.fixture
def sdk(live_server, tmp_path):
    """Run the SDK script with `key` and `plan`; returns (exit code, report dict, full output)."""
    home = tmp_path / "home"
    home.mkdir()
    script = tmp_path / "sdk_script.py"
    script.write_text(SCRIPT)

    def run(*, key, plan):
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "API_URL": live_server.url,
            "SDK_API_KEY": key,
            "SDK_PLAN": json.dumps(plan),
        }
        result = subprocess.run(
            [sys.executable, str(script)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        output = result.stdout + result.stderr
        lines = [line for line in result.stdout.splitlines() if line.startswith(MARK)]
        assert lines, f"the SDK script printed no report (exit {result.returncode}):\n{output}"
        return result.returncode, json.loads(lines[-1][len(MARK) :]), output

    return run


@pytest.fixture
def project(enterprise):
    return ProjectFactory(
        workspace=enterprise, slug="shelf-audit", name="Shelf audit", type=ProjectType.OBJECT_DETECTION
    )


@pytest.fixture
def png(tmp_path):
    """A real 97x61 PNG on disk, as a user would upload it; returns (path, bytes)."""
    data = demo_png("sdk-upload", size=(97, 61))
    folder = tmp_path / "photos"
    folder.mkdir()
    path = folder / "aisle-4.png"
    path.write_bytes(data)
    return path, data


def upload_plan(project, path, **overrides):
    upload = {"path": str(path), "tags": ["night", "aisle-4"], "batch": "Store 12", "split": "valid"}
    upload.update(overrides)
    return {"project": project.slug, "uploads": [upload]}


def stored_files(settings):
    root = settings.MEDIA_ROOT
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_the_sdk_signs_in_loads_the_workspace_and_the_project(sdk, enterprise, free, make_key, project):
    ImageFactory(project=project, split="train")
    ProjectFactory(workspace=free, slug="elsewhere")
    _, secret = make_key(enterprise, name="SDK")

    code, report, output = sdk(key=secret, plan={"project": project.slug})

    assert code == 0, output
    assert report["current_workspace"] == "acme"
    assert report["workspace"] == {"name": "Acme", "url": "acme", "projects": ["acme/shelf-audit"]}
    assert report["project"] == {
        "id": "acme/shelf-audit",
        "name": "Shelf audit",
        "type": ProjectType.OBJECT_DETECTION,
        "annotation": project.annotation,
        "images": 1,
        "unannotated": 1,
        "splits": {"train": 1, "valid": 0, "test": 0},
    }


@pytest.mark.parametrize("scopes", [None, ["role:uploader"]], ids=["full access", "role:uploader"])
def test_the_sdk_uploads_an_image_that_is_stored_with_its_tags_batch_split_and_real_size(
    sdk, enterprise, make_key, project, png, settings, scopes
):
    # Roboflow(key).workspace("acme").project(p).upload(f): the README's snippet, with the
    # uploader preset too (it holds workspace:read, which the SDK's first call needs).
    path, data = png
    _, secret = make_key(enterprise, name="SDK", scopes=scopes)

    code, report, output = sdk(key=secret, plan=upload_plan(project, path, metadata={"camera": "c-7"}))

    assert code == 0, output
    [upload] = report["uploads"]
    assert upload["response"]["success"] is True
    image = Image.objects.get(pk=int(upload["response"]["id"]))
    assert image.project_id == project.pk
    assert image.name == "aisle-4.png"
    assert (image.width, image.height) == (97, 61)
    assert image.tags == ["night", "aisle-4"]
    assert image.batch == "Store 12"
    assert image.split == "valid"
    assert image.metadata == {"camera": "c-7"}
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    with image.file.open("rb") as stored:
        assert stored.read() == data
    assert stored_files(settings) == [settings.MEDIA_ROOT / image.file.name]
    # The project the SDK loads afterwards counts the new image in its split.
    assert report["project_after"]["images"] == 1
    assert report["project_after"]["splits"] == {"train": 0, "valid": 1, "test": 0}


def test_uploading_the_same_file_again_through_the_sdk_reports_a_duplicate_and_adds_nothing(
    sdk, enterprise, make_key, project, png, settings
):
    path, _ = png
    _, secret = make_key(enterprise, name="SDK")
    code, first, output = sdk(key=secret, plan=upload_plan(project, path))
    assert code == 0, output
    first_id = first["uploads"][0]["response"]["id"]
    files_before = stored_files(settings)

    code, again, output = sdk(key=secret, plan=upload_plan(project, path, tags=["other"], split="test"))

    assert code == 0, output
    assert again["uploads"][0]["response"] == {"duplicate": True, "id": first_id}
    assert list(Image.objects.values_list("pk", flat=True)) == [int(first_id)]
    image = Image.objects.get()
    assert (image.tags, image.split) == (["night", "aisle-4"], "valid")  # the first upload's, unchanged
    assert stored_files(settings) == files_before
    assert again["project_after"]["images"] == 1


def test_a_read_only_key_cannot_upload_through_the_sdk_and_nothing_is_stored(
    sdk, enterprise, make_key, project, png, settings
):
    path, _ = png
    _, secret = make_key(enterprise, name="Reader", scopes=["role:read-only"])

    code, report, output = sdk(key=secret, plan=upload_plan(project, path))

    # Reading works: the SDK loads the workspace and the project.
    assert report["workspace"]["projects"] == ["acme/shelf-audit"]
    assert report["project"]["id"] == "acme/shelf-audit"
    # The upload raises, with the server's message naming the missing scope.
    assert code == 1, output
    [upload] = report["uploads"]
    assert upload["error"]["class"] == "ImageUploadError"
    assert upload["error"]["status"] == 403
    assert "image:create" in upload["error"]["message"]
    assert not Image.objects.exists()
    assert stored_files(settings) == []
    assert report["project_after"]["images"] == 0


def test_a_key_limited_to_another_folder_cannot_load_the_project_through_the_sdk(sdk, enterprise, make_key, png):
    retail, factory = FolderFactory(workspace=enterprise, name="Retail"), FolderFactory(workspace=enterprise)
    hidden = ProjectFactory(workspace=enterprise, slug="shelf-audit", folder=retail)
    visible = ProjectFactory(workspace=enterprise, slug="weld-seams", folder=factory)
    _, secret = make_key(enterprise, name="Factory only", folder_ids=[factory.pk])

    code, report, output = sdk(key=secret, plan=upload_plan(hidden, png[0]))

    assert code == 3, output
    assert report["workspace"]["projects"] == [f"acme/{visible.slug}"]
    assert report["project_error"]["class"] == "RoboflowError"
    assert report["project_error"]["status"] == 404
    assert "uploads" not in report
    assert not Image.objects.exists()
