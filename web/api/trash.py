"""The trash: deleted projects and versions, listed and restored."""

from drf_spectacular.utils import (
    extend_schema,
)
from rest_framework import exceptions

from apikeys.permissions import require
from core.responses import respond
from workspaces import selectors, services
from workspaces.actors import Actor

from .base import (
    ResourceViewSet,
    trash_fields,
)
from .serializers import (
    TrashedResponse,
    TrashResponse,
    TrashRestoreBody,
    parse,
)


class TrashViewSet(ResourceViewSet):
    """Deleted projects, for TRASH_RETENTION (then `manage.py purge_trash` deletes them for
    good): guarded by the scope that deletes them."""

    required_scopes = {"list": "project:update", "restore": "project:update"}

    def trashed_projects(self):
        return selectors.trashed_projects(self.workspace.pk, self.folder_limit())

    def trashed_versions(self):
        return selectors.trashed_versions(self.projects())

    @extend_schema(operation_id="trash_list", summary="What is in the trash", responses=TrashResponse)
    def list(self, request, ws):
        projects = [trash_fields(p) for p in self.trashed_projects().order_by("-deleted_at", "-pk")]
        versions = [trash_fields(v) for v in self.trashed_versions().order_by("-deleted_at", "-pk")]
        items = sorted(projects + versions, key=lambda item: item["deletedAt"], reverse=True)
        return respond(
            TrashResponse, {"items": items, "sections": {"projects": projects, "versions": versions, "workflows": []}}
        )

    @extend_schema(
        operation_id="trash_restore",
        summary="Restore a project or a version from the trash",
        request=TrashRestoreBody,
        responses=TrashedResponse,
    )
    def restore(self, request, ws):
        data = parse(TrashRestoreBody, self.body())
        if data["type"] == "project":
            project = self.trashed_projects().filter(pk=data["id"]).first()
            if project is None:
                raise exceptions.NotFound(f"No project {data['id']} in the trash.")
            return respond(
                TrashedResponse,
                {
                    "restored": True,
                    **trash_fields(services.project_restore(project=project, actor=Actor.from_request(request))),
                },
            )
        # A version: the body's `type` is one of RESTORABLE.
        require(request, self, "version:update")  # what deleting it needed
        parent = data.get("parentId")
        version = self.trashed_versions().filter(number=data["id"], project_id=parent).first() if parent else None
        if version is None:
            raise exceptions.NotFound(f"No version {data['id']} of project {parent} in the trash.")
        return respond(
            TrashedResponse,
            {
                "restored": True,
                **trash_fields(services.version_restore(version=version, actor=Actor.from_request(request))),
            },
        )
