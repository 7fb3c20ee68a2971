"""`parse_annotation()`: the annotation files the roboflow client uploads, read into boxes or classes.

Pure functions: no database.
"""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workspaces import annotations as module
from workspaces.annotations import (
    LABEL_MAX,
    MAX_BOXES,
    MAX_TEXT,
    Annotation,
    AnnotationError,
    Box,
    parse_annotation,
)

WIDTH, HEIGHT = 640, 480


def parse(name, text, *, labelmap=None, image_name="img1.jpg", width=WIDTH, height=HEIGHT, classification=False):
    return parse_annotation(
        name=name,
        text=text,
        labelmap=labelmap,
        image_name=image_name,
        width=width,
        height=height,
        classification=classification,
    )


def error(name, text, **kwargs):
    """The message of the AnnotationError that parsing raises; a short sentence for the API client."""
    with pytest.raises(AnnotationError) as caught:
        parse(name, text, **kwargs)
    message = str(caught.value)
    assert message.endswith("."), message
    assert "require" not in message.lower(), message
    assert len(message) < 300, message
    return message


# Pascal VOC XML

VOC = """<?xml version="1.0" encoding="UTF-8"?>
<annotation>
\t<folder></folder>
\t<filename>img1.jpg</filename>
\t<path>img1.jpg</path>
\t<source>
\t\t<database>roboflow.com</database>
\t</source>
\t<size>
\t\t<width>640</width>
\t\t<height>480</height>
\t\t<depth>3</depth>
\t</size>
\t<segmented>0</segmented>
\t<object>
\t\t<name>cat</name>
\t\t<pose>Unspecified</pose>
\t\t<truncated>0</truncated>
\t\t<difficult>0</difficult>
\t\t<occluded>0</occluded>
\t\t<bndbox>
\t\t\t<xmin>10</xmin>
\t\t\t<xmax>110.5</xmax>
\t\t\t<ymin>20</ymin>
\t\t\t<ymax>220</ymax>
\t\t</bndbox>
\t</object>
\t<object>
\t\t<name> dog </name>
\t\t<bndbox><xmin>600</xmin><ymin>400</ymin><xmax>700</xmax><ymax>500</ymax></bndbox>
\t</object>
\t<object>
\t\t<name>cat</name>
\t\t<bndbox><xmin>0</xmin><ymin>0</ymin><xmax>640</xmax><ymax>480</ymax></bndbox>
\t</object>
</annotation>
"""


def voc(*objects):
    return "<annotation><size><width>640</width><height>480</height></size>" + "".join(objects) + "</annotation>"


def test_voc_boxes_in_pixels_with_names_stripped_and_clipped_to_the_image():
    annotation = parse("img1.xml", VOC)
    assert annotation == Annotation(
        format="voc",
        boxes=(
            Box("cat", 10, 20, 100.5, 200),
            Box("dog", 600, 400, 40, 80),  # 700 x 500 clipped to 640 x 480
            Box("cat", 0, 0, 640, 480),
        ),
    )
    assert annotation.counts() == {"cat": 2, "dog": 1}


def test_voc_extension_is_case_insensitive_and_a_bom_is_ignored():
    assert parse("IMG1.XML", "\ufeff" + VOC).format == "voc"


def test_voc_without_objects_is_an_image_with_nothing_in_it():
    assert parse("img1.xml", voc()) == Annotation(format="voc")


def test_voc_nested_part_boxes_are_not_objects():
    obj = "<object><name>person</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>"
    part = "<part><name>hand</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>3</xmax><ymax>3</ymax></bndbox></part>"
    assert parse("a.xml", voc(obj + part + "</object>")).counts() == {"person": 1}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ("<object><bndbox/></object>", "Object 1 of the Pascal VOC XML has no <name>."),
        ("<object><name>cat</name></object>", "Object 1 of the Pascal VOC XML has no <bndbox>."),
        (
            "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax></bndbox></object>",
            "Object 1 of the Pascal VOC XML has no <ymax> in its <bndbox>.",
        ),
        (
            "<object><name>cat</name><bndbox><xmin>a</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>",
            "Object 1 of the Pascal VOC XML has xmin 'a', which is not a number.",
        ),
        (
            "<object><name>cat</name><bndbox><xmin>nan</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>",
            "has xmin 'nan', which is not a finite number.",
        ),
        (
            "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>1e999</xmax><ymax>5</ymax></bndbox></object>",
            "has xmax '1e999', which is not a finite number.",
        ),
        (
            "<object><name>cat</name><bndbox><xmin>9</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>",
            "has a box -4 wide and 4 high; both should be above zero",
        ),
        (
            "<object><name></name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>",
            "Object 1 of the Pascal VOC XML has an empty label.",
        ),
        (
            "<object><name>cat</name><bndbox><xmin>700</xmin><ymin>1</ymin><xmax>800</xmax><ymax>5</ymax></bndbox></object>",
            "has a box entirely outside the 640x480 image",
        ),
    ],
)
def test_voc_errors_name_the_object_and_the_problem(obj, expected):
    good = "<object><name>ok</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"
    message = error("img1.xml", voc(good, obj.replace("Object 1", "Object 2")))
    assert expected.replace("Object 1", "Object 2") in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<annotation><object>", "not valid Pascal VOC XML (no element found: line 1"),
        ("", "not valid Pascal VOC XML"),
        ("cat", "not valid Pascal VOC XML (syntax error: line 1, column 0)"),
        ("<annotation>\x00</annotation>", "not valid Pascal VOC XML (not well-formed"),
        ("<annotation>\ud800</annotation>", "not valid Pascal VOC XML"),
        ("<svg><object/></svg>", "its root element is <svg>, not <annotation>"),
    ],
)
def test_voc_that_is_not_xml_or_not_voc(text, expected):
    assert expected in error("img1.xml", text)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<annotation><object><name>&lol9;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE annotation [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<annotation><object><name>&secret;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>
"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE annotation SYSTEM "http://127.0.0.1:9/evil.dtd">
<annotation/>
"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE annotation [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>
<annotation/>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY])
def test_xml_bombs_and_external_entities_are_refused_before_anything_expands(text):
    message = error("img1.xml", text)
    assert "not valid Pascal VOC XML" in message
    assert "DTD" in message
    assert "root:" not in message  # nothing from /etc/passwd


