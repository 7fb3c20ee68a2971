"""workspaces.exports: dataset version zips in the layouts the `roboflow` client unpacks. No database."""

import io
import json
import random
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import pytest
import yaml
from defusedxml.ElementTree import fromstring as parse_xml
from PIL import Image as PILImage

from workspaces import exports
from workspaces.exports import (
    FORMATS,
    ExportBox,
    ExportImage,
    UnknownFormat,
    build_export,
    safe_file_name,
)

YOLO_FORMATS = sorted(name for name, layout in FORMATS.items() if layout == "yolo")
DETECTION_FORMATS = sorted(name for name, layout in FORMATS.items() if layout not in exports.CLASSIFICATION_LAYOUTS)
CLASSIFICATION_FORMATS = sorted(exports.CLASSIFICATION_LAYOUTS)
SAFE_MEMBER = re.compile(
    r"(README\.dataset\.txt|data\.yaml|(train|valid|test)/(_annotations\.coco\.json|((images|labels)/)?[0-9]+_[A-Za-z0-9_-][A-Za-z0-9._-]*))"
)


def png(width: int = 4, height: int = 3, color: tuple[int, int, int] = (200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


class Opener:
    """An `open` callable over fixed bytes that remembers the files it handed out."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.opened: list[io.BytesIO] = []

    def __call__(self) -> io.BytesIO:
        source = io.BytesIO(self.data)
        self.opened.append(source)
        return source


def image(
    id: int,
    name: str = "cat.png",
    split: str = "train",
    *,
    boxes: Sequence[ExportBox] = (),
    width: int = 200,
    height: int = 100,
    data: bytes | None = None,
    open: Callable[[], io.BytesIO] | None = None,
    classes: Sequence[str] = (),
) -> ExportImage:
    return ExportImage(
        id=id,
        name=name,
        split=split,
        width=width,
        height=height,
        open=open or Opener(data if data is not None else f"image {id}".encode()),
        boxes=tuple(boxes),
        annotated=bool(boxes or classes),
        classes=tuple(classes),
    )


def build(
    format: str,
    images: Iterable[ExportImage],
    classes: Sequence[str] = (),
    *,
    project_name: str = "Cats & Dogs",
    version: int = 3,
) -> bytes:
    with build_export(
        format=format, project_name=project_name, version=version, images=images, classes=classes
    ) as spool:
        return spool.read()


def unzip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def never_iterated() -> Iterator[ExportImage]:
    pytest.fail("the images were read")
    yield image(1)


def failing_open() -> io.BytesIO:
    pytest.fail("an image was opened")


BOX = ExportBox("cat", x=20, y=10, width=40, height=30)


# The API


def test_formats_and_their_layouts():
    assert FORMATS == {
        "coco": "coco",
        "yolov8": "yolo",
        "yolov5pytorch": "yolo",
        "yolov7pytorch": "yolo",
        "yolov9": "yolo",
        "yolov11": "yolo",
        "voc": "voc",
        "folder": "folder",
        "multiclass": "multiclass",
    }


@pytest.mark.parametrize("format", ["yolov5", "COCO", "", "createml", "../coco"])
def test_unknown_format_fails_before_reading_anything(format):
    with pytest.raises(UnknownFormat) as raised:
        build_export(format=format, project_name="P", version=1, images=never_iterated(), classes=[])
    assert isinstance(raised.value, ValueError)
    message = str(raised.value)
    assert repr(format) in message
    for name in FORMATS:
        assert name in message


def test_returns_a_spooled_file_at_its_start():
    spool = build_export(format="coco", project_name="P", version=1, images=[image(1)], classes=[])
    with spool:
        assert isinstance(spool, tempfile.SpooledTemporaryFile)
        assert spool.tell() == 0
        size = spool.seek(0, io.SEEK_END)
        spool.seek(0)
        data = spool.read()
    assert size == len(data) > 0
    assert unzip(data).testzip() is None


def test_a_large_export_rolls_over_to_disk(monkeypatch):
    monkeypatch.setattr(exports, "SPOOL_MAX_SIZE", 1024)
    images = [image(n, data=bytes(range(256)) * 20) for n in range(1, 4)]
    with build_export(format="voc", project_name="P", version=1, images=images, classes=[]) as spool:
        assert vars(spool)["_rolled"]  # past max_size: on disk
        assert spool.tell() == 0
        archive = zipfile.ZipFile(spool)
        assert archive.testzip() is None
        assert archive.read("train/1_cat.png") == bytes(range(256)) * 20


# COCO


def test_coco_layout_and_annotations():
    images = [
        image(7, "dog.jpg", "valid", boxes=[ExportBox("dog", 1.5, 2.25, 10, 20)]),
        image(2, "cat.png", "train", boxes=[BOX, ExportBox("dog", 0, 0, 5, 5)]),
        image(5, "empty.png", "train"),
    ]
    archive = unzip(build("coco", images, ["cat", "dog"]))

    assert archive.namelist() == [
        "README.dataset.txt",
        "train/2_cat.png",
        "train/5_empty.png",
        "train/_annotations.coco.json",
        "valid/7_dog.jpg",
        "valid/_annotations.coco.json",
    ]
    categories = [
        {"id": 0, "name": "cat", "supercategory": "none"},
        {"id": 1, "name": "dog", "supercategory": "none"},
    ]
    train = json.loads(archive.read("train/_annotations.coco.json"))
    assert train == {
        "info": {"description": "Cats & Dogs", "version": "3"},
        "licenses": [],
        "categories": categories,
        "images": [
            {"id": 2, "file_name": "2_cat.png", "width": 200, "height": 100},
            {"id": 5, "file_name": "5_empty.png", "width": 200, "height": 100},
        ],
        "annotations": [
            {
                "id": 0,
                "image_id": 2,
                "category_id": 0,
                "bbox": [20, 10, 40, 30],
                "area": 1200,
                "iscrowd": 0,
                "segmentation": [],
            },
            {
                "id": 1,
                "image_id": 2,
                "category_id": 1,
                "bbox": [0, 0, 5, 5],
                "area": 25,
                "iscrowd": 0,
                "segmentation": [],
            },
        ],
    }
    valid = json.loads(archive.read("valid/_annotations.coco.json"))
    assert valid["categories"] == categories
    assert valid["images"] == [{"id": 7, "file_name": "7_dog.jpg", "width": 200, "height": 100}]
    assert [(a["id"], a["image_id"], a["category_id"], a["bbox"], a["area"]) for a in valid["annotations"]] == [
        (0, 7, 1, [1.5, 2.25, 10, 20], 200)
    ]
    assert archive.read("train/2_cat.png") == b"image 2"
    assert archive.read("valid/7_dog.jpg") == b"image 7"


def test_coco_file_names_match_the_members():
    images = [image(n, name, split) for n, (name, split) in enumerate([("../a.png", "test"), ("b c.jpg", "train")])]
    archive = unzip(build("coco", images))
    for split in ("test", "train"):
        document = json.loads(archive.read(f"{split}/_annotations.coco.json"))
        for entry in document["images"]:
            assert f"{split}/{entry['file_name']}" in archive.namelist()


# YOLO


def test_yolo_layout_labels_and_data_yaml():
    images = [
        image(3, "b.png", "valid", boxes=[ExportBox("dog", 0, 0, 200, 100)], width=200, height=100),
        image(1, "a.jpeg", "train", boxes=[BOX, ExportBox("cat", 10, 20, 30, 40)]),
        image(2, "nothing.png", "train"),
    ]
    archive = unzip(build("yolov8", images, ["cat", "dog"]))

    assert archive.namelist() == [
        "README.dataset.txt",
        "data.yaml",
        "train/images/1_a.jpeg",
        "train/labels/1_a.txt",
        "train/images/2_nothing.png",
        "train/labels/2_nothing.txt",
        "valid/images/3_b.png",
        "valid/labels/3_b.txt",
    ]
    assert yaml.safe_load(archive.read("data.yaml")) == {
        "train": "../train/images",
        "val": "../valid/images",
        "test": "../test/images",
        "nc": 2,
        "names": ["cat", "dog"],
    }
    # BOX: x 20..60 of 200, y 10..40 of 100.
    assert archive.read("train/labels/1_a.txt").decode() == (
        "0 0.200000 0.250000 0.200000 0.300000\n0 0.125000 0.400000 0.150000 0.400000\n"
    )
    assert archive.read("train/labels/2_nothing.txt") == b""
    assert archive.read("valid/labels/3_b.txt") == b"1 0.500000 0.500000 1.000000 1.000000\n"


def test_yolo_numbers_are_normalized_with_six_decimals():
    box = ExportBox("x", x=1, y=2, width=3, height=7)
    archive = unzip(build("yolov11", [image(1, "a.png", width=7, height=9, boxes=[box])]))
    line = archive.read("train/labels/1_a.txt").decode()
    assert line.endswith("\n")
    fields = line.split()
    assert fields[0] == "0"
    assert all(re.fullmatch(r"[01]\.[0-9]{6}", field) for field in fields[1:])
    cx, cy, w, h = map(float, fields[1:])
    assert cx == pytest.approx(2.5 / 7, abs=1e-6)
    assert cy == pytest.approx(5.5 / 9, abs=1e-6)
    assert w == pytest.approx(3 / 7, abs=1e-6)
    assert h == pytest.approx(7 / 9, abs=1e-6)


@pytest.mark.parametrize("format", YOLO_FORMATS)
def test_data_yaml_has_what_the_roboflow_client_reads(format):
    archive = unzip(build(format, [image(1, boxes=[ExportBox("zebra", 0, 0, 1, 1)])], ["cat", "dog"]))
    data = yaml.safe_load(archive.read("data.yaml"))
    assert {"train", "val", "test", "nc", "names"} <= data.keys()
    assert data["nc"] == len(data["names"]) == 3
    assert data["names"] == ["cat", "dog", "zebra"]
    assert archive.read("data.yaml").isascii()  # the client reads it in the locale's encoding


def test_data_yaml_lists_every_split_even_when_empty():
    archive = unzip(build("yolov5pytorch", []))
    assert archive.namelist() == ["README.dataset.txt", "data.yaml"]
    data = yaml.safe_load(archive.read("data.yaml"))
    assert (data["train"], data["val"], data["test"]) == ("../train/images", "../valid/images", "../test/images")
    assert data["nc"] == 0
    assert data["names"] == []


def test_data_yaml_quotes_hostile_class_names():
    names = ["yes", "null", "1.5", "a: b", "- x", "# c", "ünï", "line\nbreak", "[x]"]
    data = yaml.safe_load(unzip(build("yolov9", [], names)).read("data.yaml"))
    assert data["names"] == names
    assert data["nc"] == len(names)


@pytest.mark.parametrize("format", YOLO_FORMATS)
def test_the_roboflow_client_unpacks_and_amends_it(format, tmp_path):
    """The client's own steps after its download: extract_zip, then its data.yaml rewrite."""
    general = pytest.importorskip("roboflow.util.general")
    version_module = pytest.importorskip("roboflow.core.version")
    images = [image(1, "a.png", "train", boxes=[BOX]), image(2, "b.png", "valid"), image(3, "c.png", "test")]
    (tmp_path / "roboflow.zip").write_bytes(build(format, images, ["cat"]))

    general.extract_zip(str(tmp_path))
    reformat = vars(version_module.Version)["_Version__reformat_yaml"]
    reformat(version_module.Version.__new__(version_module.Version), str(tmp_path), format)

    assert not (tmp_path / "roboflow.zip").exists()
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["nc"] == len(data["names"]) == 1
    for key, split in [("train", "train"), ("val", "valid"), ("test", "test")]:
        assert ultralytics_path(tmp_path, data[key]) == (tmp_path / split / "images").resolve()
        assert ultralytics_path(tmp_path, data[key]).is_dir()
    assert (tmp_path / "train/labels/1_a.txt").read_text().startswith("0 ")


def ultralytics_path(root: Path, value: str) -> Path:
    """Where Ultralytics' check_det_dataset looks for a data.yaml path: from the yaml's folder,
    then, for a '../' path that is not there, from the folder itself."""
    path = (root / value).resolve()
    if not path.exists() and value.startswith("../"):
        path = (root / value[3:]).resolve()
    return path


# Pascal VOC


def test_voc_layout_and_xml():
    images = [
        image(4, "street.jpg", "test", boxes=[ExportBox("car", 10.4, 20.5, 30.2, 40.6), BOX], width=640, height=480),
        image(9, "blank.png", "train"),
    ]
    archive = unzip(build("voc", images, ["car", "cat"]))

    assert archive.namelist() == [
        "README.dataset.txt",
        "test/4_street.jpg",
        "test/4_street.xml",
        "train/9_blank.png",
        "train/9_blank.xml",
    ]
    root = parse_xml(archive.read("test/4_street.xml"))
    assert root.tag == "annotation"
    assert root.findtext("filename") == "4_street.jpg"
    assert root.find("folder") is not None
    assert [root.findtext(f"size/{tag}") for tag in ("width", "height", "depth")] == ["640", "480", "3"]
    objects = root.findall("object")
    assert [
        (
            o.findtext("name"),
            o.findtext("pose"),
            o.findtext("truncated"),
            o.findtext("difficult"),
            [int(o.findtext(f"bndbox/{tag}") or "") for tag in ("xmin", "ymin", "xmax", "ymax")],
        )
        for o in objects
    ] == [
        ("car", "Unspecified", "0", "0", [10, 20, 41, 61]),  # 10.4, 20.5, 40.6, 61.1 rounded
        ("cat", "Unspecified", "0", "0", [20, 10, 60, 40]),
    ]
    blank = parse_xml(archive.read("train/9_blank.xml"))
    assert blank.findall("object") == []
    assert blank.findtext("filename") == "9_blank.png"


@pytest.mark.parametrize(
    ("label", "parsed"),
    [
        ("<cat & \"dog\" 'x'>", "<cat & \"dog\" 'x'>"),
        ("]]><evil/>", "]]><evil/>"),
        ("chat noir ünï 猫", "chat noir ünï 猫"),
        ("bell\x07 and\x0bvt", "bell\ufffd and\ufffdvt"),  # not representable in XML 1.0
    ],
)
def test_voc_labels_are_escaped(label, parsed):
    archive = unzip(build("voc", [image(1, "a.png", boxes=[ExportBox(label, 1, 1, 5, 5)])]))
    root = parse_xml(archive.read("train/1_a.xml"))
    assert [element.tag for element in root] == ["folder", "filename", "size", "segmented", "object"]
    assert root.findtext("object/name") == parsed


def test_an_image_named_like_an_annotation_does_not_replace_it():
    images = [image(1, "photo.xml", boxes=[BOX]), image(2, "photo.XML"), image(3, "_annotations.coco.json")]
    archive = unzip(build("voc", images))
    assert archive.namelist() == [
        "README.dataset.txt",
        "train/1_photo_xml",
        "train/1_photo_xml.xml",
        "train/2_photo_XML",
        "train/2_photo_XML.xml",
        "train/3__annotations.coco_json",
        "train/3__annotations.xml",
    ]
    assert parse_xml(archive.read("train/1_photo_xml.xml")).findtext("filename") == "1_photo_xml"
    coco = unzip(build("coco", images))
    assert coco.read("train/3__annotations.coco_json") == b"image 3"
    assert json.loads(coco.read("train/_annotations.coco.json"))["images"][2]["file_name"] == "3__annotations.coco_json"


# Classes


@pytest.mark.parametrize("format", DETECTION_FORMATS)
def test_labels_not_in_classes_follow_in_order_of_first_appearance(format):
    # Given out of order: the order of appearance is the export's (split, id) order.
    images = [
        image(9, "v.png", "valid", boxes=[ExportBox("zebra", 0, 0, 1, 1)]),
        image(2, "b.png", "train", boxes=[ExportBox("owl", 0, 0, 1, 1), ExportBox("cat", 0, 0, 1, 1)]),
        image(1, "a.png", "train", boxes=[ExportBox("lynx", 0, 0, 1, 1), ExportBox("owl", 0, 0, 1, 1)]),
    ]
    archive = unzip(build(format, images, ["cat", "dog"]))
    expected = ["cat", "dog", "lynx", "owl", "zebra"]
    layout = FORMATS[format]
    if layout == "coco":
        document = json.loads(archive.read("train/_annotations.coco.json"))
        assert [c["name"] for c in document["categories"]] == expected
        assert [c["id"] for c in document["categories"]] == [0, 1, 2, 3, 4]
        assert [(a["image_id"], a["category_id"]) for a in document["annotations"]] == [(1, 2), (1, 3), (2, 3), (2, 0)]
        valid = json.loads(archive.read("valid/_annotations.coco.json"))
        assert [c["name"] for c in valid["categories"]] == expected
        assert [a["category_id"] for a in valid["annotations"]] == [4]
    elif layout == "yolo":
        data = yaml.safe_load(archive.read("data.yaml"))
        assert data["names"] == expected
        assert data["nc"] == 5
        classes = [line.split()[0] for line in archive.read("train/labels/1_a.txt").decode().splitlines()]
        assert classes == ["2", "3"]
        assert archive.read("valid/labels/9_v.txt").decode().split()[0] == "4"
    else:
        names = [o.findtext("name") for o in parse_xml(archive.read("train/2_b.xml")).findall("object")]
        assert names == ["owl", "cat"]
    assert "Classes: 5\n" in archive.read("README.dataset.txt").decode()


def test_classes_without_boxes_are_kept():
    archive = unzip(build("coco", [image(1)], ["a", "b", "c"]))
    document = json.loads(archive.read("train/_annotations.coco.json"))
    assert [c["name"] for c in document["categories"]] == ["a", "b", "c"]
    assert document["annotations"] == []
    assert document["images"] == [{"id": 1, "file_name": "1_cat.png", "width": 200, "height": 100}]


# Boxes


def test_boxes_are_clipped_to_the_image_and_empty_ones_dropped():
    boxes = [
        ExportBox("a", -10, -5, 30, 20),  # clipped to 0, 0, 20, 15
        ExportBox("b", 190, 90, 50, 50),  # clipped to 190, 90, 10, 10
        ExportBox("gone", 300, 10, 5, 5),  # outside
        ExportBox("gone", 10, 10, 0, 5),  # no width
        ExportBox("gone", 10, 10, -5, 5),  # negative width
        ExportBox("gone", float("nan"), 10, 5, 5),
        ExportBox("gone", 10, 10, float("inf"), 5),
    ]
    archive = unzip(build("coco", [image(1, boxes=boxes, width=200, height=100)]))
    document = json.loads(archive.read("train/_annotations.coco.json"))
    assert [c["name"] for c in document["categories"]] == ["a", "b"]
    assert [(a["bbox"], a["area"]) for a in document["annotations"]] == [
        ([0, 0, 20, 15], 300),
        ([190, 90, 10, 10], 100),
    ]

    yolo = unzip(build("yolov8", [image(1, boxes=boxes, width=200, height=100)]))
    for line in yolo.read("train/labels/1_cat.txt").decode().splitlines():
        assert all(0 <= float(value) <= 1 for value in line.split()[1:])


# Hostile file names


@pytest.mark.parametrize(
    ("name", "file"),
    [
        ("cat.png", "7_cat.png"),
        ("../../etc/passwd", "7_passwd"),
        ("a/b\\c.png", "7_c.png"),
        ("C:\\Users\\me\\Photo 1.JPG", "7_Photo_1.JPG"),
        ("/abs/path.png", "7_path.png"),
        ("dir/", "7_image"),
        ("", "7_image"),
        (".", "7__"),
        ("..", "7___"),
        (".hidden", "7__hidden"),
        ("...x.png", "7____x.png"),
        ("trailing.", "7_trailing"),
        ("my photo (1).jpg", "7_my_photo__1_.jpg"),
        ("chat-noir_2.v1.webp", "7_chat-noir_2.v1.webp"),
        ("ünïcødé.png", "7__n_c_d_.png"),
        ("猫.jpg", "7__.jpg"),
        ("a\tb\nc\rd.png", "7_a_b_c_d.png"),
        ("labels.txt", "7_labels_txt"),
        ("data.yaml", "7_data_yaml"),
        ("x.YML", "7_x_YML"),
        ("a.json", "7_a_json"),
        ("é" * 300 + ".png", "7_" + "_" * 96 + ".png"),
        ("a" * 300, "7_" + "a" * 100),
        ("b" * 200 + "." + "c" * 40, "7_" + "b" * 100),  # no extension worth keeping
        ("." * 150 + "x.png", "7_" + "_" * 97 + "png"),  # trimmed to 96 dots + ".png", then no leading dot
        ("x" * 95 + ".xml." + "y" * 30, "7_" + "x" * 95 + "_xml"),
    ],
)
def test_safe_file_name(name, file):
    assert safe_file_name(7, name) == file


def test_safe_file_names_are_safe_whatever_the_input():
    rng = random.Random(1234)
    alphabet = 'ab./\\:*?"<>| \t\né猫\u202e\ufeff\U0001f600-_'
    for n in range(2000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 400)))
        file = safe_file_name(n, name)
        prefix, base = file.split("_", 1)
        assert prefix == str(n)
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,100}", base), (name, file)
        assert not base.startswith(".")
        assert not base.endswith(".")
        assert file not in (".", "..")


