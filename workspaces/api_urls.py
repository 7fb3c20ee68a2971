"""Resource API routes, at the site root as the official SDK expects (no trailing slash).
Fixed words come before `<str:project>`; they are reserved as project slugs."""

from django.urls import path

from . import api

urlpatterns = [
    path("dataset/<str:project>/upload", api.ImageUploadView.as_view(), name="image-upload"),
    path("<str:ws>", api.WorkspaceView.as_view(), name="workspace"),
    path("<str:ws>/projects", api.ProjectListView.as_view(), name="projects"),
    path("<str:ws>/groups", api.FolderListView.as_view(), name="folders"),
    path("<str:ws>/groups/<int:folder_id>", api.FolderDetailView.as_view(), name="folder"),
    path("<str:ws>/groups/<int:folder_id>/projects", api.FolderProjectsView.as_view(), name="folder-projects"),
    path("<str:ws>/<str:project>", api.ProjectDetailView.as_view(), name="project"),
    path("<str:ws>/<str:project>/images", api.ImageBulkView.as_view(), name="images"),
    path("<str:ws>/<str:project>/images/<int:image_id>", api.ImageDetailView.as_view(), name="image"),
    path("<str:ws>/<str:project>/images/<int:image_id>/file", api.ImageFileView.as_view(), name="image-file"),
    path("<str:ws>/<str:project>/images/<int:image_id>/tags", api.ImageTagsView.as_view(), name="image-tags"),
    path("<str:ws>/<str:project>/search", api.ImageSearchView.as_view(), name="image-search"),
    path("<str:ws>/<str:project>/generate", api.VersionGenerateView.as_view(), name="version-generate"),
    path("<str:ws>/<str:project>/models", api.ModelListView.as_view(), name="models"),
    path("<str:ws>/<str:project>/models/<int:model_id>", api.ModelDetailView.as_view(), name="model"),
    path("<str:ws>/<str:project>/<int:version>", api.VersionDetailView.as_view(), name="version"),
]
