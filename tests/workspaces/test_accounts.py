import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone

from tests.factories import PASSWORD, UserFactory, WorkspaceFactory
from workspaces.forms import URL_TAKEN
from workspaces.models import SIGN_UP_LINK_LIFETIME, Membership, PendingSignUp, Workspace
from workspaces.services import ACCOUNT_EXISTS, MAIL_FAILED, SIGN_UP_LINK_INVALID
from workspaces.throttling import ACCOUNT_MAIL_THROTTLED

pytestmark = pytest.mark.django_db
User = get_user_model()


def sign_up(client, **overrides):
    data = {"email": "new@example.com", "workspace_name": "New Co", "workspace_url": ""} | overrides
    return client.post(reverse("accounts:sign_up"), data)


PASSWORD_CHOSEN = "a-long-unusual-password"


def link_in(mail) -> str:
    """The path of the one link to this site in a mail."""
    [found] = re.findall(rf"{re.escape(settings.SITE_URL)}(/\S+)", mail.body)
    return found


def confirm(client, mail, password=PASSWORD_CHOSEN, again=None):
    link = link_in(mail)
    assert link.startswith("/accounts/signup/")
    return client.post(link, {"new_password1": password, "new_password2": again or password})


def test_sign_up_mails_a_link_and_creates_the_account_only_when_it_is_followed(client, mailoutbox):
    response = sign_up(client)
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    assert not User.objects.exists() and not Workspace.objects.exists()
    [mail] = mailoutbox
    assert mail.to == ["new@example.com"]
    assert mail.subject == "Confirm your email address for Scoped API Keys"
    link = link_in(mail)
    # Following the link (what a mail scanner does too) only asks for the password.
    page = client.get(link)
    assert page.status_code == 200 and "Create my account" in page.content.decode()
    assert not User.objects.exists()
    response = confirm(client, mail)
    user = User.objects.get(username="new@example.com")
    assert user.check_password(PASSWORD_CHOSEN)
    membership = Membership.objects.get(user=user)
    assert membership.role == "owner"
    assert membership.workspace.plan == "free"
    assert membership.workspace.name == "New Co"
    # The first screen shows the workspace's key, once, and it works.
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]
    secret = re.search(r"data-secret>(sak_[^<]+)<", response.content.decode())[1]
    assert client.post("/", HTTP_AUTHORIZATION=f"Bearer {secret}").json()["workspace"] == "new-co"
    # Signed in straight away; the key page does not show the secret again.
    page = client.get(reverse("apikeys:list", kwargs={"ws": "new-co"}))
    assert page.status_code == 200
    assert secret not in page.content.decode()
    # The link is used up.
    assert client.get(link).status_code == 404
    assert confirm(client, mail).status_code == 404
    assert not PendingSignUp.objects.exists()


def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(client, owner, mailoutbox):
    """Sign-up says nothing about which addresses have accounts: the same page either way;
    the owner of the address learns from the mail, and nothing about the account changes."""
    before = owner.password
    fresh = sign_up(client, email="nobody@example.com", workspace_url="one")
    taken = sign_up(client, email="Owner@Example.com", workspace_url="two")
    assert fresh.status_code == taken.status_code == 200
    assert fresh.content.decode().replace("nobody@example.com", "X") == taken.content.decode().replace(
        "owner@example.com", "X"
    )
    _, owner_mail = mailoutbox
    assert owner_mail.to == ["owner@example.com"]
    assert owner_mail.subject == "You already have a Scoped API Keys account"
    assert f"{settings.SITE_URL}{reverse('accounts:password_reset')}" in owner_mail.body
    assert "/accounts/signup/" not in owner_mail.body
    owner.refresh_from_db()
    assert owner.password == before
    assert not PendingSignUp.objects.filter(email="owner@example.com").exists()
    assert not Workspace.objects.filter(url="two").exists()


def test_a_second_sign_up_for_an_address_with_an_account_creates_nothing(client, owner, mailoutbox):
    before = owner.password
    sign_up(client, email="owner@example.com")
    [mail] = mailoutbox
    assert "/accounts/signup/" not in mail.body
    assert User.objects.filter(username="owner@example.com").count() == 1
    assert User.objects.get(username="owner@example.com").password == before


