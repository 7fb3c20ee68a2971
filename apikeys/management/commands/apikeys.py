"""`manage.py apikeys`: an operator's tools for the keys of any workspace, on the shell.

Every change goes through `apikeys.services` as `Actor.operator()`, so the plan, protection
and state rules are the API's and the audit log names the OS user. Arguments are validated as
the API validates its bodies (the same serializer for names and scopes). A secret is printed
once, when a key is created or rolled, and never read back. Errors are one line and a non-zero
exit code, never a traceback. Runs without stdin: nothing asks for confirmation.

    manage.py apikeys list --workspace acme [--state active|disabled|expired|revoked|rolled|all] [--json]
    manage.py apikeys show <keyId> [--json]
    manage.py apikeys create --workspace acme --name "CI uploader" --scope role:uploader [--json]
    manage.py apikeys roll <keyId> [--grace 24h] [--json]
    manage.py apikeys disable|enable|revoke <keyId>
    manage.py apikeys report-leak <whole key> --source <where it was found>
    manage.py apikeys suggest --workspace acme [--json]
    manage.py apikeys policy acme [--show] [--[no-]require-expiry] [--max-lifetime-days N]
        [--no-full-access | --allow-full-access] [--scope-ceiling S ...] [--[no-]require-folders]
        [--require-ip-allowlist all|write|none] [--no-key-management | --allow-key-management]
        [--creators owners|managers|members-request] [--json]
"""

import json
import re
from argparse import BooleanOptionalAction
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apikeys import keyformat, policy, scopes, services, usage
from apikeys.api import Minted
from apikeys.models import ApiKey, AuditEvent, KeyState
from apikeys.serializers import ApiKeyCreateSerializer, CreatedKeyResponse, RolledKeyResponse, key_objects
from apikeys.spec import KEY_FIELDS, KeyField, KeySpec, Kind
from core.errors import ServiceError
from core.fields import CONTROL_CHARACTERS, iso
from workspaces.actors import Actor
from workspaces.models import Membership, Workspace

STATES = [*KeyState.values, "all"]
EVENTS_SHOWN = 10
SOURCE_MAX = 2000
DURATION = re.compile(r"(?P<number>[0-9]{1,9})(?P<unit>[smhd])")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# The API's body fields, as this command's options, for its error messages.
OPTIONS = {"name": "--name", "scopes": "--scope"}

KEY_HANDLE = "A key is named by its keyId (12 lowercase letters and digits) or its prefix sak_<keyId>."
WHOLE_KEY = (
    "That looks like a whole key, secret included: name the key by its keyId or its prefix sak_<keyId>. "
    "A secret typed on a shell may be kept in its history; roll the key if it could have been seen."
)
SCOPE_OR_FULL = "Give the key's access: --scope (repeatable: scopes, sections or role:* presets) or --full-access."
SCOPE_AND_FULL = "Use --scope or --full-access, not both."
BAD_DURATION = "--grace must be a duration such as 30m, 24h or 7d, or 0 for none; got {value!r}."
FALSE_POSITIVE = "Not a key of this server (false positive): nothing done."