HOSTILE = [
    "../../etc/passwd",
    "../../../../tmp/evil.png",
    "/etc/shadow",
    "a/b\\c.png",
    "..\\..\\windows\\system32\\x.png",
    "",
    ".",
    "..",
    ".hidden",
    "cat.png",
    "cat.png",
    "CAT.PNG",
    "train/images/x.png",
    "x.xml",
    "x.txt",
    "data.yaml",
    "README.dataset.txt",
    "_annotations.coco.json",
    "ü" * 300,
    "猫" * 299 + ".jpg",
    "\u202egnp.exe",
]


@pytest.mark.parametrize("format", DETECTION_FORMATS)
def test_hostile_names_stay_inside_their_split(format, tmp_path):
    splits = ["train", "valid", "test"]
    images = [image(n + 1, name, splits[n % 3], boxes=[BOX]) for n, name in enumerate(HOSTILE)]
    data = build(format, images, ["cat"])
    archive = unzip(data)
    names = archive.namelist()

    layout = FORMATS[format]
    assert len(names) == len(set(names)) == len({name.lower() for name in names})  # also on case-insensitive disks
    for name in names:
        assert SAFE_MEMBER.fullmatch(name), name
    per_image = 1 if layout == "coco" else 2  # the image, and its label or XML file
    shared = {
        "coco": ["README.dataset.txt", *(f"{s}/_annotations.coco.json" for s in splits)],
        "yolo": ["README.dataset.txt", "data.yaml"],
        "voc": ["README.dataset.txt"],
    }[layout]
    assert set(shared) <= set(names)
    assert len(names) == len(shared) + per_image * len(HOSTILE)
    for n in range(1, len(HOSTILE) + 1):
        assert len([name for name in names if name.split("/")[-1].startswith(f"{n}_")]) == per_image

    target = tmp_path / "out"
    archive.extractall(target)
    files = [path for path in target.rglob("*") if path.is_file()]
    assert len(files) == len(names)
    for path in files:
        assert path.resolve().is_relative_to(target.resolve())


