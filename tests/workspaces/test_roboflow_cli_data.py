"""The official `roboflow` CLI, unchanged, on workspace data: each command a user runs, against
the live server, with its stored effect checked; then each again with a key that lacks the
scope it needs, which the CLI reports in our words, naming the scope.

`COMMANDS` below is the compatibility table of the README: every CLI command, served here
(with the test that runs it) or out of scope (with why). `test_the_readme_table_is_this_one`
keeps the two the same, and `test_every_cli_command_is_in_the_table` keeps the table whole as
the client grows.
"""

import json
import re
import warnings
from datetime import UTC
from pathlib import Path

import pytest
import yaml
from defusedxml import ElementTree
from django.conf import settings as django_settings
from django.utils import timezone
from PIL import Image as PILImage

from apikeys import scopes
from tests.factories import FolderFactory, ModelFactory
from web.demo import demo_png
from workspaces import services
from workspaces.annotations import Annotation, Box
from workspaces.models import Folder, Image, Project, ProjectType, Split, Version

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

README = Path(django_settings.BASE_DIR) / "README.md"

# Served: command -> the test that runs it (or "local: ..."). Out of scope: command -> why.
SERVED = "served"
OUT = "out of scope"
COMMANDS: dict[str, tuple[str, str]] = {
    "api-key create/get/list/publishable/update/protect/disable/roll/revoke": (
        SERVED,
        "tests/apikeys/test_roboflow_cli.py",
    ),
    "auth status, whoami": (SERVED, "test_auth_status_names_the_workspace"),
    "auth set-workspace, set-region, logout; completion, help": (SERVED, "local: the client's own config and shell"),
    "auth login": (OUT, "it opens the hosted site to make a key; pass --api-key or set ROBOFLOW_API_KEY"),
    "workspace list, get": (SERVED, "test_workspace_and_project_reads"),
    "workspace stats, plan, usage": (SERVED, "test_workspace_stats_plan_and_usage"),
    "project list, get": (SERVED, "test_workspace_and_project_reads"),
    "project create": (SERVED, "test_project_create_and_version_create"),
    "project health": (SERVED, "test_project_health"),
    "project delete, restore": (SERVED, "test_project_delete_goes_to_the_trash_and_comes_back"),
    "trash list": (SERVED, "test_project_delete_goes_to_the_trash_and_comes_back"),
    "project fork": (OUT, "forks hosted Universe projects"),
    "folder list, get, create, update, delete, add-projects, remove-projects": (SERVED, "test_folder_commands"),
    "image upload (files and folders; upload, import)": (SERVED, "test_image_upload_with_its_annotation"),
    "image annotate, get": (SERVED, "test_image_annotate_stores_the_annotation_and_counts_its_classes"),
    "image search (search)": (SERVED, "test_image_search"),
    "image search --export (search-export)": (OUT, "asynchronous search exports; use version download"),
    "image metadata, tag (one image)": (SERVED, "test_image_metadata"),
    "image metadata (several images at once)": (OUT, "asynchronous batch tasks"),
    "image delete": (SERVED, "test_image_delete"),
    "version list, get (get_workspace_info)": (SERVED, "test_version_list_and_get"),
    "version create": (SERVED, "test_project_create_and_version_create"),
    "version export": (SERVED, "test_version_export"),
    "version download (download)": (SERVED, "test_version_download_writes_the_dataset"),
    "version delete, restore": (SERVED, "test_version_delete_goes_to_the_trash_and_comes_back"),
    "model list, get": (SERVED, "test_model_list_and_get"),
    "model upload (upload_model)": (
        OUT,
        "it packages weights with PyTorch; upload them with POST /:ws/:project/models",
    ),
    "model infer (infer, run_video_inference_api); video, deployment, device, autolabel": (
        OUT,
        "hosted inference and devices",
    ),
    "model star": (OUT, "hosted model catalogue"),
    "train, eval": (OUT, "hosted training"),
    "workflow, workflow-eval": (OUT, "hosted workflows"),
    "annotation, asynctasks, batch": (OUT, "annotation jobs and batch processing"),
    "universe, vision-events": (OUT, "hosted Universe and event store"),
}
# CLI groups that one row covers whole.
WHOLE_GROUPS = {
    *("completion", "annotation", "asynctasks", "autolabel", "batch", "deployment", "device", "eval"),
    *("train", "universe", "video", "vision-events", "workflow", "workflow-eval"),
}


