// The little script of the pages: modals (native <dialog>), the key form's helpers, copy
// buttons. Every page works without it: each modal also has a URL of its own.
(() => {
  "use strict";

  const dialog = () => document.getElementById("modal");
  let opener = null;

  function focusFirst(root) {
    // A new secret's Copy button; else the first field in error, else the first field, else
    // the first button (not the close ×).
    const target = root.querySelector("[data-copy='#new-secret']")
      || root.querySelector("[data-error-summary]")
      || root.querySelector("[aria-invalid=true]")
      || root.querySelector("input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])")
      || root.querySelector(".modal-foot .primary, .modal-foot button, .modal-foot a");
    if (target) target.focus();
  }

  function open(html) {
    const modal = dialog();
    if (html !== undefined) modal.innerHTML = html;
    if (!modal.open) modal.showModal();
    enhance(modal);
    focusFirst(modal);
  }

  // Links that open a modal: fetch just the modal, show it, give focus back on close.
  document.addEventListener("click", async (event) => {
    const link = event.target.closest("a[data-modal]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    opener = link;
    const response = await fetch(link.href, { headers: { "X-Fragment": "1" }, credentials: "same-origin" });
    if (!response.ok) { window.location.href = link.href; return; }
    open(await response.text());
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-close]")) dialog().close();
  });

  // Row menus (<details>): one open at a time; Esc, a click elsewhere or choosing an action
  // closes it.
  const openMenus = () => [...document.querySelectorAll("details.menu[open]")];
  document.addEventListener("click", (event) => {
    const inside = event.target.closest("details.menu");
    for (const menu of openMenus()) {
      if (menu !== inside || event.target.closest(".menu-list a")) menu.open = false;
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const menu = event.target.closest && event.target.closest("details.menu[open]");
    if (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });

  // The error summary's links take focus to the field they name.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-error-link]");
    if (!link) return;
    const message = document.getElementById(link.getAttribute("href").slice(1));
    const field = message && message.closest(".field, fieldset");
    const input = field && field.querySelector("input:not([type=hidden]):not([disabled]), textarea, select");
    if (!input) return;
    event.preventDefault();
    input.focus();
    field.scrollIntoView({ block: "center" });
  });

  // A new secret is never lost unawares: leaving before copying it (the done link, Esc) asks
  // first, in the dialog itself.
  const secretAtRisk = (modal) => modal && modal.querySelector("[data-secret]") && !modal.dataset.secretCopied;

  function warnUnsaved(modal) {
    const warning = modal.querySelector("[data-unsaved]");
    warning.hidden = false;
    warning.querySelector("[data-back]").focus();
  }

  document.addEventListener("click", (event) => {
    const modal = dialog();
    if (event.target.closest("[data-done]") && secretAtRisk(modal)) {
      event.preventDefault();
      warnUnsaved(modal);
    } else if (event.target.closest("[data-back]")) {
      modal.querySelector("[data-unsaved]").hidden = true;
      modal.querySelector("[data-copy='#new-secret']").focus();
    }
  });

  document.addEventListener("copy", () => {
    // Copied by hand (Ctrl+C on the selected secret or a snippet that holds it).
    const modal = dialog();
    const secret = modal && modal.querySelector("[data-secret]");
    if (secret && String(window.getSelection()).includes(secret.textContent)) modal.dataset.secretCopied = "1";
  });

  document.addEventListener("DOMContentLoaded", () => {
    const modal = dialog();
    if (!modal) return;
    modal.addEventListener("cancel", (event) => {
      if (secretAtRisk(modal)) {
        event.preventDefault();
        warnUnsaved(modal);
      }
    });
    modal.addEventListener("close", () => {
      if (modal.dataset.closeUrl && window.location.pathname !== new URL(modal.dataset.closeUrl, window.location).pathname) {
        window.history.replaceState(null, "", modal.dataset.closeUrl);
      }
      delete modal.dataset.closeUrl;
      if (opener && document.contains(opener)) opener.focus();
      opener = null;
    });
    if (modal.hasAttribute("data-open")) open();
  });

  // Copy buttons.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
      const modal = dialog();
      const secret = modal && modal.querySelector("[data-secret]");
      if (secret && source.textContent.includes(secret.textContent)) modal.dataset.secretCopied = "1";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
  });

  // The key form: access, presets, whole sections, the live summary, folders.
  function enhance(root) {
    const form = root.querySelector(".key-form");
    if (!form || form.dataset.enhanced) return;
    form.dataset.enhanced = "1";
    const scopes = form.querySelector("[data-scopes]");
    const boxes = [...form.querySelectorAll("input[name=scopes]")];
    const summary = form.querySelector("[data-summary]");
    const sdkNote = form.querySelector("[data-sdk-note]");
    const folders = form.querySelector("[data-folders]");
    const planAllows = !form.querySelector("fieldset[disabled] [data-access]");

    const fullWarning = form.querySelector("[data-full-warning]");
    const noExpiry = form.querySelector("[data-no-expiry]");
    const expiry = form.querySelector("input[name=expires_at]");

    function access() {
      const choice = form.querySelector("input[name=access]:checked");
      return choice ? choice.value : "";
    }
    const scoped = () => access() === "scoped";

    function chooseScoped() {
      const radio = form.querySelector("input[name=access][value=scoped]");
      if (radio && !radio.disabled) radio.checked = true;
    }

    function update() {
      // Scopes can be picked until full access is chosen; picking one chooses "Scoped".
      if (planAllows) scopes.disabled = access() === "full";
      if (fullWarning) fullWarning.hidden = access() !== "full";
      if (noExpiry && expiry && planAllows) expiry.disabled = noExpiry.checked;
      for (const all of form.querySelectorAll("[data-section-all]")) {
        const members = boxes.filter((b) => b.dataset.section === all.dataset.sectionAll && !b.disabled);
        const held = members.filter((b) => b.checked).length;
        all.checked = members.length > 0 && held === members.length;
        all.disabled = members.length === 0;
        all.indeterminate = held > 0 && held < members.length;
      }
      const limit = form.querySelector("input[name=folder_limit]:checked");
      if (folders && planAllows) folders.hidden = !(limit && limit.value === "some");
      if (access() === "full") {
        summary.textContent = "This key can do everything in the workspace, key management included.";
        sdkNote.hidden = true;
        return;
      }
      if (!scoped()) {
        summary.textContent = "Choose what this key may do: full access, a preset, or scopes.";
        sdkNote.hidden = true;
        return;
      }
      const bySection = new Map();
      for (const box of boxes.filter((b) => b.checked)) {
        const list = bySection.get(box.dataset.sectionLabel) || [];
        list.push(box.dataset.verb);
        bySection.set(box.dataset.sectionLabel, list);
      }
      const parts = [...bySection].map(([label, verbs]) => `${label}: ${verbs.join(", ")}`);
      summary.textContent = parts.length ? `This key can: ${parts.join(" · ")}.` : "This key can do nothing yet: check what it needs.";
      sdkNote.hidden = !parts.length || boxes.some((b) => b.value === "workspace:read" && b.checked);
    }

    form.addEventListener("change", (event) => {
      const all = event.target.closest("[data-section-all]");
      // A scope the key policy forbids stays as it is (disabled: never sent, so never shown checked).
      if (all) boxes.filter((b) => b.dataset.section === all.dataset.sectionAll && !b.disabled).forEach((b) => { b.checked = all.checked; });
      if (all || event.target.name === "scopes") chooseScoped();
      update();
    });
    form.addEventListener("click", (event) => {
      const preset = event.target.closest("[data-preset]");
      if (!preset) return;
      const leaves = new Set(preset.dataset.preset.split(" "));
      boxes.filter((b) => !b.disabled).forEach((b) => { b.checked = leaves.has(b.value); });
      chooseScoped();
      update();
    });
    update();
  }
})();