def test_two_images_with_the_same_name_get_their_own_members():
    images = [image(1, "same.png", boxes=[BOX]), image(2, "same.png"), image(3, "sub/same.png")]
    archive = unzip(build("yolov8", images, ["cat"]))
    assert [name for name in archive.namelist() if "/images/" in name] == [
        "train/images/1_same.png",
        "train/images/2_same.png",
        "train/images/3_same.png",
    ]
    assert archive.read("train/images/2_same.png") == b"image 2"
    assert archive.read("train/labels/1_same.txt").startswith(b"0 ")
    assert archive.read("train/labels/2_same.txt") == b""


# Validation before any work


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ([image(1, "a.png"), image(1, "b.png", "valid")], "appears twice"),
        ([image(1, split="val")], "split 'val'"),
        ([image(1, split="../evil")], "split '../evil'"),
        ([image(1, split="")], "split ''"),
        ([image(1, width=0)], "no size"),
        ([image(1, height=-1)], "no size"),
    ],
)
@pytest.mark.parametrize("format", ["coco", "yolov8", "voc"])
def test_invalid_images_fail_before_any_is_opened(format, images, message):
    images = [
        ExportImage(i.id, i.name, i.split, i.width, i.height, failing_open, i.boxes, i.annotated)
        for i in [image(99, "ok.png"), *images]
    ]
    with pytest.raises(ValueError, match=re.escape(message)):
        build_export(format=format, project_name="P", version=1, images=images, classes=[])


