"""A version's preprocessing and augmentation are applied for real (workspaces.generation), boxes
with their images; a setting this server does not apply is a 400 naming it."""

import io
import json

import numpy as np
import pytest
from PIL import Image as PILImage

from tests.workspaces.test_roboflow_cli_data import annotate
from web.demo import demo_png
from workspaces import generation, services
from workspaces.annotations import Annotation
from workspaces.models import ProjectType, Split

pytestmark = pytest.mark.django_db

BOX = ("cat", 4.0, 6.0, 20.0, 10.0)  # x, y, width, height in a 64 x 48 image


def pixels(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(data)) as opened:
        return np.asarray(opened.convert("RGB"))


def source() -> bytes:
    return demo_png("generation", size=(64, 48))


def test_resize_scales_the_image_and_its_boxes():
    steps = generation.plan({"preprocessing": {"resize": {"width": 32, "height": 96, "format": "Stretch to"}}})
    out = steps.apply(source(), [BOX], split="valid", seed=1)
    assert (out.width, out.height) == (32, 96) and pixels(out.data).shape == (96, 32, 3)
    [(label, x, y, w, h)] = out.boxes
    assert label == "cat" and (x, y, w, h) == pytest.approx((2.0, 12.0, 10.0, 20.0))


@pytest.mark.parametrize(
    ("fmt", "size"),
    [
        ("Stretch to", (40, 40)),
        ("Fill (with center crop) in", (40, 40)),
        ("Fit within", (40, 30)),
        ("Fit (black edges) in", (40, 40)),
        ("Fit (white edges) in", (40, 40)),
        ("Fit (reflect edges) in", (40, 40)),
    ],
)
def test_every_resize_format(fmt, size):
    steps = generation.plan({"preprocessing": {"resize": {"width": 40, "height": 40, "format": fmt}}})
    out = steps.apply(source(), [BOX], split="train", seed=1)
    assert (out.width, out.height) == size
    if fmt == "Fit (white edges) in":
        assert (pixels(out.data)[0] == 255).all()  # the padding above the image


def test_a_flip_flips_the_boxes_with_the_image():
    steps = generation.plan({"augmentation": {"flip": {"horizontal": True}}})
    original = pixels(source())
    seen = set()
    for seed in range(12):
        out = steps.apply(source(), [BOX], split="train", seed=seed)
        image = pixels(out.data)
        [(_, x, y, w, h)] = out.boxes
        if (image == original[:, ::-1]).all():
            assert (x, y, w, h) == pytest.approx((64 - 4 - 20, 6, 20, 10))
            seen.add("flipped")
        else:
            assert (image == original).all() and (x, y, w, h) == pytest.approx(BOX[1:])
            seen.add("kept")
    assert seen == {"flipped", "kept"}  # random, each way


def test_augmentation_is_for_the_train_split_only():
    steps = generation.plan({"augmentation": {"flip": {"horizontal": True, "vertical": True}, "noise": {"percent": 5}}})
    for split in (Split.VALID, Split.TEST):
        out = steps.apply(source(), [BOX], split=split, seed=3)
        assert (pixels(out.data) == pixels(source())).all() and out.boxes == (BOX,)
    assert not (pixels(steps.apply(source(), [BOX], split="train", seed=3).data) == pixels(source())).all()


def test_a_box_cropped_away_is_dropped():
    crop = {"x_min": 50, "x_max": 100, "y_min": 0, "y_max": 100}  # the right half: BOX is in the left one
    out = generation.plan({"preprocessing": {"static-crop": crop}}).apply(source(), [BOX], split="valid", seed=1)
    assert (out.width, out.height) == (32, 48) and out.boxes == ()


def test_the_same_seed_makes_the_same_output():
    steps = generation.plan({"augmentation": {"rotate": {"degrees": 30}, "blur": {"pixels": 2}}})
    assert steps.apply(source(), [BOX], split="train", seed=9) == steps.apply(source(), [BOX], split="train", seed=9)


