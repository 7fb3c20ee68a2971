from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm, UsernameField
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from .models import Workspace
from .throttling import LoginThrottle

User = get_user_model()

EMAIL_TAKEN = "An account with this email already exists. Log in instead."
URL_TAKEN = "This workspace url is taken."
PASSWORDS_DIFFER = "The two passwords differ."


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


class SignUpForm(WorkspaceForm):
    email = forms.EmailField(max_length=150)
    password1 = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    field_order = ["email", "password1", "password2", "workspace_name", "workspace_url"]

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(username=email).exists():
            raise ValidationError(EMAIL_TAKEN)
        return email

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2:
            if p1 != p2:
                self.add_error("password2", PASSWORDS_DIFFER)
            else:
                try:
                    password_validation.validate_password(
                        p1, User(username=cleaned.get("email", ""), email=cleaned.get("email", ""))
                    )
                except ValidationError as exc:
                    self.add_error("password1", exc)
        return cleaned