def test_an_image_that_cannot_be_opened_fails_the_export():
    def missing() -> io.BytesIO:
        raise FileNotFoundError("gone")

    with pytest.raises(FileNotFoundError, match="gone"):
        build_export(format="coco", project_name="P", version=1, images=[image(1, open=missing)], classes=[])


# Image bytes


def test_image_bytes_are_copied_stored_and_their_files_closed():
    big = random.Random(5).randbytes(3 * 1024 * 1024 + 17)  # more than one copy chunk
    openers = [Opener(png(8, 6)), Opener(big), Opener(b"")]
    images = [image(n + 1, f"i{n}.png", open=opener) for n, opener in enumerate(openers)]
    archive = unzip(build("yolov8", images))

    for n, opener in enumerate(openers):
        assert archive.read(f"train/images/{n + 1}_i{n}.png") == opener.data
        assert len(opener.opened) == 1
        assert opener.opened[0].closed
    with PILImage.open(io.BytesIO(archive.read("train/images/1_i0.png"))) as picture:
        assert picture.size == (8, 6)


@pytest.mark.parametrize("format", sorted(FORMATS))
def test_compression_per_member(format):
    images = [image(1, "a.png", boxes=[BOX], data=png()), image(2, "b", "valid")]
    for info in unzip(build(format, images)).infolist():
        is_image = info.filename.endswith(("a.png", "/2_b"))
        assert info.compress_type == (zipfile.ZIP_STORED if is_image else zipfile.ZIP_DEFLATED), info.filename
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644