BOX_LEVEL_SETTINGS = {
    "blur": {"pixels": 2},
    "brightness": {"brighten": True, "percent": 30},
    "crop": {"min": 10, "max": 30},
    "exposure": {"percent": 20},
    "flip": {"horizontal": True, "vertical": True},
    "noise": {"percent": 5},
    "ninety": {"clockwise": True},
    "rotate": {"degrees": 20},
    "shear": {"horizontal": 10},
}


def test_every_implemented_augmentation_runs():
    every = {
        "flip": {"horizontal": True, "vertical": True},
        "ninety": {"clockwise": True, "counter-clockwise": True, "upside-down": True},
        "rotate": {"degrees": 45},
        "crop": {"min": 10, "max": 40},
        "shear": {"horizontal": 10, "vertical": 10},
        "brightness": {"brighten": True, "darken": True, "percent": 30},
        "exposure": {"percent": 20},
        "blur": {"pixels": 2},
        "noise": {"percent": 5},
        "hue": {"degrees": 30},
        "saturation": {"percent": 30},
        "rgrayscale": {"percent": 50},
        "cutout": {"count": 3, "percent": 20},
        "image": {"versions": 1},
        **{f"bb{name}": value for name, value in BOX_LEVEL_SETTINGS.items()},
    }
    pre = {"auto-orient": True, "grayscale": True, "contrast": {"type": "Adaptive Equalization"}}
    steps = generation.plan({"preprocessing": pre, "augmentation": every})
    for seed in range(5):
        out = steps.apply(source(), [BOX], split="train", seed=seed)
        for _, x, y, w, h in out.boxes:
            assert x >= 0 and y >= 0 and x + w <= out.width + 1e-3 and y + h <= out.height + 1e-3


