"""Trained models of a project: list, upload weights, change, delete."""

from drf_spectacular.utils import (
    extend_schema,
)
from rest_framework import exceptions

from core.responses import respond
from workspaces import services
from workspaces.actors import Actor
from workspaces.models import (
    Model,
    Project,
    Version,
)

from .base import (
    ResourceViewSet,
    refuse_oversize,
)
from .serializers import (
    DeletedResponse,
    ModelListResponse,
    ModelResponse,
    ModelUpdateBody,
    ModelUploadBody,
    parse,
)


class ModelViewSet(ResourceViewSet):
    required_scopes = {
        "list": "project:read",
        "create": "model:deploy",
        "partial_update": "model:manage",
        "destroy": "model:manage",
    }

    def get_model(self, project: str, model_id: int) -> Model:
        found = self.get_project(project)
        model = Model.objects.select_related("project", "version").filter(project=found, pk=model_id).first()
        if model is None:
            raise exceptions.NotFound(f"No model {model_id} in this project.")
        return model

    @extend_schema(operation_id="models_list", summary="A project's models", responses=ModelListResponse)
    def list(self, request, ws, project):
        found = self.get_project(project)
        return respond(ModelListResponse, {"models": found.models.select_related("version")})

    @extend_schema(
        operation_id="models_upload",
        summary="Upload model weights",
        request={"multipart/form-data": ModelUploadBody},
        responses={201: ModelResponse},
    )
    def create(self, request, ws, project):
        refuse_oversize(request)
        found = self.get_project(project)
        data = parse(ModelUploadBody, request.data)
        model = services.model_create(
            project=found,
            name=data["name"],
            type=data["type"],
            upload=data["weights"],
            version=self.version_of(found, data.get("version")),
        )
        return respond(ModelResponse, {"model": model}, status=201)

    @extend_schema(
        operation_id="model_update", summary="Change a model", request=ModelUpdateBody, responses=ModelResponse
    )
    def partial_update(self, request, ws, project, model_id):
        model = self.get_model(project, model_id)
        data = parse(ModelUpdateBody, self.body())
        if "version" in data:
            data["version"] = self.version_of(model.project, data["version"])
        return respond(ModelResponse, {"model": services.model_update(model=model, **data)})

    @extend_schema(
        operation_id="model_delete", summary="Delete a model and its weights", responses={200: DeletedResponse}
    )
    def destroy(self, request, ws, project, model_id):
        services.model_delete(model=self.get_model(project, model_id), actor=Actor.from_request(request))
        return respond(DeletedResponse, {"status": "deleted", "id": str(model_id)})

    @staticmethod
    def version_of(project: Project, number: int | None) -> Version | None:
        if number is None:
            return None
        version = project.versions.live().filter(number=number).first()
        if version is None:
            raise exceptions.ValidationError({"version": [f"No version {number} of this project."]})
        return version
