"""Accounts in a real browser: sign up, confirm the address from the mail, land on the new
workspace's key shown once; forget the password and reset it from the mail; at desktop and
phone width. Screenshots of each step land in artifacts/screenshots."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def link_in(mail, base: str) -> str:
    [path] = re.findall(rf"{re.escape(settings.SITE_URL)}(/\S+)", mail.body)
    return base + path


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_a_new_user_signs_up_confirms_and_later_resets_the_password(page: Page, live_server, mailoutbox, shot, width):
    base = live_server.url
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{base}/accounts/signup")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Workspace name").fill("Ada Labs")
    shot(page, f"sign-up-{width}", full_page=True)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.locator("main")).to_contain_text("ada@example.com")
    shot(page, f"sign-up-sent-{width}")

    # The mail's link asks for the password; the button creates the account and shows its key once.
    [mail] = mailoutbox
    page.goto(link_in(mail, base))
    expect(page.get_by_role("heading", name="Confirm your sign-up")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Ada Labs")
    page.get_by_label("Password", exact=True).fill("an-unusual-first-password")
    page.get_by_label("Password again").fill("an-unusual-first-pasword")
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator(".has-error")).to_contain_text("didn’t match")
    page.get_by_label("Password", exact=True).fill("an-unusual-first-password")
    page.get_by_label("Password again").fill("an-unusual-first-password")
    shot(page, f"sign-up-confirm-{width}", full_page=True)
    page.get_by_role("button", name="Create my account").click()
    created = page.locator("dialog[open]")
    expect(created.get_by_role("heading", name=re.compile("Key created"))).to_be_visible()
    assert created.locator("[data-secret]").inner_text().strip().startswith("sak_")
    assert "/app/ada-labs/" in page.url or "/accounts/signup/" in page.url

    # Log out, then forget the password.
    page.context.clear_cookies()
    page.goto(f"{base}/accounts/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("ada@example.com")
    shot(page, f"password-reset-{width}")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    page.goto(link_in(mailoutbox[1], base))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("a-second-unusual-password")
    page.get_by_label("New password confirmation").fill("a-second-unusual-password")
    shot(page, f"password-reset-confirm-{width}")
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    page.get_by_role("link", name="Log in").last.click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("a-second-unusual-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/app/ada-labs"))
