"""axe-core (the axe-playwright-python package bundles it) on every state of the key pages and
the pages around them, at desktop and phone width: no serious or critical violation."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.test_key_pages import demo, log_in  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]
AXE = Axe()


def serious(page: Page) -> list[str]:
    violations = AXE.run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width", [1280, 390])
def test_every_state_of_the_key_pages_has_no_serious_violation(page: Page, demo, width):  # noqa: F811
    page.set_viewport_size({"width": width, "height": 900})
    found: dict[str, list[str]] = {}
    log_in(page, demo)

    def check(state: str) -> None:
        found[state] = serious(page)

    page.goto(f"{demo}/app/acme/settings/api-keys")
    check("list")
    page.locator("summary.menu-button").first.click()
    check("row menu")
    page.goto(f"{demo}/app/acme/settings/api-keys?disabled=1")
    check("list with disabled keys")
    page.goto(f"{demo}/app/acme/settings/api-keys")
    page.get_by_role("link", name="Generate New Key").click()
    dialog = page.locator("dialog[open]")
    check("generate")
    dialog.get_by_label("Name", exact=True).fill("Faulty")
    dialog.get_by_label("IP allowlist", exact=True).fill("nope")
    dialog.get_by_role("button", name="Generate key").click()
    expect(page.locator("[data-error-summary]")).to_be_visible()
    check("generate with errors")
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("IP allowlist", exact=True).fill("")
    dialog.get_by_role("button", name="Uploader").click()
    dialog.get_by_role("button", name="Generate key").click()
    created = page.locator("dialog[open]")
    expect(created.get_by_role("heading", name=re.compile("Key created"))).to_be_visible()
    check("created")
    created.get_by_role("link", name="I have copied it").click()
    check("created, leaving unsaved")
    created.get_by_role("link", name="Close without copying").click()
    page.get_by_role("link", name="Edit Default key").click()
    expect(page.locator("dialog[open]").get_by_role("heading", name=re.compile("Edit"))).to_be_visible()
    check("edit")
    page.goto(f"{demo}/app/acme/settings/api-keys")
    page.locator("summary.menu-button").first.click()
    page.locator(".menu-list").first.get_by_role("link", name="Revoke").click()
    expect(page.locator("dialog[open]")).to_contain_text("This cannot be undone")
    check("confirm revoke")
    page.goto(f"{demo}/app/acme/settings/api-keys/activity")
    check("activity")
    page.goto(f"{demo}/app/acme/settings/api-keys/policy")
    check("policy, none set")
    page.get_by_label("No full-access keys").check()
    page.get_by_role("button", name="Save the policy").click()
    expect(page.get_by_role("heading", name="1 key breaks the policy")).to_be_visible()
    check("policy with the keys that break it")
    page.get_by_label("Maximum lifetime, in days").fill("0")
    page.get_by_role("button", name="Save the policy").click()
    check("policy with an error")
    page.goto(f"{demo}/app/hobby/settings/api-keys")
    check("free plan list")
    page.goto(f"{demo}/app/acme")
    check("workspace")
    page.goto(f"{demo}/app/acme/projects/defect-detection")
    check("project")
    assert {state: problems for state, problems in found.items() if problems} == {}
