from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apikeys.services import workspace_create_with_key
from apikeys.views import show_new_key

from .forms import SignUpForm, WorkspaceForm
from .models import Folder, Membership, Project
from .serializers import with_counts
from .services import user_sign_up

SESSION_WORKSPACE = "current_workspace"


def membership_or_404(user, url: str) -> Membership:
    """The user's membership of workspace `url`; a 404 when there is none, so nobody learns what exists."""
    try:
        return Membership.objects.select_related("workspace").get(user=user, workspace__url=url)
    except Membership.DoesNotExist:
        raise Http404("No such workspace") from None


@require_http_methods(["GET", "POST"])
def sign_up(request):
    if request.user.is_authenticated:
        return redirect("workspaces:home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = user_sign_up(email=form.cleaned_data["email"], password=form.cleaned_data["password1"])
            workspace, key, secret = workspace_create_with_key(
                name=form.cleaned_data["workspace_name"], url=form.cleaned_data["workspace_url"], owner=user
            )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome! Your workspace “{workspace.name}” is ready, with its API key.")
        return first_key(request, workspace, key, secret)
    return render(request, "accounts/sign_up.html", {"form": form})


def first_key(request, workspace, key, secret):
    """A new workspace's first screen: its key page, with the key's secret shown once."""
    request.workspace_url = workspace.url  # the navigation is about the new workspace
    membership = Membership.objects.select_related("workspace").get(user=request.user, workspace=workspace)
    return show_new_key(request, membership, key, secret)


@login_required
def home(request):
    """Send the user to the workspace they used last, else their first one."""
    memberships = Membership.objects.filter(user=request.user).select_related("workspace")
    last = request.session.get(SESSION_WORKSPACE)
    chosen = next((m for m in memberships if m.workspace.url == last), None) or memberships.first()
    if chosen is None:
        return redirect("workspaces:create")
    return redirect("workspaces:detail", ws=chosen.workspace.url)


@login_required
@require_http_methods(["GET", "POST"])
def create(request):
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace, key, secret = workspace_create_with_key(
            name=form.cleaned_data["workspace_name"], url=form.cleaned_data["workspace_url"], owner=request.user
        )
        messages.success(request, f"Workspace “{workspace.name}” created, with its API key.")
        return first_key(request, workspace, key, secret)
    return render(request, "workspaces/create.html", {"form": form})


@login_required
def project(request, ws: str, slug: str):
    """A project at a glance: its counts, versions, models and latest images."""
    membership = membership_or_404(request.user, ws)
    found = with_counts(Project.objects.live().filter(workspace=membership.workspace, slug=slug)).first()
    if found is None:
        raise Http404("No such project")
    found.workspace = membership.workspace
    return render(
        request,
        "workspaces/project.html",
        {
            "workspace": membership.workspace,
            "project": found,
            "versions": found.versions.live().annotate(image_count=Count("images")),
            "models": found.models.select_related("version"),
            "images": found.images.all()[:24],
        },
    )


@login_required
def detail(request, ws: str):
    membership = membership_or_404(request.user, ws)
    workspace = membership.workspace
    request.session[SESSION_WORKSPACE] = workspace.url
    projects = Project.objects.live().filter(workspace=workspace).annotate(image_count=Count("images"))
    folders = Folder.objects.filter(workspace=workspace).prefetch_related(
        Prefetch("projects", queryset=projects, to_attr="project_list")
    )
    return render(
        request,
        "workspaces/detail.html",
        {
            "workspace": workspace,
            "membership": membership,
            "folders": folders,
            "loose_projects": projects.filter(folder__isnull=True),
            "project_count": projects.count(),
        },
    )