# Determinism


@pytest.mark.parametrize("format", sorted(FORMATS))
def test_same_inputs_give_the_same_bytes(format):
    def images() -> list[ExportImage]:
        return [
            image(5, "e.png", "valid", boxes=[ExportBox("dog", 1, 2, 3, 4)], data=png()),
            image(1, "a.png", "train", boxes=[BOX, ExportBox("new", 0.1, 0.2, 0.3, 0.4)]),
            image(3, "c.png", "test"),
            image(2, "b.png", "train"),
        ]

    first = build(format, images(), ["cat", "dog"])
    second = build(format, images(), ["cat", "dog"])
    shuffled = images()
    random.Random(3).shuffle(shuffled)
    third = build(format, reversed(shuffled), ["cat", "dog"])
    assert first == second == third
    archive = unzip(first)
    image_members = [name for name in archive.namelist() if name.endswith(".png")]
    assert [name.split("/")[0] for name in image_members] == ["test", "train", "train", "valid"]


def test_readme():
    images = [image(1, split="train"), image(2, split="train"), image(3, split="test")]
    readme = unzip(build("yolov7pytorch", images, ["cat"], project_name="Weird\nname  ", version=12)).read(
        "README.dataset.txt"
    )
    assert readme.decode() == (
        "Weird name - version 12\n\nFormat: yolov7pytorch\nImages: 3 (train: 2, valid: 0, test: 1)\nClasses: 1\n"
        "\nLabels per class (train, valid, test):\n  cat: 0, 0, 0\n"
    )


