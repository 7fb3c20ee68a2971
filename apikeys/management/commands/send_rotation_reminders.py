"""`manage.py send_rotation_reminders`: mail the owners of keys whose rotation date is within
14 days or past (see `apikeys.reminders`). For cron, e.g. daily:
`7 8 * * * cd /srv/app && .venv/bin/python manage.py send_rotation_reminders`. Running it
again sends nothing new; a mail that failed goes on the next run (and the exit code is 1)."""

from django.core.management.base import BaseCommand, CommandError

from apikeys.reminders import DUE_SOON, OVERDUE, send_rotation_reminders


class Command(BaseCommand):
    help = "Mail rotation reminders for keys due within 14 days (once) and overdue keys (once more)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List the reminders due; send and record nothing.")

    def handle(self, *args, dry_run: bool = False, **options):
        run = send_rotation_reminders(dry_run=dry_run)
        verb = "Would send" if dry_run else "Sent"
        for reminder in run.sent:
            key = reminder.key
            what = "overdue" if reminder.kind == OVERDUE else "due soon"
            self.stdout.write(f"{verb} {key.prefix} ({key.workspace.url}, {what}) to {', '.join(reminder.recipients)}")
        for key in run.unreachable:
            self.stderr.write(
                f"Nobody to remind about {key.prefix} ({key.workspace.url}): "
                "no owner or admin of the workspace has an email address."
            )
        count = len(run.sent)
        self.stdout.write(
            f"{verb} {count} reminder{'' if count == 1 else 's'} ({run.count(DUE_SOON)} due soon, "
            f"{run.count(OVERDUE)} overdue); {run.checked} key{'' if run.checked == 1 else 's'} checked."
        )
        if run.failed:
            for reminder, error in run.failed:
                self.stderr.write(f"Could not send the reminder for {reminder.key.prefix}: {error}")
            raise CommandError(f"{len(run.failed)} reminder(s) could not be sent; the next run tries them again.")
