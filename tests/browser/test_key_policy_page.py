"""Settings → API Keys → Policy in a real browser, as an owner uses it at 1280 and 390 px: set a
policy, see which keys break it, fix one in a click, and watch the API refuse a key that would
break it. Screenshots land in artifacts/screenshots."""

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from apikeys.models import ApiKey, KeyPolicy
from tests.browser.test_key_pages import log_in
from web.demo import seed_demo
from workspaces.models import Workspace

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_an_owner_sets_a_policy_sees_what_breaks_it_and_fixes_it(live_server, page: Page, shot, width):
    demo = seed_demo()
    secret = next(w["apiKey"] for w in demo.workspaces if w["url"] == "acme")
    base = live_server.url
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, base)
    page.goto(f"{base}/app/acme/settings/api-keys/policy")
    expect(page.get_by_text("No policy yet")).to_be_visible()
    page.get_by_label("No full-access keys").check()
    page.get_by_label("Maximum lifetime, in days").fill("30")
    page.get_by_role("button", name="Save the policy").click()
    expect(page.get_by_text("The key policy is saved.")).to_be_visible()
    expect(page.get_by_role("heading", name="1 key breaks the policy")).to_be_visible()
    expect(page.get_by_text("The workspace's policy forbids full-access keys: choose scopes.")).to_be_visible()
    shot(page, f"policy-breakers-{width}", full_page=True)

    refused = requests.post(
        f"{base}/acme/api-keys", json={"name": "wide", "scopes": None}, timeout=10,
        headers={"Authorization": f"Bearer {secret}"},
    )  # fmt: skip
    assert refused.status_code == 403 and refused.json()["error"]["rule"] in {"max_lifetime", "no_full_access"}

    page.get_by_role("button", name="Expire in 30 days").click()
    expect(page.get_by_text("now meets the policy's rules on its lifetime")).to_be_visible()
    page.get_by_role("button", name="Narrow to what the policy allows").click()
    expect(page.get_by_text("Every live key meets the policy.")).to_be_visible()
    shot(page, f"policy-met-{width}", full_page=True)
    key = ApiKey.objects.get(workspace__url="acme", is_default=True)
    assert key.scopes is not None and key.expires_at is not None
    assert KeyPolicy.objects.get().forbid_full_access


def test_an_admin_reads_the_policy_but_cannot_change_it(live_server, page: Page, shot):
    seed_demo()
    base = live_server.url
    log_in(page, base, "admin@example.com")
    page.goto(f"{base}/app/acme/settings/api-keys/policy")
    expect(page.get_by_text("Only the workspace's owners change the policy.")).to_be_visible()
    expect(page.get_by_label("No full-access keys")).to_be_disabled()
    expect(page.get_by_role("button", name="Save the policy")).to_have_count(0)
    shot(page, "policy-admin-1280")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_generate_modal_shows_the_policy_before_the_user_hits_it(live_server, page: Page, shot, width):
    """Full access, "No expiry" and the forbidden scopes are disabled with the reason, the expiry
    is capped, presets leave forbidden scopes alone; what is saved meets the policy."""
    from apikeys import services
    from workspaces.actors import Actor

    seed_demo()
    workspace = Workspace.objects.get(url="acme")
    services.key_policy_update(
        workspace=workspace, actor=Actor(), max_lifetime_days=30, allow_key_management=False, forbid_full_access=True
    )
    base = live_server.url
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, base)
    page.goto(f"{base}/app/acme/settings/api-keys")
    page.get_by_role("link", name="Generate New Key").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.locator("#policy-limits")).to_contain_text("No full-access keys.")
    expect(dialog.get_by_label("Full access", exact=False)).to_be_disabled()
    expect(dialog.locator("input[name=scopes][value='api-key:create']")).to_be_disabled()
    expect(dialog.locator("input[name=expires_at]")).to_have_attribute("max", re.compile(r"^\d{4}-\d{2}-\d{2}$"))
    dialog.get_by_label("Name", exact=True).fill("Within the policy")
    dialog.get_by_role("button", name="Read-only").click()  # a preset
    expect(dialog.locator("[data-section-all='api-key']")).to_be_disabled()  # a section the policy forbids whole
    expect(dialog.locator("input[name=scopes][value='api-key:read']")).not_to_be_checked()
    shot(page, f"policy-capped-modal-{width}", full_page=True)
    dialog.get_by_role("button", name="Generate key").last.click()
    expect(page.locator("dialog[open]")).to_contain_text("you will not see it again", ignore_case=True)
    made = ApiKey.objects.get(name="Within the policy")
    assert made.scopes and not any(s.startswith("api-key:") for s in made.scopes)
    assert made.expires_at is not None


@pytest.mark.parametrize("width", [1280, 390])
def test_a_member_requests_a_key_an_admin_approves_one_and_denies_another(live_server, page: Page, shot, width):
    from apikeys import services
    from apikeys.models import KeyPolicy
    from workspaces.actors import Actor

    seed_demo()
    services.key_policy_update(
        workspace=Workspace.objects.get(url="acme"), actor=Actor(), creators=KeyPolicy.CREATORS_REQUEST
    )
    base = live_server.url
    page.set_viewport_size({"width": width, "height": 900})

    def ask(name: str, why: str) -> None:
        page.goto(f"{base}/app/acme/settings/api-keys/requests")
        page.get_by_role("link", name="Request a key").first.click()
        dialog = page.locator("dialog[open]")
        expect(dialog.get_by_role("heading", name="Request a key")).to_be_visible()
        expect(dialog.get_by_label("Full access", exact=False)).to_be_disabled()
        dialog.get_by_label("Name", exact=True).fill(name)
        dialog.get_by_label("Why you need it").fill(why)
        dialog.get_by_role("button", name="Uploader").click()
        dialog.get_by_role("button", name="Send the request").last.click()
        expect(page.get_by_text("Your request is sent")).to_be_visible()

    log_in(page, base, "member@example.com")
    ask("Camera uploads", "The camera on line 3 uploads nightly")
    ask("Everything please", "Just in case")
    shot(page, f"key-requests-member-{width}", full_page=True)

    page.context.clear_cookies()
    log_in(page, base, "admin@example.com")
    page.goto(f"{base}/app/acme/settings/api-keys")
    expect(page.get_by_role("heading", name="2 key requests waiting")).to_be_visible()
    shot(page, f"key-requests-pending-{width}", full_page=True)
    first = page.locator("form.key-request", has_text="Camera uploads")
    first.get_by_label("image:create").uncheck()  # narrowed
    first.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Approved the request for “Camera uploads”")).to_be_visible()
    second = page.locator("form.key-request", has_text="Everything please")
    second.get_by_label("Note to member@example.com").fill("Ask for what the job needs")
    second.get_by_role("button", name="Deny").click()
    expect(page.get_by_text("Denied the request for “Everything please”")).to_be_visible()

    page.context.clear_cookies()
    log_in(page, base, "member@example.com")
    page.goto(f"{base}/app/acme/settings/api-keys/requests")
    expect(page.get_by_text("“Ask for what the job needs”")).to_be_visible()
    page.get_by_role("button", name="Open the key").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("You will not see it again")
    secret = dialog.locator("[data-secret]").inner_text()
    shot(page, f"key-requests-opened-{width}")
    assert requests.get(f"{base}/acme", headers={"Authorization": f"Bearer {secret}"}, timeout=10).status_code == 200
    made = ApiKey.objects.get(name="Camera uploads")
    assert made.scopes is not None and "image:create" not in made.scopes and "image:read" in made.scopes
    assert not ApiKey.objects.filter(name="Everything please").exists()
