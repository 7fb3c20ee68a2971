"""Resource API routes, at the site root as the official SDK expects (no trailing slash), each
method mapped to its viewset action explicitly. Fixed words come before `<slug:project>`;
they are reserved as project slugs."""

from django.urls import path

from .api import (
    UPLOAD_PARSERS,
    WEIGHTS_PARSERS,
    FolderViewSet,
    ImageViewSet,
    ModelViewSet,
    ProjectViewSet,
    VersionViewSet,
    WorkspaceViewSet,
)

urlpatterns = [
    path(
        "dataset/<slug:project>/upload",
        ImageViewSet.as_view({"post": "upload"}, parser_classes=UPLOAD_PARSERS),
        name="image-upload",
    ),
    path("<slug:ws>", WorkspaceViewSet.as_view({"get": "retrieve"}), name="workspace"),
    path("<slug:ws>/projects", ProjectViewSet.as_view({"post": "create"}), name="projects"),
    path("<slug:ws>/groups", FolderViewSet.as_view({"get": "list", "post": "create"}), name="folders"),
    path(
        "<slug:ws>/groups/<int:folder_id>",
        FolderViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
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
]