def test_signing_up_someone_elses_address_first_gives_the_attacker_nothing(client, mailoutbox):
    """Pre-registration: an attacker signs up the victim's address (no password is asked), and
    the victim follows the attacker's link by mistake. The victim chooses the password; the
    attacker has nothing to log in with."""
    sign_up(client, email="victim@example.com", workspace_name="Victim Corp")
    [attackers_link] = mailoutbox
    confirm(client, attackers_link, password="the-victims-own-password")
    client.logout()
    user = User.objects.get(username="victim@example.com")
    assert user.check_password("the-victims-own-password")
    for guess in ("a-long-unusual-password", "", "password"):
        response = client.post(reverse("accounts:login"), {"username": "victim@example.com", "password": guess})
        assert response.status_code == 200  # refused


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"workspace_url": "admin"}, "workspace_url", "reserved"),
        ({"workspace_url": "applied-ai"}, None, None),
        ({"workspace_url": "Bad URL!"}, "workspace_url", "lowercase letters"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"workspace_name": "a\x00b"}, "workspace_name", "Null characters"),
    ],
)
def test_sign_up_refuses_bad_input_and_writes_nothing(client, mailoutbox, overrides, field, message):
    response = sign_up(client, **overrides)
    assert response.status_code == 200
    if field is None:  # the control case: accepted
        assert len(mailoutbox) == 1
        return
    assert message in " ".join(response.context["form"].errors[field])
    assert not User.objects.exists()
    assert not Workspace.objects.exists()
    assert not PendingSignUp.objects.exists()
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("password", "again", "field", "message"),
    [
        ("something-long-enough", "something-else-entirely", "new_password2", "didn’t match"),
        ("123", None, "new_password2", "too short"),
        ("new@example.com", None, "new_password2", "too similar"),
    ],
)
def test_the_password_chosen_from_the_link_is_validated_and_keeps_the_link(
    client, mailoutbox, password, again, field, message
):
    sign_up(client)
    response = confirm(client, mailoutbox[0], password=password, again=again)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not User.objects.exists() and PendingSignUp.objects.count() == 1
    assert confirm(client, mailoutbox[0]).status_code == 200  # then the link still works


def test_sign_up_refuses_a_taken_url(client, owner):
    WorkspaceFactory(url="taken")
    response = sign_up(client, email="someone@example.com", workspace_url="taken")
    assert URL_TAKEN in response.context["form"].errors["workspace_url"]
    assert "email" not in response.context["form"].errors


def test_an_expired_link_creates_nothing(client, mailoutbox):
    sign_up(client)
    PendingSignUp.objects.update(created=timezone.now() - SIGN_UP_LINK_LIFETIME - timedelta(seconds=1))
    link = link_in(mailoutbox[0])
    for response in (client.get(link), confirm(client, mailoutbox[0])):
        assert response.status_code == 404
        assert SIGN_UP_LINK_INVALID in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.parametrize("token", ["0" * 64, "nope", "a" * 500])
def test_a_made_up_link_creates_nothing(client, token):
    link = reverse("accounts:confirm_sign_up", kwargs={"token": token})
    assert client.post(link, {"new_password1": PASSWORD_CHOSEN, "new_password2": PASSWORD_CHOSEN}).status_code == 404
    assert not User.objects.exists()


def test_of_two_links_for_one_address_one_makes_the_account_and_both_are_then_used_up(client, mailoutbox):
    sign_up(client, workspace_url="first")
    sign_up(client, workspace_url="second")
    confirm(client, mailoutbox[1], password="the-second-password")
    user = User.objects.get(username="new@example.com")
    assert user.check_password("the-second-password")
    assert Workspace.objects.filter(url="second").exists() and not Workspace.objects.filter(url="first").exists()
    client.logout()
    assert confirm(client, mailoutbox[0]).status_code == 404
    assert confirm(client, mailoutbox[1]).status_code == 404
    assert User.objects.count() == 1


