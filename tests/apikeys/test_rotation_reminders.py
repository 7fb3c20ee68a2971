"""`manage.py send_rotation_reminders`: who is reminded, when, and only once per rotation date."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.mail.message import EmailMessage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apikeys import reminders, services
from apikeys.models import ApiKey
from tests.factories import MembershipFactory, UserFactory
from tests.keys import roll_key
from workspaces.models import Plan, Role

pytestmark = pytest.mark.django_db


def remind(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("send_rotation_reminders", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def due_in(key: ApiKey, delta: timedelta) -> ApiKey:
    """Set the key's rotation date (past ones too, which the API refuses) and reload it."""
    ApiKey.objects.filter(pk=key.pk).update(rotation_due_at=timezone.now() + delta)
    return ApiKey.objects.get(pk=key.pk)


@pytest.fixture
def admin(enterprise):
    user = UserFactory(email="admin@example.com")
    MembershipFactory(user=user, workspace=enterprise, role=Role.ADMIN)
    return user


@pytest.fixture
def key(enterprise, make_key, owner, admin, member):
    """A key with no owner of its own: its reminders go to the workspace's owner and admin."""
    return make_key(enterprise, name="Deploy")[0]


class TestWhen:
    def test_due_in_15_days_is_not_yet_reminded(self, key, mailoutbox):
        due_in(key, timedelta(days=15))
        assert remind().strip() == "Sent 0 reminders (0 due soon, 0 overdue); 1 key checked."
        assert mailoutbox == []
        assert ApiKey.objects.get(pk=key.pk).rotation_reminder == ""

    def test_due_in_14_days_is_reminded_once(self, key, mailoutbox):
        key = due_in(key, timedelta(days=14))
        output = remind()
        assert "Sent 1 reminder (1 due soon, 0 overdue); 1 key checked." in output
        assert f"Sent {key.prefix} (acme, due soon) to admin@example.com, owner@example.com" in output
        [mail] = mailoutbox
        day = key.rotation_due_at.strftime("%Y-%m-%d")
        assert mail.subject == f'[Acme] API key "Deploy" ({key.prefix}): rotation due on {day}'
        key.refresh_from_db()
        assert (key.rotation_reminded_for, key.rotation_reminder) == (key.rotation_due_at, "soon")
        assert "Sent 0 reminders" in remind()
        assert len(mailoutbox) == 1

    def test_overdue_is_reminded_once_more(self, key, mailoutbox):
        key = due_in(key, timedelta(days=3))
        reminders.send_rotation_reminders()
        run = reminders.send_rotation_reminders(now=key.rotation_due_at + timedelta(hours=1))
        assert [r.kind for r in run.sent] == ["overdue"]
        assert len(mailoutbox) == 2
        day = key.rotation_due_at.strftime("%Y-%m-%d")
        assert mailoutbox[1].subject.endswith(f"rotation overdue (was due on {day})")
        assert reminders.send_rotation_reminders(now=key.rotation_due_at + timedelta(days=9)).sent == []
        assert len(mailoutbox) == 2

    def test_a_key_first_seen_overdue_gets_only_the_overdue_mail(self, key, mailoutbox):
        due_in(key, -timedelta(days=2))
        assert "Sent 1 reminder (0 due soon, 1 overdue); 1 key checked." in remind()
        assert "Sent 0 reminders" in remind()
        [mail] = mailoutbox
        assert "rotation overdue" in mail.subject
        assert ApiKey.objects.get(pk=key.pk).rotation_reminder == "overdue"

    def test_a_new_rotation_date_starts_over(self, key, mailoutbox):
        due_in(key, -timedelta(days=1))
        remind()
        key = due_in(key, timedelta(days=10))  # rotated the date instead of the key, say
        assert "Sent 1 reminder (1 due soon, 0 overdue)" in remind()
        assert len(mailoutbox) == 2 and "rotation due on" in mailoutbox[1].subject
        key.refresh_from_db()
        assert (key.rotation_reminded_for, key.rotation_reminder) == (key.rotation_due_at, "soon")

    def test_a_roll_with_a_new_date_starts_over(self, key, mailoutbox):
        due_in(key, timedelta(days=1))
        remind()
        new, _ = roll_key(key=key, rotation_due_at=timezone.now() + timedelta(days=5))
        assert "Sent 1 reminder (1 due soon" in remind()
        assert new.prefix in mailoutbox[1].subject

    def test_keys_without_a_date_or_dead_ones_are_not_reminded(self, enterprise, make_key, key, mailoutbox):
        make_key(enterprise, name="No date")
        revoked = due_in(make_key(enterprise, name="Revoked")[0], timedelta(days=1))
        services.api_key_revoke(key=revoked, actor=services.Actor())
        rolled = due_in(make_key(enterprise, name="Rolled")[0], timedelta(days=1))
        roll_key(key=rolled, rotation_due_at=None)
        expired = due_in(make_key(enterprise, name="Expired")[0], -timedelta(days=1))
        ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
        assert remind().strip() == "Sent 0 reminders (0 due soon, 0 overdue); 0 keys checked."
        assert mailoutbox == []

    def test_disabled_keys_and_downgraded_workspaces_are_still_reminded(self, enterprise, key, mailoutbox):
        due_in(key, timedelta(days=1))
        ApiKey.objects.filter(pk=key.pk).update(disabled=True)
        enterprise.plan = Plan.FREE
        enterprise.save()
        assert "Sent 1 reminder" in remind()
        assert len(mailoutbox) == 1

    def test_counts_each_kind(self, enterprise, make_key, key, mailoutbox):
        due_in(key, timedelta(days=1))
        due_in(make_key(enterprise, name="Late")[0], -timedelta(days=1))
        due_in(make_key(enterprise, name="Later")[0], -timedelta(days=40))
        due_in(make_key(enterprise, name="Far")[0], timedelta(days=90))
        assert "Sent 3 reminders (1 due soon, 2 overdue); 4 keys checked." in remind()
        assert len(mailoutbox) == 3


