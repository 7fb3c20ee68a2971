"""Resource API routes, at the site root as the official SDK expects (no trailing slash).
Fixed words come before `<slug:project>`; they are reserved as project slugs."""

from django.urls import path

from . import api

urlpatterns = [
    path("dataset/<slug:project>/upload", api.ImageUploadView.as_view(), name="image-upload"),
    path("<slug:ws>", api.WorkspaceView.as_view(), name="workspace"),
    path("<slug:ws>/projects", api.ProjectListView.as_view(), name="projects"),
    path("<slug:ws>/groups", api.FolderListView.as_view(), name="folders"),
    path("<slug:ws>/groups/<int:folder_id>", api.FolderDetailView.as_view(), name="folder"),
    path("<slug:ws>/groups/<int:folder_id>/projects", api.FolderProjectsView.as_view(), name="folder-projects"),
    path("<slug:ws>/<slug:project>", api.ProjectDetailView.as_view(), name="project"),
    path("<slug:ws>/<slug:project>/images", api.ImageBulkView.as_view(), name="images"),
    path("<slug:ws>/<slug:project>/images/<int:image_id>", api.ImageDetailView.as_view(), name="image"),
    path("<slug:ws>/<slug:project>/images/<int:image_id>/file", api.ImageFileView.as_view(), name="image-file"),
    path("<slug:ws>/<slug:project>/images/<int:image_id>/tags", api.ImageTagsView.as_view(), name="image-tags"),
    path("<slug:ws>/<slug:project>/search", api.ImageSearchView.as_view(), name="image-search"),
    path("<slug:ws>/<slug:project>/generate", api.VersionGenerateView.as_view(), name="version-generate"),
    path("<slug:ws>/<slug:project>/models", api.ModelListView.as_view(), name="models"),
    path("<slug:ws>/<slug:project>/models/<int:model_id>", api.ModelDetailView.as_view(), name="model"),
    path("<slug:ws>/<slug:project>/<int:version>", api.VersionDetailView.as_view(), name="version"),
]
