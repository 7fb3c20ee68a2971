"""The reads of the workspace's data: projects, versions and members with the counts the API
shows, what is in the trash, the workspace's stats and a project's health. Computed from the
rows, never estimated; the builders of every request's reads are compiled once (`prepared`)."""

from datetime import date
from statistics import median

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.fields import iso

from .annotations import Annotation
from .models import Image, Membership, Model, Project, Split, Version


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


def with_counts(projects):
    """Projects annotated with the counts ProjectSerializer reads: one join on images (so no
    row explosion across images and versions) and a subquery for versions."""
    versions = (
        Version.objects.live().filter(project=OuterRef("pk")).order_by().values("project").annotate(n=Count("pk"))
    )
    return projects.annotate(
        image_count=Count("images"),
        unannotated_count=Count("images", filter=Q(images__annotated=False)),
        train_count=Count("images", filter=Q(images__split=Split.TRAIN)),
        valid_count=Count("images", filter=Q(images__split=Split.VALID)),
        test_count=Count("images", filter=Q(images__split=Split.TEST)),
        version_count=Coalesce(Subquery(versions.values("n")), 0),
    )


def with_image_counts(versions):
    """Versions with the counts and the model that VersionSerializer reads, in one query."""
    first_model = Model.objects.filter(version=OuterRef("pk")).order_by("pk")
    return versions.annotate(
        image_count=Count("images"),
        train_count=Count("images", filter=Q(images__split=Split.TRAIN)),
        valid_count=Count("images", filter=Q(images__split=Split.VALID)),
        test_count=Count("images", filter=Q(images__split=Split.TEST)),
        model_id=Subquery(first_model.values("pk")[:1]),
        model_name=Subquery(first_model.values("name")[:1]),
        model_type=Subquery(first_model.values("type")[:1]),
    )


# Builders for `prepared()`: the reads of every request, compiled once.


def reachable_projects(workspace: int, folders: list[int] | None, slug: str | None):
    projects = Project.objects.reachable(workspace, folders)
    return projects if slug is None else projects.filter(slug=slug).order_by()


def counted_projects(workspace: int, folders: list[int] | None, slug: str | None):
    return with_counts(reachable_projects(workspace, folders, slug))


def project_versions(project: int, number: int | None):
    versions = Version.objects.live().filter(project_id=project).order_by("number")
    return with_image_counts(versions if number is None else versions.filter(number=number))


def memberships_of(request) -> list[Membership]:
    """The signed-in user's memberships with their workspaces, by workspace name: read once per
    request (the page's access check and the workspace switcher share them)."""
    found = getattr(request, "_memberships", None)
    if found is None:
        mine = Membership.objects.filter(user=request.user).select_related("workspace").order_by("workspace__name")
        found = request._memberships = list(mine)
    return found


def workspace_members(workspace: int):
    return (
        Membership.objects.filter(workspace_id=workspace)
        .order_by("user__username")
        .values("user_id", "user__email", "role")
    )


def workspace_stats(projects: QuerySet[Project], start: date, end: date) -> dict:
    """What `roboflow workspace stats` shows of these projects: totals, and what was made
    between the dates (both included)."""
    images = Image.objects.filter(project__in=projects)
    versions = Version.objects.live().filter(project__in=projects)
    within = {"created__date__gte": start, "created__date__lte": end}
    return {
        "startDate": start,
        "endDate": end,
        "projects": projects.count(),
        "images": images.count(),
        "annotatedImages": images.filter(annotated=True).count(),
        "imagesUploaded": images.filter(**within).count(),
        "versions": versions.count(),
        "versionsGenerated": versions.filter(**within).count(),
        "models": Model.objects.filter(project__in=projects).count(),
    }


def trashed_projects(workspace: int, folders: list[int] | None) -> QuerySet[Project]:
    """The projects in the trash that a caller limited to `folders` (None: all) may reach."""
    return Project.objects.reachable(workspace, folders, in_trash=True)


def trashed_versions(projects: QuerySet[Project]) -> QuerySet[Version]:
    """The versions in the trash of these (live) projects."""
    return Version.objects.filter(project__in=projects, deleted_at__isnull=False).select_related("project")
