"""The workspace's key policy as rules: which rules a key (a `KeySpec`) breaks, by name. Pure:
the services enforce it on every create, update, roll and enable (`apikeys.services`), the pages
list the keys that break it, and the API, the pages and the shell all name a broken rule the
same way (`policy_violation`, with the rule's name).

Rules, by name:
- `require_expiry`: every key has an expiry.
- `max_lifetime`: no key lives longer than N days from when it is created or rolled; an
  existing key's expiry is never pushed past N days from now.
- `no_full_access`: every key is scoped.
- `scope_ceiling`: no key holds a scope outside the ceiling.
- `require_folders`: every key is limited to folders.
- `require_ip_allowlist`: every key (`all`), or every key holding a write scope (`write`), has
  an IP allowlist.
- `no_key_management`: no key holds an `api-key:*` scope.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import KeyPolicy
from .scopes import SCOPE_NAMES
from .spec import KeySpec

RULES = (
    "require_expiry", "max_lifetime", "no_full_access", "scope_ceiling", "require_folders",
    "require_ip_allowlist", "no_key_management",
)  # fmt: skip
KEY_MANAGEMENT = tuple(s for s in SCOPE_NAMES if s.startswith("api-key:"))


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


def holds(spec: KeySpec) -> set[str]:
    return set(SCOPE_NAMES if spec.scopes is None else spec.scopes)


def writes(spec: KeySpec) -> bool:
    return any(not scope.endswith(":read") for scope in holds(spec))


def violations(policy: KeyPolicy | None, spec: KeySpec, *, now: datetime) -> list[Violation]:
    """The rules of `policy` that a key made as `spec` now breaks, in RULES order."""
    if policy is None:
        return []
    found = []
    if policy.require_expiry and spec.expires_at is None:
        found.append(Violation("require_expiry", "The workspace's policy requires every key to expire."))
    if policy.max_lifetime_days is not None:
        latest = now + timedelta(days=policy.max_lifetime_days)
        if spec.expires_at is None or spec.expires_at > latest:
            found.append(
                Violation(
                    "max_lifetime",
                    f"The workspace's policy lets a key live at most {policy.max_lifetime_days} days: "
                    f"it must expire by {latest.date().isoformat()}.",
                )
            )
    if policy.forbid_full_access and spec.scopes is None:
        found.append(Violation("no_full_access", "The workspace's policy forbids full-access keys: choose scopes."))
    if policy.scope_ceiling is not None and (beyond := sorted(holds(spec) - set(policy.scope_ceiling))):
        shown = ", ".join(beyond[:5]) + (f" and {len(beyond) - 5} more" if len(beyond) > 5 else "")
        found.append(Violation("scope_ceiling", f"The workspace's policy allows no key the scopes {shown}."))
    if policy.require_folders and spec.folders is None:
        found.append(
            Violation("require_folders", "The workspace's policy requires every key to be limited to folders.")
        )
    ips = policy.require_ip_allowlist
    if ips and not spec.allowed_ips and (ips == KeyPolicy.IPS_ALL or writes(spec)):
        which = "every key" if ips == KeyPolicy.IPS_ALL else "every key that can write"
        found.append(Violation("require_ip_allowlist", f"The workspace's policy requires an IP allowlist on {which}."))
    if not policy.allow_key_management and holds(spec) & set(KEY_MANAGEMENT):
        found.append(Violation("no_key_management", "The workspace's policy allows no key to hold api-key scopes."))
    return found


def summary(policy: KeyPolicy | None) -> list[str]:
    """The policy's rules in words, one line each (empty: keys are limited by their scopes alone)."""
    if policy is None:
        return []
    lines = []
    if policy.max_lifetime_days is not None:
        lines.append(f"Keys expire within {policy.max_lifetime_days} days of being created or rolled.")
    elif policy.require_expiry:
        lines.append("Every key has an expiry date.")
    if policy.forbid_full_access:
        lines.append("No full-access keys.")
    if policy.scope_ceiling is not None:
        lines.append(f"Scopes only among: {', '.join(policy.scope_ceiling) or 'none'}.")
    if policy.require_folders:
        lines.append("Every key is limited to folders.")
    if policy.require_ip_allowlist:
        lines.append(
            "Every key has an IP allowlist."
            if policy.require_ip_allowlist == KeyPolicy.IPS_ALL
            else "Every key that can write has an IP allowlist."
        )
    if not policy.allow_key_management:
        lines.append("No key manages keys (no api-key scopes).")
    lines.append(
        {
            KeyPolicy.CREATORS_MANAGERS: "Owners and admins create keys.",
            KeyPolicy.CREATORS_OWNERS: "Only owners create keys.",
            KeyPolicy.CREATORS_REQUEST: "Owners and admins create keys; members may request one.",
        }[policy.creators]
    )
    return lines