def test_the_readme_states_settings_generation_time_and_labels_per_class_and_split():
    images = [
        image(1, split="train", boxes=[BOX, BOX]),
        image(2, split="valid", boxes=[ExportBox("dog", 0, 0, 5, 5)]),
        image(3, split="test", boxes=[BOX]),
    ]
    with build_export(
        format="coco", project_name="P", version=2, images=images, classes=["cat", "dog"],
        settings={"preprocessing": {"resize": {"width": 64}}, "augmentation": {"flip": {"horizontal": True}}},
        generated="2026-12-04T22:00:00+00:00",
    ) as spool:  # fmt: skip
        readme = unzip(spool.read()).read("README.dataset.txt").decode()
    assert "Generated: 2026-12-04T22:00:00+00:00\n" in readme
    assert (
        'Settings: {"augmentation": {"flip": {"horizontal": true}}, "preprocessing": {"resize": {"width": 64}}}'
        in readme
    )
    assert readme.endswith("Labels per class (train, valid, test):\n  cat: 2, 0, 1\n  dog: 0, 1, 0\n")


# Classification layouts


def test_formats_that_fit_each_kind_of_project():
    assert exports.formats_for(True) == ["folder", "multiclass"]
    assert exports.formats_for(False) == [
        "coco",
        "voc",
        "yolov11",
        "yolov5pytorch",
        "yolov7pytorch",
        "yolov8",
        "yolov9",
    ]
    exports.check_format("folder", classification=True)
    exports.check_format("coco", classification=False)
    with pytest.raises(exports.FormatMismatch, match="its formats: folder, multiclass"):
        exports.check_format("coco", classification=True)
    with pytest.raises(exports.FormatMismatch, match="its formats: coco, voc"):
        exports.check_format("multiclass", classification=False)
    with pytest.raises(UnknownFormat):
        exports.check_format("tfrecord", classification=True)