def test_an_entity_reference_without_a_dtd_is_a_parse_error():
    assert "undefined entity" in error("img1.xml", voc("<object><name>&lol;</name></object>"))


# YOLO TXT

YOLO = "0 0.5 0.5 0.25 0.5\n1 0.1 0.2 0.1 0.2\r\n\n  0   0.95 0.95 0.2 0.2  \n"


def test_yolo_boxes_are_converted_from_normalized_centres_to_pixels():
    annotation = parse("img1.txt", YOLO, labelmap={"0": "cat", "1": "dog"})
    assert annotation.format == "yolo"
    assert annotation.boxes == (
        Box("cat", 240, 120, 160, 240),
        Box("dog", pytest.approx(32), pytest.approx(48), pytest.approx(64), pytest.approx(96)),
        Box("cat", pytest.approx(544), pytest.approx(408), pytest.approx(96), pytest.approx(72)),  # clipped
    )
    assert annotation.counts() == {"cat": 2, "dog": 1}


@pytest.mark.parametrize(
    ("labelmap", "expected"),
    [
        ({"0": "cat", "1": "dog"}, {"cat": 2, "dog": 1}),
        ({0: "cat", 1: "dog"}, {"cat": 2, "dog": 1}),  # what the client's load_labelmap() builds, before JSON
        (["cat", "dog"], {"cat": 2, "dog": 1}),
        ({"0": "cat"}, {"cat": 2, "1": 1}),  # a class missing from the labelmap keeps its number
        (["cat"], {"cat": 2, "1": 1}),
        ({}, {"0": 2, "1": 1}),
        (None, {"0": 2, "1": 1}),
        ({"1": " dog "}, {"0": 2, "dog": 1}),
    ],
)
def test_yolo_labelmap_variants(labelmap, expected):
    assert parse("img1.txt", YOLO, labelmap=labelmap).counts() == expected


def test_yolo_class_numbers_with_leading_zeros_find_their_labelmap_entry():
    assert parse("a.txt", "01 0.5 0.5 0.1 0.1", labelmap={"1": "dog"}).counts() == {"dog": 1}


@pytest.mark.parametrize(
    ("labelmap", "expected"),
    [
        ("cat,dog", "The labelmap should be an object"),
        (3, "The labelmap should be an object"),
        ({"cat": "dog"}, "The labelmap has the key 'cat'; its keys should be class numbers."),
        ({-1: "dog"}, "The labelmap has the key -1"),
        ({True: "dog"}, "The labelmap has the key True"),
        ({"0": 7}, "Line 1 of the YOLO file has a label that is not text (int)."),
        ({"0": ""}, "Line 1 of the YOLO file has an empty label."),
        ({"0": "ca\x00t"}, "Line 1 of the YOLO file has a label with a control character: 'ca\\x00t'."),
        (["\ud83d"], "Line 1 of the YOLO file has a label with a lone surrogate: '\\ud83d'."),
    ],
)
def test_yolo_bad_labelmaps(labelmap, expected):
    assert expected in error("a.txt", "0 0.5 0.5 0.1 0.1", labelmap=labelmap)


def test_yolo_polygon_lines_become_their_bounding_box():
    polygon = "2 0.1 0.2 0.5 0.1 0.4 0.6 0.2 0.5"
    annotation = parse("img1.txt", polygon + "\n0 0.5 0.5 0.5 0.5", labelmap=["cat", "dog", "bird"])
    bird = annotation.boxes[0]
    assert (bird.label, bird.x, bird.y, bird.width, bird.height) == (
        "bird",
        pytest.approx(64),
        pytest.approx(48),
        pytest.approx(256),
        pytest.approx(240),
    )
    assert annotation.counts() == {"bird": 1, "cat": 1}


def test_yolo_polygon_partly_outside_is_clipped():
    (box,) = parse("a.txt", "0 -0.5 -0.5 0.5 0 0.25 0.5").boxes
    assert (box.x, box.y, box.width, box.height) == (0, 0, 320, 240)