def compatibility_table() -> str:
    lines = ["| `roboflow` command | on this server |", "|---|---|"]
    for command, (status, detail) in COMMANDS.items():
        if status == OUT:
            shown = f"out of scope: {detail}"
        elif detail.startswith("local"):
            shown = "works (" + detail + ")"
        else:
            shown = "works"
        lines.append(f"| {command} | {shown} |")
    return "\n".join(lines)


def test_the_readme_table_is_this_one():
    readme = README.read_text()
    start, end = "<!-- compatibility -->\n", "\n<!-- /compatibility -->"
    assert start in readme and end in readme, "README lost its compatibility table markers"
    shown = readme.split(start, 1)[1].split(end, 1)[0]
    assert shown == compatibility_table(), "README's compatibility table differs: paste compatibility_table()"


def test_every_cli_command_is_in_the_table():
    with warnings.catch_warnings():  # typer and the client import deprecated click names
        warnings.simplefilter("ignore", DeprecationWarning)
        import typer.main
        from roboflow.cli import app

    rows = [re.findall(r"[\w-]+", command) for command in COMMANDS]
    missing = []
    for name, command in typer.main.get_command(app).commands.items():
        subcommands = getattr(command, "commands", {})
        if not subcommands or name in WHOLE_GROUPS:
            if not any(name in tokens for tokens in rows):
                missing.append(name)
            continue
        missing += [f"{name} {sub}" for sub in subcommands if not any(t[0] == name and sub in t[1:] for t in rows)]
    assert not missing, f"CLI commands the compatibility table does not mention: {missing}"


def test_every_served_command_has_its_test():
    for command, (status, detail) in COMMANDS.items():
        if status == SERVED and detail.startswith("test_"):
            assert callable(globals().get(detail)), f"{command}: no test named {detail}"
        elif status == SERVED and detail.startswith("tests/"):
            assert (Path(django_settings.BASE_DIR) / detail).is_file(), f"{command}: no {detail}"


# The world ----------------------------------------------------------------------------------


def annotate(image: Image, *boxes: tuple[str, float, float, float, float]) -> Image:
    annotation = Annotation(format="coco", boxes=tuple(Box(*box) for box in boxes))
    return services.image_annotate(image=image, annotation=annotation, overwrite=True)


@pytest.fixture
def world(enterprise, make_key):
    retail = FolderFactory(workspace=enterprise, name="Retail")
    shelf = services.project_create(
        workspace=enterprise, name="Shelf", type=ProjectType.OBJECT_DETECTION, annotation="products", folder=retail
    )
    images = [
        services.image_create(
            project=shelf,
            data=demo_png(f"shelf-{n}", size=(80, 60)),
            name=f"aisle-{n}.png",
            split=split,
            tags=["night"],
        )[0]
        for n, split in enumerate([Split.TRAIN, Split.TRAIN, Split.VALID], start=1)
    ]
    images[0] = annotate(images[0], ("bottle", 10, 10, 20, 30), ("can", 50, 5, 10, 10))
    images[1] = annotate(images[1], ("bottle", 0, 0, 40, 60))
    version = services.version_generate(project=shelf, settings={"preprocessing": {}, "augmentation": {}})
    ModelFactory(project=shelf, version=version, name="shelf-v1", type="yolov8n")
    _, secret = make_key(enterprise, name="Full")
    return {"project": shelf, "images": images, "version": version, "folder": retail, "key": secret}


def run(cli, world, *args, **kwargs):
    return cli(*args, key=world["key"], workspace="acme", **kwargs)


# Served commands ----------------------------------------------------------------------------


def test_auth_status_names_the_workspace(cli, world):
    assert "acme" in run(cli, world, "auth", "status")