def test_a_second_click_on_create_my_account_is_the_used_link_page(client, mailoutbox, monkeypatch):
    """Two submissions of the same form: the second finds the link used up between its own
    check and its write (played here in that order), and says so rather than failing."""
    from web import views

    sign_up(client)
    link = link_in(mailoutbox[0])
    real_pending, real_complete = views.user_sign_up_pending, views.user_sign_up_complete
    token = link.rsplit("/", 1)[1]

    def checked_then_completed_by_the_other_click(**kwargs):
        found = real_pending(**kwargs)
        real_complete(token=token, password="the-first-click")
        return found

    monkeypatch.setattr(views, "user_sign_up_pending", checked_then_completed_by_the_other_click)
    response = confirm(client, mailoutbox[0])
    assert response.status_code == 404 and SIGN_UP_LINK_INVALID in response.content.decode()
    assert User.objects.get().check_password("the-first-click")


def test_a_workspace_url_taken_before_the_link_is_followed_still_makes_the_account(client, mailoutbox):
    sign_up(client, workspace_url="wanted")
    WorkspaceFactory(url="wanted")
    response = confirm(client, mailoutbox[0])
    assert response.status_code == 302 and response.url == reverse("workspaces:create")
    user = User.objects.get(username="new@example.com")
    assert not Membership.objects.filter(user=user).exists()
    page = client.get(response.url)
    assert page.status_code == 200 and "was taken meanwhile" in page.content.decode()


def test_a_mail_that_cannot_be_sent_saves_nothing_and_says_so(client, monkeypatch, mailoutbox):
    def broken(self, fail_silently=False):
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr(EmailMessage, "send", broken)
    response = sign_up(client)
    assert MAIL_FAILED in response.content.decode()
    assert not PendingSignUp.objects.exists() and not User.objects.exists()


def test_sign_up_is_throttled_per_address_typed_and_per_requester(client, owner, settings, mailoutbox):
    settings.ACCOUNT_MAIL_LIMIT = "3/h"
    for email in ("owner@example.com", "nobody@example.com"):  # the same for both
        answers = [sign_up(client, email=email) for _ in range(4)]
        assert [ACCOUNT_MAIL_THROTTLED[:20] in a.content.decode() for a in answers] == [False] * 3 + [True]
    assert len(mailoutbox) == 6
    assert PendingSignUp.objects.filter(email="nobody@example.com").count() == 3
    settings.ACCOUNT_MAIL_IP_LIMIT = "7/h"  # six mails sent from this address so far
    answers = [sign_up(client, email=f"person{i}@example.com") for i in range(2)]
    assert [ACCOUNT_MAIL_THROTTLED[:20] in a.content.decode() for a in answers] == [False, True]
    assert len(mailoutbox) == 7


def test_forty_sign_ups_from_one_address_learn_nothing(client, owner, mailoutbox):
    """The probe's enumeration: 40 tries of known and unknown addresses from one address."""
    pages = set()
    for i in range(40):
        email = "owner@example.com" if i % 2 else f"person{i}@example.com"
        body = sign_up(client, email=email).content.decode().replace(email, "X")
        body = re.sub(r"Try again in \d+ minutes", "Try again in N minutes", body)  # a minute may pass
        pages.add(re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body))
    assert len(pages) == 2  # "check your inbox", then the throttle's answer
    assert not any("already exists" in page or "has an account" in page for page in pages)
    assert len(mailoutbox) == 20


# Password reset ------------------------------------------------------------------------


def reset(client, email, **extra):
    return client.post(reverse("accounts:password_reset"), {"email": email}, **extra)


def test_password_reset_by_mail_works_once(client, owner, mailoutbox):
    response = reset(client, "Owner@Example.com")
    assert response.status_code == 302 and response.url == reverse("accounts:password_reset_done")
    [mail] = mailoutbox
    assert mail.to == ["owner@example.com"] and mail.subject == "Reset your Scoped API Keys password"
    link = link_in(mail)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and "Choose a new password" in form_page.content.decode()
    set_password = form_page.redirect_chain[-1][0]
    done = client.post(set_password, {"new_password1": "a-brand-new-secret", "new_password2": "a-brand-new-secret"})
    assert done.status_code == 302 and done.url == reverse("accounts:password_reset_complete")
    owner.refresh_from_db()
    assert owner.check_password("a-brand-new-secret") and not owner.check_password(PASSWORD)
    again = client.get(link, follow=True)
    assert "This link does not work" in again.content.decode()