CLASSIFIED = [
    image(3, "c.png", "valid", classes=["dog"]),
    image(1, "a.png", "train", classes=["cat"]),
    image(2, "b.png", "train", classes=["cat", "dog"]),
    image(4, "d.png", "test"),
]


def test_folder_puts_each_image_in_the_folder_of_each_of_its_classes():
    archive = unzip(build("folder", CLASSIFIED, ["cat"]))
    assert sorted(archive.namelist()) == [
        "README.dataset.txt", "test/4_d.png", "train/cat/1_a.png", "train/cat/2_b.png", "train/dog/2_b.png",
        "valid/dog/3_c.png",
    ]  # fmt: skip
    assert archive.read("train/dog/2_b.png") == b"image 2"
    readme = archive.read("README.dataset.txt").decode()
    assert "cat: 2, 0, 0\n  dog: 1, 1, 0\n" in readme


def test_multiclass_writes_a_csv_of_classes_per_split():
    archive = unzip(build("multiclass", CLASSIFIED, ["cat"]))
    assert sorted(archive.namelist()) == [
        "README.dataset.txt", "test/4_d.png", "test/_classes.csv", "train/1_a.png", "train/2_b.png",
        "train/_classes.csv", "valid/3_c.png", "valid/_classes.csv",
    ]  # fmt: skip
    assert archive.read("train/_classes.csv").decode() == "filename,cat,dog\n1_a.png,1,0\n2_b.png,1,1\n"
    assert archive.read("test/_classes.csv").decode() == "filename,cat,dog\n4_d.png,0,0\n"


