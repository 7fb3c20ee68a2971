"""Settings -> API Keys in a real browser, as a workspace owner uses it: Generate a key, use it,
take an ability away, roll it, revoke it; the free plan's page; a member's 404; the keyboard;
phone width. Screenshots of each step land in artifacts/screenshots."""

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from web.demo import DEMO_PASSWORD, seed_demo

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(live_server):
    seed_demo()
    return live_server.url


def log_in(page: Page, base: str, email: str = "owner@example.com") -> None:
    page.goto(f"{base}/accounts/login")
    page.fill("#id_username", email)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/app/"))


def call(base: str, secret: str, path: str = "/acme") -> requests.Response:
    return requests.get(f"{base}{path}", headers={"Authorization": f"Bearer {secret}"}, timeout=10)


def row(page: Page, name: str):
    return page.locator("tbody tr", has=page.locator(".key-name", has_text=name))


def menu(page: Page, name: str):
    """The row's actions menu, opened."""
    found = row(page, name)
    found.locator("summary.menu-button").click()
    return found.locator(".menu-list")


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_an_owner_generates_uses_narrows_rolls_and_revokes_a_key(page: Page, demo, shot, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, demo)
    page.locator(".wsnav").get_by_role("link", name=re.compile("API Keys")).click()
    expect(page.get_by_role("heading", name="API Keys")).to_be_visible()
    shot(page, f"keys-list-{width}", full_page=True)

    # Generate: a scoped key from the Uploader preset.
    page.get_by_role("link", name="Generate New Key").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_role("heading", name="Generate New Key")).to_be_visible()
    dialog.get_by_label("Name", exact=True).fill("CI uploader")
    dialog.get_by_label("Scoped: only what is checked below").check()
    dialog.get_by_role("button", name="Uploader").click()
    expect(dialog.locator("[data-summary]")).to_contain_text("Images: upload, read")
    shot(page, f"edit-modal-{width}")
    dialog.get_by_role("button", name="Generate key").click()

    # The secret, once, with a copy button and snippets.
    created = page.locator("dialog[open]")
    expect(created.get_by_role("heading", name=re.compile("Key created"))).to_be_visible()
    expect(created).to_contain_text("You will not see it again")
    secret = created.locator("[data-secret]").inner_text().strip()
    assert secret.startswith("sak_")
    expect(created.locator("#snippet-curl")).to_contain_text(f"Authorization: Bearer {secret}")
    shot(page, f"key-created-{width}")
    assert call(demo, secret).status_code == 200
    assert secret not in page.url
    expect(created.get_by_role("button", name="Copy").first).to_be_focused()  # not the way out
    created.get_by_role("button", name="Copy").first.click()
    created.get_by_role("link", name="I have copied it").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    assert secret not in page.content()

    # Edit: take workspace:read away; the SDK note says what that breaks; it applies at once.
    row(page, "CI uploader").get_by_role("link", name="Edit CI uploader").click()
    dialog = page.locator("dialog[open]")
    dialog.locator("input[value='workspace:read']").uncheck()
    expect(dialog.locator("[data-sdk-note]")).to_be_visible()
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Saved")
    refused = call(demo, secret)
    assert refused.status_code == 403 and "workspace:read" in refused.json()["error"]["message"]
    assert call(demo, secret, "/acme/api-keys").status_code == 403

    # Roll without grace: the old secret dies, the new one works.
    menu(page, "CI uploader").get_by_role("link", name="Roll").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Code using the current secret stops working")
    dialog.get_by_role("button", name="Roll key").click()
    rolled = page.locator("dialog[open]")
    expect(rolled.get_by_role("heading", name=re.compile("Key rolled"))).to_be_visible()
    new = rolled.locator("[data-secret]").inner_text().strip()
    assert call(demo, secret, "/").status_code == 401
    assert requests.post(f"{demo}/", headers={"Authorization": f"Bearer {new}"}, timeout=10).status_code == 200
    rolled.get_by_role("button", name="Copy").first.click()
    rolled.get_by_role("link", name="I have copied it").click()

    # Revoke, after a confirmation that says what it breaks.
    menu(page, "CI uploader").get_by_role("link", name="Revoke").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("This cannot be undone")
    shot(page, f"revoke-{width}")
    dialog.get_by_role("button", name="Revoke key").click()
    expect(page.locator(".messages")).to_contain_text("Revoked")
    expect(row(page, "CI uploader")).to_have_count(0)
    assert requests.post(f"{demo}/", headers={"Authorization": f"Bearer {new}"}, timeout=10).status_code == 401

    # Nothing spills sideways at phone width.
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_escape_closes_the_modal_and_gives_focus_back(page: Page, demo):
    log_in(page, demo)
    page.goto(f"{demo}/app/acme/settings/api-keys")
    opener = row(page, "Default key").get_by_role("link", name="Edit Default key")
    opener.click()
    expect(page.locator("dialog[open] .key-form")).to_be_visible()
    expect(page.locator("#id_name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(opener).to_be_focused()


def test_a_validation_error_keeps_the_modal_open_with_what_was_typed(page: Page, demo):
    log_in(page, demo)
    page.goto(f"{demo}/app/acme/settings/api-keys")
    page.get_by_role("link", name="Generate New Key").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Name", exact=True).fill("Fenced")
    dialog.get_by_role("button", name="Uploader").click()
    expect(dialog.locator("details.limits")).to_have_attribute("open", "")  # an expiry is proposed
    dialog.get_by_label("IP allowlist", exact=True).fill("10.0.0.0/8\nnot-an-address")
    dialog.get_by_role("button", name="Generate key").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("is not an IP address or CIDB block".replace("CIDB", "CIDR"))
    expect(dialog.get_by_label("Name", exact=True)).to_have_value("Fenced")


def test_the_free_workspace_has_one_key_to_roll_and_says_why(page: Page, demo, shot):
    log_in(page, demo)
    page.goto(f"{demo}/app/hobby/settings/api-keys")
    expect(page.locator(".notice")).to_contain_text("Enterprise feature")
    expect(page.get_by_role("link", name="Generate New Key")).to_have_count(0)
    expect(menu(page, "Default key").get_by_role("link", name="Roll")).to_be_visible()
    expect(row(page, "Default key").get_by_role("link", name="Revoke")).to_have_count(0)
    shot(page, "free-plan-1280")


def test_a_member_finds_no_key_pages(page: Page, demo):
    log_in(page, demo, "member@example.com")
    expect(page.locator(".wsnav").get_by_role("link", name=re.compile("API Keys"))).to_have_count(0)
    response = page.goto(f"{demo}/app/acme/settings/api-keys")
    assert response is not None and response.status == 404


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_an_owner_sees_what_a_key_used_and_narrows_it_in_one_click(page: Page, demo, shot, width):
    from datetime import timedelta

    from django.utils import timezone

    from apikeys.models import ApiKey
    from apikeys.services import api_key_create
    from apikeys.spec import KeySpec
    from workspaces.actors import Actor
    from workspaces.models import Workspace

    workspace = Workspace.objects.get(url="acme")
    spec = KeySpec(name="Nightly sync", scopes=("workspace:read", "project:read", "model:manage"))
    key, secret = api_key_create(workspace=workspace, actor=Actor(), spec=spec)
    ApiKey.objects.filter(pk=key.pk).update(usage_since=timezone.now() - timedelta(days=31))
    for _ in range(3):
        assert call(demo, secret).status_code == 200

    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, demo)
    page.goto(f"{demo}/app/acme/settings/api-keys")
    nightly = row(page, "Nightly sync")
    expect(nightly.locator("svg.spark")).to_have_attribute("aria-label", re.compile("^3 requests in the last 30 days"))
    expect(nightly).to_contain_text("from 127.0.0.1")
    nightly.get_by_role("link", name="Edit Nightly sync").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.locator(".usage")).to_contain_text("3 requests in the last 30 days")
    expect(dialog.locator(".suggest")).to_contain_text("Unused for 30 days: project:read, model:manage")
    shot(page, f"usage-modal-{width}")
    dialog.get_by_label("Name", exact=True).fill("Nightly sync (narrowed)")  # an unsaved edit
    dialog.get_by_role("button", name="Narrow to what it uses").click()
    dialog = page.locator("dialog[open]")
    preview = dialog.locator("[data-narrow-preview]")
    expect(preview).to_contain_text("Narrowing keeps workspace:read and removes project:read, model:manage")
    expect(dialog.get_by_label("Name", exact=True)).to_have_value("Nightly sync (narrowed)")  # kept
    preview.get_by_role("button", name="Save and narrow").click()
    expect(page.locator(".messages")).to_contain_text(
        "Saved “Nightly sync (narrowed)” and narrowed to what it used: workspace:read"
    )
    expect(row(page, "Nightly sync (narrowed)")).to_contain_text("Scoped: Workspace: read")
    shot(page, f"keys-usage-{width}", full_page=True)
    assert call(demo, secret).status_code == 200
    assert call(demo, secret, "/acme/api-keys").status_code == 403
    assert page.evaluate("document.documentElement.scrollWidth") <= width