@pytest.mark.parametrize(
    ("chosen", "named"),
    [
        ({"preprocessing": {"tile": {"rows": 2, "columns": 20}}}, "preprocessing.tile.columns"),
        ({"preprocessing": {"isolate": True, "tile": {"rows": 2, "columns": 2}}}, "preprocessing.isolate"),
        ({"preprocessing": {"isolate": "yes"}}, "preprocessing.isolate"),
        ({"preprocessing": {"filter-null": {"percent": 150}}}, "preprocessing.filter-null.percent"),
        ({"preprocessing": {"remap": {"cat": ""}}}, "preprocessing.remap.cat"),
        ({"preprocessing": {"remap": {"cat": 7}}}, "preprocessing.remap.cat"),
        ({"preprocessing": {"remap": []}}, "preprocessing.remap"),
        ({"augmentation": {"mosaic": "yes"}}, "augmentation.mosaic"),
        ({"augmentation": {"bbflip": {"sideways": True}}}, "augmentation.bbflip.sideways"),
        ({"augmentation": {"image": {"versions": 3}}}, "augmentation.image.versions"),
        ({"augmentation": {"flip": True}}, "augmentation.flip"),
        ({"augmentation": {"flip": {"sideways": True}}}, "augmentation.flip.sideways"),
        ({"augmentation": {"rotate": {"degrees": 90}}}, "augmentation.rotate.degrees"),
        ({"augmentation": {"sparkle": {}}}, "augmentation.sparkle"),
        ({"preprocessing": {"resize": {"width": 64}}}, "preprocessing.resize.height"),
        ({"preprocessing": {"resize": {"width": 64, "height": 64, "format": "Squash"}}}, "preprocessing.resize.format"),
        ({"preprocessing": {"resize": {"width": 0, "height": 64}}}, "preprocessing.resize.width"),
        (
            {"preprocessing": {"static-crop": {"x_min": 50, "x_max": 10, "y_min": 0, "y_max": 100}}},
            "preprocessing.static-crop",
        ),
        ({"preprocessing": {"contrast": {"type": "Louder"}}}, "preprocessing.contrast.type"),
        ({"preprocessing": {"grayscale": "yes"}}, "preprocessing.grayscale"),
    ],
)
def test_a_setting_that_is_not_applied_is_a_400_naming_it(client, enterprise, make_key, chosen, named):
    project = services.project_create(
        workspace=enterprise, name="Shelf", type=ProjectType.OBJECT_DETECTION, annotation="x"
    )
    services.image_create(project=project, data=source(), name="a.png")
    _, key = make_key(enterprise)
    body = {"preprocessing": {}, "augmentation": {}, **chosen}
    response = client.post(
        "/acme/shelf/generate", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert named in error["message"] and set(error["fields"]) == {named.split(".")[0]}
    assert not project.versions.exists()  # nothing made


def test_a_generated_version_holds_the_outputs_and_reports_its_settings(client, enterprise, make_key):
    project = services.project_create(
        workspace=enterprise, name="Shelf", type=ProjectType.OBJECT_DETECTION, annotation="x"
    )
    image, _ = services.image_create(project=project, data=source(), name="a.png", split=Split.VALID)
    annotate(image, BOX)
    _, key = make_key(enterprise)
    settings = {"preprocessing": {"resize": {"width": 32, "height": 24, "format": "Stretch to"}}, "augmentation": {}}
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert client.post("/acme/shelf/generate", settings, content_type="application/json", **auth).status_code == 200
    shown = client.get("/acme/shelf/1", **auth).json()["version"]
    assert shown["preprocessing"] == settings["preprocessing"] and shown["augmentation"] == {}
    [frozen] = project.versions.get().images.all()
    assert (frozen.width, frozen.height) == (32, 24)
    with frozen.blob.file.open("rb") as kept:
        assert pixels(kept.read()).shape == (24, 32, 3)
    box = Annotation.from_json(frozen.annotation).boxes[0]
    assert (box.x, box.y, box.width, box.height) == pytest.approx((2, 3, 10, 5))
    assert json.loads(json.dumps(frozen.labels)) == ["cat"]


def test_an_output_keeps_its_image_format():
    jpeg = io.BytesIO()
    PILImage.fromarray(pixels(source())).save(jpeg, format="JPEG", quality=90)
    steps = generation.plan({"preprocessing": {"grayscale": True}})
    out = steps.apply(jpeg.getvalue(), [BOX], split="train", seed=1)
    assert out.extension == "jpg" and out.data[:3] == b"\xff\xd8\xff"
    png = steps.apply(source(), [BOX], split="train", seed=1)
    assert png.extension == "png" and png.data[:8] == b"\x89PNG\r\n\x1a\n"


def annotated_project(workspace, labels_per_image):
    project = services.project_create(
        workspace=workspace, name="Shelf", type=ProjectType.OBJECT_DETECTION, annotation="x"
    )
    for n, labels in enumerate(labels_per_image):
        image, _ = services.image_create(project=project, data=demo_png(f"g{n}", size=(64, 48)), name=f"{n}.png")
        if labels:
            annotate(image, *[(label, 2.0 + i, 2.0, 10.0, 10.0) for i, label in enumerate(labels)])
    return project


def test_remap_renames_and_leaves_out_labels_without_touching_the_images(enterprise):
    project = annotated_project(enterprise, [["cat", "dog"], ["mouse"]])
    settings = {"preprocessing": {"remap": {"cat": "feline", "mouse": None}}, "augmentation": {}}
    version = services.version_generate(project=project, settings=settings)
    frozen = {i.name: i for i in version.images.all()}
    assert frozen["0.png"].labels == ["dog", "feline"] and frozen["1.png"].labels == []
    assert [b.label for b in Annotation.from_json(frozen["0.png"].annotation).boxes] == ["feline", "dog"]
    source = project.images.get(name="0.png")
    assert frozen["0.png"].blob.sha256 == source.sha256  # the original bytes, stored once
    assert source.labels == ["cat", "dog"]  # the project's own image is untouched


@pytest.mark.parametrize(("share", "kept_nulls"), [(0, 3), (50, 2), (66, 1), (67, 0), (100, 0)])
def test_filter_null_leaves_out_images_without_labels_until_the_share_holds(enterprise, share, kept_nulls):
    project = annotated_project(enterprise, [["cat"], ["dog"], [], [], []])
    settings = {"preprocessing": {"filter-null": {"percent": share}}, "augmentation": {}}
    version = services.version_generate(project=project, settings=settings)
    labels = list(version.images.values_list("labels", flat=True))
    assert sum(1 for x in labels if x) == 2 and sum(1 for x in labels if not x) == kept_nulls


def test_settings_that_leave_no_image_fail_the_version_with_the_reason(client, enterprise, make_key):
    project = annotated_project(enterprise, [[], []])
    version = services.version_generate(project=project, settings={"preprocessing": {"filter-null": {"percent": 100}}})
    assert (version.state, version.failure) == ("failed", "These settings leave no image in the version.")
    _, key = make_key(enterprise)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    answer = client.get(f"/acme/{project.slug}/1", **auth)  # the SDK polls this one: an error ends its wait
    assert answer.status_code == 409
    assert answer.json()["error"]["message"] == "Version 1 failed: These settings leave no image in the version."
    [listed] = client.get(f"/acme/{project.slug}", **auth).json()["versions"]
    assert (listed["generating"], listed["failed"], listed["failure"]) == (False, True, version.failure)
    refused = client.get(f"/acme/{project.slug}/1/coco", **auth)
    assert refused.status_code == 409 and "failed" in refused.json()["error"]["message"]


def test_image_versions_makes_that_many_outputs_of_each_training_image(client, enterprise, make_key):
    project = services.project_create(
        workspace=enterprise, name="Shelf", type=ProjectType.OBJECT_DETECTION, annotation="x"
    )
    for n, split in enumerate([Split.TRAIN, Split.TRAIN, Split.VALID]):
        image, _ = services.image_create(
            project=project, data=demo_png(f"v{n}", size=(64, 48)), name=f"{n}.png", split=split
        )
        annotate(image, BOX)
    _, key = make_key(enterprise)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    settings = {"preprocessing": {}, "augmentation": {"noise": {"percent": 10}, "image": {"versions": 3}}}
    assert client.post("/acme/shelf/generate", settings, content_type="application/json", **auth).status_code == 200
    shown = client.get("/acme/shelf/1", **auth).json()["version"]
    assert shown["images"] == 7 and shown["splits"] == {"train": 6, "valid": 1, "test": 0}
    outputs = project.versions.get().images.all()
    train = [o for o in outputs if o.split == Split.TRAIN]
    assert sorted((o.source_id, o.variant) for o in train) == sorted(
        (s, v) for s in {o.source_id for o in train} for v in range(3)
    )
    assert len({o.blob_id for o in train}) == 6  # each its own draw

    import zipfile
    from urllib.parse import urlsplit

    link = client.get("/acme/shelf/1/coco", **auth).json()["export"]["link"]
    parts = urlsplit(link)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(client.get(f"{parts.path}?{parts.query}").streaming_content)))
    members = [m for m in archive.namelist() if m.startswith("train/") and m.endswith(".png")]
    assert len(members) == 6 and sum(1 for m in members if m.endswith(("_v1.png", "_v2.png"))) == 4
    document = json.loads(archive.read("train/_annotations.coco.json"))
    ids = [i["id"] for i in document["images"]]
    assert len(ids) == len(set(ids)) == 6
    assert {a["image_id"] for a in document["annotations"]} == set(ids)