def test_workspace_and_project_reads(cli, world):
    assert "Acme" in run(cli, world, "workspace", "get")
    listed = run(cli, world, "project", "list")
    assert "acme/shelf" in listed and "object-detection" in listed
    assert "bottle: 2" in run(cli, world, "project", "get", "shelf")


def test_project_create_and_version_create(cli, world, tmp_path):
    out = run(cli, world, "project", "create", "Cars", "--type", "object-detection", "--annotation", "cars")
    assert "cars" in out
    assert Project.objects.get(slug="cars").annotation == "cars"
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({"augmentation": {}, "preprocessing": {"auto-orient": True}}))
    run(cli, world, "version", "create", "-p", "shelf", "--settings", str(settings_file))
    created = Version.objects.get(project=world["project"], number=2)
    assert created.settings["preprocessing"] == {"auto-orient": True} and created.images.count() == 3


def test_version_list_and_get(cli, world):
    listed = run(cli, world, "version", "list", "-p", "shelf")
    assert "acme/shelf/1" in listed and "train:2 valid:1" in listed
    got = json.loads(run(cli, world, "version", "get", "1", "-p", "shelf"))["version"]
    assert got["id"] == "acme/shelf/1" and got["images"] == 3
    assert got["splits"] == {"train": 2, "valid": 1, "test": 0} and got["augmentation"] == {}
    assert got["model"]["name"] == "shelf-v1"


def test_version_export(cli, world):
    assert "Export ready" in run(cli, world, "version", "export", "1", "-p", "shelf", "-f", "voc")
    assert Version.objects.get(pk=world["version"].pk).exports == ["voc"]
    refused = run(cli, world, "version", "export", "1", "-p", "shelf", "-f", "tfrecord", expect=3)
    assert "coco" in refused and "yolov8" in refused  # the formats this server exports


@pytest.mark.parametrize("fmt", ["coco", "yolov8", "voc"])
def test_version_download_writes_the_dataset(cli, world, tmp_path, fmt):
    where = tmp_path / "dataset"
    run(cli, world, "version", "download", "acme/shelf/1", "-f", fmt, "-l", str(where))
    first, second, third = world["images"]
    files = sorted(str(p.relative_to(where)) for p in where.rglob("*") if p.is_file())
    if fmt == "coco":
        train = json.loads((where / "train" / "_annotations.coco.json").read_text())
        names = {c["id"]: c["name"] for c in train["categories"]}
        boxes = sorted((names[a["category_id"]], a["bbox"]) for a in train["annotations"])
        assert boxes == [("bottle", [0, 0, 40, 60]), ("bottle", [10, 10, 20, 30]), ("can", [50, 5, 10, 10])]
        assert "valid/_annotations.coco.json" in files
    elif fmt == "yolov8":
        data = yaml.safe_load((where / "data.yaml").read_text())
        assert data["names"] == ["bottle", "can"] and data["nc"] == 2
        label = (where / "train" / "labels" / f"{first.pk}_aisle-1.txt").read_text().split("\n")
        assert label[0].split() == ["0", "0.250000", "0.416667", "0.250000", "0.500000"]
        assert f"valid/images/{third.pk}_aisle-3.png" in files
    else:
        root = ElementTree.parse(where / "train" / f"{second.pk}_aisle-2.xml").getroot()
        assert [o.findtext("name") for o in root.iter("object")] == ["bottle"]
        assert root.find("object/bndbox/xmax").text == "40"
    image = next(p for p in where.rglob(f"{first.pk}_aisle-1.png"))
    with first.file.open("rb") as stored:
        assert image.read_bytes() == stored.read()
    assert fmt in Version.objects.get(pk=world["version"].pk).exports


