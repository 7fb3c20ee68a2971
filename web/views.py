from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from apikeys.services import workspace_create_with_key
from apikeys.views import show_new_key
from core.errors import Conflict, NotFound, ServiceError
from workspaces.forms import SignUpForm, SignUpPasswordForm, ThrottledPasswordResetForm, WorkspaceForm
from workspaces.models import Folder, Membership, Project
from workspaces.selectors import with_counts
from workspaces.services import user_sign_up_begin, user_sign_up_complete, user_sign_up_pending

SESSION_WORKSPACE = "current_workspace"


def membership_or_404(user, url: str) -> Membership:
    """The user's membership of workspace `url`; a 404 when there is none, so nobody learns what exists."""
    try:
        return Membership.objects.select_related("workspace").get(user=user, workspace__url=url)
    except Membership.DoesNotExist:
        raise Http404("No such workspace") from None


URL_TAKEN_MEANWHILE = "Your account is ready, but the workspace url “{url}” was taken meanwhile: choose another."


@require_http_methods(["GET", "POST"])
def sign_up(request):
    if request.user.is_authenticated:
        return redirect("workspaces:home")
    form = SignUpForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user_sign_up_begin(
                email=data["email"], workspace_name=data["workspace_name"], workspace_url=data["workspace_url"]
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            return render(request, "accounts/sign_up_sent.html", {"email": data["email"]})
    return render(request, "accounts/sign_up.html", {"form": form})


@never_cache
@require_http_methods(["GET", "POST"])
def confirm_sign_up(request, token: str):
    """The link in the sign-up mail: whoever holds the inbox chooses the password here, and the
    button (a POST; a mail scanner's GET only looks) creates the account, its workspace and
    key, and shows the key once."""
    try:
        pending = user_sign_up_pending(token=token)
    except NotFound as exc:
        return link_not_working(request, exc.message)
    form = SignUpPasswordForm(pending.email, request.POST or None)
    if request.method == "GET" or not form.is_valid():
        return render(request, "accounts/confirm_sign_up.html", {"pending": pending, "form": form})
    try:
        with transaction.atomic():
            user, pending = user_sign_up_complete(token=token, password=form.cleaned_data["new_password1"])
    except NotFound as exc:  # used by a second click a moment ago
        return link_not_working(request, exc.message)
    except Conflict as exc:
        messages.info(request, exc.message)
        return redirect("accounts:login")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    try:
        with transaction.atomic():
            workspace, key, secret = workspace_create_with_key(
                name=pending.workspace_name, url=pending.workspace_url, owner=user
            )
    except (ValidationError, IntegrityError):
        messages.warning(request, URL_TAKEN_MEANWHILE.format(url=pending.workspace_url))
        return redirect("workspaces:create")
    messages.success(request, f"Welcome! Your workspace “{workspace.name}” is ready, with its API key.")
    return first_key(request, workspace, key, secret)


def link_not_working(request, message: str):
    return render(request, "accounts/confirm_sign_up.html", {"error": message}, status=404)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset, throttled, answering the same for any address, and linking to SITE_URL
    (never to the Host header a request claims)."""

    form_class = ThrottledPasswordResetForm
    email_template_name = "accounts/email/reset.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        self.extra_email_context = {"timeout_hours": settings.PASSWORD_RESET_TIMEOUT // 3600}
        return super().form_valid(form)


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
