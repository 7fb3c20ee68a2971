"""The scope registry: the one list of what an API key may be allowed to do.

The API's validation, the key edit modal, the OpenAPI docs and the tests all read it.
A scope is a `resource:action` leaf. Presets (`role:*`) and bare section names (`image`) are
shorthands that `expand` turns into leaves when a key is saved, so a key never silently gains
a scope that is added to a preset later.

A scope may be granted by others too (`granted_by`): when an ability is split out of a scope
(say `dataset:export` out of `version:read`), the new scope names the old one, and every key
that held the old one keeps the ability, with no data migration. Every check (`holds`,
`grant_excess`, `summary`, the usage counts) goes through `satisfying`, which names the scope
the key actually holds.
"""

import ipaddress
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Scope:
    name: str
    label: str
    description: str
    # Scopes whose holders may use this one too (a scope split out of, or renamed from, them).
    granted_by: tuple[str, ...] = ()

    @property
    def section(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def verb(self) -> str:
        """The label's verb, for summaries: "Upload images" -> "upload"."""
        return self.label.split(" ", 1)[0].lower()


SECTIONS = {
    "workspace": "Workspace",
    "project": "Projects",
    "folder": "Folders",
    "image": "Images",
    "version": "Versions",
    "model": "Models",
    "usage": "Usage",
    "api-key": "API keys",
}

SCOPES: tuple[Scope, ...] = (
    Scope("workspace:read", "Read workspace", "Workspace details, the project list and the publishable key."),
    Scope("project:create", "Create projects", "Create projects in the workspace."),
    Scope("project:read", "Read projects", "Project details and the list of its models."),
    Scope("project:update", "Update projects", "Rename, change and delete projects."),
    Scope("folder:create", "Create folders", "Create project folders."),
    Scope("folder:read", "Read folders", "List folders and the projects in them."),
    Scope("folder:update", "Update folders", "Rename folders and move projects in and out."),
    Scope("folder:delete", "Delete folders", "Delete folders (their projects stay)."),
    Scope("image:create", "Upload images", "Upload images to projects."),
    Scope("image:read", "Read images", "Image details, search and download."),
    Scope("image:tag", "Tag images", "Add and remove image tags and metadata."),
    Scope("image:annotate", "Annotate images", "Save annotations."),
    Scope("image:delete", "Delete images", "Remove images from projects."),
    Scope("version:create", "Create versions", "Generate dataset versions."),
    Scope("version:read", "Read versions", "Dataset version details."),
    Scope("version:update", "Update versions", "Change and delete dataset versions."),
    Scope("model:deploy", "Deploy models", "Upload model weights."),
    Scope("model:manage", "Manage models", "Change and delete models."),
    Scope("usage:read", "Read usage", "The workspace's usage report: API calls per key and day."),
    Scope("api-key:read", "Read API keys", "List and read the workspace's API keys (never their secrets)."),
    Scope("api-key:create", "Create API keys", "Create API keys, never with more than the caller holds."),
    Scope("api-key:update", "Update API keys", "Rename keys, change scopes, folders, metadata; disable and enable."),
    Scope("api-key:revoke", "Revoke API keys", "Revoke keys for good."),
)

SCOPE_NAMES: tuple[str, ...] = tuple(scope.name for scope in SCOPES)
BY_NAME = {scope.name: scope for scope in SCOPES}
SECTION_SCOPES = tuple(
    (section, label, tuple(s for s in SCOPES if s.section == section)) for section, label in SECTIONS.items()
)
assert {scope.section for scope in SCOPES} == set(SECTIONS), "every scope belongs to a declared section"

# For each scope that others grant too, those others.
GRANTED_BY: dict[str, tuple[str, ...]] = {scope.name: scope.granted_by for scope in SCOPES if scope.granted_by}
assert not set(GRANTED_BY) & {g for names in GRANTED_BY.values() for g in names}, "no chains of grants"

API_KEY_SCOPES = tuple(name for name in SCOPE_NAMES if name.startswith("api-key:"))

PRESETS: dict[str, tuple[str, ...]] = {
    "role:read-only": tuple(n for n in SCOPE_NAMES if n.endswith(":read") and n != "api-key:read"),
    # The SDK's first call, Roboflow(key).workspace(), reads the workspace: presets that work
    # on workspace data include workspace:read (SPEC 4).
    "role:uploader": ("workspace:read", "project:read", "image:create", "image:read"),
    "role:labeler": ("workspace:read", "project:read", "image:read", "image:tag", "image:annotate"),
    "role:developer": tuple(n for n in SCOPE_NAMES if n not in API_KEY_SCOPES),
    "role:key-admin": API_KEY_SCOPES,
}
PRESET_LABELS = {
    "role:read-only": "Read-only",
    "role:uploader": "Uploader",
    "role:labeler": "Labeler",
    "role:developer": "Developer",
    "role:key-admin": "Key admin",
}
assert set(PRESET_LABELS) == set(PRESETS), "every preset has a label"

# Marks an endpoint that any valid key may call (only `GET /` and `POST /`).
ANY_KEY = "*"


class UnknownScope(ValueError):
    def __init__(self, names: list[str]):
        self.names = names
        listed = ", ".join(repr(n) for n in names)
        super().__init__(
            f"Unknown scope{'s' if len(names) > 1 else ''} {listed}. Use scopes such as 'image:read', "
            f"a section such as 'image', or a preset: {', '.join(PRESETS)}."
        )


def expand(requested: Iterable[str]) -> list[str]:
    """Leaf scopes for a list of scopes, section names and presets, in registry order.

    Raises UnknownScope naming every word it does not know.
    """
    leaves: set[str] = set()
    unknown: list[str] = []
    for word in requested:
        if not isinstance(word, str):
            unknown.append(str(word))
        elif word in BY_NAME:
            leaves.add(word)
        elif word in PRESETS:
            leaves.update(PRESETS[word])
        elif word in SECTIONS:
            leaves.update(n for n in SCOPE_NAMES if n.startswith(word + ":"))
        else:
            unknown.append(word)
    if unknown:
        raise UnknownScope(unknown)
    return [name for name in SCOPE_NAMES if name in leaves]


def sections() -> tuple[tuple[str, str, tuple[Scope, ...]], ...]:
    """(section, its label, its scopes) in registry order: the edit modal's groups."""
    return SECTION_SCOPES


def summary(scopes: Collection[str] | None) -> str:
    """What a key may do, in a line: "Full access", "No abilities" or
    "Images: upload, read · Projects: read" (a whole section reads "all")."""
    if scopes is None:
        return "Full access"
    parts = []
    for _, label, members in sections():
        held = [s for s in members if holds(scopes, s.name)]
        if held:
            whole = len(held) == len(members) > 1
            parts.append(f"{label}: {'all' if whole else ', '.join(s.verb for s in held)}")
    return " · ".join(parts) or "No abilities"


def satisfying(key_scopes: Collection[str] | None, scope: str) -> str | None:
    """The scope by which a key with `key_scopes` (None = full access) may use `scope`: the
    scope itself when the key holds it (or holds everything), else the first held scope that
    grants it; None when the key may not use it."""
    if scope == ANY_KEY or key_scopes is None or scope in key_scopes:
        return scope
    return next((held for held in GRANTED_BY.get(scope, ()) if held in key_scopes), None)


def holds(key_scopes: Collection[str] | None, scope: str) -> bool:
    """Whether a key with `key_scopes` (None = full access) may use `scope`."""
    return satisfying(key_scopes, scope) is not None


def grant_excess(
    *,
    grantor_scopes: list[str] | None,
    grantor_folders: Collection[int] | None,
    scopes: list[str] | None,
    folders: Collection[int] | None,
) -> str | None:
    """Why a grant exceeds its grantor, or None when it does not.

    The privilege-subset rule: a key may hand out only what it holds.
    - Scopes: None (full access) only from a full-access grantor; else every requested scope
      must be one the grantor holds (a full-access grantor holds them all).
    - Folders: None means workspace-wide. A workspace-wide grant needs a workspace-wide
      grantor; a folder-limited grant needs folders that the grantor's limit covers.
    """
    if grantor_scopes is not None:
        if scopes is None:
            return "Only a full-access key can grant full access."
        missing = [s for s in scopes if not holds(grantor_scopes, s)]
        if missing:
            return f"The calling key does not hold {', '.join(missing)}, so it cannot grant {'them' if len(missing) > 1 else 'it'}."
    if grantor_folders is not None:
        if folders is None:
            return "The calling key is limited to some folders, so it cannot grant workspace-wide access."
        outside = sorted(set(folders) - set(grantor_folders))
        if outside:
            return f"The calling key is not allowed in folder{'s' if len(outside) > 1 else ''} {', '.join(map(str, outside))}."
    return None


IPS_EXCEEDED = (
    "The calling key is limited to some IP addresses, so it can only grant addresses inside its own allowlist."
)
EXPIRY_EXCEEDED = "The calling key expires, so it can only grant keys that expire no later than it does."


@dataclass(frozen=True)
class Reach:
    """Everything a key can reach: scopes (None = all), folders (None = workspace-wide), the
    addresses it may be used from (empty = any) and when it stops working (None = never)."""

    scopes: list[str] | None
    folders: Collection[int] | None
    ips: list[str] = field(default_factory=list)
    expires: datetime | None = None


def reach_excess(grantor: Reach, grant: Reach) -> str | None:
    """Why `grant` reaches further than `grantor` in any dimension, or None when it does not.

    The privilege-subset rule in full: scopes and folders as `grant_excess`; an IP allowlist
    inside the grantor's (no allowlist, any address, only from a grantor without one); an
    expiry no later than the grantor's (never expiring only from a grantor that never expires).
    """
    problem = grant_excess(
        grantor_scopes=grantor.scopes, grantor_folders=grantor.folders, scopes=grant.scopes, folders=grant.folders
    )
    if problem:
        return problem
    if grantor.ips:
        own = [ipaddress.ip_network(n) for n in grantor.ips]
        nets = [ipaddress.ip_network(n) for n in grant.ips]
        if not nets or not all(any(n.version == o.version and n.subnet_of(o) for o in own) for n in nets):  # type: ignore[arg-type]
            return IPS_EXCEEDED
    if grantor.expires is not None and (grant.expires is None or grant.expires > grantor.expires):
        return EXPIRY_EXCEEDED
    return None