@pytest.mark.parametrize("text", ["", "\n", "  \n\t\r\n", "\ufeff"])
def test_an_empty_yolo_file_is_an_image_with_nothing_in_it(text):
    assert parse("img1.txt", text) == Annotation(format="yolo")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("0 0.5 0.5 0.1", "has 4 values; expected 5 (class cx cy w h) or a polygon"),
        ("0 0.5 0.5 0.1 0.1 0.9", "has 6 values; expected 5"),  # a prediction with a confidence
        ("0 0.1 0.1 0.2 0.2 0.3 0.3 0.4", "has 8 values"),  # half a point
        ("0", "has 1 values"),
        ("cat 0.5 0.5 0.1 0.1", "starts with 'cat', which is not a class number"),
        ("-1 0.5 0.5 0.1 0.1", "starts with '-1', which is not a class number"),
        ("1.0 0.5 0.5 0.1 0.1", "starts with '1.0', which is not a class number"),
        ("9" * 19 + " 0.5 0.5 0.1 0.1", "which is not a class number"),
        ("٣ 0.5 0.5 0.1 0.1", "which is not a class number"),  # an Arabic-Indic digit
        ("0 0.5 half 0.1 0.1", "has value 'half', which is not a number."),
        ("0 0.5 0.5 0.1 nan", "has value 'nan', which is not a finite number."),
        ("0 0.5 0.5 inf 0.1", "has value 'inf', which is not a finite number."),
        ("0 0.5 0.5 -Infinity 0.1", "has value '-Infinity', which is not a finite number."),
        ("0 0.5 0.5 1e309 0.1", "has value '1e309', which is not a finite number."),
        ("0 0.5 0.5 0 0.1", "has a box 0 wide and 0.1 high; both should be above zero"),
        ("0 0.5 0.5 0.1 -0.1", "both should be above zero"),
        ("0 0.5 0.5 1e-320 0.1", "both should be above zero"),  # a width that vanishes in pixels
        ("0 0.5 0.5 1e306 0.1", "has a box too large to place on the image"),
        ("0 1.5 0.5 0.2 0.2", "has a box entirely outside the 640x480 image"),
        ("0 0.5 -1 0.2 0.2", "entirely outside"),
        ("0 0.5 1.1 0.2 0.2", "entirely outside"),  # touching the edge is outside too
        ("0 0.1 0.1 0.1 0.1 0.1 0.1", "has a box 0 wide and 0 high"),  # a polygon that is a point
    ],
)
def test_yolo_errors_name_the_line_and_the_problem(line, expected):
    message = error("img1.txt", f"0 0.5 0.5 0.1 0.1\n\n{line}\n")
    assert message.startswith("Line 3 of the YOLO file ")
    assert expected in message


def test_yolo_huge_numbers_that_stay_finite_are_placed_or_refused_not_crashed():
    assert parse("a.txt", "0 0.5 0.5 1e10 1e10").boxes == (Box("0", 0, 0, WIDTH, HEIGHT),)
    assert "too large" in error("a.txt", "0 0.5 0.5 1e308 1e308")
    assert "entirely outside" in error("a.txt", "0 1e5 0.5 0.1 0.1")
    assert "0 wide" in error("a.txt", "0 1e200 0.5 0.1 0.1")  # 1e200 ± 0.05 is 1e200: the box collapses


# COCO JSON

COCO = {
    "info": {"year": "2024", "version": "3", "description": "Exported from roboflow.com", "contributor": ""},
    "licenses": [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}],
    "categories": [
        {"id": 0, "name": "animals", "supercategory": "none"},
        {"id": 1, "name": "cat", "supercategory": "animals"},
        {"id": 2, "name": "dog", "supercategory": "animals"},
    ],
    "images": [
        {"id": 0, "license": 1, "file_name": "train/other.jpg", "height": 480, "width": 640},
        {"id": 1, "license": 1, "file_name": "train/img1.jpg", "height": 480, "width": 640},
    ],
    "annotations": [
        {"id": 0, "image_id": 0, "category_id": 2, "bbox": [1, 1, 5, 5], "area": 25, "segmentation": [], "iscrowd": 0},
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": [10, 20.25, 100.5, 200],
            "area": 20100,
            "segmentation": [[10, 20.25, 110.5, 20.25, 110.5, 220.25]],
            "iscrowd": 0,
        },
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [-10, 400, 50, 100], "area": 5000, "iscrowd": 0},
    ],
}


def coco(**changes):
    return json.dumps(COCO | changes)


