"""`manage.py purge_trash`: delete for good, with their files, the projects that have been in
the trash for longer than its retention (30 days). For cron, e.g. daily:
`17 3 * * * cd /srv/app && .venv/bin/python manage.py purge_trash`."""

from django.core.management.base import BaseCommand

from workspaces.actors import Actor
from workspaces.models import TRASH_RETENTION
from workspaces.services import trash_purge


class Command(BaseCommand):
    help = f"Delete for good the projects in the trash for longer than {TRASH_RETENTION.days} days."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what is due, delete nothing.")

    def handle(self, *args, dry_run: bool = False, **options):
        purged = trash_purge(actor=Actor.operator(), dry_run=dry_run)
        verb = "Would purge" if dry_run else "Purged"
        for name in purged:
            self.stdout.write(f"{verb} {name}")
        self.stdout.write(f"{verb} {len(purged)} project{'' if len(purged) == 1 else 's'} from the trash.")
