"""What a version's settings do to its images: the preprocessing and augmentation that the
`roboflow` client's `project.generate_version(settings)` asks for, applied with albumentations
(boxes transformed with their images: flipped with them, scaled by a resize, dropped when
cropped away).

`plan(settings)` checks the settings whole before anything is made: an unknown setting, or a
value out of its range, is a `SettingsError` naming it (a 400), never accepted and ignored.
`Plan.apply` makes one output of an image: cropped (static crop, tile, or one object with
`isolate`), preprocessed, then, in the train split only (as Roboflow does), augmented,
`image.versions` times; in the image's format (JPEG at quality 95, anything else as PNG).
The randomness is seeded by the version, the image and the output, so a version is made the
same way twice.

Every setting the client's documentation lists: preprocessing `auto-orient`, `resize` (every
`format`), `grayscale`, `contrast` (its three types), `static-crop`, `tile` (each tile an
output), `isolate` (each object an output, its box the whole image), `remap` (labels renamed
or left out), `filter-null` (images without labels left out until the share asked for have
labels); augmentation `flip`, `ninety`, `rotate`, `crop`, `shear`, `brightness`, `exposure`,
`blur`, `noise`, `hue`, `saturation`, `rgrayscale`, `cutout`, `mosaic` (with three other
training images, chosen at random), the box-level `bb*` variants (the transform inside each
box only), and `image.versions`.
"""

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import albumentations as A
import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

MAX_SIDE = 4096
MAX_OUTPUTS = 50
RESIZE_FORMATS = (
    "Stretch to",
    "Fill (with center crop) in",
    "Fit within",
    "Fit (black edges) in",
    "Fit (white edges) in",
    "Fit (reflect edges) in",
)
CONTRAST_TYPES = ("Contrast Stretching", "Histogram Equalization", "Adaptive Equalization")
# The box-level variants: the same transform, applied to what is inside each box only (the
# boxes stay where they are).
BOX_LEVEL = {
    f"bb{name}": name
    for name in ("blur", "brightness", "crop", "exposure", "flip", "noise", "ninety", "rotate", "shear")
}