def coco_annotation(**changes):
    return {"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]} | changes


def client_coco(image, annotations):
    """What the client's folder import sends for one image of a COCO export (roboflow/util/folderparser.py)."""
    fake = {"id": 999999999, "image_id": 999999999, "category_id": 0, "area": 1, "segmentation": [], "iscrowd": 0}
    return json.dumps(
        {
            "info": COCO["info"],
            "licenses": COCO["licenses"],
            "categories": COCO["categories"],
            "images": [image],
            "annotations": annotations or [fake],
        }
    )


def test_coco_picks_the_image_by_file_name_and_clips_its_boxes():
    annotation = parse("annotation.coco.json", coco())
    assert annotation == Annotation(
        format="coco",
        boxes=(Box("cat", 10, 20.25, 100.5, 200), Box("dog", 0, 400, 40, 80)),
    )
    assert annotation.counts() == {"cat": 1, "dog": 1}


def test_coco_matches_the_basename_of_either_side():
    assert len(parse("a.json", coco(), image_name="uploads/img1.jpg").boxes) == 2
    assert parse("a.json", coco(), image_name="C:\\data\\other.jpg").counts() == {"dog": 1}


def test_coco_from_the_client_for_one_image():
    image = COCO["images"][1]
    annotations = [a for a in COCO["annotations"] if a["image_id"] == 1]
    annotation = parse("annotation.coco.json", client_coco(image, annotations), image_name="renamed.jpg")
    assert annotation.counts() == {"cat": 1, "dog": 1}


def test_coco_placeholder_of_the_client_for_an_image_without_annotations_is_zero_boxes():
    text = client_coco(COCO["images"][1], [])
    assert parse("annotation.coco.json", text) == Annotation(format="coco")


def test_coco_placeholder_is_ignored_even_when_the_image_id_is_the_same():
    image = COCO["images"][1] | {"id": 999999999}
    assert parse("annotation.coco.json", client_coco(image, [])) == Annotation(format="coco")


def test_coco_image_without_annotations_is_zero_boxes():
    assert parse("a.json", coco(annotations=[]), image_name="other.jpg") == Annotation(format="coco")
    assert parse("a.json", coco(annotations=[], categories=[]).replace('"categories": [], ', "")).boxes == ()


def test_coco_string_ids_work_and_do_not_match_numbers():
    categories = [{"id": "c1", "name": "cat"}]
    images = [{"id": "i1", "file_name": "img1.jpg"}]
    annotations = [coco_annotation(image_id="i1", category_id="c1"), coco_annotation(image_id=1, category_id="c1")]
    text = coco(categories=categories, images=images, annotations=annotations)
    assert parse("a.json", text).counts() == {"cat": 1}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"images": None}, 'The COCO file has no "images" list.'),
        ({"images": []}, "The COCO file lists no images."),
        (
            {"images": [{"id": 0, "file_name": "a.jpg"}, {"id": 1, "file_name": "b.jpg"}]},
            "None of the 2 images in the COCO file is named 'img1.jpg'.",
        ),
        (
            {"images": [{"id": 0, "file_name": "a/img1.jpg"}, {"id": 1, "file_name": "b/img1.jpg"}]},
            "The COCO file has 2 images named 'img1.jpg'.",
        ),
        ({"images": [{"file_name": "img1.jpg"}]}, "The image entry in the COCO file has no id (a number)."),
        ({"images": [{"id": True, "file_name": "img1.jpg"}]}, "has no id"),
        ({"categories": {"1": "cat"}}, 'The COCO file\'s "categories" is not a list.'),
        ({"categories": ["cat"]}, "Category 1 of the COCO file is not an object."),
        ({"categories": [{"name": "cat"}]}, "Category 1 of the COCO file has no id (a number)."),
        (
            {"categories": [{"id": 1, "name": "cat"}, {"id": 1, "name": "dog"}]},
            "Category 2 of the COCO file repeats the id 1.",
        ),
        ({"categories": [{"id": 1, "name": 5}]}, "The COCO category with id 1 has a label that is not text (int)."),
        ({"categories": [{"id": 1}]}, "has a label that is not text (NoneType)"),
        ({"categories": [{"id": 1, "name": "x" * 101}]}, "The COCO category with id 1 has a label longer than 100"),
        (
            {"annotations": [coco_annotation(category_id=9)]},
            "Annotation 1 of the COCO file has category_id 9, which is not among",
        ),
        ({"annotations": [coco_annotation(category_id=None)]}, "has category_id None, which is not among"),
        ({"annotations": [coco_annotation(category_id=True)]}, "has category_id True, which is not among"),
        ({"annotations": [5]}, "Annotation 1 of the COCO file is not an object."),
        (
            {"annotations": [coco_annotation(bbox=None)]},
            "Annotation 1 of the COCO file has no bbox [x, y, width, height].",
        ),
        ({"annotations": [coco_annotation(bbox=[1, 2, 3])]}, "has no bbox"),
        ({"annotations": [coco_annotation(bbox=[1, 2, 3, 4, 5])]}, "has no bbox"),
        ({"annotations": [coco_annotation(bbox=[1, "2", 3, 4])]}, "has y '2', which is not a number."),
        ({"annotations": [coco_annotation(bbox=[1, 2, True, 4])]}, "has width True, which is not a number."),
        ({"annotations": [coco_annotation(bbox=[1, 2, None, 4])]}, "has width None, which is not a number."),
        (
            {"annotations": [coco_annotation(bbox=[1, 2, [3], 4])]},
            "has width a value of type list, which is not a number.",
        ),
        (
            {"annotations": [coco_annotation(bbox=[1, 2, 3, 10**400])]},
            "has height a value of type int, which is not a finite number.",
        ),
        ({"annotations": [coco_annotation(bbox=[1, 2, 0, 4])]}, "has a box 0 wide and 4 high"),
        ({"annotations": [coco_annotation(bbox=[1, 2, 3, -4])]}, "both should be above zero"),
        ({"annotations": [coco_annotation(bbox=[640, 2, 3, 4])]}, "has a box entirely outside the 640x480 image"),
        ({"annotations": [coco_annotation(bbox=[1e308, 2, 1e308, 4])]}, "has a box too large to place on the image"),
        ({"annotations": [coco_annotation(bbox=[10**6, 2, 3, 4])]}, "entirely outside"),
        (
            {"annotations": [coco_annotation(id=999999999, image_id=1, bbox=None)]},
            "Annotation 1 of the COCO file has no bbox",
        ),
    ],
)
def test_coco_errors_name_the_entry_and_the_problem(changes, expected):
    assert expected in error("annotation.coco.json", coco(**changes))


