"""Settings -> API Keys is safe by default (issue 19): Generate chooses nothing for the user,
proposes an expiry, and never saves more reach than the form shows."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apikeys.models import ApiKey
from tests.browser.test_key_pages import demo, log_in  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def open_generate(page: Page, base: str):
    log_in(page, base)
    page.goto(f"{base}/app/acme/settings/api-keys")
    page.get_by_role("link", name="Generate New Key").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_role("heading", name="Generate New Key")).to_be_visible()
    return dialog


def test_a_name_and_enter_make_no_key_until_access_is_chosen(page: Page, demo):  # noqa: F811
    dialog = open_generate(page, demo)
    expect(dialog.locator("input[name=access]:checked")).to_have_count(0)
    expect(dialog.locator("[data-summary]")).to_contain_text("Choose what this key may do")
    before = ApiKey.objects.count()
    dialog.get_by_label("Name", exact=True).fill("Hasty")
    dialog.get_by_label("Name", exact=True).press("Enter")
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Choose what the key may do")
    expect(dialog.locator("input[name=access]").first).to_have_attribute("aria-invalid", "true")
    assert ApiKey.objects.count() == before


def test_full_access_is_an_explicit_choice_with_its_warning(page: Page, demo):  # noqa: F811
    dialog = open_generate(page, demo)
    warning = dialog.locator("[data-full-warning]")
    expect(warning).to_be_hidden()
    dialog.get_by_label("Full access: everything in the workspace").check()
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("can create and revoke keys")
    dialog.get_by_label("Scoped: only what is checked below").check()
    expect(warning).to_be_hidden()


def test_a_preset_chooses_scoped_access(page: Page, demo):  # noqa: F811
    dialog = open_generate(page, demo)
    dialog.get_by_role("button", name="Uploader").click()
    expect(dialog.get_by_label("Scoped: only what is checked below")).to_be_checked()
    expect(dialog.locator("[data-summary]")).to_contain_text("Images: upload, read")


def test_an_expiry_is_proposed_and_no_expiry_is_a_choice(page: Page, demo):  # noqa: F811
    dialog = open_generate(page, demo)
    proposed = (timezone.now() + timedelta(days=90)).date().isoformat()
    expect(dialog.get_by_label("Expires on")).to_have_value(proposed)
    dialog.get_by_label("Name", exact=True).fill("Ninety days")
    dialog.get_by_role("button", name="Uploader").click()
    dialog.get_by_role("button", name="Generate key").click()
    expect(page.locator("dialog[open]").get_by_role("heading", name=re.compile("Key created"))).to_be_visible()
    expires = ApiKey.objects.get(name="Ninety days").expires_at
    assert expires is not None and expires.date().isoformat() == proposed

    page.goto(f"{demo}/app/acme/settings/api-keys")
    page.get_by_role("link", name="Generate New Key").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Name", exact=True).fill("Forever")
    dialog.get_by_role("button", name="Uploader").click()
    dialog.get_by_label("No expiry: the key works").check()
    expect(dialog.get_by_label("Expires on")).to_be_disabled()
    dialog.get_by_role("button", name="Generate key").click()
    expect(page.locator("dialog[open]").get_by_role("heading", name=re.compile("Key created"))).to_be_visible()
    assert ApiKey.objects.get(name="Forever").expires_at is None


def test_only_these_folders_with_none_ticked_is_an_error_never_every_folder(page: Page, demo):  # noqa: F811
    dialog = open_generate(page, demo)
    dialog.get_by_label("Name", exact=True).fill("Nowhere")
    dialog.get_by_role("button", name="Uploader").click()
    dialog.get_by_label("Only the projects in these folders").check()
    dialog.get_by_role("button", name="Generate key").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Pick at least one folder")
    assert not ApiKey.objects.filter(name="Nowhere").exists()


def test_a_new_secret_is_never_lost_unawares(page: Page, demo):  # noqa: F811
    dialog = open_generate(page, demo)
    dialog.get_by_label("Name", exact=True).fill("Careful")
    dialog.get_by_role("button", name="Uploader").click()
    dialog.get_by_role("button", name="Generate key").click()
    created = page.locator("dialog[open]")
    expect(created.get_by_role("heading", name=re.compile("Key created"))).to_be_visible()
    copy = created.locator("[data-copy='#new-secret']")
    expect(copy).to_be_focused()  # Enter copies; it does not dismiss the secret

    warning = created.locator("[data-unsaved]")
    created.get_by_role("link", name="I have copied it").click()  # before copying
    expect(warning).to_be_visible()
    expect(page.locator("dialog[open]")).to_have_count(1)
    created.get_by_role("button", name="Go back and copy it").click()
    expect(warning).to_be_hidden()
    expect(copy).to_be_focused()

    page.keyboard.press("Escape")  # Esc warns too, and keeps the dialog
    expect(page.locator("dialog[open]")).to_have_count(1)
    expect(warning).to_be_visible()

    copy.click()
    expect(copy).to_have_text("Copied")
    secret = created.locator("[data-secret]").inner_text().strip()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    created.get_by_role("link", name="I have copied it").click()
    expect(page.locator("dialog[open]")).to_have_count(0)


def test_closing_without_copying_is_a_choice_the_user_makes(page: Page, demo):  # noqa: F811
    dialog = open_generate(page, demo)
    dialog.get_by_label("Name", exact=True).fill("Let go")
    dialog.get_by_role("button", name="Uploader").click()
    dialog.get_by_role("button", name="Generate key").click()
    created = page.locator("dialog[open]")
    created.get_by_role("link", name="I have copied it").click()
    created.get_by_role("link", name="Close without copying").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.get_by_role("heading", name="API Keys")).to_be_visible()


def test_a_protected_key_shows_why_its_actions_are_off_and_offers_unprotect(page: Page, demo, make_key):  # noqa: F811
    from apikeys.views import PROTECTED_REASON
    from workspaces.models import Workspace

    make_key(Workspace.objects.get(url="acme"), name="Shielded", protected=True)
    log_in(page, demo)
    page.goto(f"{demo}/app/acme/settings/api-keys")
    shielded = page.locator("tbody tr", has=page.locator(".key-name", has_text="Shielded"))
    shielded.locator("summary.menu-button").click()
    for action in ("Roll", "Disable", "Revoke"):
        button = shielded.get_by_role("button", name=action)
        expect(button).to_be_disabled()
        expect(button).to_have_accessible_description(PROTECTED_REASON)
    shielded.get_by_role("link", name="Unprotect").click()
    page.locator("dialog[open]").get_by_role("button", name="Unprotect key").click()
    expect(page.locator(".messages")).to_contain_text("Shielded")
    shielded = page.locator("tbody tr", has=page.locator(".key-name", has_text="Shielded"))
    shielded.locator("summary.menu-button").click()
    expect(shielded.get_by_role("link", name="Revoke")).to_be_visible()


def test_after_a_failed_save_the_errors_are_summed_up_where_focus_lands(page: Page, demo):  # noqa: F811
    dialog = open_generate(page, demo)
    dialog.get_by_label("Name", exact=True).fill("Faulty")
    dialog.get_by_label("IP allowlist", exact=True).fill("10.0.0.0/8\nnope\n300.1.1.1")
    dialog.get_by_role("button", name="Generate key").click()
    dialog = page.locator("dialog[open]")
    summary = dialog.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    expect(summary).to_contain_text("Choose what the key may do")
    expect(summary).to_contain_text("'nope', '300.1.1.1' are not IP addresses")
    allowlist = dialog.get_by_label("IP allowlist", exact=True)
    expect(allowlist).to_have_attribute("aria-invalid", "true")
    expect(allowlist).to_have_value("10.0.0.0/8\nnope\n300.1.1.1")
    summary.get_by_role("link", name=re.compile("IP allowlist")).click()
    expect(allowlist).to_be_focused()


@pytest.mark.parametrize("width", [1280, 1024, 390])
def test_the_modal_footer_is_never_clipped(page: Page, demo, width):  # noqa: F811
    page.set_viewport_size({"width": width, "height": 800})
    dialog = open_generate(page, demo)
    footer = dialog.locator(".modal-foot")
    for scrolled in ("top", "bottom"):
        if scrolled == "bottom":
            dialog.evaluate("d => d.scrollTo(0, d.scrollHeight)")
        box, frame = footer.bounding_box(), dialog.bounding_box()
        assert box is not None and frame is not None
        assert box["y"] + box["height"] <= frame["y"] + frame["height"] + 0.5, (scrolled, box, frame)
        submit = dialog.get_by_role("button", name="Generate key").bounding_box()
        assert submit is not None and submit["y"] + submit["height"] <= frame["y"] + frame["height"]
    # The reach and the lifetime come before the scope grid, under names of their own.
    legends = [text.strip() for text in dialog.locator("legend").all_inner_texts()]
    assert legends.index("Projects it reaches") < legends.index("Access") < legends.index("Scopes")
    assert legends.count("Folders") == 1  # the scope section only


def test_the_table_shows_expiry_allowlist_folders_exact_times_and_a_rolls_grace(page: Page, demo, make_key):  # noqa: F811
    from apikeys import services
    from workspaces.actors import Actor
    from workspaces.models import Folder, Workspace

    acme = Workspace.objects.get(url="acme")
    folder = Folder.objects.filter(workspace=acme).first()
    assert folder is not None
    make_key(
        acme,
        name="Fenced",
        allowed_ips=["10.0.0.0/8"],
        folder_ids=[folder.pk],
        expires_at=timezone.now() + timedelta(days=12, hours=1),
    )
    old, _ = make_key(acme, name="Rolled")
    services.api_key_roll(key=old, actor=Actor(), grace=timedelta(hours=1))
    log_in(page, demo)
    page.goto(f"{demo}/app/acme/settings/api-keys")
    fenced = page.locator("tbody tr", has=page.locator(".key-name", has_text="Fenced"))
    expect(fenced).to_contain_text("Expires in 12 days")
    expect(fenced).to_contain_text("IP allowlist")
    expect(fenced).to_contain_text(f"folder {folder.name}")
    expect(fenced.locator("time").first).to_have_attribute("title", re.compile(r"\d{4}, \d\d:\d\d:\d\d UTC$"))
    rolled = page.locator("tbody tr", has=page.locator(".key-name", has_text="Rolled"))
    expect(rolled).to_contain_text("Old secret works until")
    rolled.get_by_role("link", name="End grace now").click()  # on the row itself, not in its menu
    page.locator("dialog[open]").get_by_role("button", name="End grace now").click()
    expect(page.locator(".messages")).to_contain_text("no longer works")
    old.refresh_from_db()
    assert old.revoked_at is not None


@pytest.mark.parametrize("width", [1280, 1024, 390])
def test_the_key_list_never_scrolls_sideways_and_its_actions_are_a_menu(page: Page, demo, make_key, width):  # noqa: F811
    from workspaces.models import Folder, Workspace

    acme = Workspace.objects.get(url="acme")
    folders = [f.pk for f in Folder.objects.filter(workspace=acme)]
    make_key(
        acme,
        name="A protected key with a rather long name for a table cell",
        protected=True,
        scopes=["role:uploader"],
        folder_ids=folders,
        allowed_ips=["10.0.0.0/8"],
        expires_at=timezone.now() + timedelta(days=3),
    )
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, demo)
    page.goto(f"{demo}/app/acme/settings/api-keys")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    card = page.locator("table.keys").locator("xpath=ancestor::section[1]")
    assert card.evaluate("c => c.scrollWidth <= c.clientWidth")

    # The menu, by keyboard: Enter opens it, the actions are reachable, Esc closes it.
    summary = page.get_by_label("More actions for Default key")
    summary.focus()
    page.keyboard.press("Enter")
    actions = page.locator("tbody tr", has=page.locator(".key-name", has_text="Default key")).locator(".menu-list")
    expect(actions.get_by_role("link", name="Roll")).to_be_visible()
    revoke = actions.locator("li.apart")  # the destructive one, set apart
    expect(revoke).to_contain_text("Revoke")
    page.keyboard.press("Tab")
    expect(actions.get_by_role("link", name="Roll")).to_be_focused()
    page.keyboard.press("Escape")
    expect(actions).to_be_hidden()
    expect(summary).to_be_focused()
    if width == 390:  # touch targets of at least 44 px
        summary.click()
        targets = [summary, page.get_by_role("link", name="Edit Default key"), actions.get_by_role("link", name="Roll")]
        for target in targets:
            box = target.bounding_box()
            assert box is not None and box["height"] >= 44, target


def test_a_key_among_many_is_found_and_the_view_is_a_url(page: Page, demo, make_key):  # noqa: F811
    from workspaces.models import Workspace

    acme = Workspace.objects.get(url="acme")
    for i in range(60):
        make_key(acme, name=f"Bot {i:02d}", scopes=["image:create"])
    make_key(acme, name="Auditor", scopes=["usage:read"])
    log_in(page, demo)
    page.goto(f"{demo}/app/acme/settings/api-keys")
    expect(page.locator("[data-count]")).to_contain_text("1–50 of 62 keys")
    page.get_by_label("Search").fill("audit")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".key-name")).to_have_text(["Auditor"])
    assert "search=audit" in page.url
    page.goto(page.url)  # bookmarked: the same view
    expect(page.locator(".key-name")).to_have_text(["Auditor"])
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Sort").select_option("name")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".key-name").first).to_have_text("Auditor")
    page.get_by_role("link", name="Next").click()
    expect(page.locator("[data-count]")).to_contain_text("51–62 of 62 keys")
    assert "sort=name" in page.url and "page=2" in page.url
