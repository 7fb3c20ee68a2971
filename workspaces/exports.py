"""The zip of a dataset version, laid out as the `roboflow` client's `version.download(format)` unpacks it.

Pure Python: the caller turns a version's images into `ExportImage`s and `build_export` writes
a COCO, YOLO or Pascal VOC zip of their bounding boxes (detection projects), or a folder per
class or a CSV of classes (`folder`, `multiclass`: classification projects), into a spooled
temporary file. The
output is deterministic (same inputs, same bytes): images in (split, id) order, fixed member
times and attributes, no export time anywhere. Member names never come from user input
unsanitized: an image is stored as `{id}_{sanitized basename}` inside its split's folder.

Boxes are clipped to their image; boxes that are not finite or have no area left are dropped.
Every image given is exported, whatever its `annotated` flag: choosing them is the caller's.
"""

import csv
import io
import json
import math
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO
from xml.etree import ElementTree as ET

import yaml

FORMATS = {  # format name -> layout
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
CLASSIFICATION_LAYOUTS = frozenset({"folder", "multiclass"})

SPLITS = ("train", "valid", "test")
SPOOL_MAX_SIZE = 1024 * 1024  # larger zips go to a temporary file: a worker never holds one in memory
COPY_CHUNK = 1024 * 1024
MAX_NAME_LENGTH = 100
MAX_KEPT_EXTENSION = 16  # a longer "extension" is not one worth keeping when a name is trimmed
FALLBACK_NAME = "image"
README = "README.dataset.txt"
COCO_ANNOTATIONS = "_annotations.coco.json"
CLASSES_CSV = "_classes.csv"
UNLABELED_NAME = "class"  # a class folder whose label has no safe character left

# Extensions of the files an export writes next to the images: an image whose name ends in
# one gets its dot replaced, so that it can never take the place of (or pass for) an annotation.
_ANNOTATION_EXTENSIONS = frozenset({".json", ".txt", ".xml", ".yaml", ".yml"})
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_LEADING_DOTS = re.compile(r"^\.+")
# Characters XML 1.0 cannot hold, even escaped (control characters, surrogates, U+FFFE/U+FFFF).
_NOT_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16  # a regular file, rw-r--r--
_UNIX = 3  # ZipInfo.create_system, set explicitly: its default depends on the platform


@dataclass(frozen=True)
class ExportBox:
    label: str
    x: float  # pixels, top-left origin
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class ExportImage:
    id: int
    name: str  # the uploaded file name, user-controlled
    split: str  # "train" | "valid" | "test"
    width: int
    height: int
    open: Callable[[], BinaryIO]  # opens the stored image bytes
    boxes: tuple[ExportBox, ...]
    annotated: bool
    classes: tuple[str, ...] = ()  # a classification project's labels of the image
    variant: int = 0  # which output of the image (augmentation may make several)


class UnknownFormat(ValueError):
    def __init__(self, format: str) -> None:
        super().__init__(f"Unknown export format {format!r}; supported formats: {', '.join(sorted(FORMATS))}.")
        self.format = format


def formats_for(classification: bool) -> list[str]:
    """The formats that carry a project's labels: classes for a classification project, boxes
    for the others."""
    return sorted(name for name, layout in FORMATS.items() if (layout in CLASSIFICATION_LAYOUTS) == classification)


class FormatMismatch(ValueError):
    """A known format that cannot carry this project's labels."""

    def __init__(self, format: str, classification: bool) -> None:
        kind = "classification" if classification else "object-detection"
        super().__init__(
            f"Format {format!r} does not carry the labels of a {kind} project; "
            f"its formats: {', '.join(formats_for(classification))}."
        )
        self.format = format


def check_format(format: str, *, classification: bool) -> None:
    """UnknownFormat or FormatMismatch unless `format` exports this kind of project."""
    layout = FORMATS.get(format)
    if layout is None:
        raise UnknownFormat(format)
    if (layout in CLASSIFICATION_LAYOUTS) != classification:
        raise FormatMismatch(format, classification)


@dataclass(frozen=True)
class _Box:
    """A box clipped to its image, with its class index."""

    class_id: int
    label: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class _Item:
    image: ExportImage
    file: str  # the image's file name inside its split folder
    stem: str  # `file` without its extension: the name of its label or XML file
    boxes: tuple[_Box, ...]


def safe_file_name(image_id: int, name: str) -> str:
    """`{id}_{basename}` with only [A-Za-z0-9._-] in it, at most 100 characters after the id.

    The basename is what follows the last '/' or '\\'. Leading dots become '_' and trailing
    dots go, an empty result becomes 'image', and an extension that export files use (.xml,
    .txt, .json, .yaml, .yml) has its dot replaced. A long name keeps its extension when trimmed.
    """
    base = _UNSAFE_NAME_CHARS.sub("_", re.split(r"[/\\]", name)[-1])
    if len(base) > MAX_NAME_LENGTH:
        stem, dot, extension = base.rpartition(".")
        if dot and len(extension) + 1 <= MAX_KEPT_EXTENSION:
            base = stem[: MAX_NAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            base = base[:MAX_NAME_LENGTH]
    base = _LEADING_DOTS.sub(lambda match: "_" * len(match.group()), base).rstrip(".")
    stem, dot, extension = base.rpartition(".")
    if dot and "." + extension.lower() in _ANNOTATION_EXTENSIONS:
        base = f"{stem}_{extension}"
    return f"{image_id:d}_{base or FALLBACK_NAME}"


def build_export(
    *,
    format: str,
    project_name: str,
    version: int,
    images: Iterable[ExportImage],
    classes: Sequence[str],
    settings: dict | None = None,
    generated: str = "",
    progress: Callable[[float], None] | None = None,
) -> "tempfile.SpooledTemporaryFile[bytes]":
    """The zip of `images` in `format`, in a spooled temporary file at position 0.

    `classes` gives the class indexes (its positions); labels not in it follow in order of first
    appearance. The README states `settings` (what the version was generated with) and when it
    was `generated`. `progress` is told the share of the images written (0 to 1) after each
    image. Raises UnknownFormat for a format not in FORMATS and ValueError for an image
    with an unknown split, no size or an id already seen, all before anything is opened or written.
    """
    layout = FORMATS.get(format)
    if layout is None:
        raise UnknownFormat(format)
    ordered = _validated(images)
    names = list(classes)
    items = _items(ordered, names)

    # Returned open: the caller streams it and closes it.
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_SIZE)  # noqa: SIM115
    try:
        with zipfile.ZipFile(spool, "w") as archive:
            writer = _Writer(archive, len(items), progress)
            writer.text(README, _readme(project_name, version, format, items, names, settings or {}, generated))
            if layout == "coco":
                _write_coco(writer, project_name, version, items, names)
            elif layout == "yolo":
                _write_yolo(writer, items, names)
            elif layout == "voc":
                _write_voc(writer, items)
            elif layout == "folder":
                _write_folder(writer, items, names)
            else:
                _write_multiclass(writer, items, names)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


def _validated(images: Iterable[ExportImage]) -> list[ExportImage]:
    ordered = sorted(images, key=lambda image: (image.split, image.id, image.variant))
    seen: set[tuple[int, int]] = set()
    for image in ordered:
        if not isinstance(image.id, int) or isinstance(image.id, bool):
            raise ValueError(f"Image id {image.id!r} is not an integer.")
        if (image.id, image.variant) in seen:
            raise ValueError(
                f"Image id {image.id} appears twice."
                if not image.variant
                else f"Output {image.variant} of image {image.id} appears twice."
            )
        seen.add((image.id, image.variant))
        if image.split not in SPLITS:
            raise ValueError(f"Image {image.id} has split {image.split!r}, not one of {', '.join(SPLITS)}.")
        if image.width <= 0 or image.height <= 0:
            raise ValueError(f"Image {image.id} has no size ({image.width}x{image.height}).")
    return ordered


def _items(images: list[ExportImage], names: list[str]) -> list[_Item]:
    """Each image with its member name and clipped boxes; appends new labels to `names`."""
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        index.setdefault(name, position)
    items: list[_Item] = []
    for image in images:
        boxes: list[_Box] = []
        for box in image.boxes:
            clipped = _clip(box, image.width, image.height)
            if clipped is None:
                continue
            x, y, width, height = clipped
            if box.label not in index:
                index[box.label] = len(names)
                names.append(box.label)
            boxes.append(_Box(index[box.label], box.label, x, y, width, height))
        for label in image.classes:
            if label not in index:
                index[label] = len(names)
                names.append(label)
        file = safe_file_name(image.id, image.name)
        if image.variant:  # `12_cat.png`, output 2: `12_cat_v2.png`
            stem, dot, extension = file.rpartition(".")
            file = f"{stem}_v{image.variant:d}.{extension}" if dot else f"{file}_v{image.variant:d}"
        stem = file.rsplit(".", 1)[0]  # as Ultralytics finds an image's label file
        items.append(_Item(image, file, stem, tuple(boxes)))
    return items


def _clip(box: ExportBox, image_width: int, image_height: int) -> tuple[float, float, float, float] | None:
    values = (box.x, box.y, box.width, box.height)
    if not all(math.isfinite(value) for value in values):
        return None
    left = min(max(0.0, float(box.x)), float(image_width))
    top = min(max(0.0, float(box.y)), float(image_height))
    right = min(max(0.0, float(box.x + box.width)), float(image_width))
    bottom = min(max(0.0, float(box.y + box.height)), float(image_height))
    if right <= left or bottom <= top:
        return None
    return left, top, right - left, bottom - top


class _Writer:
    """Adds members with fixed times and attributes, and refuses unsafe or repeated names."""

    def __init__(
        self, archive: zipfile.ZipFile, images: int = 0, progress: Callable[[float], None] | None = None
    ) -> None:
        self.archive = archive
        self.names: set[str] = set()
        self.images, self.written, self.progress = images, 0, progress

    def _info(self, name: str, compress_type: int) -> zipfile.ZipInfo:
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"Unsafe zip member name {name!r}.")
        if name.lower() in self.names:
            raise ValueError(f"Zip member {name!r} written twice.")
        self.names.add(name.lower())
        info = zipfile.ZipInfo(name, date_time=_DATE_TIME)
        info.compress_type = compress_type
        info.create_system = _UNIX
        info.external_attr = _FILE_MODE
        return info

    def text(self, name: str, content: str | bytes) -> None:
        data = content.encode("utf-8", "replace") if isinstance(content, str) else content
        self.archive.writestr(self._info(name, zipfile.ZIP_DEFLATED), data)

    def image(self, name: str, image: ExportImage) -> None:
        info = self._info(name, zipfile.ZIP_STORED)
        with image.open() as source, self.archive.open(info, "w") as target:
            shutil.copyfileobj(source, target, COPY_CHUNK)
        self.written += 1
        if self.progress is not None:
            self.progress(self.written / max(self.images, 1))