def test_coco_annotations_of_other_images_are_not_checked():
    annotations = [coco_annotation(image_id=0, bbox="junk", category_id=99), coco_annotation()]
    assert parse("a.json", coco(annotations=annotations)).counts() == {"cat": 1}


def test_coco_unused_category_names_are_not_checked():
    categories = [*COCO["categories"], {"id": 3, "name": "\x00"}]
    assert parse("a.json", coco(categories=categories)).counts() == {"cat": 1, "dog": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"images": [], "annotations": [{"bbox": [NaN, 1, 2, 3]}]}',
            "The JSON file contains NaN, which is not a finite number.",
        ),
        ('{"images": [], "annotations": [{"bbox": [Infinity, 1, 2, 3]}]}', "contains Infinity"),
        ('{"images": [], "annotations": [{"bbox": [-Infinity, 1, 2, 3]}]}', "contains -Infinity"),
        (
            '{"images": [], "annotations": [{"bbox": [' + "9" * 5000 + ", 1, 2, 3]}]}",
            "The JSON file has a number with too many digits.",
        ),
        ('{"images": [], "annotations": [}', "The file is not valid JSON (Expecting value at line 1, column 32)."),
        ('{"images": [],\n "annotations": [1,]}', "(Illegal trailing comma before end of array at line 2, column 19)."),
        ("", "The file is not valid JSON (Expecting value at line 1, column 1)."),
        ("[" * 100_000, "The JSON file is nested too deeply."),
        ('{"images": []}', 'neither COCO (an object with an "annotations" list) nor CreateML (a list of images)'),
        ('{"annotations": {}}', "neither COCO"),
        ('"cat"', "neither COCO"),
        ("null", "neither COCO"),
    ],
)
def test_json_that_is_not_json_or_neither_format(text, expected):
    assert expected in error("annotation.coco.json", text)


def test_json_with_a_bom_is_read():
    assert parse("a.json", "\ufeff" + coco()).format == "coco"


def test_json_huge_but_finite_numbers():
    text = coco(annotations=[coco_annotation(bbox=[1e308, 0, 1e308, 10])])
    assert "too large" in error("a.json", text)
    text = coco(annotations=[coco_annotation(bbox=[0, 0, 10**40, 10**40])])
    assert parse("a.json", text).boxes == (Box("cat", 0, 0, WIDTH, HEIGHT),)


# CreateML JSON

CREATEML = [
    {
        "image": "other.jpg",
        "annotations": [{"label": "dog", "coordinates": {"x": 50, "y": 50, "width": 10, "height": 10}}],
    },
    {
        "image": "img1.jpg",
        "annotations": [
            {"label": "cat", "coordinates": {"x": 100, "y": 120.5, "width": 40, "height": 60}},
            {"label": "dog", "coordinates": {"x": 630, "y": 10, "width": 40, "height": 60}},
        ],
    },
]


def test_createml_centres_become_top_left_and_boxes_are_clipped():
    annotation = parse("annotation.createml.json", json.dumps(CREATEML))
    assert annotation == Annotation(
        format="createml",
        boxes=(Box("cat", 80, 90.5, 40, 60), Box("dog", 610, 0, 30, 40)),
    )
    assert annotation.counts() == {"cat": 1, "dog": 1}


def test_createml_from_the_client_is_the_one_entry_whatever_its_name():
    text = json.dumps([CREATEML[0]])
    assert parse("annotation.createml.json", text).counts() == {"dog": 1}


def test_createml_entry_without_annotations_is_zero_boxes():
    text = json.dumps([{"image": "img1.jpg", "annotations": []}])
    assert parse("annotation.createml.json", text) == Annotation(format="createml")


def createml(annotation):
    return json.dumps([{"image": "img1.jpg", "annotations": [annotation]}])