class TestWho:
    def test_owners_who_are_still_members(self, enterprise, make_key, owner, member, admin, mailoutbox):
        gone = UserFactory(email="gone@example.com")
        MembershipFactory(user=gone, workspace=enterprise, role=Role.ADMIN)
        key, _ = make_key(enterprise, name="Owned", owners=[member, gone])
        gone.memberships.all().delete()
        due_in(key, timedelta(days=1))
        remind()
        [mail] = mailoutbox
        assert mail.to == ["member@example.com"]
        assert "as an owner of this key" in mail.body

    def test_without_owners_every_owner_and_admin_of_the_workspace(self, key, mailoutbox):
        due_in(key, timedelta(days=1))
        remind()
        [mail] = mailoutbox
        assert mail.to == ["admin@example.com", "owner@example.com"]  # not the member
        assert "as an owner or admin of the workspace acme" in mail.body

    def test_owners_all_gone_fall_back_to_the_managers(self, enterprise, make_key, owner, admin, member, mailoutbox):
        key, _ = make_key(enterprise, name="Orphan", owners=[member])
        member.memberships.all().delete()
        due_in(key, timedelta(days=1))
        remind()
        assert mailoutbox[0].to == ["admin@example.com", "owner@example.com"]

    def test_users_without_email_or_inactive_are_skipped(self, enterprise, make_key, owner, admin, mailoutbox):
        silent = UserFactory(username="silent", email="")
        MembershipFactory(user=silent, workspace=enterprise, role=Role.OWNER)
        admin.is_active = False
        admin.save()
        key, _ = make_key(enterprise, name="Quiet")
        due_in(key, timedelta(days=1))
        remind()
        assert mailoutbox[0].to == ["owner@example.com"]

    def test_nobody_to_remind_is_said_and_retried(self, enterprise, make_key, mailoutbox):
        key, _ = make_key(enterprise, name="Lonely")
        due_in(key, timedelta(days=1))
        output = remind()
        assert f"Nobody to remind about {key.prefix} (acme)" in output
        assert "Sent 0 reminders" in output
        assert ApiKey.objects.get(pk=key.pk).rotation_reminder == ""  # tried again once someone is there
        MembershipFactory(user=UserFactory(email="new@example.com"), workspace=enterprise, role=Role.OWNER)
        assert "Sent 1 reminder" in remind()


