"""The key edit modal's form (Generate uses it too). It reads what the page sends and turns it
into the API's body; what the values may be is the API serializer's to judge
(`ApiKeySpecSerializer`), so the page refuses exactly what the API refuses."""

from django import forms

from workspaces.models import Folder, Membership, Workspace

from .serializers import SCOPE_WORDS

GRACE_CHOICES = [(0, "None: the old secret stops now"), (3600, "1 hour"), (86400, "24 hours"), (604800, "7 days")]
# The body's field names, and the form fields they come from.
FORM_FIELDS = {
    "name": "name",
    "scopes": "scopes",
    "folderIds": "folders",
    "default": "default",
    "expiresAt": "expires_at",
    "rotationDueAt": "rotation_due_at",
    "owners": "owners",
    "allowedIps": "allowed_ips",
}


class KeyForm(forms.Form):
    name = forms.CharField()
    access = forms.ChoiceField(
        choices=[("full", "Full access"), ("scoped", "Scoped: only what is checked below")], initial="full"
    )
    scopes = forms.MultipleChoiceField(choices=[(w, w) for w in SCOPE_WORDS], required=False)
    folder_limit = forms.ChoiceField(
        choices=[("all", "Every folder"), ("some", "Only the folders checked")], initial="all", required=False
    )
    folders = forms.TypedMultipleChoiceField(coerce=int, required=False)
    default = forms.BooleanField(required=False, label="Set as default key")
    expires_at = forms.DateField(required=False, label="Expires on")
    rotation_due_at = forms.DateField(required=False, label="Rotate by")
    owners = forms.TypedMultipleChoiceField(coerce=int, required=False, label="Remind")
    allowed_ips = forms.CharField(required=False, label="IP allowlist")
    form_token = forms.CharField(required=False)

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.folder_list = list(Folder.objects.filter(workspace=workspace))
        self.members = list(Membership.objects.filter(workspace=workspace).select_related("user"))
        self.fields["folders"].choices = [(f.pk, f.name) for f in self.folder_list]  # type: ignore[attr-defined]
        self.fields["owners"].choices = [  # type: ignore[attr-defined]
            (m.user_id, m.user.email or m.user.get_username()) for m in self.members
        ]

    @classmethod
    def initial_for(cls, key) -> dict:
        """The form's values for an existing key."""
        folders = key.folder_limit()
        return {
            "name": key.name,
            "access": "full" if key.scopes is None else "scoped",
            "scopes": key.scopes or [],
            "folder_limit": "all" if folders is None else "some",
            "folders": folders or [],
            "default": key.is_default,
            "expires_at": key.expires_at.date() if key.expires_at else None,
            "rotation_due_at": key.rotation_due_at.date() if key.rotation_due_at else None,
            "owners": sorted(u.pk for u in key.owners.all()),
            "allowed_ips": "\n".join(key.allowed_ips),
        }

    def body(self, *, changed_only: bool) -> dict:
        """The API body for what the form holds: every field for a new key, the changed ones
        for an edit (a PATCH's semantics: what was left alone stays as it is)."""
        data = self.cleaned_data
        changed = set(self.changed_data) if changed_only else set(self.fields)
        values = {
            "name": data["name"],
            "scopes": None if data["access"] == "full" else list(data["scopes"]),
            "folderIds": [] if data.get("folder_limit") != "some" else list(data["folders"]),
            "default": data["default"],
            "expiresAt": data["expires_at"].isoformat() if data["expires_at"] else None,
            "rotationDueAt": data["rotation_due_at"].isoformat() if data["rotation_due_at"] else None,
            "owners": list(data["owners"]),
            "allowedIps": [line.strip() for line in data["allowed_ips"].splitlines() if line.strip()],
        }
        sources = {"scopes": {"access", "scopes"}, "folderIds": {"folder_limit", "folders"}}
        body = {}
        for wire, value in values.items():
            if changed & sources.get(wire, {FORM_FIELDS[wire]}):
                body[wire] = value
        if not changed_only:  # a new key: no need to send what is empty anyway
            body = {k: v for k, v in body.items() if v not in (None, [], False) or k == "scopes"}
        return body

    def add_api_errors(self, errors: dict) -> None:
        """Show the serializer's errors (keyed by the body's names) next to the form's fields."""
        for wire, messages in errors.items():
            field = FORM_FIELDS.get(wire)
            for message in messages if isinstance(messages, list) else [messages]:
                self.add_error(field if field in self.fields else None, str(message))


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