def createml_box(**coordinates):
    return {"label": "cat", "coordinates": {"x": 10, "y": 10, "width": 5, "height": 5} | coordinates}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[]", "The CreateML file lists no images."),
        (
            '[{"image": "a.jpg", "annotations": []}, {"image": "b.jpg", "annotations": []}]',
            "None of the 2 images in the CreateML file",
        ),
        ('[{"image": "img1.jpg", "annotations": []}, 3]', "Entry 2 of the CreateML file is not an object."),
        ('[{"image": "img1.jpg"}]', 'The image entry in the CreateML file has no "annotations" list.'),
        (createml(5), "Annotation 1 of the CreateML file is not an object."),
        (createml({"label": "cat"}), "Annotation 1 of the CreateML file has no coordinates {x, y, width, height}."),
        (createml(createml_box(x="10")), "has x '10', which is not a number."),
        (createml(createml_box(height=None)), "has height None, which is not a number."),
        (createml(createml_box(width=False)), "has width False, which is not a number."),
        (createml(createml_box(width=0)), "has a box 0 wide and 5 high; both should be above zero."),
        (createml(createml_box(x=-100)), "entirely outside the 640x480 image"),
        (createml(createml_box(x=1.5e308, width=1.5e308)), "too large"),
        (createml({"coordinates": createml_box()["coordinates"]}), "has a label that is not text (NoneType)"),
        (createml(createml_box() | {"label": "  "}), "has an empty label"),
        (createml(createml_box()).replace("10", "NaN", 1), "contains NaN"),
    ],
)
def test_createml_errors(text, expected):
    assert expected in error("annotation.createml.json", text)


# Classification


def test_classification_class_name_as_the_client_sends_it():
    assert parse("cat", "cat", classification=True) == Annotation(format="classification", classes=("cat",))
    assert parse("cat", "cat", classification=True).counts() == {"cat": 1}


def test_classification_class_name_that_looks_like_a_file_name():
    # The client sends the class name as both name and text; it is no file of any format.
    assert parse("notes.txt", "notes.txt", classification=True).classes == ("notes.txt",)
    assert parse("v1.csv", "v1.csv", classification=True).classes == ("v1.csv",)


def test_classification_class_name_is_the_stripped_text():
    assert parse("label", " golden retriever \n", classification=True).classes == ("golden retriever",)
    assert parse("v1.0", "v1.0", classification=True).classes == ("v1.0",)


def test_classification_multilabel_json_list():
    annotation = parse("labels", '["cat", " dog", "cat"]', classification=True)
    assert annotation == Annotation(format="classification", classes=("cat", "dog"))
    assert annotation.counts() == {"cat": 1, "dog": 1}
    assert parse("labels.json", '["cat", "dog"]', classification=True).classes == ("cat", "dog")


def test_classification_text_that_only_starts_like_a_list_is_a_class_name():
    assert parse("x", "[draft] cat", classification=True).classes == ("[draft] cat",)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("labels", "[]", "The list of classes is empty."),
        ("labels", '["cat", 1]', "Class 2 of the list has a label that is not text (int)."),
        ("labels", '["cat", ""]', "Class 2 of the list has an empty label."),
        ("labels", json.dumps(["c"] * (MAX_BOXES + 1)), f"more than {MAX_BOXES} classes"),
        ("x", "", "The class name has an empty label."),
        ("x", "cat\ndog", "The class name has a label with a control character: 'cat\\ndog'."),
        ("x", "c" * 101, "The class name has a label longer than 100 characters: 'cccc"),
        ("x", "ca\ud800t", "The class name has a label with a lone surrogate: 'ca\\ud800t'."),
        ("annotation.csv", "filename,class\nimg1.jpg,cat\n", "is not in a supported format"),
        ("annotation.jsonl", '{"image": "img1.jpg"}', "is not in a supported format"),
    ],
)
def test_classification_errors(name, text, expected):
    assert expected in error(name, text, classification=True)


def test_classification_project_still_reads_annotation_files():
    assert parse("img1.txt", "0 0.5 0.5 0.1 0.1", classification=True, labelmap=["cat"]).counts() == {"cat": 1}
    assert parse("img1.xml", voc(), classification=True).format == "voc"


# Format detection and limits


@pytest.mark.parametrize("name", ["annotation.csv", "img1", "img1.yaml", "img1.jpg", "", "x.jsonl", "img1.xml.bak"])
def test_other_files_name_the_supported_formats(name):
    message = error(name, "whatever")
    assert "is not in a supported format; use COCO JSON, Pascal VOC XML, YOLO TXT or CreateML JSON." in message


def test_a_long_file_name_is_truncated_in_the_message():
    message = error("x" * 10_000 + ".csv", "")
    assert "x" * 40 + "..." in message
    assert "x" * 41 not in message


def test_a_name_with_a_path_uses_its_basename():
    assert parse("labels/train/IMG1.TXT", "").format == "yolo"
    assert parse("labels\\img1.xml", voc()).format == "voc"


def test_text_longer_than_the_limit_is_refused():
    assert parse("a.txt", " " * MAX_TEXT) == Annotation(format="yolo")
    message = error("a.txt", " " * (MAX_TEXT + 1))
    assert message == "The annotation file has 2,000,001 characters; the limit is 2,000,000."


def test_text_and_name_must_be_text():
    assert "should be text" in error("a.txt", b"0 0.5 0.5 0.1 0.1")


@pytest.mark.parametrize("size", [0, -1, 1.5, True, None])
def test_bad_image_sizes_are_a_programming_error_not_a_400(size):
    with pytest.raises(ValueError, match="positive integers") as caught:
        parse("a.txt", "", width=size)
    assert not isinstance(caught.value, AnnotationError)