def test_image_annotate_stores_the_annotation_and_counts_its_classes(cli, world, tmp_path):
    third = world["images"][2]
    (tmp_path / "a.txt").write_text("0 0.5 0.5 0.25 0.5\n1 0.1 0.1 0.1 0.1\n")
    (tmp_path / "labels.json").write_text(json.dumps({"0": "can", "1": "crate"}))
    out = run(
        cli,
        world,
        "image",
        "annotate",
        str(third.pk),
        "-p",
        "shelf",
        "--annotation-file",
        str(tmp_path / "a.txt"),
        "--labelmap",
        str(tmp_path / "labels.json"),
    )
    assert "saved" in out.lower()
    stored = Image.objects.get(pk=third.pk)
    assert stored.annotated and stored.labels == ["can", "crate"]
    assert [(b["label"], b["x"], b["width"]) for b in stored.annotation["boxes"]] == [
        ("can", 30.0, 20.0),
        ("crate", 4.0, 8.0),
    ]
    assert Project.objects.get(pk=world["project"].pk).classes == {"bottle": 2, "can": 2, "crate": 1}
    # Shown in the image's details.
    details = json.loads(run(cli, world, "image", "get", str(third.pk), "-p", "shelf"))["image"]
    assert details["labels"] == ["can", "crate"] and len(details["annotation"]["boxes"]) == 2
    # A second annotation without overwrite is refused (the client reports it as already annotated).
    (tmp_path / "b.xml").write_text(
        "<annotation><object><name>x</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
        "<ymax>5</ymax></bndbox></object></annotation>"
    )
    run(cli, world, "image", "annotate", str(third.pk), "-p", "shelf", "--annotation-file", str(tmp_path / "b.xml"))
    assert Image.objects.get(pk=third.pk).labels == ["can", "crate"]
    # A broken file is a 400 in our words, and nothing changes.
    (tmp_path / "bad.txt").write_text("0 0.5 0.5\n")
    bad = run(
        cli, world, "image", "annotate", str(world["images"][0].pk), "-p", "shelf",
        "--annotation-file", str(tmp_path / "bad.txt"), expect=1,
    )  # fmt: skip
    assert "Line 1 of the YOLO file" in bad
    assert Project.objects.get(pk=world["project"].pk).classes == {"bottle": 2, "can": 2, "crate": 1}


def test_image_upload_with_its_annotation(cli, world, tmp_path):
    (tmp_path / "new.png").write_bytes(demo_png("new", size=(40, 30)))
    (tmp_path / "new.xml").write_text(
        "<annotation><object><name>can</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>12</xmax>"
        "<ymax>13</ymax></bndbox></object></annotation>"
    )
    run(cli, world, "image", "upload", str(tmp_path / "new.png"), "-p", "shelf", "-a", str(tmp_path / "new.xml"))
    stored = Image.objects.get(name="new.png")
    assert stored.annotation["format"] == "voc" and stored.labels == ["can"]
    assert Project.objects.get(pk=world["project"].pk).classes["can"] == 2


def test_image_search(cli, world):
    found = json.loads(run(cli, world, "--json", "image", "search", "class:can"))
    assert [r["filename"] for r in found["results"]] == ["aisle-1.png"] and found["total"] == 1
    text = run(cli, world, "image", "search", "tag:night split:train")
    assert "Found 2 result(s)." in text
    everything = json.loads(run(cli, world, "--json", "image", "search", "*"))  # the client's own example
    assert sorted(r["filename"] for r in everything["results"]) == ["aisle-1.png", "aisle-2.png", "aisle-3.png"]
    assert "Found 2 result(s)." in run(cli, world, "image", "search", "* split:train")
    refused = run(cli, world, "image", "search", "colour:red", expect=1)
    assert "does not search by 'colour'" in refused


def test_image_metadata(cli, world):
    first = world["images"][0]
    run(cli, world, "image", "metadata", str(first.pk), "-m", '{"camera": "c-7"}', "--tags", "aisle,left")
    stored = Image.objects.get(pk=first.pk)
    assert stored.metadata == {"camera": "c-7"} and stored.tags == ["night", "aisle", "left"]
    run(cli, world, "image", "metadata", str(first.pk), "--remove-tags", "night", "--remove-metadata", "camera")
    stored = Image.objects.get(pk=first.pk)
    assert stored.metadata == {} and stored.tags == ["aisle", "left"]