def test_tile_makes_an_output_per_tile_with_the_boxes_clipped_to_it():
    steps = generation.plan({"preprocessing": {"tile": {"rows": 2, "columns": 2}}})
    assert steps.outputs_of("valid") == 4
    box = ("cat", 20.0, 10.0, 24.0, 20.0)  # across all four tiles of a 64 x 48 image (32 x 24 each)
    tiles = [steps.apply(source(), [box], split="valid", seed=1, variant=t) for t in range(4)]
    assert {(t.width, t.height) for t in tiles} == {(32, 24)}
    assert [t.boxes[0][1:] for t in tiles] == [
        pytest.approx((20, 10, 12, 14)),
        pytest.approx((0, 10, 12, 14)),
        pytest.approx((20, 0, 12, 6)),
        pytest.approx((0, 0, 12, 6)),
    ]
    assert (pixels(tiles[3].data) == pixels(source())[24:, 32:]).all()


def test_augmentation_is_sized_by_the_preprocessed_image():
    settings = {
        "preprocessing": {"resize": {"width": 32, "height": 32}},
        "augmentation": {"crop": {"min": 10, "max": 30}},
    }
    out = generation.plan(settings).apply(source(), [BOX], split="train", seed=2)
    assert (out.width, out.height) == (32, 32)


