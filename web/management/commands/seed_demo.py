import json

from django.core.management.base import BaseCommand

from web.demo import seed_demo


class Command(BaseCommand):
    help = (
        "Create or refresh the demo users, workspaces, projects, images, versions and models. "
        "Existing demo keys are kept (their secrets cannot be shown again); --new-keys rolls them "
        "and prints the new secrets."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
        parser.add_argument(
            "--new-keys", action="store_true", help="Roll each demo workspace's default key and print the new secret."
        )

    def handle(self, *args, **options):
        result = seed_demo(new_keys=options["new_keys"])
        if options["json"]:
            data = {"users": result.users, "operators": result.operators, "workspaces": result.workspaces}
            self.stdout.write(json.dumps(data))
            return
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))
        for workspace in result.workspaces:
            if workspace["apiKey"]:
                key = f"full-access API key: {workspace['apiKey']}"
            else:
                key = (
                    f"full-access API key {workspace['apiKeyPrefix']}_... kept as it was (its secret was "
                    "printed when it was made; seed_demo --new-keys rolls it and prints a new one)"
                )
            self.stdout.write(f"  workspace {workspace['url']} ({workspace['plan']}), {key}")
        for user in result.users:
            self.stdout.write(f"  {user['email']} / {user['password']}  ({user['role']} of {user['workspace']})")
        for operator in result.operators:
            self.stdout.write(f"  {operator['email']} / {operator['password']}  (operator: {operator['admin']})")