def test_image_delete(cli, world, enterprise):
    first = world["images"][0]
    path = Path(first.file.path)
    out = run(cli, world, "image", "delete", f"{first.pk},999999", "-p", "shelf")
    assert "Deleted 1, skipped 1" in out
    assert not Image.objects.filter(pk=first.pk).exists() and not path.exists()
    assert Project.objects.get(pk=world["project"].pk).classes == {"bottle": 1}


def test_image_delete_leaves_generated_versions_as_they_were(cli, world, tmp_path):
    """The client deletes through the workspace (`DELETE /acme/images`, no project): version 1
    still holds the image, its boxes and its bytes."""
    first = world["images"][0]
    with first.file.open("rb") as stored:
        original = stored.read()
    assert "Deleted 1" in run(cli, world, "image", "delete", str(first.pk), "-p", "shelf")
    got = json.loads(run(cli, world, "version", "get", "1", "-p", "shelf"))["version"]
    assert got["images"] == 3 and got["splits"] == {"train": 2, "valid": 1, "test": 0}
    where = tmp_path / "dataset"
    run(cli, world, "version", "download", "acme/shelf/1", "-f", "coco", "-l", str(where))
    assert (where / "train" / f"{first.pk}_aisle-1.png").read_bytes() == original
    train = json.loads((where / "train" / "_annotations.coco.json").read_text())
    assert sum(1 for a in train["annotations"] if a["image_id"] == first.pk) == 2  # its bottle and can


def test_folder_commands(cli, world):
    folder = world["folder"]
    got = run(cli, world, "folder", "get", str(folder.pk))
    assert "Retail" in got and "shelf" in got
    run(cli, world, "folder", "update", str(folder.pk), "--name", "Stores")
    assert Folder.objects.get(pk=folder.pk).name == "Stores"
    created = run(cli, world, "folder", "create", "Warehouse")
    new = Folder.objects.get(name="Warehouse")
    assert str(new.pk) in created
    run(cli, world, "folder", "add-projects", str(new.pk), "shelf")
    assert Project.objects.get(slug="shelf").folder_id == new.pk
    run(cli, world, "folder", "remove-projects", str(new.pk), "shelf")
    assert Project.objects.get(slug="shelf").folder_id is None
    assert "Warehouse" in run(cli, world, "folder", "list")
    run(cli, world, "folder", "delete", str(new.pk))
    assert not Folder.objects.filter(pk=new.pk).exists()


def test_project_delete_goes_to_the_trash_and_comes_back(cli, world):
    assert "Moved acme/shelf to Trash" in run(cli, world, "project", "delete", "shelf", "-y")
    assert Project.objects.get(slug="shelf").deleted_at is not None
    assert "acme/shelf" not in run(cli, world, "project", "list")
    trash = json.loads(run(cli, world, "--json", "trash", "list"))
    assert [(i["type"], i["url"]) for i in trash["items"]] == [("project", "shelf")]
    assert "already in Trash" in run(cli, world, "project", "delete", "shelf", "-y")
    assert "Restored acme/shelf" in run(cli, world, "project", "restore", "shelf")
    assert Project.objects.get(slug="shelf").deleted_at is None
    assert "(Trash is empty)" in run(cli, world, "trash", "list")


def test_version_delete_goes_to_the_trash_and_comes_back(cli, world):
    assert "Moved acme/shelf/1 to Trash" in run(cli, world, "version", "delete", "acme/shelf/1", "-y")
    assert "acme/shelf/1" not in run(cli, world, "version", "list", "-p", "shelf")
    assert "Restored acme/shelf/1" in run(cli, world, "version", "restore", "acme/shelf/1")
    assert Version.objects.get(pk=world["version"].pk).deleted_at is None


