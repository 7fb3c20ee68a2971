import json

from django.core.management.base import BaseCommand

from workspaces.demo import seed_demo


class Command(BaseCommand):
    help = "Create or refresh the demo users, workspaces, projects, images, versions and models."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")

    def handle(self, *args, **options):
        result = seed_demo()
        if options["json"]:
            self.stdout.write(json.dumps({"users": result.users, "workspaces": result.workspaces}))
            return
        self.stdout.write(
            self.style.SUCCESS("Demo data is ready. Each run rolls the demo keys: earlier ones stop working.")
        )
        for workspace in result.workspaces:
            self.stdout.write(
                f"  workspace {workspace['url']} ({workspace['plan']}), full-access API key: {workspace['apiKey']}"
            )
        for user in result.users:
            self.stdout.write(f"  {user['email']} / {user['password']}  ({user['role']} of {user['workspace']})")