def test_the_box_limit_yolo():
    line = "0 0.5 0.5 0.1 0.1\n"
    assert len(parse("a.txt", line * MAX_BOXES).boxes) == MAX_BOXES
    assert error("a.txt", line * (MAX_BOXES + 1)) == f"The YOLO file has more than {MAX_BOXES} boxes."


def test_the_box_limit_coco_voc_createml():
    annotations = [coco_annotation(id=n) for n in range(MAX_BOXES)]
    assert len(parse("a.json", coco(annotations=annotations)).boxes) == MAX_BOXES
    annotations.append(coco_annotation())
    assert error("a.json", coco(annotations=annotations)) == f"The COCO file has more than {MAX_BOXES} boxes."

    obj = "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"
    assert len(parse("a.xml", voc(*[obj] * MAX_BOXES)).boxes) == MAX_BOXES
    assert f"The Pascal VOC XML has more than {MAX_BOXES} boxes." == error("a.xml", voc(*[obj] * (MAX_BOXES + 1)))

    boxes = [createml_box()] * (MAX_BOXES + 1)
    text = json.dumps([{"image": "img1.jpg", "annotations": boxes}])
    assert error("a.json", text) == f"The CreateML file has more than {MAX_BOXES} boxes."


def test_the_limits_are_read_when_parsing(monkeypatch):
    monkeypatch.setattr(module, "MAX_BOXES", 2)
    assert "more than 2 boxes" in error("a.txt", "0 .5 .5 .1 .1\n" * 3)
    monkeypatch.setattr(module, "MAX_TEXT", 10)
    assert "the limit is 10." in error("a.txt", " " * 11)


# Labels


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("ca\x00t", "has a label with a control character: 'ca\\x00t'."),
        ("cat\x7f", "control character"),
        ("cat\x85dog", "control character"),  # NEL, a C1 control
        ("cat\x1bdog", "control character"),  # ESC
        ("\ud800", "has a label with a lone surrogate: '\\ud800'."),
        ("cat\udfff", "lone surrogate"),
        ("", "has an empty label."),
        ("   ", "has an empty label."),
        ("\t\n", "has an empty label."),
        ("é" * (LABEL_MAX + 1), f"has a label longer than {LABEL_MAX} characters: '{'é' * 40}...'."),
    ],
)
def test_bad_labels_are_named_in_the_message(label, expected):
    category = [{"id": 1, "name": label}]
    assert expected in error("a.json", coco(categories=category, annotations=[coco_annotation()]))
    assert expected in error("a.json", createml(createml_box() | {"label": label}))


def test_a_lone_surrogate_escaped_in_json_is_refused_and_a_pair_is_fine():
    text = coco(categories=[{"id": 1, "name": "CAT"}], annotations=[coco_annotation()])
    assert "lone surrogate: '\\ud83d'" in error("a.json", text.replace("CAT", "\\ud83d"))
    assert parse("a.json", text.replace("CAT", "\\ud83d\\ude00")).counts() == {"😀": 1}


def test_good_labels_are_stripped_and_kept_as_they_are_otherwise():
    for label in ["cat", "Golden Retriever", "ünïcödé", "猫", "a/b:c", "x" * LABEL_MAX, "😀", "1"]:
        text = createml(createml_box() | {"label": f"  {label}\t"})
        assert parse("a.json", text).counts() == {label: 1}


def test_a_long_bad_label_is_truncated_in_the_message():
    message = error("a.txt", "0 0.5 0.5 0.1 0.1", labelmap=["\x00" * 10_000])
    assert message.endswith("...'.")
    assert len(message) < 300


# counts(), to_json(), from_json()


def test_counts_in_order_of_first_use():
    annotation = Annotation(format="yolo", boxes=(Box("b", 0, 0, 1, 1), Box("a", 0, 0, 1, 1), Box("b", 1, 1, 1, 1)))
    assert list(annotation.counts().items()) == [("b", 2), ("a", 1)]
    assert Annotation(format="classification", classes=("x", "y")).counts() == {"x": 1, "y": 1}
    assert Annotation(format="coco").counts() == {}


def test_to_json_rounds_to_two_decimals():
    annotation = Annotation(format="coco", boxes=(Box("cat", 1.005001, 2.3333, 10.0, 0.126),))
    assert annotation.to_json() == {
        "format": "coco",
        "boxes": [{"label": "cat", "x": 1.01, "y": 2.33, "width": 10.0, "height": 0.13}],
        "classes": [],
    }
    classes = Annotation(format="classification", classes=("cat", "dog")).to_json()
    assert classes == {"format": "classification", "boxes": [], "classes": ["cat", "dog"]}


