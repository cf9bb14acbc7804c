// The ag2api console: pages by the address's #fragment, data from /admin/api/, refreshed every
// few seconds while the page is visible (it is meant to be left open).

import * as accounts from "./accounts.js";
import * as keys from "./keys.js";
import * as overview from "./overview.js";

const PAGES = { overview, accounts, keys };
const EVERY = 5000;
let current = null;
let timer = null;
let loading = null;

const $ = (id) => document.getElementById(id);

const ctx = {
  notify(message, error = false) {
    const notice = $("notice");
    notice.textContent = message;
    notice.classList.toggle("error", error);
    notice.hidden = false;
  },
  refresh: () => refresh(),
  // Run an action; say how it went; show the data as it is now.
  async act(label, call) {
    try {
      const result = await call();
      ctx.notify(result && result.message ? result.message : `${label}.`);
    } catch (error) {
      ctx.notify(`${label}: failed — ${error.message}`, true);
    }
    await refresh();
  },
  confirm(text) {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => dialog.addEventListener("close",
      () => resolve(dialog.returnValue === "yes"), { once: true }));
  },
};

async function refresh() {
  clearTimeout(timer);
  const page = current;
  const run = (loading = PAGES[page].load());
  try {
    const data = await run;
    if (page === current && run === loading) {
      PAGES[page].render(data, ctx);
      $("live").textContent = `updated ${new Date().toTimeString().slice(0, 8)}`;
      document.body.dataset.loaded = page;
    }
  } catch (error) {
    if (run === loading) $("live").textContent = `not updated: ${error.message}`;
  }
  if (!document.hidden) timer = setTimeout(refresh, EVERY);
}

function show() {
  const page = (location.hash || "#overview").slice(1);
  current = PAGES[page] ? page : "overview";
  delete document.body.dataset.loaded;
  for (const name of Object.keys(PAGES)) $(`page-${name}`).hidden = name !== current;
  for (const link of document.querySelectorAll("header nav a")) {
    if (link.dataset.page === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  $("notice").hidden = true;
  refresh();
}

for (const dialog of document.querySelectorAll("dialog")) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
}
$("refresh").addEventListener("click", () => refresh());
overview.init(() => refresh());
accounts.init(ctx);
keys.init(ctx);
window.addEventListener("hashchange", () => {
  show();
  $("main").focus();
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});
show();
