"""`make bench`, dataset part: generating a version (resize and three augmentations) and
exporting it (COCO zip), at 100, 500 and 1,000 images of 640 x 480 with two boxes each.

    .venv/bin/python -m bench.datasets [--sizes 100,500,1000]

Each size runs in a fresh process on a scratch PostgreSQL database with its own media
directory: the images are made and uploaded through the services (not timed), then
`version_generate` is timed (images/s), then the export is built and read to its end (MB/s of
zip); the process's peak resident memory is read after each phase (`ru_maxrss`). Writes its
section of docs/benchmarks.md (between `<!-- datasets -->` markers, kept by `bench.run`).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
SETTINGS = {
    "preprocessing": {"auto-orient": True, "resize": {"width": 416, "height": 416, "format": "Stretch to"}},
    "augmentation": {
        "flip": {"horizontal": True},
        "rotate": {"degrees": 15},
        "brightness": {"brighten": True, "darken": True, "percent": 25},
    },
}

ONE_SIZE = r"""
import io, json, resource, sys, time
import numpy as np
from PIL import Image as PILImage
from workspaces import services
from workspaces.actors import Actor
from workspaces.annotations import Annotation, Box
from workspaces.models import Plan, ProjectType, Split
from workspaces.exports import build_export
from workspaces.background import export_image
from django.contrib.auth import get_user_model

size, settings = int(sys.argv[1]), json.loads(sys.argv[2])
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB
owner = get_user_model().objects.create_user("data@example.com", "data@example.com", "bench-password")
workspace = services.workspace_create(name="Data", url="data", owner=owner, plan=Plan.ENTERPRISE)
project = services.project_create(workspace=workspace, name="Shelf", type=ProjectType.OBJECT_DETECTION, annotation="x")
rng = np.random.default_rng(7)
for n in range(size):
    pixels = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    split = Split.TRAIN if n % 10 < 7 else Split.VALID if n % 10 < 9 else Split.TEST
    image, _ = services.image_create(project=project, data=buffer.getvalue(), name=f"shelf-{n}.jpg", split=split)
    boxes = (Box("can", 40.0, 50.0, 120.0, 90.0), Box("bottle", 300.0, 200.0, 80.0, 200.0))
    services.image_annotate(image=image, annotation=Annotation(format="coco", boxes=boxes), overwrite=True)
before = peak()
start = time.perf_counter()
version = services.version_generate(project=project, settings=settings)
generated = time.perf_counter() - start
after_generation = peak()
images = version.images.select_related("blob").order_by("split", "source_id")
start = time.perf_counter()
with build_export(
    format="coco", project_name="Shelf", version=version.number,
    images=(export_image(i) for i in images.iterator(chunk_size=500)), classes=["bottle", "can"],
) as spool:
    total = 0
    while chunk := spool.read(1 << 20):
        total += len(chunk)
exported = time.perf_counter() - start
print(json.dumps({
    "size": size, "generation_s": generated, "images_per_s": size / generated,
    "export_s": exported, "export_mb": total / 1e6, "export_mb_per_s": total / 1e6 / exported,
    "peak_mb_before": before, "peak_mb_after_generation": after_generation, "peak_mb_after_export": peak(),
}))
"""


def measure(size: int) -> dict:
    name = f"benchdata_{int(time.time())}_{os.getpid()}_{size}"
    subprocess.run(["psql", PG + "postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    try:
        with tempfile.TemporaryDirectory() as media:
            env = {
                "PATH": os.environ["PATH"],
                "HOME": os.environ.get("HOME", "/tmp"),
                "DEBUG": "true",
                "DATABASE_URL": PG + name,
                "MEDIA_ROOT": media,
                "LOG_LEVEL": "ERROR",
                # Generation timed in this process (production runs it on a worker: bench.machines).
                "TASK_BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
                "PYTHONPATH": str(ROOT),
            }
            manage = [sys.executable, str(ROOT / "manage.py")]
            subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
            script = Path(media) / "one_size.py"
            script.write_text(
                "import django, os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings')\n"
                "django.setup()\n" + ONE_SIZE
            )
            done = subprocess.run(
                [sys.executable, str(script), str(size), json.dumps(SETTINGS)],
                env=env, cwd=ROOT, check=True, capture_output=True, text=True,
            )  # fmt: skip
            return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["psql", PG + "postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"], check=False)


def report(results: list[dict]) -> list[str]:
    """The section of docs/benchmarks.md."""
    lines = [
        "## Datasets: generating and exporting a version",
        "",
        f"`python -m bench.datasets`: 640 x 480 JPEG images with two boxes each, 70 % train; settings "
        f"`{json.dumps(SETTINGS, separators=(',', ':'))}` (resize and three augmentations); the export in COCO. "
        "One fresh process per size; peak memory is the process's resident maximum.",
        "",
        "| images | generation, images/s | generation s | export MB | export MB/s | peak MB before | after generating | after exporting |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['size']} | {r['images_per_s']:.0f} | {r['generation_s']:.1f} | {r['export_mb']:.1f} | "
            f"{r['export_mb_per_s']:.0f} | {r['peak_mb_before']:.0f} | {r['peak_mb_after_generation']:.0f} | "
            f"{r['peak_mb_after_export']:.0f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,500,1000", help="comma-separated numbers of images")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not sizes or any(not 1 <= s <= 5000 for s in sizes):
        parser.error("--sizes takes numbers from 1 to 5000")
    results = []
    for size in sizes:
        print(f"Dataset of {size} images...", flush=True)
        results.append(measure(size))
        print(json.dumps(results[-1]), flush=True)
    write_section("datasets", report(results))


def write_section(name: str, lines: list[str]) -> None:
    """Put `lines` between the `<!-- name -->` markers of docs/benchmarks.md (at its end the
    first time), after `bench.run`'s notes, which it keeps."""
    section = "\n".join([f"<!-- {name} -->", *lines, f"<!-- /{name} -->"])
    print(section)
    target = ROOT / "docs" / "benchmarks.md"
    text = target.read_text() if target.exists() else "# Benchmarks\n\n<!-- notes -->\n"
    if f"<!-- {name} -->" in text:
        head, rest = text.split(f"<!-- {name} -->", 1)
        text = head + section + rest.split(f"<!-- /{name} -->", 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    target.write_text(text)
    print(f"\nWritten to {target}")


if __name__ == "__main__":
    main()
