"""The key edit modal's form (Generate uses it too). It reads what the page sends and turns it
into the API's body; what the values may be is the API serializer's to judge
(`ApiKeySpecSerializer`), so the page refuses exactly what the API refuses."""

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils import timezone

from workspaces.models import Folder, Membership, Workspace

from .scopes import SCOPE_NAMES
from .serializers import SCOPE_WORDS, ApiKeySpecSerializer
from .spec import BY_WIRE, KEY_FIELDS, PLAIN, KeyField, Kind

GRACE_CHOICES = [(0, "None: the old secret stops now"), (3600, "1 hour"), (86400, "24 hours"), (604800, "7 days")]
SECTIONS = ("top", "options", "limits")
PICK_A_FOLDER = "Pick at least one folder, or choose every folder of the workspace."
CHOOSE_ACCESS = "Choose what the key may do: full access, or only the scopes you check."
CHOOSE_EXPIRY = "Pick the day the key expires, or choose No expiry."
EXPIRY_OR_NONE = "Pick a day or choose No expiry, not both."
PROPOSED_LIFETIME = timedelta(days=90)
# The fields a workspace on another plan sees disabled (with the plain ones declared Enterprise).
ENTERPRISE_ONLY = ("access", "scopes", "folder_limit", "folders", "owners", "allowed_ips", "no_expiry")


def page_field(declared: KeyField) -> forms.Field:
    """The edit modal's field for a plain declared key field (`_key_field.html` shows it)."""
    match declared.kind:
        case Kind.TEXT:
            # How long it may be is the API serializer's to judge, as for every value.
            return forms.CharField(label=declared.label, required=not declared.allow_blank)
        case Kind.FLAG:
            return forms.BooleanField(label=declared.label, required=False)
        case Kind.DATE:
            return forms.DateField(label=declared.label, required=False)
    raise ValueError(f"{declared.name} is no plain field")