def _readme(
    project_name: str, version: int, format: str, items: list[_Item], names: list[str], settings: dict, generated: str
) -> str:
    counts = {split: 0 for split in SPLITS}
    per_class: dict[str, dict[str, int]] = {name: {split: 0 for split in SPLITS} for name in names}
    for item in items:
        split = item.image.split
        counts[split] += 1
        for label in [box.label for box in item.boxes] + list(item.image.classes):
            per_class[label][split] += 1
    title = " ".join(project_name.split())  # one line, whatever the name holds
    per_split = ", ".join(f"{split}: {counts[split]}" for split in SPLITS)
    text = (
        f"{title} - version {version}\n\nFormat: {format}\nImages: {len(items)} ({per_split})\nClasses: {len(names)}\n"
    )
    if generated:
        text += f"Generated: {generated}\n"
    if settings:
        text += f"Settings: {json.dumps(settings, sort_keys=True, ensure_ascii=False)}\n"
    if names:
        text += "\nLabels per class (train, valid, test):\n"
        for name in names:
            label = " ".join(name.split())
            text += f"  {label}: " + ", ".join(str(per_class[name][split]) for split in SPLITS) + "\n"
    return text


def _by_split(items: list[_Item]) -> dict[str, list[_Item]]:
    """The splits that have images, in (split, id) order."""
    groups: dict[str, list[_Item]] = {}
    for item in items:
        groups.setdefault(item.image.split, []).append(item)
    return groups