@pytest.mark.parametrize("format", CLASSIFICATION_FORMATS)
def test_hostile_class_names_stay_inside_their_split(format, tmp_path):
    labels = ["../../etc", "..", ".", "a/b", "A/B", "a b", "CON", "", "ü" * 300, 'x,"y"\n=1+1']
    images = [image(n + 1, f"{n}.png", "train", classes=[label]) for n, label in enumerate(labels)]
    archive = unzip(build(format, images))
    names = archive.namelist()
    assert len(names) == len({name.lower() for name in names})
    target = tmp_path / "out"
    archive.extractall(target)
    for path in target.rglob("*"):
        assert path.resolve().is_relative_to(target.resolve())
    if format == "folder":
        folders = {name.split("/")[1] for name in names if name.count("/") == 2}
        assert len(folders) == len(labels)  # one folder per class, however alike their names clean up
    else:
        import csv

        rows = list(csv.reader(io.StringIO(archive.read("train/_classes.csv").decode())))
        assert rows[0][1:] == labels and all(sum(map(int, row[1:])) == 1 for row in rows[1:])


@pytest.mark.parametrize("format", sorted(FORMATS))
def test_an_empty_version(format):
    archive = unzip(build(format, []))
    assert archive.namelist() == (
        ["README.dataset.txt", "data.yaml"] if FORMATS[format] == "yolo" else ["README.dataset.txt"]
    )
    assert "Images: 0 (train: 0, valid: 0, test: 0)" in archive.read("README.dataset.txt").decode()


@pytest.mark.parametrize("format", DETECTION_FORMATS)
def test_several_outputs_of_an_image_get_their_own_members(format):
    outputs = [
        ExportImage(id=4, name="cat.png", split="train", width=200, height=100, open=Opener(f"out {v}".encode()),
                    boxes=(BOX,), annotated=True, variant=v)
        for v in (2, 0, 1)
    ]  # fmt: skip
    archive = unzip(build(format, outputs, ["cat"]))
    images = sorted(name for name in archive.namelist() if name.endswith(".png"))
    assert [name.rsplit("/", 1)[-1] for name in images] == ["4_cat.png", "4_cat_v1.png", "4_cat_v2.png"]
    assert archive.read(images[2]) == b"out 2"
    if FORMATS[format] == "coco":
        document = json.loads(archive.read("train/_annotations.coco.json"))
        assert [i["id"] for i in document["images"]] == [0, 1, 2]  # by position, when an image has several outputs


def test_an_output_given_twice_fails_before_anything_is_written():
    twice = [image(4), image(4)]
    with pytest.raises(ValueError, match="appears twice"):
        build("coco", twice)