class Command(BaseCommand):
    help = "List, show, create, roll, disable, enable and revoke API keys, and report leaked ones, as an operator."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)

        listing = commands.add_parser("list", help="The keys of a workspace: its live keys unless --state says.")
        listing.add_argument("--workspace", required=True, help="The workspace's url.")
        listing.add_argument(
            "--state", choices=STATES, help="Only keys in this state (all: revoked and rolled ones too)."
        )
        listing.add_argument("--json", action="store_true", help="Print the API's key objects as a JSON list.")

        show = commands.add_parser("show", help="One key in detail, with its last audit events.")
        show.add_argument("key", metavar="KEYID", help="The keyId, or the prefix sak_<keyId>.")
        show.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")

        create = commands.add_parser("create", help="Create a key and print its secret, once.")
        create.add_argument("--workspace", required=True, help="The workspace's url.")
        create.add_argument("--name", required=True, help="The key's name (at most 100 characters).")
        create.add_argument(
            "--scope",
            action="append",
            default=[],
            help="A scope (image:read), a section (image) or a preset (role:uploader); repeat for more.",
        )
        create.add_argument("--full-access", action="store_true", help="Every scope, instead of --scope.")
        create.add_argument("--json", action="store_true", help="Print the API's answer to a create as JSON.")

        roll = commands.add_parser("roll", help="Give a key a new secret (printed once); the old one dies.")
        roll.add_argument("key", metavar="KEYID", help="The keyId, or the prefix sak_<keyId>.")
        roll.add_argument(
            "--grace",
            default="0",
            help="How long the old secret keeps working: 30m, 24h, 7d (at most); 0 (the default) ends it now.",
        )
        roll.add_argument("--json", action="store_true", help="Print the API's answer to a roll as JSON.")

        for action, text in (
            ("disable", "Refuse the key's secret until it is enabled again."),
            ("enable", "Accept a disabled key's secret again."),
            ("revoke", "Revoke the key for good (a rolled key in its grace period: end the grace now)."),
        ):
            sub = commands.add_parser(action, help=text)
            sub.add_argument("key", metavar="KEYID", help="The keyId, or the prefix sak_<keyId>.")

        leak = commands.add_parser(
            "report-leak", help="Report a whole key seen in public: a key of this server is disabled at once."
        )
        leak.add_argument("token", metavar="KEY", help="The whole key as it was found.")
        leak.add_argument("--source", required=True, help="Where it was found (a URL).")

        suggest = commands.add_parser(
            "suggest", help="Least privilege: the scopes each live key has not used in 30 days, and what it uses."
        )
        suggest.add_argument("--workspace", required=True, help="The workspace's url.")
        suggest.add_argument("--json", action="store_true", help="Print one JSON object per key, in a list.")

        rules = commands.add_parser(
            "policy",
            help="Show or set a workspace's key policy (what every key must meet); keys that break it are listed.",
        )
        rules.add_argument("workspace", metavar="WORKSPACE", help="The workspace's url.")
        rules.add_argument("--show", action="store_true", help="Only show the policy and the keys that break it.")
        rules.add_argument("--require-expiry", action=BooleanOptionalAction, default=None, help="Every key expires.")
        rules.add_argument(
            "--max-lifetime-days", metavar="N", help="Keys live at most N days (1 to 3650); 0: no maximum."
        )
        full = rules.add_mutually_exclusive_group()
        full.add_argument(
            "--no-full-access", dest="forbid_full_access", action="store_const", const=True,
            help="Forbid full-access keys.",
        )  # fmt: skip
        full.add_argument(
            "--allow-full-access", dest="forbid_full_access", action="store_const", const=False,
            help="Allow them again.",
        )  # fmt: skip
        rules.add_argument(
            "--scope-ceiling", metavar="S", nargs="*", default=None,
            help="Scopes, sections or presets no key may exceed; with no S, no ceiling.",
        )  # fmt: skip
        rules.add_argument(
            "--require-folders", action=BooleanOptionalAction, default=None, help="Every key is limited to folders."
        )
        rules.add_argument(
            "--require-ip-allowlist", choices=["all", "write", "none"], default=None,
            help="An IP allowlist on every key, on keys that can write, or none required.",
        )  # fmt: skip
        managing = rules.add_mutually_exclusive_group()
        managing.add_argument(
            "--no-key-management", dest="allow_key_management", action="store_const", const=False,
            help="No key holds api-key scopes.",
        )  # fmt: skip
        managing.add_argument(
            "--allow-key-management", dest="allow_key_management", action="store_const", const=True,
            help="Keys may hold api-key scopes again.",
        )  # fmt: skip
        rules.add_argument("--creators", choices=["managers", "owners", "members-request"], help="Who creates keys.")
        rules.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, subcommand: str, **options):
        getattr(self, "_" + subcommand.replace("-", "_"))(options)

    # Subcommands ------------------------------------------------------------------------

    def _policy(self, options: dict[str, Any]) -> None:
        workspace = find_workspace(options["workspace"])
        flags = {
            "require_expiry": options["require_expiry"],
            "forbid_full_access": options["forbid_full_access"],
            "require_folders": options["require_folders"],
            "allow_key_management": options["allow_key_management"],
            "creators": options["creators"],
        }
        changes: dict[str, Any] = {name: value for name, value in flags.items() if value is not None}
        if options["max_lifetime_days"] is not None:
            text = checked_text(options["max_lifetime_days"], "--max-lifetime-days")
            if not text.isascii() or not text.isdigit() or not 0 <= int(text) <= 3650:
                raise CommandError(f"--max-lifetime-days takes 1 to 3650 days, or 0 for no maximum; got {text!r}.")
            changes["max_lifetime_days"] = int(text) or None
        if options["scope_ceiling"] is not None:
            named = [checked_text(scope, "--scope-ceiling") for scope in options["scope_ceiling"]]
            changes["scope_ceiling"] = named or None
        if options["require_ip_allowlist"] is not None:
            changes["require_ip_allowlist"] = (
                "" if options["require_ip_allowlist"] == "none" else options["require_ip_allowlist"]
            )
        if options["show"] and changes:
            raise CommandError("--show only shows: leave out the rules, or --show.")
        current = services.key_policy_of(workspace)
        if changes:
            with service_errors():
                current = services.key_policy_update(workspace=workspace, actor=Actor.operator(), **changes)
        breakers = services.policy_breakers(workspace)
        if options["json"]:
            shown = {name: getattr(current, name) for name in services.POLICY_FIELDS}
            shown["breaking"] = [
                {"keyId": key.key_id, "name": key.name, "rules": [v.rule for v in broken]} for key, broken in breakers
            ]
            self.stdout.write(json.dumps(shown))
            return
        self.stdout.write(f"Key policy of {workspace.url}{' (changed)' if changes else ''}:")
        for line in policy.summary(current):
            self.stdout.write(f"  {line}")
        if not breakers:
            self.stdout.write("No live key breaks it.")
        for key, broken in breakers:
            self.stdout.write(f"Breaks it: {label(key)}: {' '.join(str(v) for v in broken)}")

    def _suggest(self, options: dict[str, Any]) -> None:
        """What each live key used in the last 30 days and what it holds but did not use:
        narrowing is a `PATCH` of its scopes (or *Narrow to what it uses* on the settings page)."""
        workspace = find_workspace(options["workspace"])
        now = timezone.now()
        usage.flush()
        keys = list(ApiKey.objects.filter(workspace=workspace).live().order_by("created", "id"))
        summaries = usage.summaries([key.pk for key in keys], now, workspace=workspace)
        found = []
        for key in keys:
            used = (summaries.get(key.pk) or usage.empty(now)).used()
            unused = usage.unused_scopes(scopes=key.scopes, usage_since=key.usage_since, used=used, now=now)
            found.append(
                {
                    "keyId": key.key_id,
                    "prefix": key.prefix,
                    "name": key.name,
                    "fullAccess": key.scopes is None,
                    "usedScopes": [scope for scope in scopes.SCOPE_NAMES if scope in used],
                    "unusedScopes": unused,
                    "narrowTo": usage.narrowed(key.scopes, used) if unused else None,
                    "countedSince": iso(key.usage_since),
                }
            )
        if options["json"]:
            self.stdout.write(json.dumps(found, indent=2))
            return
        narrowable = 0
        for item in found:
            label = f"{item['prefix']}  {item['name']}"
            if item["unusedScopes"] is None:
                self.stdout.write(f"{label}: too new to tell (usage counted since {item['countedSince'][:10]}).")
            elif not item["unusedScopes"]:
                self.stdout.write(f"{label}: used every scope it holds.")
            else:
                narrowable += 1
                kept = ", ".join(item["narrowTo"]) or "nothing"
                if item["fullAccess"]:
                    self.stdout.write(f"{label}: full access, but used only: {kept}. Scope it to those.")
                else:
                    listed = ", ".join(item["unusedScopes"])
                    self.stdout.write(f"{label}: unused for 30 days: {listed}. Narrow it to: {kept}.")
        self.stdout.write(f"{narrowable} of {len(found)} live key{'s' if len(found) != 1 else ''} could be narrowed.")

    def _list(self, options: dict[str, Any]) -> None:
        workspace = find_workspace(options["workspace"])
        keys = ApiKey.objects.filter(workspace=workspace)
        now = timezone.now()
        state = options["state"]
        if state is None:
            keys = keys.live()  # as the API lists them with includeDisabled
        elif state != "all":
            keys = keys.in_state(KeyState(state), now)
        objects = key_objects(keys, workspace=workspace, include_folders=False)
        if options["json"]:
            self.stdout.write(json.dumps(objects, indent=2))
            return
        if not objects:
            which = "live" if state is None else "" if state == "all" else state
            self.stdout.write(f"No {which + ' ' if which else ''}keys in workspace {workspace.url}.")
            return
        table = [["KEY ID", "PREFIX", "NAME", "STATE", "ACCESS", "LAST USED"]]
        for item in objects:
            table.append(
                [
                    item["keyId"],
                    item["prefix"],
                    plain(item["name"]),
                    item["state"],
                    scopes.summary(item["scopes"]),
                    when(item["lastUsedAt"]),
                ]
            )
        widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
        for row in table:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    def _show(self, options: dict[str, Any]) -> None:
        key = find_key(options["key"])
        workspace = key.workspace
        [item] = key_objects(ApiKey.objects.filter(pk=key.pk), workspace=workspace, include_folders=True)
        members = set(Membership.objects.filter(workspace=workspace).values_list("user_id", flat=True))
        owners: list[dict[str, Any]] = [
            {"id": str(user.pk), "username": user.get_username(), "email": user.email, "member": user.pk in members}
            for user in key.owners.order_by("pk")
        ]
        replacement = ApiKey.objects.filter(rolled_from=key).values_list("key_id", flat=True).first()
        events: list[dict[str, Any]] = [
            {"action": event.action, "actor": event.actor_label, "created": iso(event.created)}
            for event in AuditEvent.objects.filter(api_key=key)[:EVENTS_SHOWN]
        ]
        if options["json"]:
            detail = {
                "apiKey": item,
                "workspace": {"url": workspace.url, "name": workspace.name, "plan": workspace.plan},
                "owners": owners,
                "rolledAt": iso(key.rolled_at),
                "graceUntil": iso(key.grace_until),
                "replacedBy": replacement,
                "revokedAt": iso(key.revoked_at),
                "auditEvents": events,
            }
            self.stdout.write(json.dumps(detail, indent=2))
            return
        last_used = when(item["lastUsedAt"])
        if key.last_used_ip:
            last_used += f" from {key.last_used_ip}"
        if key.last_used_user_agent:
            last_used += f" ({plain(key.last_used_user_agent)})"
        spec = KeySpec.of(key)
        shown = {
            Kind.SCOPES: "all (full access)" if key.scopes is None else ", ".join(key.scopes) or "none",
            Kind.FOLDERS: (
                (", ".join(f"{plain(f['name'])} (#{f['id']})" for f in item["folders"]) or "none: it sees no project")
                if key.folders_limited
                else "workspace-wide"
            ),
            Kind.METADATA: plain(json.dumps(key.custom_metadata, ensure_ascii=False))
            if key.custom_metadata
            else "none",
            Kind.MEMBERS: ", ".join(
                f"{plain(o['username'])} (#{o['id']}{'' if o['member'] else ', no longer a member'})" for o in owners
            )
            or "none (rotation reminders go to the workspace's owners and admins)",
            Kind.NETWORKS: ", ".join(key.allowed_ips) or "any",
        }
        lines = [
            ("Name", plain(key.name)),
            ("Key id", f"{key.key_id} (prefix {key.prefix})"),
            ("Workspace", f"{workspace.url} ({plain(workspace.name)}, {workspace.get_plan_display()})"),
            ("State", item["state"]),
            ("Access", scopes.summary(key.scopes)),
            *(
                (f.title, shown[f.kind] if f.kind in shown else text_of(f, getattr(spec, f.name)))
                for f in KEY_FIELDS
                if f.name != "name"  # first, above
            ),
            ("Created", when(item["created_on"]) + (f" by {plain(item['created_by'])}" if item["created_by"] else "")),
            ("Last used", last_used),
        ]
        if item["rolledFrom"]:
            lines.append(("Rolled from", keyformat.display_prefix(item["rolledFrom"])))
        if key.rolled_at is not None:
            grace = f"; its old secret works until {when(iso(key.grace_until))}" if key.in_grace() else ""
            rolled = when(iso(key.rolled_at))
            into = f" into {keyformat.display_prefix(replacement)}" if replacement else ""
            lines.append(("Rolled", f"{rolled}{into}{grace}"))
        if key.revoked_at is not None:
            lines.append(("Revoked", when(iso(key.revoked_at))))
        width = max(len(title) for title, _ in lines) + 1
        for title, value in lines:
            self.stdout.write(f"{title + ':':<{width}} {value}")
        self.stdout.write(f"Last {EVENTS_SHOWN} audit events:" if events else "No audit events.")
        for event in events:
            self.stdout.write(f"  {when(event['created'])}  {event['action']:<9}  {plain(event['actor'])}")

    def _create(self, options: dict[str, Any]) -> None:
        workspace = find_workspace(options["workspace"])
        words, full_access = options["scope"], options["full_access"]
        if words and full_access:
            raise CommandError(SCOPE_AND_FULL)
        if not words and not full_access:
            raise CommandError(SCOPE_OR_FULL)
        actor = Actor.operator()
        body = {"name": options["name"], "scopes": None if full_access else words}
        serializer = ApiKeyCreateSerializer(data=body, context={"workspace": workspace, "actor": actor})
        if not serializer.is_valid():
            raise CommandError(invalid(serializer.errors))
        spec = serializer.spec(services.api_key_defaults(workspace=workspace, actor=actor))
        with service_errors():
            key, secret = services.api_key_create(workspace=workspace, actor=actor, spec=spec)
        if options["json"]:
            self.stdout.write(json.dumps(CreatedKeyResponse(minted(key, secret)).data, indent=2))
            return
        self.stdout.write(f"Created {label(key)}: {scopes.summary(key.scopes)}.")
        self.stdout.write(f"Secret (shown once): {secret}")
        self.stdout.write("Store it now: it cannot be shown again, only replaced by rolling the key.")

    def _roll(self, options: dict[str, Any]) -> None:
        key = find_key(options["key"])
        grace = duration(options["grace"])
        with service_errors():
            new, secret = services.api_key_roll(key=key, actor=Actor.operator(), grace=grace)
        key.refresh_from_db()
        if options["json"]:
            self.stdout.write(json.dumps(RolledKeyResponse(minted(new, secret, old=key)).data, indent=2))
            return
        self.stdout.write(f"Rolled {label(key)}; its replacement is {new.prefix}.")
        self.stdout.write(f"Secret (shown once): {secret}")
        if key.grace_until is not None:
            self.stdout.write(f"The old secret keeps working until {when(iso(key.grace_until))}, as the new key.")
        else:
            self.stdout.write("The old secret no longer works.")

    def _disable(self, options: dict[str, Any]) -> None:
        key = find_key(options["key"])
        was = key.disabled
        with service_errors():
            key = services.api_key_disable(key=key, actor=Actor.operator())
        if was:
            self.stdout.write(f"{label(key)}: already disabled; nothing changed.")
        else:
            self.stdout.write(f"{label(key)}: disabled; its secret is refused until it is enabled again.")

    def _enable(self, options: dict[str, Any]) -> None:
        key = find_key(options["key"])
        was = key.disabled
        with service_errors():
            key = services.api_key_enable(key=key, actor=Actor.operator())
        if not was:
            self.stdout.write(f"{label(key)}: already enabled; nothing changed.")
            return
        self.stdout.write(f"{label(key)}: enabled; its secret works again.")
        if key.state() == KeyState.EXPIRED:
            self.stdout.write("It has expired, though, so its secret is still refused.")

    def _revoke(self, options: dict[str, Any]) -> None:
        key = find_key(options["key"])
        in_grace = key.in_grace()
        with service_errors():
            key = services.api_key_revoke(key=key, actor=Actor.operator())
        if in_grace:
            self.stdout.write(f"{label(key)}: revoked; its grace period is over and its old secret no longer works.")
        else:
            self.stdout.write(f"{label(key)}: revoked for good; its secret no longer works.")

    def _report_leak(self, options: dict[str, Any]) -> None:
        from apikeys.leaks import Finding, report  # the leak handling, used only here

        token = checked_text(options["token"].strip(), "KEY")
        source = checked_text(options["source"].strip(), "--source")
        if len(source) > SOURCE_MAX:
            raise CommandError(f"--source is at most {SOURCE_MAX} characters.")
        with service_errors():
            outcomes = report([Finding(token=token, url=source, source="operator")], Actor.operator())
        found = [(outcome.key, outcome.action) for outcome in outcomes if outcome.label == "true_positive"]
        for key, action in found:
            if key is not None:
                self.stdout.write(f"{label(key)}: {action}")
        if not found:
            raise CommandError(FALSE_POSITIVE)