def test_a_box_level_augmentation_changes_the_inside_of_the_boxes_only():
    steps = generation.plan({"augmentation": {"bbflip": {"horizontal": True}, "bbnoise": {"percent": 20}}})
    original = pixels(source())
    out = steps.apply(source(), [BOX], split="train", seed=4)
    image = pixels(out.data)
    assert out.boxes == (BOX,)  # the boxes stay
    inside = np.zeros(original.shape[:2], dtype=bool)
    inside[6:16, 4:24] = True
    assert (image[~inside] == original[~inside]).all()
    assert not (image[inside] == original[inside]).all()


def test_mosaic_puts_three_other_training_images_beside_each_with_their_boxes(enterprise):
    project = services.project_create(
        workspace=enterprise, name="Zoo", type=ProjectType.OBJECT_DETECTION, annotation="x"
    )
    for n, label in enumerate(["cat", "dog", "owl", "emu"]):
        image, _ = services.image_create(project=project, data=demo_png(f"z{n}", size=(64, 48)), name=f"{n}.png")
        annotate(image, (label, 4.0, 4.0, 56.0, 40.0))  # most of the image: a part shows in any quadrant
    settings = {"preprocessing": {}, "augmentation": {"mosaic": True}}
    version = services.version_generate(project=project, settings=settings)
    outputs = list(version.images.all())
    assert len(outputs) == 4 and {(o.width, o.height) for o in outputs} == {(64, 48)}
    # A 2 x 2 mosaic around a random centre: most outputs show labels of more than one image.
    assert sum(1 for o in outputs if len(o.labels) > 1) >= 2
    for o in outputs:
        for box in Annotation.from_json(o.annotation).boxes:
            assert box.x >= 0 and box.x + box.width <= 64 + 1e-3 and box.y >= 0 and box.y + box.height <= 48 + 1e-3


def test_isolate_makes_each_object_an_image_of_its_own(enterprise):
    project = annotated_project(enterprise, [["cat", "dog"], []])
    version = services.version_generate(project=project, settings={"preprocessing": {"isolate": True}})
    outputs = sorted(version.images.all(), key=lambda o: o.variant)
    assert [(o.variant, o.labels, o.width, o.height) for o in outputs] == [(0, ["cat"], 10, 10), (1, ["dog"], 10, 10)]
    [box] = Annotation.from_json(outputs[1].annotation).boxes
    assert (box.label, box.x, box.y, box.width, box.height) == ("dog", 0, 0, 10, 10)
    with outputs[0].blob.file.open("rb") as kept, project.images.get(name="0.png").file.open("rb") as original:
        assert (pixels(kept.read()) == pixels(original.read())[2:12, 2:12]).all()


def test_settings_that_would_make_too_many_images_are_refused_before_anything_is_made(enterprise, monkeypatch):
    from core.errors import InvalidValue

    monkeypatch.setattr(services, "MAX_VERSION_IMAGES", 50)
    project = annotated_project(enterprise, [["cat"], ["dog"]])
    settings = {
        "preprocessing": {"tile": {"rows": 5, "columns": 5}},
        "augmentation": {"noise": {"percent": 5}, "image": {"versions": 2}},
    }
    with pytest.raises(InvalidValue, match="make 100 images; a version holds at most 50"):
        services.version_generate(project=project, settings=settings)
    assert not project.versions.exists()
    settings["augmentation"] = {}
    assert services.version_generate(project=project, settings=settings).images.count() == 50  # at the limit
