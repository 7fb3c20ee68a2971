"""Rotation reminders: a mail to a key's owners when its rotation date is near (`soon`: within
14 days) and again once it has passed (`overdue`). `manage.py send_rotation_reminders` runs
it, from cron.

Each reminder is sent once per rotation date: it is claimed with one conditional UPDATE of
the key (`rotation_reminded_for`, `rotation_reminder`) before the mail goes, so two runs at
once never both send it; a new rotation date starts over. A mail that fails to go is
released again, for the next run.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.fields import CONTROL_CHARACTERS
from workspaces.models import MANAGER_ROLES

from .models import ApiKey

SOON = timedelta(days=14)
# The reminders a key may have had for its rotation date, and those that make each one moot.
DUE_SOON, OVERDUE = "soon", "overdue"
COVERS = {DUE_SOON: (DUE_SOON, OVERDUE), OVERDUE: (OVERDUE,)}
TEMPLATE = "apikeys/email/rotation.txt"


@dataclass(frozen=True)
class Reminder:
    key: ApiKey
    kind: str  # DUE_SOON or OVERDUE
    recipients: tuple[str, ...]
    to_owners: bool  # False: the key has no owner to remind, so the workspace's managers are


@dataclass
class Run:
    """What a run did (or, dry, would do)."""

    checked: int = 0
    sent: list[Reminder] = field(default_factory=list)
    unreachable: list[ApiKey] = field(default_factory=list)  # due, but nobody to mail
    failed: list[tuple[Reminder, str]] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for reminder in self.sent if reminder.kind == kind)


def send_rotation_reminders(*, dry_run: bool = False, now: datetime | None = None) -> Run:
    """Remind about every live, unexpired key whose rotation date is within 14 days or past,
    unless that reminder was sent for this date already."""
    now = now or timezone.now()
    keys = (
        ApiKey.objects.live()
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), rotation_due_at__isnull=False)
        .select_related("workspace")
        .order_by("rotation_due_at", "pk")
    )
    run = Run(checked=keys.count())
    for key in keys.filter(rotation_due_at__lte=now + SOON):
        assert key.rotation_due_at is not None  # for mypy: filtered above
        kind = OVERDUE if key.rotation_due_at <= now else DUE_SOON
        if key.rotation_reminded_for == key.rotation_due_at and key.rotation_reminder in COVERS[kind]:
            continue  # sent for this date already
        to_owners, recipients = recipients_of(key)
        if not recipients:
            run.unreachable.append(key)
            continue
        reminder = Reminder(key=key, kind=kind, recipients=recipients, to_owners=to_owners)
        if dry_run:
            run.sent.append(reminder)
        elif claim(key, kind, now):
            try:
                message(reminder).send()
            except Exception as exc:  # whatever the mail backend raises: release it, go on with the others
                release(key, kind)
                run.failed.append((reminder, f"{type(exc).__name__}: {exc}"))
            else:
                run.sent.append(reminder)
    return run


def claim(key: ApiKey, kind: str, now: datetime) -> bool:
    """Record the reminder, unless it is moot by now: another run sent it, the date changed,
    the key died. True when this run is the one to send it."""
    claimed = (
        ApiKey.objects.live()
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), pk=key.pk, rotation_due_at=key.rotation_due_at)
        .exclude(rotation_reminded_for=key.rotation_due_at, rotation_reminder__in=COVERS[kind])
        .update(rotation_reminded_for=key.rotation_due_at, rotation_reminder=kind)
    )
    return claimed == 1


def release(key: ApiKey, kind: str) -> None:
    """Undo a claim whose mail did not go, so that the next run tries again."""
    ApiKey.objects.filter(pk=key.pk, rotation_reminded_for=key.rotation_due_at, rotation_reminder=kind).update(
        rotation_reminded_for=key.rotation_reminded_for, rotation_reminder=key.rotation_reminder
    )


def recipients_of(key: ApiKey) -> tuple[bool, tuple[str, ...]]:
    """The addresses to remind, and whether they are the key's owners: its owners who are still
    members of its workspace; when that leaves nobody, every owner and admin of the workspace.
    Only active users with an email address."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    owners = users.filter(owned_api_keys=key, memberships__workspace_id=key.workspace_id)
    emails = set(owners.values_list("email", flat=True))
    if emails:
        return True, tuple(sorted(emails))
    managers = users.filter(memberships__workspace_id=key.workspace_id, memberships__role__in=MANAGER_ROLES)
    return False, tuple(sorted(set(managers.values_list("email", flat=True))))


def message(reminder: Reminder) -> EmailMessage:
    """The mail: the key's name, prefix and workspace, its rotation date and how to roll it;
    never its secret (the server does not have it)."""
    key, workspace = reminder.key, reminder.key.workspace
    assert key.rotation_due_at is not None  # for mypy: only keys with a date are reminded
    due = key.rotation_due_at.astimezone(UTC).strftime("%Y-%m-%d")
    status = f"rotation overdue (was due on {due})" if reminder.kind == OVERDUE else f"rotation due on {due}"
    subject = f'[{workspace.name}] API key "{key.name}" ({key.prefix}): {status}'
    body = render_to_string(
        TEMPLATE,
        {
            "key": key,
            "workspace": workspace,
            "due": key.rotation_due_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "overdue": reminder.kind == OVERDUE,
            "to_owners": reminder.to_owners,
            "settings_url": settings.SITE_URL + reverse("apikeys:list", kwargs={"ws": workspace.url}),
        },
    )
    # A subject is one header line: no control characters (Django refuses newlines outright).
    return EmailMessage(
        subject=CONTROL_CHARACTERS.sub(" ", subject),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(reminder.recipients),
    )