class TestMail:
    def test_names_the_key_and_how_to_roll_it_never_the_secret(self, enterprise, make_key, owner, settings, mailoutbox):
        settings.SITE_URL = "https://keys.example.com"
        key, secret = make_key(enterprise, name="Tom & <Jerry>", owners=[owner])
        key = due_in(key, timedelta(days=7))
        remind()
        [mail] = mailoutbox
        body = mail.body
        assert 'The API key "Tom & <Jerry>"' in body  # plain text: nothing HTML-escaped
        assert key.prefix in body and "Acme" in body
        assert key.rotation_due_at.strftime("%Y-%m-%d %H:%M UTC") in body
        assert "https://keys.example.com/app/acme/settings/api-keys" in body
        assert f"roboflow api-key roll {key.key_id}" in body
        assert secret not in body and secret not in mail.subject
        assert key.digest not in body
        assert mail.from_email == settings.DEFAULT_FROM_EMAIL
        assert mail.subject.startswith('[Acme] API key "Tom & <Jerry>"')

    def test_a_name_never_breaks_the_subject_line(self, key, mailoutbox):
        ApiKey.objects.filter(pk=key.pk).update(name="Evil\r\nBcc: victim@example.com")
        due_in(key, timedelta(days=1))
        remind()
        [mail] = mailoutbox
        assert "\n" not in mail.subject and "\r" not in mail.subject
        assert mail.to == ["admin@example.com", "owner@example.com"] and mail.bcc == []


class TestRuns:
    def test_dry_run_sends_and_records_nothing(self, key, mailoutbox):
        due_in(key, timedelta(days=1))
        output = remind("--dry-run")
        assert f"Would send {key.prefix} (acme, due soon)" in output
        assert "Would send 1 reminder (1 due soon, 0 overdue); 1 key checked." in output
        assert mailoutbox == []
        assert ApiKey.objects.get(pk=key.pk).rotation_reminder == ""
        assert "Sent 1 reminder" in remind()

    def test_a_claimed_reminder_is_not_claimed_twice(self, key):
        key = due_in(key, timedelta(days=1))
        now = timezone.now()
        assert reminders.claim(key, "soon", now)
        assert not reminders.claim(key, "soon", now)  # a concurrent run loses, sends nothing
        assert reminders.claim(key, "overdue", key.rotation_due_at + timedelta(seconds=1))
        assert not reminders.claim(key, "soon", now)  # an overdue reminder covers the early one

    def test_a_claim_is_moot_once_the_date_changed_or_the_key_died(self, key):
        stale = due_in(key, timedelta(days=1))
        due_in(key, timedelta(days=2))
        assert not reminders.claim(stale, "soon", timezone.now())
        fresh = ApiKey.objects.get(pk=key.pk)
        services.api_key_revoke(key=fresh, actor=services.Actor())
        assert not reminders.claim(fresh, "soon", timezone.now())

    def test_a_mail_that_fails_is_tried_again_next_time(self, key, monkeypatch, mailoutbox):
        due_in(key, timedelta(days=1))

        def broken(self, fail_silently=False):
            raise ConnectionRefusedError("SMTP is down")

        with monkeypatch.context() as patched:
            patched.setattr(EmailMessage, "send", broken)
            with pytest.raises(CommandError, match="1 reminder"):
                remind()
        assert ApiKey.objects.get(pk=key.pk).rotation_reminder == ""
        assert "Sent 1 reminder" in remind()
        assert len(mailoutbox) == 1