def test_password_reset_answers_the_same_for_an_address_without_an_account(client, owner, mailoutbox):
    known, unknown = reset(client, "owner@example.com"), reset(client, "nobody@example.com")
    assert (known.status_code, known.url) == (unknown.status_code, unknown.url)
    owner_mail, other_mail = mailoutbox
    assert owner_mail.to == ["owner@example.com"]
    assert other_mail.to == ["nobody@example.com"]
    assert "There is no account with this address" in other_mail.body
    assert "/accounts/password/reset/" not in other_mail.body


def test_password_reset_links_to_the_site_url_never_to_the_host_asked_for(client, owner, settings, mailoutbox):
    settings.ALLOWED_HOSTS = ["*"]
    settings.SITE_URL = "https://keys.example.com"
    reset(client, "owner@example.com", HTTP_HOST="evil.example")
    [mail] = mailoutbox
    assert "evil.example" not in mail.body
    assert "https://keys.example.com/accounts/password/reset/" in mail.body


def test_password_reset_is_throttled(client, owner, settings, mailoutbox):
    settings.ACCOUNT_MAIL_LIMIT = "2/h"
    answers = [reset(client, "owner@example.com") for _ in range(3)]
    assert [a.status_code for a in answers] == [302, 302, 200]
    assert ACCOUNT_MAIL_THROTTLED[:20] in answers[2].content.decode()
    assert len(mailoutbox) == 2


def test_the_account_pages_are_served_under_the_csp(client):
    for name in ("sign_up", "password_reset", "login"):
        response = client.get(reverse(f"accounts:{name}"))
        assert response.status_code == 200
        assert "script-src" in response["Content-Security-Policy"]
        assert "<script>" not in response.content.decode()


def test_log_in_lands_on_a_workspace_and_log_out_ends_the_session(client, owner):
    response = client.post(reverse("accounts:login"), {"username": "owner@example.com", "password": PASSWORD})
    assert response.status_code == 302
    response = client.get(response.url, follow=True)
    assert response.status_code == 200
    assert response.context["workspace"].url in {"acme", "hobby"}
    client.post(reverse("accounts:logout"))
    response = client.get(reverse("workspaces:home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_log_in_takes_the_email_in_any_case(client, owner):
    response = client.post(reverse("accounts:login"), {"username": "Owner@Example.com ", "password": PASSWORD})
    assert response.status_code == 302


def test_log_in_with_a_wrong_password_is_refused(client, owner):
    response = client.post(reverse("accounts:login"), {"username": "owner@example.com", "password": "nope"})
    assert response.status_code == 200
    assert response.context["form"].errors


def test_password_change(client, owner):
    client.force_login(owner)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": "another-long-password", "new_password2": "another-long-password"},
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("another-long-password")


def test_pages_need_a_login(client, enterprise):
    for url in [reverse("workspaces:home"), reverse("workspaces:detail", kwargs={"ws": "acme"})]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("accounts:login"))


def test_operators_see_pending_sign_ups_without_their_secrets(client, admin_client, mailoutbox):
    sign_up(client)
    pending = PendingSignUp.objects.get()
    pages = [
        admin_client.get(reverse("admin:workspaces_pendingsignup_changelist")),
        admin_client.get(reverse("admin:workspaces_pendingsignup_change", args=[pending.pk])),
    ]
    for page in pages:
        assert page.status_code == 200
        text = page.content.decode()
        assert "new@example.com" in text
        assert pending.token_digest not in text
    assert link_in(mailoutbox[0]).rsplit("/", 1)[1] not in "".join(p.content.decode() for p in pages)


def test_a_link_for_an_address_that_got_an_account_meanwhile_creates_nothing(client, mailoutbox):
    sign_up(client)
    existing = UserFactory(email="new@example.com")
    response = confirm(client, mailoutbox[0])
    assert response.status_code == 302 and response.url == reverse("accounts:login")
    assert list(User.objects.filter(username="new@example.com")) == [existing]
    assert not Workspace.objects.exists()
    assert ACCOUNT_EXISTS in client.get(response.url).content.decode()
