import logging

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm, UsernameField
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from core.errors import ServiceError

from .models import Workspace
from .services import send_account_mail
from .throttling import AccountMailThrottle, LoginThrottle

User = get_user_model()
log = logging.getLogger(__name__)

URL_TAKEN = "This workspace url is taken."


class ThrottledLoginForm(AuthenticationForm):
    """Counts failed log-ins per account and per address (`throttling.LoginThrottle`); over the
    limit the form refuses before checking the password at all."""

    def clean(self):
        throttle = LoginThrottle(self.request, self.cleaned_data.get("username"))
        if not throttle.begin():
            raise ValidationError(throttle.message(), code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError as exc:
            if exc.code != "invalid_login":  # only wrong passwords count
                throttle.take_back()
            raise
        throttle.take_back()
        return cleaned


class ThrottledAdminLoginForm(ThrottledLoginForm, AdminAuthenticationForm):
    pass


class EmailLoginForm(ThrottledLoginForm):
    """Log in with the email address; accounts are stored under the lowercased email."""

    username = UsernameField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}))

    def clean_username(self):
        return self.cleaned_data["username"].strip().lower()


class WorkspaceForm(forms.Form):
    workspace_name = forms.CharField(label="Workspace name", max_length=100)
    workspace_url = forms.CharField(
        label="Workspace url",
        max_length=50,
        required=False,
        help_text="Lowercase letters, digits and hyphens. Left empty, it is made from the name.",
    )

    def clean(self):
        cleaned = super().clean() or {}
        name = cleaned.get("workspace_name")
        if name and not cleaned.get("workspace_url"):
            cleaned["workspace_url"] = slugify(name)[:50].strip("-")
        url = cleaned.get("workspace_url")
        if url:
            candidate = Workspace(name=name or url, url=url)
            try:
                candidate.clean_fields(exclude=["name", "plan", "public_id"])
            except ValidationError as exc:
                for message in exc.message_dict.get("url", []):
                    self.add_error("workspace_url", message)
            if Workspace.objects.filter(url=url).exists():
                self.add_error("workspace_url", URL_TAKEN)
        return cleaned


def _refuse_when_throttled(request, email: str | None) -> None:
    throttle = AccountMailThrottle(request, email)
    if not throttle.begin():
        raise ValidationError(throttle.message(), code="throttled")


class SignUpForm(WorkspaceForm):
    """The address and the workspace wanted. Whether the address has an account is never said
    here, and no password is asked: the mail that follows says what comes next
    (`services.user_sign_up_begin`), and whoever holds the inbox chooses the password when
    following its link (`SignUpPasswordForm`), so nobody can pre-register someone else's
    address with a password of their own."""

    email = forms.EmailField(max_length=150)

    field_order = ["email", "workspace_name", "workspace_url"]

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_email(self):
        return self.cleaned_data["email"].lower()

    def clean(self):
        cleaned = super().clean()
        if not self.errors:  # only a request that would send a mail counts
            _refuse_when_throttled(self.request, cleaned.get("email"))
        return cleaned


class SignUpPasswordForm(SetPasswordForm):
    """Django's set-password form (its validators, against the address being confirmed), for
    the account a sign-up link creates."""

    def __init__(self, email: str, *args, **kwargs):
        super().__init__(User(username=email, email=email), *args, **kwargs)
        self.fields["new_password1"].label = "Password"
        self.fields["new_password2"].label = "Password again"


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form, throttled like sign-up, and answering an address without an account
    with a mail saying so (so that the time taken does not tell either)."""

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()

    def clean(self):
        cleaned = super().clean() or {}
        if not self.errors:
            _refuse_when_throttled(self.request, cleaned.get("email"))
        return cleaned

    def save(self, *args, **kwargs):
        email = self.cleaned_data["email"]
        if any(True for _ in self.get_users(email)):
            return super().save(*args, **kwargs)
        self.send_mail("", "accounts/email/reset_no_account.txt", {"email": email}, None, email)
        return None

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, *args, **kwargs):
        # One mail path for every account mail; as Django's own: a failure is logged and the
        # answer stays the same.
        try:
            send_account_mail(to=to_email, template=email_template_name, context=context)
        except ServiceError:
            log.exception("An account mail (%s) could not be sent.", email_template_name)
