"""Parse the annotation file that the roboflow client uploads for one image.

`parse_annotation()` picks the format from the file name and its content (COCO JSON, CreateML
JSON, Pascal VOC XML, YOLO TXT, or a class name in a classification project), checks every value
and returns an `Annotation` whose boxes are in pixels and clipped to the image. Anything wrong is
an `AnnotationError`, whose message is meant for the API client (a 400).

Pure Python: no Django, no database. XML goes through defusedxml with DTDs forbidden, so entity
expansion ("billion laughs") and external entities never run.
"""

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import fromstring

MAX_TEXT = 2_000_000  # characters of annotation text accepted
MAX_BOXES = 5000
LABEL_MAX = 100

FORMATS = ("coco", "voc", "yolo", "createml", "classification")
SUPPORTED = "COCO JSON, Pascal VOC XML, YOLO TXT or CreateML JSON"

# The client pads a COCO file for an image without annotations with this fake annotation.
PLACEHOLDER_ID = 999999999

# Annotation files that are not a class name, yet not supported either (the client's CSV and JSONL).
_OTHER_EXTENSIONS = (".csv", ".jsonl", ".yaml", ".yml")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CLASS_INDEX = re.compile(r"[0-9]{1,18}")


class AnnotationError(ValueError):
    """A 400: the message says what is wrong, naming the file format and the line/object when useful."""


@dataclass(frozen=True)
class Box:
    label: str
    x: float  # left, in pixels
    y: float  # top, in pixels
    width: float
    height: float


