"""Resource API routes, at the site root as the official SDK expects (no trailing slash), each
method mapped to its viewset action explicitly. Fixed words come before `<slug:project>`;
they are reserved as project slugs."""

from django.urls import path

from apikeys.authentication import LinkAuthentication

from .base import UPLOAD_PARSERS, WEIGHTS_PARSERS
from .folders import FolderViewSet
from .images import ImageViewSet, WorkspaceImageViewSet
from .projects import ProjectViewSet
from .reports import ReportViewSet
from .trained_models import ModelViewSet
from .trash import TrashViewSet
from .versions import VersionViewSet
from .workspace import WorkspaceViewSet

urlpatterns = [
    path(
        "dataset/<slug:project>/upload",
        ImageViewSet.as_view({"post": "upload"}, parser_classes=UPLOAD_PARSERS),
        name="image-upload",
    ),
    path("dataset/<slug:project>/annotate/<int:image_id>", ImageViewSet.as_view({"post": "annotate"}), name="annotate"),
    path("usage/plan", ReportViewSet.as_view({"get": "plan"}), name="plan"),
    path("<slug:ws>", WorkspaceViewSet.as_view({"get": "retrieve"}), name="workspace"),
    path("<slug:ws>/stats", ReportViewSet.as_view({"get": "stats"}), name="stats"),
    path("<slug:ws>/billing-usage-report", ReportViewSet.as_view({"post": "usage"}), name="usage"),
    path("<slug:ws>/trash", TrashViewSet.as_view({"get": "list"}), name="trash"),
    path("<slug:ws>/trash/restore", TrashViewSet.as_view({"post": "restore"}), name="trash-restore"),
    path("<slug:ws>/search/v1", WorkspaceImageViewSet.as_view({"post": "search"}), name="workspace-search"),
    path("<slug:ws>/images", WorkspaceImageViewSet.as_view({"delete": "bulk_destroy"}), name="workspace-images"),
    path(
        "<slug:ws>/images/<int:image_id>/metadata",
        WorkspaceImageViewSet.as_view({"post": "metadata"}),
        name="image-metadata",
    ),
    path("<slug:ws>/projects", ProjectViewSet.as_view({"post": "create"}), name="projects"),
    path("<slug:ws>/groups", FolderViewSet.as_view({"get": "list", "post": "create"}), name="folders"),
    path(
        "<slug:ws>/groups/<int:folder_id>",
        # `roboflow folder update` POSTs the new name.
        FolderViewSet.as_view({"get": "retrieve", "patch": "partial_update", "post": "rename", "delete": "destroy"}),
        name="folder",
    ),
    path(
        "<slug:ws>/groups/<int:folder_id>/projects",
        FolderViewSet.as_view({"patch": "add_projects", "delete": "remove_projects"}),
        name="folder-projects",
    ),
    path(
        "<slug:ws>/<slug:project>",
        ProjectViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="project",
    ),
    path("<slug:ws>/<slug:project>/health", ReportViewSet.as_view({"get": "health"}), name="project-health"),
    path("<slug:ws>/<slug:project>/images", ImageViewSet.as_view({"delete": "bulk_destroy"}), name="images"),
    path("<slug:ws>/<slug:project>/images/<int:image_id>", ImageViewSet.as_view({"get": "retrieve"}), name="image"),
    path(
        "<slug:ws>/<slug:project>/images/<int:image_id>/file", ImageViewSet.as_view({"get": "file"}), name="image-file"
    ),
    path(
        "<slug:ws>/<slug:project>/images/<int:image_id>/tags", ImageViewSet.as_view({"post": "tags"}), name="image-tags"
    ),
    path("<slug:ws>/<slug:project>/search", ImageViewSet.as_view({"post": "search"}), name="image-search"),
    path("<slug:ws>/<slug:project>/generate", VersionViewSet.as_view({"post": "create"}), name="version-generate"),
    path(
        "<slug:ws>/<slug:project>/models",
        ModelViewSet.as_view({"get": "list", "post": "create"}, parser_classes=WEIGHTS_PARSERS),
        name="models",
    ),
    path(
        "<slug:ws>/<slug:project>/models/<int:model_id>",
        ModelViewSet.as_view({"patch": "partial_update", "delete": "destroy"}),
        name="model",
    ),
    path(
        "<slug:ws>/<slug:project>/<int:version>",
        VersionViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="version",
    ),
    path(
        "<slug:ws>/<slug:project>/<int:version>/<slug:export_format>",
        VersionViewSet.as_view({"get": "export"}),
        name="version-export",
    ),
    path(
        "<slug:ws>/<slug:project>/<int:version>/<slug:export_format>/download",
        VersionViewSet.as_view({"get": "download"}, authentication_classes=[LinkAuthentication]),
        name="version-download",
    ),
]
