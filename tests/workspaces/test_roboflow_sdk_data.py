"""The official `roboflow` SDK, unchanged, on workspace data: versions, downloads, uploads with
annotations and searches, as a user's script calls them, against the live server.

The SDK reads API_URL once at import, so each script runs in a subprocess: it gets `rf`,
`workspace` and `project` ready, runs the test's lines, and prints `report` as one JSON line.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from apikeys import scopes
from tests.workspaces.test_roboflow_cli_data import annotate
from web.demo import demo_png
from workspaces import services
from workspaces.models import Image, Project, ProjectType, Split, Version

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

MARK = "SDK-REPORT "
PRELUDE = """
import json, os, sys
from roboflow import Roboflow

rf = Roboflow(api_key=os.environ["SDK_API_KEY"])
workspace = rf.workspace()
project = workspace.project("shelf")
report = {}
try:
"""
POSTLUDE = """
except Exception as exc:
    report["error"] = {"class": type(exc).__name__, "message": str(exc)}
print("SDK-REPORT " + json.dumps(report, default=str), flush=True)
"""


@pytest.fixture
def sdk(live_server, tmp_path):
    def run(code: str, *, key: str) -> dict:
        script = tmp_path / "script.py"
        script.write_text(PRELUDE + textwrap.indent(textwrap.dedent(code), "    ") + POSTLUDE)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "API_URL": live_server.url,
            "SDK_API_KEY": key,
        }
        result = subprocess.run(
            [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        lines = [line for line in result.stdout.splitlines() if line.startswith(MARK)]
        assert lines, f"no report (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        return json.loads(lines[-1][len(MARK) :])

    return run


@pytest.fixture
def world(enterprise, make_key):
    shelf = services.project_create(
        workspace=enterprise, name="Shelf", type=ProjectType.OBJECT_DETECTION, annotation="products"
    )
    images = [
        services.image_create(
            project=shelf, data=demo_png(f"sdk-{n}", size=(80, 60)), name=f"aisle-{n}.png", split=split, tags=["night"]
        )[0]
        for n, split in enumerate([Split.TRAIN, Split.TRAIN, Split.VALID], start=1)
    ]
    annotate(images[0], ("bottle", 10, 10, 20, 30), ("can", 50, 5, 10, 10))
    services.version_generate(project=shelf, settings={"augmentation": {}, "preprocessing": {}})
    _, secret = make_key(enterprise, name="SDK")
    return {"project": shelf, "images": images, "key": secret}


def test_versions_and_a_download(sdk, world, tmp_path):
    report = sdk(
        """
        versions = project.versions()
        report["versions"] = [(v.id, v.version, v.images, v.splits, v.augmentation) for v in versions]
        version = project.version(1)
        dataset = version.download("yolov8", location="dataset", overwrite=True)
        report["location"] = dataset.location
        report["exported"] = version.export("voc")
        """,
        key=world["key"],
    )
    assert "error" not in report, report
    assert report["versions"] == [["acme/shelf/1", "1", 3, {"train": 2, "valid": 1, "test": 0}, {}]]
    data = yaml.safe_load((tmp_path / "dataset" / "data.yaml").read_text())
    assert data["names"] == ["bottle", "can"]
    first = world["images"][0]
    labels = (tmp_path / "dataset" / "train" / "labels" / f"{first.pk}_aisle-1.txt").read_text().splitlines()
    assert [line.split()[0] for line in labels] == ["0", "1"]
    assert report["exported"] is True
    assert Version.objects.get(project=world["project"], number=1).exports == ["yolov8", "voc"]


def test_an_upload_with_its_coco_annotation(sdk, world, tmp_path):
    (tmp_path / "shelf-9.png").write_bytes(demo_png("sdk-9", size=(50, 40)))
    coco = {
        "images": [{"id": 1, "file_name": "shelf-9.png", "width": 50, "height": 40}],
        "categories": [{"id": 3, "name": "crate"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [5, 5, 20, 10]}],
    }
    (tmp_path / "shelf-9.json").write_text(json.dumps(coco))
    report = sdk(
        """
        results = project.upload("shelf-9.png", annotation_path="shelf-9.json", split="test")
        report["image"] = results[0]["image"]
        report["annotation"] = results[0]["annotation"]["success"]
        """,
        key=world["key"],
    )
    assert "error" not in report, report
    stored = Image.objects.get(pk=int(report["image"]["id"]))
    assert stored.split == "test" and stored.labels == ["crate"]
    assert stored.annotation["boxes"] == [{"label": "crate", "x": 5.0, "y": 5.0, "width": 20.0, "height": 10.0}]
    assert Project.objects.get(pk=world["project"].pk).classes == {"bottle": 1, "can": 1, "crate": 1}


def test_searches(sdk, world):
    report = sdk(
        """
        report["project"] = project.search(class_name="can", fields=["id", "name", "labels"])
        report["pages"] = [len(page) for page in project.search_all(tag="night", limit=2, fields=["id"])]
        report["workspace"] = [r["filename"] for page in workspace.search_all("tag:night", page_size=2)
                               for r in page]
        try:
            project.search(like_image="abc")
        except Exception as exc:
            report["refused"] = str(exc)
        """,
        key=world["key"],
    )
    assert "error" not in report, report
    first = world["images"][0]
    assert report["project"] == [
        {"id": str(first.pk), "mediaType": "image", "name": "aisle-1.png", "labels": ["bottle", "can"]}
    ]
    assert report["pages"] == [2, 1]
    assert sorted(report["workspace"]) == ["aisle-1.png", "aisle-2.png", "aisle-3.png"]
    assert "like_image" in report["refused"] and "Not available on this server" in report["refused"]


def test_a_key_without_version_read_cannot_download(sdk, world, make_key, enterprise):
    _, secret = make_key(enterprise, name="No versions", scopes=[s for s in scopes.SCOPE_NAMES if s != "version:read"])
    report = sdk('project.version(1).download("coco", location="out")', key=secret)
    assert "lacks the scope 'version:read'" in report["error"]["message"]


def test_generate_version_applies_its_settings_and_refuses_unknown_ones(sdk, world, tmp_path):
    """`project.generate_version(settings)` as the SDK's docstring shows it: the version is
    made at once (the SDK then polls it), its images resized, two outputs of each training
    image; a setting the server does not know is an error the SDK raises, and no version."""
    report = sdk(
        """
        settings = {
            "preprocessing": {"auto-orient": True, "resize": {"width": 40, "height": 40, "format": "Stretch to"}},
            "augmentation": {"flip": {"horizontal": True, "vertical": False}, "image": {"versions": 2}},
        }
        number = project.generate_version(settings)
        report["number"] = number
        version = project.version(number)
        report["images"], report["splits"] = version.images, version.splits
        version.download("coco", location="generated", overwrite=True)
        try:
            project.generate_version({"preprocessing": {"sharpen": True}, "augmentation": {}})
        except Exception as exc:
            report["refused"] = str(exc)
        """,
        key=world["key"],
    )
    assert "error" not in report, report
    assert report["number"] == 2 and report["images"] == 5 and report["splits"] == {"train": 4, "valid": 1, "test": 0}
    train = json.loads((tmp_path / "generated" / "train" / "_annotations.coco.json").read_text())
    assert len(train["images"]) == 4 and {(i["width"], i["height"]) for i in train["images"]} == {(40, 40)}
    assert "preprocessing.sharpen" in report["refused"]
    assert not Version.objects.filter(project=world["project"], number=3).exists()
