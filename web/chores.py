"""The periodic chores, as tasks that `manage.py work` enqueues when they are due: each runs
once per period across every worker (a slot taken in the shared cache), whatever the number
of workers. The same chores stay management commands, for cron or by hand."""

import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.core.management import call_command
from django.tasks import task
from django.tasks.base import Task
from django.utils import timezone

from apikeys import usage
from apikeys.models import KeyPolicy
from apikeys.reminders import send_rotation_reminders
from apikeys.services import key_policy_enforce
from workspaces.actors import Actor
from workspaces.services import trash_purge

logger = logging.getLogger(__name__)


@task
def flush_key_usage() -> int:
    """Move the keys' usage counts from the shared cache to the database."""
    return usage.flush()


@task
def remind_rotations() -> int:
    """Mail the rotation reminders that are due (each once)."""
    return len(send_rotation_reminders(dry_run=False).sent)


@task
def purge_trash() -> int:
    """Delete for good what has been in the trash past its retention."""
    return len(trash_purge(actor=Actor.operator(), dry_run=False))


@task
def enforce_key_policies() -> int:
    """Disable the keys that still break their workspace's key policy past its enforcement date."""
    due = KeyPolicy.objects.filter(enforce_from__lte=timezone.now().date()).select_related("workspace")
    return sum(len(key_policy_enforce(workspace=rules.workspace)) for rules in due)


@task
def prune_task_results() -> None:
    """Delete the records of tasks finished more than 14 days ago (django-tasks-db's command)."""
    call_command("prune_db_task_results", "--min-age-days", "14", verbosity=0)


@dataclass(frozen=True)
class Chore:
    task: Task
    every: int  # seconds

    @property
    def name(self) -> str:
        return self.task.name


CHORES = (
    Chore(flush_key_usage, every=5 * 60),
    Chore(remind_rotations, every=24 * 60 * 60),
    Chore(purge_trash, every=24 * 60 * 60),
    Chore(prune_task_results, every=24 * 60 * 60),
    Chore(enforce_key_policies, every=5 * 60),
)


def enqueue_due() -> list[str]:
    """Enqueue the chores whose period began since one was last enqueued by any worker."""
    now = timezone.now().timestamp()
    enqueued = []
    for chore in CHORES:
        slot = int(now // chore.every)
        if cache.add(f"chore:{chore.name}:{slot}", 1, timeout=chore.every * 2):
            chore.task.enqueue()
            enqueued.append(chore.name)
    return enqueued