def _write_coco(writer: _Writer, project_name: str, version: int, items: list[_Item], names: list[str]) -> None:
    categories = [{"id": index, "name": name, "supercategory": "none"} for index, name in enumerate(names)]
    # Images go by their own ids; in a version with several outputs of an image, by position.
    numbered = any(item.image.variant for item in items)
    coco_id = {id(item): position if numbered else item.image.id for position, item in enumerate(items)}
    for split, group in _by_split(items).items():
        images: list[dict[str, object]] = []
        annotations: list[dict[str, object]] = []
        for item in group:
            writer.image(f"{split}/{item.file}", item.image)
            images.append(
                {
                    "id": coco_id[id(item)],
                    "file_name": item.file,
                    "width": item.image.width,
                    "height": item.image.height,
                }
            )
            for box in item.boxes:
                annotations.append(
                    {
                        "id": len(annotations),
                        "image_id": coco_id[id(item)],
                        "category_id": box.class_id,
                        "bbox": [box.x, box.y, box.width, box.height],
                        "area": box.width * box.height,
                        "iscrowd": 0,
                        "segmentation": [],
                    }
                )
        document = {
            "info": {"description": project_name, "version": str(version)},
            "licenses": [],
            "categories": categories,
            "images": images,
            "annotations": annotations,
        }
        writer.text(f"{split}/{COCO_ANNOTATIONS}", json.dumps(document, separators=(",", ":"), allow_nan=False))