def test_workspace_stats_plan_and_usage(cli, world):
    stats = run(cli, world, "workspace", "stats", "--start-date", "2020-01-01", "--end-date", "2099-12-31")
    assert "images: 3" in stats and "annotatedImages: 2" in stats and "versions: 1" in stats and "models: 1" in stats
    plan = run(cli, world, "workspace", "plan")
    assert "name: enterprise" in plan and "scopedKeys: True" in plan
    used = run(cli, world, "workspace", "usage")  # the calls above and this one, counted per key
    today = timezone.now().astimezone(UTC).date().isoformat()
    assert "workspace: acme" in used and "apiCalls: 3" in used and f"byDay: {{'{today}': 3}}" in used
    refused = run(cli, world, "workspace", "stats", "--start-date", "2026-02-30", "--end-date", "2026-03-01", expect=3)
    assert "startDate" in refused


def test_project_health(cli, world):
    health = json.loads(run(cli, world, "project", "health", "shelf"))["health"]
    assert health["images"] == 3 and health["annotated"] == 2 and health["annotations"] == 3
    assert health["classes"] == {"bottle": 2, "can": 1}
    assert health["classBalance"]["imbalanceRatio"] == 2.0
    assert health["imageSize"]["width"] == {"min": 80, "median": 80, "max": 80}


def test_model_list_and_get(cli, world):
    assert "acme/shelf/1" in run(cli, world, "model", "list", "-p", "shelf")
    assert '"shelf-v1"' in run(cli, world, "model", "get", "acme/shelf/1")


def test_what_is_not_served_answers_json_the_cli_shows(cli, world):
    out = run(cli, world, "annotation", "batch", "list", "-p", "shelf", expect=3)  # GET /acme/shelf/batches
    assert out.strip() == "Error: Not found."


# A key without the scope ------------------------------------------------------------------

LACKING = [
    (("version", "get", "1", "-p", "shelf"), "version:read"),
    (("version", "export", "1", "-p", "shelf", "-f", "coco"), "version:read"),
    (("version", "download", "acme/shelf/1", "-f", "coco", "-l", "out"), "version:read"),
    (("version", "delete", "acme/shelf/1", "-y"), "version:update"),
    (("image", "annotate", "{image}", "-p", "shelf", "--annotation-file", "a.txt"), "image:annotate"),
    (("image", "search", "tag:night"), "image:read"),
    (("image", "get", "{image}", "-p", "shelf"), "image:read"),
    (("image", "metadata", "{image}", "--tags", "x"), "image:tag"),
    (("image", "delete", "{image}", "-p", "shelf"), "image:delete"),
    (("folder", "get", "{folder}"), "folder:read"),
    (("folder", "update", "{folder}", "--name", "X"), "folder:update"),
    (("project", "delete", "shelf", "-y"), "project:update"),
    (("trash", "list"), "project:update"),
    (("workspace", "stats", "--start-date", "2026-01-01", "--end-date", "2026-12-31"), "workspace:read"),
    (("workspace", "usage"), "usage:read"),
    (("project", "health", "shelf"), "project:read"),
]