class KeyForm(forms.Form):
    """The plain fields with a `section` come from their declarations (`apikeys.spec`); the
    others (access and scopes, folders, owners, the allowlist) are laid out by hand. A field's
    name here is its KeySpec name."""

    access = forms.ChoiceField(
        choices=[("full", "Full access"), ("scoped", "Scoped: only what is checked below")],
        error_messages={"required": CHOOSE_ACCESS},
    )
    scopes = forms.MultipleChoiceField(choices=[(w, w) for w in SCOPE_WORDS], required=False)
    folder_limit = forms.ChoiceField(
        choices=[("all", "Every folder"), ("some", "Only the folders checked")], initial="all", required=False
    )
    folders = forms.TypedMultipleChoiceField(coerce=int, required=False)
    owners = forms.TypedMultipleChoiceField(coerce=int, required=False, label="Remind")
    allowed_ips = forms.CharField(required=False, label="IP allowlist")
    no_expiry = forms.BooleanField(required=False, label="No expiry")
    form_token = forms.CharField(required=False)

    def __init__(self, *args, workspace: Workspace, new: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.new = new  # Generate: the expiry is a choice to make (a day, or "No expiry")
        if not new:
            del self.fields["no_expiry"]  # an edit shows the key's expiry; empty is none
        self.plain = [f for f in KEY_FIELDS if f.kind in PLAIN and f.section]
        self.fields = {f.name: page_field(f) for f in self.plain} | self.fields
        self.folder_list = list(Folder.objects.filter(workspace=workspace))
        self.members = list(Membership.objects.filter(workspace=workspace).select_related("user"))
        self.fields["folders"].choices = [(f.pk, f.name) for f in self.folder_list]  # type: ignore[attr-defined]
        self.fields["owners"].choices = [  # type: ignore[attr-defined]
            (m.user_id, m.user.email or m.user.get_username()) for m in self.members
        ]
        if not workspace.is_enterprise:
            self.fields["access"].initial = "full"  # the only access a key has on this plan
            if self.is_bound:
                # The page shows these disabled, and a browser sends nothing for a disabled
                # field: one left out keeps its value. One sent goes on to the plan rule.
                self._keep_absent([*ENTERPRISE_ONLY, *(f.name for f in self.plain if f.enterprise)])

    def _keep_absent(self, names: list[str]) -> None:
        data = QueryDict(mutable=True)
        for key in self.data:  # a request's QueryDict, or a plain dict of values and lists
            values = self.data.getlist(key) if isinstance(self.data, QueryDict) else self.data[key]
            data.setlist(key, values if isinstance(values, list | tuple) else [values])
        for name in (n for n in names if n in self.fields and n not in data):
            value = self.get_initial_for_field(self.fields[name], name)
            if isinstance(value, list | tuple):
                data.setlist(name, [str(v) for v in value])  # the request's QueryDict
            elif isinstance(value, bool):
                if value:
                    data[name] = "on"
            elif value is not None:
                data[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
        self.data = data

    def section(self, name: str) -> list[tuple[forms.BoundField, KeyField]]:
        return [(self[f.name], f) for f in self.plain if f.section == name]

    @property
    def top(self):
        return self.section("top")

    @property
    def options(self):
        return self.section("options")

    @property
    def limits(self):
        return self.section("limits")

    @property
    def limits_open(self) -> bool:
        """Whether the modal opens its limits: one of them is set, or wrong."""
        names = [f.name for f in self.plain if f.section == "limits"] + ["allowed_ips"]
        return any(self[name].value() or self[name].errors for name in names) or bool(self["owners"].errors)

    def clean(self):
        data = super().clean() or {}
        # "Only these folders" with none ticked is no choice: never read it as every folder.
        if data.get("folder_limit") == "some" and not data.get("folders") and "folders" not in self.errors:
            self.add_error("folders", PICK_A_FOLDER)
        # An expiry is a choice too: a date, or "No expiry", never neither nor both.
        if self.new and self.workspace.is_enterprise and "expires_at" not in self.errors:
            if data.get("no_expiry") and data.get("expires_at"):
                self.add_error("expires_at", EXPIRY_OR_NONE)
            elif not data.get("no_expiry") and not data.get("expires_at"):
                self.add_error("expires_at", CHOOSE_EXPIRY)
        return data

    @classmethod
    def initial_for(cls, key) -> dict:
        """The form's values for an existing key."""
        folders = key.folder_limit()
        plain = {f.name: getattr(key, f.column) for f in KEY_FIELDS if f.kind in PLAIN and f.section}
        return {
            **{name: value.date() if isinstance(value, datetime) else value for name, value in plain.items()},
            "access": "full" if key.scopes is None else "scoped",
            "scopes": key.scopes or [],
            "folder_limit": "all" if folders is None else "some",
            "folders": folders or [],
            "owners": sorted(u.pk for u in key.owners.all()),
            "allowed_ips": "\n".join(key.allowed_ips),
        }

    @classmethod
    def initial_for_new(cls, max_lifetime_days: int | None = None) -> dict:
        """A new key's form: no access chosen (the user picks it), every folder, and an expiry
        proposed (PROPOSED_LIFETIME ahead, or the key policy's maximum lifetime if shorter),
        which "No expiry" declines."""
        lifetime = min(PROPOSED_LIFETIME, timedelta(days=max_lifetime_days or PROPOSED_LIFETIME.days))
        return {"folder_limit": "all", "expires_at": (timezone.now() + lifetime).date()}

    def body(self, *, changed_only: bool) -> dict:
        """The API body for what the form holds: every field for a new key, the changed ones
        for an edit (a PATCH's semantics: what was left alone stays as it is)."""
        data = self.cleaned_data
        changed = set(self.changed_data) if changed_only else set(self.fields)
        values: dict[str, Callable[[], Any]] = {
            **{f.wire: partial(lambda f: body_value(f, data[f.name]), f) for f in self.plain},
            "scopes": lambda: None if data["access"] == "full" else list(data["scopes"]),
            "folderIds": lambda: [] if data.get("folder_limit") != "some" else list(data["folders"]),
            "owners": lambda: list(data["owners"]),
            "allowedIps": lambda: [line.strip() for line in data["allowed_ips"].splitlines() if line.strip()],
        }
        sources = {
            "scopes": {"access", "scopes"},
            "folderIds": {"folder_limit", "folders"},
            "expiresAt": {"expires_at", "no_expiry"},
        }
        body = {}
        for wire, value in values.items():
            from_fields = sources.get(wire, {BY_WIRE[wire].name})
            if changed & from_fields and not from_fields & set(self.errors):  # what the form could read
                body[wire] = value()
        if not changed_only:  # a new key: no need to send what is empty anyway
            body = {k: v for k, v in body.items() if v not in (None, [], False, "") or k in ("scopes", "name")}
        return body

    def add_api_errors(self, errors: dict) -> None:
        """Show the serializer's errors (keyed by the body's names) next to the form's fields."""
        for wire, messages in errors.items():
            field = BY_WIRE[wire].name if wire in BY_WIRE else None
            for message in messages if isinstance(messages, list) else [messages]:
                self.add_error(field if field in self.fields else None, str(message))

    def check_the_rest(self, *, context: dict) -> None:
        """When the form itself refused something, the API's rules still judge the rest, so that
        every bad value is reported at once (not one, then the next after another try)."""
        body = ApiKeySpecSerializer(data=self.body(changed_only=not self.new), context=context)
        if not body.is_valid():
            self.add_api_errors(
                {
                    wire: m
                    for wire, m in body.errors.items()
                    if BY_WIRE.get(wire) is None or BY_WIRE[wire].name not in self.errors
                }
            )


def body_value(declared: KeyField, value):
    """A plain field's form value as the API's body says it."""
    if declared.kind == Kind.DATE:
        return value.isoformat() if value else None
    return value


class RollForm(forms.Form):
    grace = forms.TypedChoiceField(
        coerce=int,
        choices=GRACE_CHOICES,
        initial=0,
        empty_value="0",
        required=False,
        label="Keep the old secret working",
    )
    form_token = forms.CharField(required=False)


class PolicyForm(forms.Form):
    """Settings → API Keys → Policy: the rules every key must meet (`apikeys.policy`)."""

    require_expiry = forms.BooleanField(required=False, label="Every key expires")
    max_lifetime_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, label="Maximum lifetime, in days",
        help_text="Keys created or rolled expire within this many days. Empty: no maximum.",
    )  # fmt: skip
    forbid_full_access = forms.BooleanField(required=False, label="No full-access keys")
    limit_scopes = forms.BooleanField(required=False, label="Only these scopes, at most")
    scope_ceiling = forms.MultipleChoiceField(choices=[(s, s) for s in SCOPE_NAMES], required=False)
    require_folders = forms.BooleanField(required=False, label="Every key is limited to folders")
    require_ip_allowlist = forms.ChoiceField(
        required=False, label="IP allowlist required",
        choices=[("", "Never"), ("write", "On keys that can write"), ("all", "On every key")],
    )  # fmt: skip
    allow_key_management = forms.BooleanField(required=False, label="Keys may manage keys (api-key scopes)")
    creators = forms.ChoiceField(
        label="Who creates keys",
        choices=[("managers", "Owners and admins"), ("owners", "Owners only"), ("members-request", "Owners and admins; members may request a key")],
    )  # fmt: skip
    enforce_from = forms.DateField(
        required=False, label="Enforce from", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="From this day, keys that still break the policy are disabled (never revoked). Empty: never.",
    )  # fmt: skip

    def changes(self) -> dict:
        data = dict(self.cleaned_data)
        if not data.pop("limit_scopes"):
            data["scope_ceiling"] = None
        return data