# Arguments ------------------------------------------------------------------------------


def checked_text(value: str, option: str) -> str:
    """No argument needs control characters (NUL included) or lone surrogates (bytes that are
    not UTF-8); they would only corrupt a query or the output."""
    if CONTROL_CHARACTERS.search(value) or any("\ud800" <= c <= "\udfff" for c in value):
        raise CommandError(f"{option} may not contain control characters or bytes that are not UTF-8.")
    return value


def find_workspace(url: str) -> Workspace:
    checked_text(url, "--workspace")
    workspace = Workspace.objects.filter(url=url).first()
    if workspace is None:
        raise CommandError(f"No workspace with the url {url!r}.")
    return workspace


def find_key(handle: str) -> ApiKey:
    """The key named by its keyId or its prefix `sak_<keyId>`, in any workspace. A whole key
    is refused without being echoed."""
    checked_text(handle, "KEYID")
    if handle.startswith(keyformat.PREFIX) and len(handle) > len(keyformat.PREFIX) + keyformat.KEY_ID_LENGTH:
        raise CommandError(WHOLE_KEY)
    key_id = handle.removeprefix(keyformat.PREFIX)
    if not keyformat.KEY_ID_PATTERN.fullmatch(key_id):
        raise CommandError(KEY_HANDLE)
    key = ApiKey.objects.select_related("workspace").filter(key_id=key_id).first()
    if key is None:
        raise CommandError(f"No API key {key_id!r}.")
    return key