@pytest.mark.parametrize(("args", "scope"), LACKING, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_a_key_without_the_scope_is_refused_in_our_words(cli, world, make_key, enterprise, tmp_path, args, scope):
    (tmp_path / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    _, secret = make_key(enterprise, name="Lacking", scopes=[s for s in scopes.SCOPE_NAMES if s != scope])
    first = world["images"][0]
    filled = [a.format(image=first.pk, folder=world["folder"].pk) for a in args]
    before = (Image.objects.get(pk=first.pk).annotation, Project.objects.get(slug="shelf").deleted_at)
    output = cli(*filled, key=secret, workspace="acme", expect=None)
    assert f"lacks the scope '{scope}'" in output, output
    assert (Image.objects.get(pk=first.pk).annotation, Project.objects.get(slug="shelf").deleted_at) == before


def test_the_world_is_consistent(world):
    """The fixture's class counts are the sum of its annotations (as the services keep them)."""
    shelf = Project.objects.get(pk=world["project"].pk)
    counted: dict[str, int] = {}
    for stored in (
        Image.objects.filter(project=shelf).exclude(annotation__isnull=True).values_list("annotation", flat=True)
    ):
        for label, n in Annotation.from_json(stored).counts().items():
            counted[label] = counted.get(label, 0) + n
    assert shelf.classes == counted == {"bottle": 2, "can": 1}


@pytest.fixture
def gear(enterprise):
    """A classification project with a labelled image in version 1."""
    project = services.project_create(
        workspace=enterprise, name="Safety gear", type=ProjectType.SINGLE_LABEL, annotation="gear"
    )
    image, _ = services.image_create(project=project, data=demo_png("gear-7", size=(40, 30)), name="worker.png")
    services.image_annotate(
        image=image, annotation=Annotation(format="classification", classes=("no-helmet",)), overwrite=True
    )
    services.version_generate(project=project, settings={})
    return image


@pytest.mark.parametrize("fmt", ["coco", "yolov8", "voc"])
def test_a_detection_format_of_a_classification_version_is_refused_naming_its_formats(cli, world, gear, fmt):
    refused = run(cli, world, "version", "download", "acme/safety-gear/1", "-f", fmt, expect=3)
    assert "folder, multiclass" in refused, refused


def test_version_download_of_a_classification_project_keeps_its_labels(cli, world, gear, tmp_path):
    where = tmp_path / "gear"
    run(cli, world, "version", "download", "acme/safety-gear/1", "-f", "folder", "-l", str(where))
    assert (where / "train" / "no-helmet" / f"{gear.pk}_worker.png").is_file()
    run(cli, world, "version", "download", "acme/safety-gear/1", "-f", "multiclass", "-l", str(tmp_path / "csv"))
    assert (tmp_path / "csv" / "train" / "_classes.csv").read_text() == f"filename,no-helmet\n{gear.pk}_worker.png,1\n"


def test_version_create_applies_its_settings_to_the_export(cli, world, tmp_path):
    """Resize and flip, as the client sends them: every image of the export is 64 x 64, its
    boxes scaled with it, and flipped with it where a train image was flipped."""
    settings_file = tmp_path / "settings.json"
    resize = {"width": 64, "height": 64, "format": "Stretch to"}
    settings_file.write_text(
        json.dumps({"preprocessing": {"resize": resize}, "augmentation": {"flip": {"horizontal": True}}})
    )
    run(cli, world, "version", "create", "-p", "shelf", "--settings", str(settings_file))
    where = tmp_path / "dataset"
    run(cli, world, "version", "download", "acme/shelf/2", "-f", "yolov8", "-l", str(where))
    images = sorted(where.rglob("*.png"))
    assert len(images) == 3
    for path in images:
        with PILImage.open(path) as opened:
            assert opened.size == (64, 64)
    first = world["images"][0]
    lines = (where / "train" / "labels" / f"{first.pk}_aisle-1.txt").read_text().splitlines()
    bottle, can = ([float(v) for v in line.split()[1:]] for line in lines)
    # bottle (10, 10, 20 x 30) and can (50, 5, 10 x 10) in 80 x 60: centres at x 0.25 and 0.6875,
    # both mirrored when the image was flipped; y and sizes unchanged (a stretch keeps proportions)
    flipped = bottle[0] > 0.5
    assert bottle == pytest.approx([0.75 if flipped else 0.25, 25 / 60, 0.25, 0.5], abs=1e-3)
    assert can == pytest.approx([0.3125 if flipped else 0.6875, 10 / 60, 0.125, 10 / 60], abs=1e-3)
    got = json.loads(run(cli, world, "version", "get", "2", "-p", "shelf"))["version"]
    assert got["preprocessing"] == {"resize": resize} and got["augmentation"] == {"flip": {"horizontal": True}}


def test_version_create_refuses_a_setting_it_does_not_know(cli, world, tmp_path):
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({"preprocessing": {"sharpen": {"percent": 50}}, "augmentation": {}}))
    out = run(cli, world, "version", "create", "-p", "shelf", "--settings", str(settings_file), expect=None)
    assert "preprocessing.sharpen" in out and "is not a field of preprocessing" in out
    assert not Version.objects.filter(project=world["project"], number=2).exists()
