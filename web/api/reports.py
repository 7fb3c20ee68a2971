"""What the workspace holds and uses: stats, plan, API usage, a project's health."""

from django.conf import settings
from drf_spectacular.utils import (
    extend_schema,
)

from apikeys.permissions import caller_holds
from apikeys.usage import usage_report
from core.responses import respond
from workspaces.models import (
    Plan,
)
from workspaces.selectors import (
    project_health,
    workspace_stats,
)

from .base import (
    ResourceViewSet,
)
from .serializers import (
    HealthQuery,
    HealthResponse,
    PlanResponse,
    StatsQuery,
    StatsResponse,
    UsageResponse,
    parse,
)


class ReportViewSet(ResourceViewSet):
    """What the workspace holds and uses: `roboflow workspace stats / plan / usage`, `project
    health`. Counted live, over the projects the caller may reach."""

    required_scopes = {
        "stats": "workspace:read",
        "plan": "workspace:read",
        "usage": "usage:read",
        "health": "project:read",
    }

    @extend_schema(
        operation_id="workspace_stats",
        summary="Counts of the workspace's projects, images, versions and models",
        parameters=[StatsQuery],
        responses=StatsResponse,
    )
    def stats(self, request, ws):
        query = parse(StatsQuery, request.query_params)
        stats = workspace_stats(self.projects(), query["startDate"], query["endDate"])
        if caller_holds(request, self, "api-key:read"):
            stats["apiKeys"] = self.workspace.api_keys.live().count()
        return respond(StatsResponse, {"stats": stats})

    @extend_schema(operation_id="workspace_plan", summary="The workspace's plan and its limits", responses=PlanResponse)
    def plan(self, request):
        plan = Plan(self.workspace.plan)
        return respond(
            PlanResponse,
            {
                "plan": {
                    "workspace": self.workspace.url,
                    "name": plan.value,
                    "label": plan.label,
                    "scopedKeys": plan == Plan.ENTERPRISE,
                    "apiRateLimit": settings.API_RATE_LIMIT,
                    "maxUploadBytes": settings.MAX_UPLOAD_BYTES,
                }
            },
        )

    @extend_schema(
        operation_id="workspace_usage", summary="API calls per key and day", request=None, responses=UsageResponse
    )
    def usage(self, request, ws):
        return respond(UsageResponse, {"usage": usage_report(self.workspace)})

    @extend_schema(
        operation_id="project_health",
        summary="A project's health: class balance, annotation coverage, image sizes",
        parameters=[HealthQuery],
        responses=HealthResponse,
    )
    def health(self, request, ws, project):
        parse(HealthQuery, request.query_params)  # `regenerate`: it is always computed afresh
        found = self.get_project(project, counted=True)
        return respond(HealthResponse, {"health": project_health(found)})