class SettingsError(ValueError):
    """A setting that cannot be applied, named by its path (`augmentation.flip.horizontal`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True)
class Output:
    data: bytes
    width: int
    height: int
    boxes: tuple[tuple[str, float, float, float, float], ...]  # label, x, y, width, height (pixels)
    extension: str  # "jpg" for a JPEG image (quality 95), else "png"


def _object(value: Any, path: str, allowed: Sequence[str]) -> dict:
    if not isinstance(value, dict):
        raise SettingsError(path, f"should be an object with {', '.join(allowed)}.")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise SettingsError(f"{path}.{unknown[0]}", f"is not a field of {path}; its fields: {', '.join(allowed)}.")
    return value


def _flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(path, "should be true or false.")
    return value


def _number(value: Any, path: str, low: float, high: float, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SettingsError(path, f"should be a number from {low:g} to {high:g}.")
    if integer and value != int(value):
        raise SettingsError(path, "should be a whole number.")
    if not low <= value <= high:
        raise SettingsError(path, f"should be from {low:g} to {high:g}, not {value:g}.")
    return value


def _choice(value: Any, path: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise SettingsError(path, f"should be one of: {', '.join(choices)}.")
    return value


@dataclass(frozen=True)
class Plan:
    settings: dict  # as checked
    auto_orient: bool
    preprocessing: tuple[tuple[str, dict | bool], ...]
    augmentation: tuple[tuple[str, dict], ...]
    remap: tuple[tuple[str, str | None], ...] = ()  # label -> new label, or None: left out
    filter_null: float | None = None  # the least share (percent) of images with labels
    outputs: int = 1  # per training image (`augmentation.image.versions`)
    static_crop: dict | None = None  # percents of the image
    tiles: tuple[int, int] | None = None  # rows, columns
    mosaic: bool = False  # each training output a 2 x 2 mosaic with three other training images
    isolate: bool = False  # each object its own image

    def relabel(self, label: str) -> str | None:
        """A label as the version holds it (`remap`): renamed, kept, or None (left out)."""
        return dict(self.remap).get(label, label)

    @property
    def changes_images(self) -> bool:
        """Whether images get new bytes (labels alone may change: `remap`)."""
        crops = self.static_crop is not None or self.tiles is not None or self.isolate
        return self.auto_orient or crops or self.mosaic or bool(self.preprocessing or self.augmentation)

    def outputs_of(self, split: str, boxes: int = 0) -> int:
        """How many outputs an image of `split` with `boxes` boxes makes: one per tile (or per
        box, with `isolate`), times augmentation's draws for the train split."""
        pieces = boxes if self.isolate else self.tiles[0] * self.tiles[1] if self.tiles else 1
        return pieces * (self.outputs if split == "train" else 1)

    def apply(
        self,
        data: bytes,
        boxes: Sequence[tuple[str, float, float, float, float]],
        *,
        split: str,
        seed: int,
        variant: int = 0,
        partners: Sequence[tuple[bytes, Sequence[tuple[str, float, float, float, float]]]] = (),
    ) -> Output:
        """Output `variant` of one image (its bytes and boxes): cropped (static crop, then its
        tile), preprocessed, then augmented when it is in the train split (each stage sized by
        the one before). `partners`: other training images (bytes and boxes) for `mosaic`."""
        jpeg, pixels, labelled = self._prepared(data, boxes, split, seed, variant)
        if split == "train":
            if self.mosaic and partners:
                height, width = pixels.shape[:2]
                others = []
                for n, (other, other_boxes) in enumerate(partners):
                    _, other_pixels, other_labelled = self._prepared(other, other_boxes, split, seed + n + 1, 0)
                    others.append(
                        {
                            "image": other_pixels,
                            "bboxes": np.array([b for _, b in other_labelled], dtype=np.float32).reshape(-1, 4),
                            "labels": [label for label, _ in other_labelled],
                        }
                    )
                mosaic = A.Mosaic(grid_yx=(2, 2), target_size=(height, width), cell_shape=(height, width), p=1)
                pixels, labelled = _run([mosaic], pixels, labelled, seed, mosaic_metadata=others)
            pixels = self._inside_boxes(pixels, labelled, seed)
            height, width = pixels.shape[:2]
            steps = [
                t
                for name, value in self.augmentation
                if name not in BOX_LEVEL
                for t in _augment(name, value, width, height)
            ]
            pixels, labelled = _run(steps, pixels, labelled, seed)
        buffer = io.BytesIO()
        if jpeg:
            PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=95)
        else:
            PILImage.fromarray(pixels).save(buffer, format="PNG")
        moved = tuple((label, *box) for label, box in labelled)
        size = (int(pixels.shape[1]), int(pixels.shape[0]))
        return Output(buffer.getvalue(), *size, moved, "jpg" if jpeg else "png")  # type: ignore[arg-type]

    def _prepared(self, data: bytes, boxes, split: str, seed: int, variant: int) -> tuple[bool, np.ndarray, list]:
        """Whether the image is a JPEG, and its pixels and boxes cropped and preprocessed."""
        with PILImage.open(io.BytesIO(data)) as opened:
            jpeg = opened.format == "JPEG"
            picture = ImageOps.exif_transpose(opened) if self.auto_orient else opened
            pixels = np.asarray(picture.convert("RGB"))
        labelled = [(b[0], tuple(float(v) for v in b[1:])) for b in boxes]
        draws = self.outputs if split == "train" else 1
        if self.isolate:  # the object alone, its box the whole image
            label, (x, y, w, h) = labelled[variant // draws]
            height, width = pixels.shape[:2]
            left, top = min(max(int(x), 0), width - 1), min(max(int(y), 0), height - 1)
            right, bottom = max(min(math.ceil(x + w), width), left + 1), max(min(math.ceil(y + h), height), top + 1)
            pixels = np.ascontiguousarray(pixels[top:bottom, left:right])
            labelled = [(label, (0.0, 0.0, float(right - left), float(bottom - top)))]
            crop = None
        else:
            crop = self._crop(pixels.shape[1], pixels.shape[0], variant // draws)
        first = [crop] if crop is not None else []
        first += [t for name, value in self.preprocessing for t in _preprocess(name, value)]
        pixels, labelled = _run(first, pixels, labelled, seed)
        return jpeg, pixels, labelled

    def _inside_boxes(self, pixels: np.ndarray, labelled: list, seed: int) -> np.ndarray:
        """The box-level augmentations: each box's content transformed in place (resized back
        to the box when a turn changed its shape); the boxes themselves do not move."""
        chosen = [(BOX_LEVEL[name], value) for name, value in self.augmentation if name in BOX_LEVEL]
        if not chosen or not labelled:
            return pixels
        out = pixels.copy()
        height, width = out.shape[:2]
        for n, (_, (x, y, w, h)) in enumerate(labelled):
            left, top = max(int(x), 0), max(int(y), 0)
            right, bottom = min(math.ceil(x + w), width), min(math.ceil(y + h), height)
            if right - left < 2 or bottom - top < 2:
                continue
            patch = out[top:bottom, left:right]
            steps = [t for name, value in chosen for t in _augment(name, value, right - left, bottom - top)]
            changed, _ = _run(steps, np.ascontiguousarray(patch), [], seed + n)
            if changed.shape[:2] != patch.shape[:2]:
                changed = cv2.resize(changed, (right - left, bottom - top), interpolation=cv2.INTER_AREA)
            out[top:bottom, left:right] = changed
        return out

    def _crop(self, width: int, height: int, tile: int):
        """The crop of the static crop and the tile, in pixels of the image; None: all of it."""
        x0, y0, x1, y1 = 0.0, 0.0, float(width), float(height)
        if self.static_crop is not None:
            c = self.static_crop
            x0, x1 = width * c["x_min"] / 100, width * c["x_max"] / 100
            y0, y1 = height * c["y_min"] / 100, height * c["y_max"] / 100
        if self.tiles is not None:
            rows, columns = self.tiles
            row, column = divmod(tile, columns)
            step_x, step_y = (x1 - x0) / columns, (y1 - y0) / rows
            x0, x1 = x0 + column * step_x, x0 + (column + 1) * step_x
            y0, y1 = y0 + row * step_y, y0 + (row + 1) * step_y
        box = (round(x0), round(y0), max(round(x1), round(x0) + 1), max(round(y1), round(y0) + 1))
        return None if box == (0, 0, width, height) else A.Crop(*box, p=1)


def _run(steps: list, pixels: np.ndarray, labelled: list, seed: int, **extra) -> tuple[np.ndarray, list]:
    """The image and its (label, box) after `steps`; boxes carried only by steps that move them."""
    if not steps:
        return pixels, labelled
    if all(isinstance(step, A.ImageOnlyTransform) for step in steps):  # the boxes stay where they are
        return A.Compose(steps, seed=seed)(image=pixels)["image"], labelled
    compose = A.Compose(
        steps, bbox_params=A.BboxParams(format="coco", label_fields=["labels"], clip=True, min_area=1.0), seed=seed
    )
    kept = np.array([box for _, box in labelled], dtype=np.float32).reshape(-1, 4)
    out = compose(image=pixels, bboxes=kept, labels=[label for label, _ in labelled], **extra)
    return out["image"], [
        (str(label), tuple(float(v) for v in box)) for label, box in zip(out["labels"], out["bboxes"], strict=True)
    ]


def plan(settings: Any) -> Plan:
    """The checked settings; SettingsError for the first one that cannot be applied."""
    top = _object(settings if settings is not None else {}, "settings", ("preprocessing", "augmentation"))
    pre = _object(top.get("preprocessing") or {}, "preprocessing", _PRE_FIELDS)
    aug = _object(top.get("augmentation") or {}, "augmentation", _AUG_FIELDS)
    auto_orient = _flag(pre["auto-orient"], "preprocessing.auto-orient") if "auto-orient" in pre else False
    preprocessing = []
    static_crop = _check_crop_box(pre["static-crop"], "preprocessing.static-crop") if "static-crop" in pre else None
    isolate = _flag(pre["isolate"], "preprocessing.isolate") if "isolate" in pre else False
    if isolate and ("tile" in pre or "static-crop" in pre):
        raise SettingsError("preprocessing.isolate", "crops each object: it does not go with tile or static-crop.")
    tiles: tuple[int, int] | None = None
    if "tile" in pre:
        grid = _object(pre["tile"], "preprocessing.tile", ("rows", "columns"))
        rows, columns = (
            int(_number(grid.get(f), f"preprocessing.tile.{f}", 1, 10, integer=True)) for f in ("rows", "columns")
        )
        tiles = (rows, columns)
    for name in ("resize", "grayscale", "contrast"):  # applied in this order, after the crops
        if name in pre:
            preprocessing.append((name, _PRE_CHECKS[name](pre[name], f"preprocessing.{name}")))
    augmentation = []
    outputs = 1
    mosaic = _flag(aug["mosaic"], "augmentation.mosaic") if "mosaic" in aug else False
    for name, value in aug.items():
        if name == "mosaic":
            continue
        if name == "image":
            versions = _object(value, "augmentation.image", ("versions",)).get("versions", 1)
            outputs = int(_number(versions, "augmentation.image.versions", 1, MAX_OUTPUTS, integer=True))
            continue
        base = BOX_LEVEL.get(name, name)
        augmentation.append((name, _AUG_CHECKS[base](value, f"augmentation.{name}")))
    remap = _check_remap(pre["remap"], "preprocessing.remap") if "remap" in pre else ()
    filter_null = None
    if "filter-null" in pre:
        share = _object(pre["filter-null"], "preprocessing.filter-null", ("percent",)).get("percent")
        filter_null = float(_number(share, "preprocessing.filter-null.percent", 0, 100))
    varies = mosaic or any(_augment(BOX_LEVEL.get(name, name), value, 64, 64) for name, value in augmentation)
    if outputs > 1 and not varies:
        raise SettingsError(
            "augmentation.image.versions", "above 1 needs an augmentation: the outputs would be copies."
        )
    checked = {"preprocessing": dict(pre), "augmentation": dict(aug)}
    kept = tuple(p for p in preprocessing if p[1] is not False)
    return Plan(
        checked,
        auto_orient,
        kept,
        tuple(augmentation),
        remap,
        filter_null,
        outputs,
        static_crop,
        tiles,
        mosaic,
        isolate,
    )  # type: ignore[arg-type]


LABEL_MAX = 100


def _check_remap(value, path) -> tuple[tuple[str, str | None], ...]:
    """{old label: new label, or null to leave the label out}."""
    if not isinstance(value, dict) or not value:
        raise SettingsError(path, "should be an object of labels: {old: new}, or {old: null} to leave a label out.")
    pairs = []
    for old, new in value.items():
        where = f"{path}.{old}"
        if new is not None and (
            not isinstance(new, str) or not new.strip() or len(new.strip()) > LABEL_MAX or not new.isprintable()
        ):
            raise SettingsError(where, f"should be a label (printable text, 1 to {LABEL_MAX} characters) or null.")
        pairs.append((old, new.strip() if isinstance(new, str) else None))
    return tuple(pairs)


# Preprocessing -----------------------------------------------------------------------


def _check_resize(value, path):
    v = _object(value, path, ("width", "height", "format"))
    for side in ("width", "height"):
        if side not in v:
            raise SettingsError(f"{path}.{side}", "is required.")
        _number(v[side], f"{path}.{side}", 1, MAX_SIDE, integer=True)
    _choice(v.get("format", "Stretch to"), f"{path}.format", RESIZE_FORMATS)
    return v


def _check_crop_box(value, path):
    v = _object(value, path, ("x_min", "x_max", "y_min", "y_max"))
    for field in ("x_min", "x_max", "y_min", "y_max"):
        _number(v.get(field), f"{path}.{field}", 0, 100)
    if v["x_min"] >= v["x_max"] or v["y_min"] >= v["y_max"]:
        raise SettingsError(path, "needs x_min below x_max and y_min below y_max (percent of the image).")
    return v


def _check_contrast(value, path):
    v = _object(value, path, ("type",))
    _choice(v.get("type"), f"{path}.type", CONTRAST_TYPES)
    return v


_PRE_CHECKS = {
    "resize": _check_resize,
    "grayscale": _flag,
    "contrast": _check_contrast,
}
_PRE_FIELDS = ("auto-orient", "remap", "filter-null", "static-crop", "tile", "isolate", *_PRE_CHECKS)


def _preprocess(name: str, v: Any) -> list:
    if name == "grayscale":
        return [A.ToGray(num_output_channels=3, p=1)]
    if name == "contrast":
        kind = v["type"]
        if kind == "Contrast Stretching":
            return [A.AutoContrast(p=1)]
        return [A.Equalize(p=1)] if kind == "Histogram Equalization" else [A.CLAHE(p=1)]
    w, h, kind = int(v["width"]), int(v["height"]), v.get("format", "Stretch to")
    if kind == "Stretch to":
        return [A.Resize(height=h, width=w, p=1)]
    if kind == "Fill (with center crop) in":
        return [A.SmallestMaxSize(max_size_hw=(h, w), p=1), A.CenterCrop(height=h, width=w, p=1)]
    fit = A.LongestMaxSize(max_size_hw=(h, w), p=1)
    if kind == "Fit within":
        return [fit]
    if kind == "Fit (reflect edges) in":
        return [fit, A.PadIfNeeded(min_height=h, min_width=w, border_mode=cv2.BORDER_REFLECT_101, p=1)]
    fill = 0 if kind == "Fit (black edges) in" else 255
    return [fit, A.PadIfNeeded(min_height=h, min_width=w, border_mode=cv2.BORDER_CONSTANT, fill=fill, p=1)]


# Augmentation (train split) ---------------------------------------------------------


def _check_fields(fields: dict[str, tuple[float, float] | None]):
    """A check of an object whose fields are numbers in ranges (or flags, for None)."""

    def check(value, path):
        v = _object(value, path, tuple(fields))
        for field, bounds in fields.items():
            if field in v:
                if bounds is None:
                    _flag(v[field], f"{path}.{field}")
                else:
                    _number(v[field], f"{path}.{field}", *bounds)
        return v

    return check


_AUG_CHECKS = {
    "flip": _check_fields({"horizontal": None, "vertical": None}),
    "ninety": _check_fields({"clockwise": None, "counter-clockwise": None, "upside-down": None}),
    "rotate": _check_fields({"degrees": (0, 45)}),
    "crop": _check_fields({"min": (0, 99), "max": (0, 99)}),
    "shear": _check_fields({"horizontal": (0, 45), "vertical": (0, 45)}),
    "brightness": _check_fields({"brighten": None, "darken": None, "percent": (0, 99)}),
    "exposure": _check_fields({"percent": (0, 99)}),
    "blur": _check_fields({"pixels": (0, 25)}),
    "noise": _check_fields({"percent": (0, 25)}),
    "hue": _check_fields({"degrees": (0, 180)}),
    "saturation": _check_fields({"percent": (0, 99)}),
    "rgrayscale": _check_fields({"percent": (0, 100)}),
    "cutout": _check_fields({"count": (1, 25), "percent": (1, 99)}),
}
_AUG_FIELDS = ("image", "mosaic", *_AUG_CHECKS, *BOX_LEVEL)


def _augment(name: str, v: dict, width: int, height: int) -> list:
    if name == "flip":
        return [
            t
            for on, t in ((v.get("horizontal"), A.HorizontalFlip(p=0.5)), (v.get("vertical"), A.VerticalFlip(p=0.5)))
            if on
        ]
    if name == "ninety":
        turns = {
            "clockwise": A.Sequential([A.Transpose(p=1), A.HorizontalFlip(p=1)]),
            "counter-clockwise": A.Sequential([A.Transpose(p=1), A.VerticalFlip(p=1)]),
            "upside-down": A.Sequential([A.HorizontalFlip(p=1), A.VerticalFlip(p=1)]),
        }
        chosen = [turn for key, turn in turns.items() if v.get(key)]
        return [A.OneOf(chosen, p=len(chosen) / (len(chosen) + 1))] if chosen else []
    if name == "rotate":
        degrees = float(v.get("degrees", 0))
        return [A.Rotate(limit=(-degrees, degrees), border_mode=cv2.BORDER_CONSTANT, fill=0, p=1)] if degrees else []
    if name == "crop":
        low, high = float(v.get("min", 0)), float(v.get("max", 0))
        if high <= 0:
            return []
        kept = (1 - max(low, high) / 100, 1 - min(low, high) / 100)
        return [A.RandomResizedCrop(size=(height, width), scale=kept, ratio=(width / height, width / height), p=1)]
    if name == "shear":
        x, y = float(v.get("horizontal", 0)), float(v.get("vertical", 0))
        return (
            [A.Affine(shear={"x": (-x, x), "y": (-y, y)}, border_mode=cv2.BORDER_CONSTANT, fill=0, p=1)]
            if x or y
            else []
        )
    if name == "brightness":
        share = float(v.get("percent", 0)) / 100
        limit = (-share if v.get("darken") else 0.0, share if v.get("brighten") else 0.0)
        return [A.RandomBrightnessContrast(brightness_limit=limit, contrast_limit=(0, 0), p=1)] if share else []
    if name == "exposure":
        share = float(v.get("percent", 0))
        return [A.RandomGamma(gamma_limit=(100 - share, 100 + share), p=1)] if share else []
    if name == "blur":
        pixels = float(v.get("pixels", 0))
        return [A.GaussianBlur(sigma_limit=(0.1, pixels), p=1)] if pixels else []
    if name == "noise":
        share = float(v.get("percent", 0)) / 100
        return [A.SaltAndPepper(amount=(0, share), p=1)] if share else []
    if name == "hue":
        degrees = float(v.get("degrees", 0))
        return (
            [A.HueSaturationValue(hue_shift_limit=degrees, sat_shift_limit=0, val_shift_limit=0, p=1)]
            if degrees
            else []
        )
    if name == "saturation":
        shift = float(v.get("percent", 0)) * 2.55
        return [A.HueSaturationValue(hue_shift_limit=0, sat_shift_limit=shift, val_shift_limit=0, p=1)] if shift else []
    if name == "rgrayscale":
        return [A.ToGray(num_output_channels=3, p=float(v.get("percent", 0)) / 100)]
    # cutout
    count, size = int(v.get("count", 1)), float(v.get("percent", 10)) / 100
    return [
        A.CoarseDropout(
            num_holes_range=(1, count),
            hole_height_range=(size / 2, size),
            hole_width_range=(size / 2, size),
            fill=0,
            p=1,
        )
    ]
