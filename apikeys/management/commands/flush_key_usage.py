"""`manage.py flush_key_usage`: move the API keys' usage counts from the shared cache to the
database (`KeyUsage`). For cron, every five minutes:
`*/5 * * * * cd /srv/app && .venv/bin/python manage.py flush_key_usage`. Reads of usage flush
first anyway; this bounds what a lost cache can take with it to one interval."""

from django.core.management.base import BaseCommand

from apikeys import usage


class Command(BaseCommand):
    help = "Move the API keys' usage counts from the shared cache to the database."

    def handle(self, *args, **options):
        moved = usage.flush()
        self.stdout.write(f"Flushed {moved} request{'' if moved == 1 else 's'} of key usage.")
