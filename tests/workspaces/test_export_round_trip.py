"""Every export format round-trips: a version's zip, unpacked, uploads again through the
official `roboflow` client (`project.single_upload`, image and annotation) into an empty project
of the same type, and that project holds the same images with the same labels."""

import csv
import io
import json
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.workspaces.test_roboflow_cli_data import annotate
from tests.workspaces.test_roboflow_sdk_data import sdk  # noqa: F401 - the fixture
from web.demo import demo_png
from workspaces import services
from workspaces.annotations import Annotation
from workspaces.models import Image, Project, ProjectType, Split

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

SPLITS = [Split.TRAIN, Split.TRAIN, Split.VALID, Split.TEST]


def source(workspace, kind: str) -> Project:
    """A project of four images in three splits, labelled, and its version 1."""
    project = services.project_create(workspace=workspace, name="Source", type=kind, annotation="things")
    for n, split in enumerate(SPLITS, start=1):
        image, _ = services.image_create(
            project=project, data=demo_png(f"rt-{kind}-{n}", size=(80, 60)), name=f"item-{n}.png", split=split
        )
        if kind == ProjectType.OBJECT_DETECTION:
            annotate(image, ("bottle", 10, 10, 20 + n, 30), ("can", 50, 5, 10, 10))
        else:
            classes: tuple[str, ...] = ("cat",) if n % 2 else ("dog",)
            if kind == ProjectType.MULTI_LABEL and n == len(SPLITS):
                classes = ("cat", "dog")
            annotation = Annotation(format="classification", classes=classes)
            services.image_annotate(image=image, annotation=annotation, overwrite=True)
    services.version_generate(project=project, settings={})
    return project


def download(client, key: str, project: Project, fmt: str) -> zipfile.ZipFile:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    link = client.get(f"/acme/{project.slug}/1/{fmt}", **auth).json()["export"]["link"]
    parts = urlsplit(link)
    response = client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def class_file(root: Path, image: Path, classes: list[str]) -> Path:
    """A classification annotation as the client uploads it from a file: the class name, or a
    JSON list of them (the client sends a bare name only to projects typed "classification")."""
    path = root.parent / "labels" / f"{image.parent.name}-{image.stem}.label"
    path.parent.mkdir(exist_ok=True)
    path.write_text(classes[0] if len(classes) == 1 else json.dumps(classes))
    return path


def uploads(root: Path, fmt: str) -> list[dict]:
    """What to upload from the unpacked export: each image with its annotation and split."""
    found = []
    for split in ("train", "valid", "test"):
        where = root / split
        if fmt == "coco":
            for image in sorted(where.glob("*.png")):
                found.append({"image": image, "annotation": where / "_annotations.coco.json", "split": split})
        elif fmt == "yolov8":
            for image in sorted((where / "images").glob("*.png")):
                label = where / "labels" / f"{image.stem}.txt"
                found.append({"image": image, "annotation": label, "split": split, "labelmap": root / "data.yaml"})
        elif fmt == "voc":
            for image in sorted(where.glob("*.png")):
                found.append({"image": image, "annotation": where / f"{image.stem}.xml", "split": split})
        elif fmt == "folder":
            for image in sorted(where.glob("*/*.png")):
                found.append(
                    {"image": image, "annotation": class_file(root, image, [image.parent.name]), "split": split}
                )
        else:  # multiclass: the CSV's ones
            if not (where / "_classes.csv").exists():
                continue
            rows = list(csv.reader((where / "_classes.csv").read_text().splitlines()))
            for row in rows[1:]:
                held = [name for name, flag in zip(rows[0][1:], row[1:], strict=True) if flag == "1"]
                image = where / row[0]
                found.append({"image": image, "annotation": class_file(root, image, held), "split": split})
    return [{k: str(v) for k, v in item.items()} for item in found]


def labels_by_source(images) -> dict[str, tuple]:
    """Each image's split and labels (boxes rounded to whole pixels, or classes), by the id it
    came from (the `<id>_` an export puts before a name, or its own id)."""
    out = {}
    for image in images:
        key = image.name.split("_", 1)[0] if "_" in image.name else str(image.pk)
        annotation = Annotation.from_json(image.annotation)
        boxes = tuple(
            sorted((b.label, round(b.x), round(b.y), round(b.width), round(b.height)) for b in annotation.boxes)
        )
        out[key] = (image.split, boxes, tuple(sorted(annotation.classes)))
    return out


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        (ProjectType.OBJECT_DETECTION, "coco"),
        (ProjectType.OBJECT_DETECTION, "yolov8"),
        (ProjectType.OBJECT_DETECTION, "voc"),
        (ProjectType.SINGLE_LABEL, "folder"),
        (ProjectType.MULTI_LABEL, "multiclass"),
    ],
)
def test_an_export_uploads_again_through_the_official_client(sdk, client, enterprise, make_key, tmp_path, kind, fmt):  # noqa: F811
    original = source(enterprise, kind)
    # Named as the client script expects its project (`shelf`).
    copy = services.project_create(workspace=enterprise, name="Shelf", type=kind, annotation="things")
    _, key = make_key(enterprise, name="round trip")
    root = tmp_path / "export"
    download(client, key, original, fmt).extractall(root)
    plan = uploads(root, fmt)
    assert len(plan) == len(SPLITS)
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    report = sdk(
        f"""
        project = workspace.project("{copy.slug}")
        for item in json.loads(open("{tmp_path / "plan.json"}").read()):
            project.single_upload(
                image_path=item["image"], annotation_path=item["annotation"], split=item["split"],
                annotation_labelmap=item.get("labelmap"),
            )
        report["done"] = True
        """,
        key=key,
    )
    assert report.get("done"), report
    frozen = {str(i.source_id): (i.split, i) for i in original.versions.get().images.all()}
    expected = labels_by_source(
        [Image(pk=int(k), name=i.name, split=s, annotation=i.annotation) for k, (s, i) in frozen.items()]
    )
    assert labels_by_source(Image.objects.filter(project=copy)) == expected
    if fmt == "yolov8":
        assert yaml.safe_load((root / "data.yaml").read_text())["names"] == ["bottle", "can"]