def test_parsed_annotations_survive_a_json_round_trip():
    for annotation in [
        parse("a.xml", VOC),
        parse("a.txt", YOLO, labelmap=["cat", "dog"]),
        parse("a.json", coco()),
        parse("a.json", json.dumps(CREATEML)),
        parse("x", '["cat", "dog"]', classification=True),
    ]:
        data = json.loads(json.dumps(annotation.to_json(), allow_nan=False))
        assert Annotation.from_json(data).to_json() == annotation.to_json()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "The annotation is not a JSON object."),
        ({"format": "csv"}, "The annotation format 'csv' is not one of coco, voc, yolo, createml, classification."),
        ({"format": ["coco"]}, "is not one of"),
        ({}, "The annotation format None is not one of"),
        ({"format": "coco", "boxes": {}}, "boxes and classes should be lists"),
        ({"format": "coco", "boxes": [1]}, "Box 1 of the annotation is not an object."),
        (
            {"format": "coco", "boxes": [{"label": "a", "x": 1, "y": 1, "width": 1}]},
            "Box 1 of the annotation has height None, which is not a number.",
        ),
        (
            {"format": "coco", "boxes": [{"label": "a", "x": "1", "y": 1, "width": 1, "height": 1}]},
            "has x '1', which is not a number.",
        ),
        (
            {"format": "coco", "boxes": [{"label": "a", "x": math.nan, "y": 1, "width": 1, "height": 1}]},
            "has x nan, which is not a finite number.",
        ),
        (
            {"format": "coco", "boxes": [{"label": "\x00", "x": 1, "y": 1, "width": 1, "height": 1}]},
            "control character",
        ),
        (
            {"format": "classification", "classes": [None]},
            "Class 1 of the annotation has a label that is not text (NoneType).",
        ),
        ({"format": "coco", "boxes": [{}] * (MAX_BOXES + 1)}, f"more than {MAX_BOXES} boxes"),
    ],
)
def test_from_json_refuses_what_to_json_never_writes(data, expected):
    with pytest.raises(AnnotationError) as caught:
        Annotation.from_json(data)
    assert expected in str(caught.value)


# Properties

labels = st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=LABEL_MAX).filter(
    lambda label: label.strip() == label and label != ""
)
coordinates = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
boxes = st.builds(
    Box,
    label=labels,
    x=coordinates,
    y=coordinates,
    width=st.floats(min_value=0.01, max_value=1e6),
    height=st.floats(min_value=0.01, max_value=1e6),
)
annotations = st.one_of(
    st.builds(
        Annotation,
        format=st.sampled_from(["coco", "voc", "yolo", "createml"]),
        boxes=st.lists(boxes, max_size=8).map(tuple),
    ),
    st.builds(
        Annotation,
        format=st.just("classification"),
        classes=st.lists(labels, min_size=1, max_size=5, unique=True).map(tuple),
    ),
)


@settings(database=None, max_examples=200)
@given(annotations)
def test_to_json_and_from_json_round_trip(annotation):
    data = annotation.to_json()
    again = Annotation.from_json(json.loads(json.dumps(data, allow_nan=False)))
    assert again.to_json() == data
    assert again.format == annotation.format
    assert again.classes == annotation.classes
    assert [box.label for box in again.boxes] == [box.label for box in annotation.boxes]
    for before, after in zip(annotation.boxes, again.boxes, strict=True):
        for field in ("x", "y", "width", "height"):
            assert getattr(after, field) == round(getattr(before, field), 2)
    assert again.counts() == annotation.counts()
    assert Annotation.from_json(again.to_json()) == again


normalized = st.floats(min_value=-0.5, max_value=1.5, allow_nan=False)
sizes = st.floats(min_value=0.001, max_value=1.5)


@settings(database=None, max_examples=200)
@given(
    width=st.integers(1, 10_000),
    height=st.integers(1, 10_000),
    lines=st.lists(st.tuples(st.integers(0, 3), normalized, normalized, sizes, sizes), max_size=20),
)
def test_yolo_boxes_always_land_inside_the_image(width, height, lines):
    text = "\n".join(" ".join(map(repr, line)) for line in lines)
    try:
        annotation = parse("a.txt", text, labelmap=["a", "b"], width=width, height=height)
    except AnnotationError as exc:
        assert "entirely outside" in str(exc) or "above zero" in str(exc)
        return
    assert len(annotation.boxes) == len(lines)
    for box in annotation.boxes:
        assert box.width > 0 and box.height > 0
        assert box.x >= 0 and box.x + box.width <= width * (1 + 1e-9)
        assert box.y >= 0 and box.y + box.height <= height * (1 + 1e-9)
    assert sum(annotation.counts().values()) == len(lines)


@settings(database=None, max_examples=300)
@given(
    name=st.sampled_from(["a.txt", "a.xml", "a.json", "cat", "a.csv"]),
    text=st.one_of(
        st.text(max_size=200),
        st.text(alphabet='0123456789 .-e\n\tnaif[]{}",:', max_size=200),
        st.text(alphabet="<>/annotationbjecdmxy 0123456789.&;!", max_size=200),
    ),
    classification=st.booleans(),
)
def test_any_text_is_an_annotation_or_an_annotation_error(name, text, classification):
    try:
        annotation = parse(name, text, classification=classification)
    except AnnotationError as exc:
        assert str(exc)
        return
    for box in annotation.boxes:
        assert all(math.isfinite(value) for value in (box.x, box.y, box.width, box.height))
        assert box.width > 0 and box.height > 0
        assert box.x >= 0 and box.y >= 0 and box.x + box.width <= WIDTH and box.y + box.height <= HEIGHT
    json.dumps(annotation.to_json(), allow_nan=False)