@dataclass(frozen=True)
class Annotation:
    format: str  # "coco" | "voc" | "yolo" | "createml" | "classification"
    boxes: tuple[Box, ...] = ()
    classes: tuple[str, ...] = ()  # for classification (one or more labels)

    def counts(self) -> dict[str, int]:
        """Label -> number of boxes with it (1 per class for classification), in order of first use."""
        counts: dict[str, int] = {}
        for label in [box.label for box in self.boxes] + list(self.classes):
            counts[label] = counts.get(label, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "boxes": [
                {
                    "label": box.label,
                    "x": round(box.x, 2),
                    "y": round(box.y, 2),
                    "width": round(box.width, 2),
                    "height": round(box.height, 2),
                }
                for box in self.boxes
            ],
            "classes": list(self.classes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Annotation":
        """The inverse of `to_json()`. Checks the shape, types and labels, not the geometry."""
        if not isinstance(data, Mapping):
            raise AnnotationError("The annotation is not a JSON object.")
        kind = data.get("format")
        if not isinstance(kind, str) or kind not in FORMATS:
            raise AnnotationError(f"The annotation format {_short(kind)} is not one of {', '.join(FORMATS)}.")
        raw_boxes = data.get("boxes", [])
        raw_classes = data.get("classes", [])
        if not isinstance(raw_boxes, list) or not isinstance(raw_classes, list):
            raise AnnotationError("The annotation's boxes and classes should be lists.")
        if len(raw_boxes) > MAX_BOXES or len(raw_classes) > MAX_BOXES:
            raise AnnotationError(f"The annotation has more than {MAX_BOXES} boxes or classes.")
        boxes = []
        for index, raw in enumerate(raw_boxes, 1):
            where = f"Box {index} of the annotation"
            if not isinstance(raw, Mapping):
                raise AnnotationError(f"{where} is not an object.")
            numbers = [_number(raw.get(field), where, field) for field in ("x", "y", "width", "height")]
            boxes.append(Box(_label(raw.get("label"), where), *numbers))
        classes = tuple(_label(raw, f"Class {index} of the annotation") for index, raw in enumerate(raw_classes, 1))
        return cls(format=kind, boxes=tuple(boxes), classes=classes)


def parse_annotation(
    *,
    name: str,
    text: str,
    labelmap: object,
    image_name: str,
    width: int,
    height: int,
    classification: bool,
) -> Annotation:
    """Parse the annotation file `name` with content `text` for the image `image_name` (width x height pixels).

    `labelmap` (None, {"0": "cat", ...} or ["cat", ...]) names YOLO's class numbers. In a classification
    project (`classification`), a name without an annotation file extension means `text` is a class name,
    or a JSON list of class names.
    """
    for size in (width, height):
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"Image width and height should be positive integers, not {size!r}.")
    if not isinstance(name, str) or not isinstance(text, str):
        raise AnnotationError("The annotation file name and content should be text.")
    if len(text) > MAX_TEXT:
        raise AnnotationError(f"The annotation file has {len(text):,} characters; the limit is {MAX_TEXT:,}.")
    if classification and text == name:
        # What the client sends when the "annotation" is a class name rather than a file.
        return _parse_classification(text)
    text = text.removeprefix("\ufeff")
    base = _basename(name).lower()
    if base.endswith(".xml"):
        return _parse_voc(text, width, height)
    if base.endswith(".txt"):
        return _parse_yolo(text, labelmap, width, height)
    if base.endswith(".json"):
        return _parse_json(text, image_name, width, height, classification)
    if classification and not base.endswith(_OTHER_EXTENSIONS):
        return _parse_classification(text)
    raise AnnotationError(f"The annotation file {_short(name)} is not in a supported format; use {SUPPORTED}.")


# Formats


def _parse_voc(text: str, width: int, height: int) -> Annotation:
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden:
        raise AnnotationError(
            "The file is not valid Pascal VOC XML: it has a DTD (<!DOCTYPE>), which is not accepted."
        ) from None
    except (EntitiesForbidden, ExternalReferenceForbidden):
        raise AnnotationError(
            "The file is not valid Pascal VOC XML: it declares entities, which are not accepted."
        ) from None
    except (ParseError, DefusedXmlException, UnicodeError) as exc:
        raise AnnotationError(f"The file is not valid Pascal VOC XML ({exc}).") from None
    if root.tag != "annotation":
        raise AnnotationError(
            f"The file is not valid Pascal VOC XML: its root element is <{_clip(str(root.tag))}>, not <annotation>."
        )
    boxes: list[Box] = []
    for index, element in enumerate(root.findall("object"), 1):
        where = f"Object {index} of the Pascal VOC XML"
        name = element.findtext("name")
        if name is None:
            raise AnnotationError(f"{where} has no <name>.")
        bndbox = element.find("bndbox")
        if bndbox is None:
            raise AnnotationError(f"{where} has no <bndbox>.")
        corners = []
        for field in ("xmin", "ymin", "xmax", "ymax"):
            value = bndbox.findtext(field)
            if value is None:
                raise AnnotationError(f"{where} has no <{field}> in its <bndbox>.")
            corners.append(_parse_number(value, where, field))
        _add(boxes, _box(_label(name, where), *corners, where=where, width=width, height=height), "Pascal VOC XML")
    return Annotation(format="voc", boxes=tuple(boxes))


def _parse_yolo(text: str, labelmap: object, width: int, height: int) -> Annotation:
    names = _labelmap(labelmap)
    boxes: list[Box] = []
    for number, line in enumerate(text.split("\n"), 1):
        values = line.split()
        if not values:
            continue
        where = f"Line {number} of the YOLO file"
        count = len(values)
        if count != 5 and (count < 7 or count % 2 == 0):
            raise AnnotationError(
                f"{where} has {count} values; expected 5 (class cx cy w h) or a polygon (class x1 y1 x2 y2 x3 y3 ...)."
            )
        if not _CLASS_INDEX.fullmatch(values[0]):
            raise AnnotationError(
                f"{where} starts with {_short(values[0])}, which is not a class number (0, 1, 2, ...)."
            )
        index = str(int(values[0]))
        label = _label(names.get(index, index), where)
        numbers = [_parse_number(value, where, "value") for value in values[1:]]
        if count == 5:
            cx, cy, w, h = numbers
            if w <= 0 or h <= 0:
                raise AnnotationError(f"{where} has a box {w:g} wide and {h:g} high; both should be above zero.")
            left, top, right, bottom = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        else:
            xs, ys = numbers[0::2], numbers[1::2]
            left, top, right, bottom = min(xs), min(ys), max(xs), max(ys)
        box = _box(
            label, left * width, top * height, right * width, bottom * height, where=where, width=width, height=height
        )
        _add(boxes, box, "YOLO file")
    return Annotation(format="yolo", boxes=tuple(boxes))


def _parse_json(text: str, image_name: str, width: int, height: int, classification: bool) -> Annotation:
    data = _load_json(text)
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        return _parse_coco(data, image_name, width, height)
    if isinstance(data, list):
        if classification and data and all(isinstance(item, str) for item in data):
            return _classification(data)
        return _parse_createml(data, image_name, width, height)
    raise AnnotationError(
        'The JSON file is neither COCO (an object with an "annotations" list) nor CreateML (a list of images).'
    )


def _parse_coco(data: dict[str, Any], image_name: str, width: int, height: int) -> Annotation:
    images = data.get("images")
    if not isinstance(images, list):
        raise AnnotationError('The COCO file has no "images" list.')
    categories = data.get("categories", [])
    if not isinstance(categories, list):
        raise AnnotationError('The COCO file\'s "categories" is not a list.')
    names: dict[int | str, object] = {}
    for index, category in enumerate(categories, 1):
        where = f"Category {index} of the COCO file"
        if not isinstance(category, dict):
            raise AnnotationError(f"{where} is not an object.")
        category_id = _id(category.get("id"))
        if category_id is None:
            raise AnnotationError(f"{where} has no id (a number).")
        if category_id in names:
            raise AnnotationError(f"{where} repeats the id {category_id!r}.")
        names[category_id] = category.get("name")

    image = _pick(images, "file_name", image_name, "COCO file")
    image_id = _id(image.get("id"))
    if image_id is None:
        raise AnnotationError("The image entry in the COCO file has no id (a number).")

    boxes: list[Box] = []
    labels: dict[int | str, str] = {}  # category id -> checked label
    for index, annotation in enumerate(data["annotations"], 1):
        where = f"Annotation {index} of the COCO file"
        if not isinstance(annotation, dict):
            raise AnnotationError(f"{where} is not an object.")
        if _is_placeholder(annotation) or _id(annotation.get("image_id")) != image_id:
            continue
        bbox = annotation.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise AnnotationError(f"{where} has no bbox [x, y, width, height].")
        x, y, w, h = (
            _number(value, where, field) for value, field in zip(bbox, ("x", "y", "width", "height"), strict=True)
        )
        category_id = _id(annotation.get("category_id"))
        if category_id is None or category_id not in names:
            raise AnnotationError(
                f"{where} has category_id {_short(annotation.get('category_id'))}, which is not among the file's categories."
            )
        if category_id not in labels:
            labels[category_id] = _label(names[category_id], f"The COCO category with id {category_id!r}")
        _add(boxes, _box(labels[category_id], x, y, x + w, y + h, where=where, width=width, height=height), "COCO file")
    return Annotation(format="coco", boxes=tuple(boxes))


def _parse_createml(data: list[Any], image_name: str, width: int, height: int) -> Annotation:
    for index, entry in enumerate(data, 1):
        if not isinstance(entry, dict):
            raise AnnotationError(f"Entry {index} of the CreateML file is not an object.")
    entry = _pick(data, "image", image_name, "CreateML file")
    annotations = entry.get("annotations")
    if not isinstance(annotations, list):
        raise AnnotationError('The image entry in the CreateML file has no "annotations" list.')
    boxes: list[Box] = []
    for index, annotation in enumerate(annotations, 1):
        where = f"Annotation {index} of the CreateML file"
        if not isinstance(annotation, dict):
            raise AnnotationError(f"{where} is not an object.")
        coordinates = annotation.get("coordinates")
        if not isinstance(coordinates, dict):
            raise AnnotationError(f"{where} has no coordinates {{x, y, width, height}}.")
        cx, cy, w, h = (_number(coordinates.get(field), where, field) for field in ("x", "y", "width", "height"))
        if w <= 0 or h <= 0:
            raise AnnotationError(f"{where} has a box {w:g} wide and {h:g} high; both should be above zero.")
        label = _label(annotation.get("label"), where)
        box = _box(label, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, where=where, width=width, height=height)
        _add(boxes, box, "CreateML file")
    return Annotation(format="createml", boxes=tuple(boxes))


def _parse_classification(text: str) -> Annotation:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except (ValueError, RecursionError):
            items = None
        if isinstance(items, list):
            return _classification(items)
    return Annotation(format="classification", classes=(_label(stripped, "The class name"),))


def _classification(items: list[Any]) -> Annotation:
    if not items:
        raise AnnotationError("The list of classes is empty.")
    if len(items) > MAX_BOXES:
        raise AnnotationError(f"The list of classes has more than {MAX_BOXES} classes.")
    classes = [_label(item, f"Class {index} of the list") for index, item in enumerate(items, 1)]
    return Annotation(format="classification", classes=tuple(dict.fromkeys(classes)))


# Pieces


def _load_json(text: str) -> Any:
    def reject_constant(constant: str) -> None:
        raise AnnotationError(f"The JSON file contains {constant}, which is not a finite number.")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except AnnotationError:
        raise
    except json.JSONDecodeError as exc:
        raise AnnotationError(
            f"The file is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
        ) from None
    except ValueError:  # an integer with more digits than Python converts
        raise AnnotationError("The JSON file has a number with too many digits.") from None
    except RecursionError:
        raise AnnotationError("The JSON file is nested too deeply.") from None


def _pick(entries: list[Any], key: str, image_name: str, source: str) -> dict[str, Any]:
    """The entry of a COCO or CreateML file for the image: the one named like it, else the only one."""
    wanted = _basename(image_name)
    matches = [
        entry
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get(key), str) and _basename(entry[key]) == wanted
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AnnotationError(f"The {source} has {len(matches)} images named {_short(wanted)}.")
    if len(entries) == 1 and isinstance(entries[0], dict):
        return entries[0]
    if not entries:
        raise AnnotationError(f"The {source} lists no images.")
    raise AnnotationError(f"None of the {len(entries)} images in the {source} is named {_short(wanted)}.")


def _is_placeholder(annotation: dict[str, Any]) -> bool:
    return (
        _id(annotation.get("id")) == PLACEHOLDER_ID
        and _id(annotation.get("image_id")) == PLACEHOLDER_ID
        and not annotation.get("bbox")
    )


def _labelmap(labelmap: object) -> dict[str, object]:
    """YOLO class number (as text) -> label, from None, {"0": "cat"} / {0: "cat"} or ["cat"]."""
    if labelmap is None:
        return {}
    if isinstance(labelmap, list):
        return {str(index): name for index, name in enumerate(labelmap)}
    if isinstance(labelmap, Mapping):
        names: dict[str, object] = {}
        for key, name in labelmap.items():
            if isinstance(key, str) and _CLASS_INDEX.fullmatch(key.strip()):
                names[str(int(key))] = name
            elif isinstance(key, int) and not isinstance(key, bool) and key >= 0:
                names[str(key)] = name
            else:
                raise AnnotationError(f"The labelmap has the key {_short(key)}; its keys should be class numbers.")
        return names
    raise AnnotationError('The labelmap should be an object like {"0": "cat"} or a list of names.')


def _label(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise AnnotationError(f"{where} has a label that is not text ({type(value).__name__}).")
    label = value.strip()
    if not label:
        raise AnnotationError(f"{where} has an empty label.")
    if len(label) > LABEL_MAX:
        raise AnnotationError(f"{where} has a label longer than {LABEL_MAX} characters: {_short(label)}.")
    if _CONTROL.search(label):
        raise AnnotationError(f"{where} has a label with a control character: {_short(label)}.")
    if _SURROGATE.search(label):
        raise AnnotationError(f"{where} has a label with a lone surrogate: {_short(label)}.")
    return label


def _number(value: object, where: str, field: str) -> float:
    """A number from parsed JSON: an int or float, not a bool or a string, and finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnnotationError(f"{where} has {field} {_short(value)}, which is not a number.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise AnnotationError(f"{where} has {field} {_short(value)}, which is not a finite number.")
    return number


def _parse_number(text: str, where: str, field: str) -> float:
    """A number from XML or YOLO text."""
    try:
        number = float(text.strip())
    except ValueError:
        raise AnnotationError(f"{where} has {field} {_short(text)}, which is not a number.") from None
    if not math.isfinite(number):
        raise AnnotationError(f"{where} has {field} {_short(text)}, which is not a finite number.")
    return number


def _box(
    label: str, left: float, top: float, right: float, bottom: float, *, where: str, width: int, height: int
) -> Box:
    """The box from its corners in pixels, clipped to the image."""
    box_width, box_height = right - left, bottom - top
    if not all(math.isfinite(value) for value in (left, top, right, bottom, box_width, box_height)):
        raise AnnotationError(f"{where} has a box too large to place on the image.")
    if box_width <= 0 or box_height <= 0:
        raise AnnotationError(
            f"{where} has a box {box_width:g} wide and {box_height:g} high; both should be above zero."
        )
    left, top, right, bottom = max(left, 0.0), max(top, 0.0), min(right, float(width)), min(bottom, float(height))
    if right <= left or bottom <= top:
        raise AnnotationError(f"{where} has a box entirely outside the {width}x{height} image.")
    return Box(label=label, x=left, y=top, width=right - left, height=bottom - top)


def _add(boxes: list[Box], box: Box, source: str) -> None:
    if len(boxes) >= MAX_BOXES:
        raise AnnotationError(f"The {source} has more than {MAX_BOXES} boxes.")
    boxes.append(box)


def _id(value: object) -> int | str | None:
    """A COCO id: an int or a string, never a bool (True == 1) or a float."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return value


def _basename(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _short(value: object) -> str:
    """A value for a message: repr of text, truncated; only the type of anything large."""
    if isinstance(value, str):
        return repr(_clip(value))
    if value is None or isinstance(value, bool | float) or (isinstance(value, int) and abs(value) < 10**40):
        return repr(value)
    return f"a value of type {type(value).__name__}"