def _write_yolo(writer: _Writer, items: list[_Item], names: list[str]) -> None:
    data = {
        "train": "../train/images",
        "val": "../valid/images",
        "test": "../test/images",
        "nc": len(names),
        "names": names,
    }
    writer.text("data.yaml", yaml.safe_dump(data, sort_keys=False))
    for item in items:
        split = item.image.split
        width, height = item.image.width, item.image.height
        writer.image(f"{split}/images/{item.file}", item.image)
        lines = [
            f"{box.class_id} {(box.x + box.width / 2) / width:.6f} {(box.y + box.height / 2) / height:.6f} "
            f"{box.width / width:.6f} {box.height / height:.6f}\n"
            for box in item.boxes
        ]
        writer.text(f"{split}/labels/{item.stem}.txt", "".join(lines))


def _write_voc(writer: _Writer, items: list[_Item]) -> None:
    for item in items:
        split = item.image.split
        writer.image(f"{split}/{item.file}", item.image)
        writer.text(f"{split}/{item.stem}.xml", _voc_xml(item))


def _voc_xml(item: _Item) -> bytes:
    def child(parent: ET.Element, tag: str, text: object) -> ET.Element:
        element = ET.SubElement(parent, tag)
        element.text = str(text)
        return element

    root = ET.Element("annotation")
    child(root, "folder", "")
    child(root, "filename", item.file)
    size = ET.SubElement(root, "size")
    child(size, "width", item.image.width)
    child(size, "height", item.image.height)
    child(size, "depth", 3)
    child(root, "segmented", 0)
    for box in item.boxes:
        element = ET.SubElement(root, "object")
        child(element, "name", _NOT_XML_CHARS.sub("\ufffd", box.label))
        child(element, "pose", "Unspecified")
        child(element, "truncated", 0)
        child(element, "difficult", 0)
        bndbox = ET.SubElement(element, "bndbox")
        child(bndbox, "xmin", round(box.x))
        child(bndbox, "ymin", round(box.y))
        child(bndbox, "xmax", round(box.x + box.width))
        child(bndbox, "ymax", round(box.y + box.height))
    ET.indent(root)
    buffer = io.BytesIO()
    ET.ElementTree(root).write(buffer, encoding="utf-8", xml_declaration=True)
    buffer.write(b"\n")
    return buffer.getvalue()


def class_folders(names: list[str]) -> dict[str, str]:
    """A folder name for each class: only [A-Za-z0-9._-], no leading dot, unique regardless of
    case (two labels that clean up alike get -2, -3...)."""
    folders: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = _LEADING_DOTS.sub(lambda m: "_" * len(m.group()), _UNSAFE_NAME_CHARS.sub("_", name))[:MAX_NAME_LENGTH]
        base = base.rstrip(".") or UNLABELED_NAME
        folder, n = base, 1
        while folder.lower() in taken:
            n += 1
            folder = f"{base}-{n}"
        taken.add(folder.lower())
        folders[name] = folder
    return folders


def _write_folder(writer: _Writer, items: list[_Item], names: list[str]) -> None:
    """`<split>/<class>/<image>`: an image in the folder of each of its classes; an image
    without a class at its split's top."""
    folders = class_folders(names)
    for item in items:
        split = item.image.split
        if not item.image.classes:
            writer.image(f"{split}/{item.file}", item.image)
        for label in dict.fromkeys(item.image.classes):
            writer.image(f"{split}/{folders[label]}/{item.file}", item.image)


def _write_multiclass(writer: _Writer, items: list[_Item], names: list[str]) -> None:
    """`<split>/<image>` and `<split>/_classes.csv`: a row per image, a 0/1 column per class."""
    for split, group in _by_split(items).items():
        rows = io.StringIO()
        table = csv.writer(rows, lineterminator="\n")
        table.writerow(["filename", *names])
        for item in group:
            writer.image(f"{split}/{item.file}", item.image)
            held = set(item.image.classes)
            table.writerow([item.file, *(1 if name in held else 0 for name in names)])
        writer.text(f"{split}/{CLASSES_CSV}", rows.getvalue())
