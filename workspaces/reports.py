"""What `roboflow project health` and `workspace usage` show: computed from the rows, never
estimated."""

from statistics import median

from django.utils import timezone

from apikeys.fields import iso

from .annotations import Annotation
from .models import Image, Project, Workspace


def _spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"min": min(values), "median": median(values), "max": max(values)}


def project_health(project: Project) -> dict:
    """Annotation coverage, class balance, annotations per image and image sizes. `project`
    carries the counts of `serializers.with_counts`."""
    sizes = list(Image.objects.filter(project=project).values_list("width", "height"))
    per_image = [
        len(Annotation.from_json(stored).boxes)
        for stored in Image.objects.filter(project=project, annotated=True)
        .values_list("annotation", flat=True)
        .iterator(chunk_size=1000)
        if stored
    ]
    classes = dict(sorted(project.classes.items(), key=lambda item: (-item[1], item[0])))
    balance = None
    if classes:
        (most, most_n), (least, least_n) = next(iter(classes.items())), list(classes.items())[-1]
        balance = {
            "mostCommon": {"label": most, "count": most_n},
            "leastCommon": {"label": least, "count": least_n},
            # None when a class has no annotations (a count set to 0): no finite ratio.
            "imbalanceRatio": round(most_n / least_n, 2) if least_n else None,
        }
    return {
        "project": project.slug,
        "images": project.image_count,  # type: ignore[attr-defined]
        "annotated": project.image_count - project.unannotated_count,  # type: ignore[attr-defined]
        "unannotated": project.unannotated_count,  # type: ignore[attr-defined]
        "splits": {
            "train": project.train_count,  # type: ignore[attr-defined]
            "valid": project.valid_count,  # type: ignore[attr-defined]
            "test": project.test_count,  # type: ignore[attr-defined]
        },
        "annotations": sum(per_image),
        "annotationsPerImage": (
            {"mean": round(sum(per_image) / len(per_image), 2), "max": max(per_image)} if per_image else None
        ),
        "classes": classes,
        "classBalance": balance,
        "imageSize": {
            "width": _spread([w for w, _ in sizes]),
            "height": _spread([h for _, h in sizes]),
            "megapixels": _spread([round(w * h / 1e6, 3) for w, h in sizes]),
            "aspect": {
                "wide": sum(1 for w, h in sizes if w > h),
                "tall": sum(1 for w, h in sizes if w < h),
                "square": sum(1 for w, h in sizes if w == h),
            },
        },
        "generatedAt": iso(timezone.now()),
    }


def usage_report(workspace: Workspace) -> dict:
    """API calls of the workspace's keys in the last 30 days (UTC), counted per key and day
    (`apikeys.usage`, flushed first): the total, per key, per day, and the rows behind them.
    Revoked and rolled keys count too: their calls happened."""
    from apikeys import usage
    from apikeys.models import ApiKey, KeyUsage

    usage.flush()
    first, last = usage.window()
    keys = {key.pk: key for key in ApiKey.objects.filter(workspace=workspace).only("id", "key_id", "name")}
    rows = (
        KeyUsage.objects.filter(api_key__workspace=workspace, scope=usage.TOTAL, day__gte=first)
        .order_by("day", "api_key_id")
        .values_list("day", "api_key_id", "requests")
    )
    by_key: dict[str, int] = {}
    by_day: dict[str, int] = {}
    calls = []
    for day, key_pk, n in rows:
        key = keys[key_pk]
        label = f"{key.name} ({key.prefix})"
        by_key[label] = by_key.get(label, 0) + n
        by_day[day.isoformat()] = by_day.get(day.isoformat(), 0) + n
        calls.append({"date": day.isoformat(), "keyId": key.key_id, "name": key.name, "calls": n})
    return {
        "workspace": workspace.url,
        "counted": True,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "apiCalls": sum(by_day.values()),
        "byKey": dict(sorted(by_key.items(), key=lambda item: -item[1])),
        "byDay": by_day,
        "calls": calls,
    }