def duration(text: str) -> timedelta:
    """`30m`, `24h`, `7d`, `90s` or `0`. The services refuse more than 7 days."""
    checked_text(text, "--grace")
    if text == "0":
        return timedelta(0)
    match = DURATION.fullmatch(text)
    if match is None:
        raise CommandError(BAD_DURATION.format(value=text))
    return timedelta(**{UNITS[match["unit"]]: int(match["number"])})  # 9 digits: never an overflow


def invalid(errors: Any) -> str:
    """A serializer's errors as one line, naming this command's options."""
    return " ".join(
        f"{OPTIONS.get(field, field)}: {message}"
        for field, problems in errors.items()
        for message in messages(problems)
    )


def messages(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in messages(value)]
    if isinstance(detail, list):
        return [message for value in detail for message in messages(value)]
    return [str(detail)]


@contextmanager
def service_errors() -> Iterator[None]:
    """A refusal of the services (plan, state, rules) as the command's error: its message."""
    try:
        yield
    except ServiceError as exc:
        raise CommandError(exc.message) from None


# Output ---------------------------------------------------------------------------------


def minted(key: ApiKey, secret: str, old: ApiKey | None = None) -> Minted:
    """A new key as the API's create and roll answers render it."""
    [row] = ApiKey.objects.filter(pk=key.pk).rows()
    return Minted(ApiKey.objects.select_related("workspace").get(pk=key.pk), row, secret, old)


def label(key: ApiKey) -> str:
    return f"{key.prefix} ({plain(key.name)}, workspace {key.workspace.url})"


def plain(text: str) -> str:
    """Text from the database, safe for a terminal: no control characters (escape sequences)."""
    return CONTROL_CHARACTERS.sub("?", text)


def when(moment: str | None, never: str = "never") -> str:
    """An API date (ISO, UTC) to the minute, for tables."""
    if moment is None:
        return never
    return datetime.fromisoformat(moment).strftime("%Y-%m-%d %H:%M UTC")


def text_of(declared: KeyField, value: Any) -> str:
    """A plain key field's value, as `show` prints it."""
    if declared.kind == Kind.FLAG:
        return yes_no(value)
    if declared.kind == Kind.DATE:
        return when(iso(value), never=declared.none)
    return plain(value) if value else declared.none


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"
