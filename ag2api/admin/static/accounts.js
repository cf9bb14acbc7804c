// Accounts: state, quota, use today; sign-in, enable, disable, recheck, remove, import, export.

import { api } from "./api.js";
import { ago, h, num, replace, when } from "./dom.js";

const $ = (id) => document.getElementById(id);
const LOOPBACK = ["localhost", "127.0.0.1", "[::1]"];
// Where the proxy shown is set (the API's proxy_source).
const PROXY_SOURCE = {
  account: " · its own (tokens.json)",
  "upstream.proxy": " · the default (upstream.proxy)",
  environment: " · the environment's HTTPS_PROXY / ALL_PROXY",
  none: " · no proxy set",
};
let signIn = null; // the sign-in in progress: {id, mode, …}
let signInTimer = null;

export function init(ctx) {
  $("add-account").addEventListener("click", openSignIn);
  $("sign-in-start").addEventListener("click", () => startSignIn(ctx));
  $("sign-in-finish").addEventListener("click", () => finishSignIn(ctx));
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault(); // Enter in the address field finishes, never closes the dialog
    if (!$("sign-in-paste").hidden) finishSignIn(ctx);
  });
  $("sign-in-dialog").addEventListener("close", () => clearTimeout(signInTimer));
  $("check-quota").addEventListener("click", () =>
    ctx.act("Quota checked", () => api("GET", "/admin/api/accounts?refresh=1")));
  $("import-files").addEventListener("change", () => importFiles(ctx));
  const exportLink = () => {
    $("export-link").href = `/admin/api/accounts/export?format=${encodeURIComponent($("export-format").value)}` +
      ($("export-plaintext").checked ? "&plaintext=1" : "");
  };
  $("export-format").addEventListener("change", exportLink);
  $("export-plaintext").addEventListener("change", exportLink);
}

export const load = () => api("GET", "/admin/api/accounts");

const STATES = {
  enabled: "serving", cooling: "cooling", disabled: "disabled", needs_verification: "needs verification",
};

function badge(account) {
  const cls = account.state === "enabled" ? "serving" : account.state;
  return h("span", { class: `badge ${cls}` }, STATES[account.state] || account.state);
}

function quotaBar(q) {
  const known = typeof q.remaining === "number";
  const pct = known ? Math.round(q.remaining * 100) : null;
  const cls = !known || q.remaining === 0 ? "fill empty" : q.remaining < 0.2 ? "fill low" : "fill";
  const note = [known ? `${pct}%` : "unknown", q.reset_time ? `resets in ${q.resets_in}` : null,
    q.skipped_until ? `skipped until ${when(q.skipped_until)}` : null].filter(Boolean).join(" · ");
  return h("div", { class: q.skipped_until ? "quota skipped" : "quota",
    dataset: { model: q.model, remaining: known ? q.remaining : "" } },
    h("div", { class: "label" }, h("span", {}, q.model), h("span", {}, note)),
    h("div", { class: "track", role: "meter", "aria-label": `${q.model} quota left`,
      "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct ?? 0 },
      h("div", { class: cls, width: `${known ? (q.remaining * 100).toFixed(1) : 0}%` })));
}

// The 5-hour and weekly buckets and the credits, where the gateway reports them.
function buckets(a) {
  const rows = (a.quota.buckets || []).map((b) => h("div", { class: "muted bucket" },
    `${b.family} ${b.window}: ${typeof b.remaining === "number" ? `${Math.round(b.remaining * 100)}% left` : "unknown"}` +
    (b.reset_time ? `, resets in ${b.resets_in}` : "") + (b.disabled ? " (off)" : "")));
  const credits = a.credits;
  if (credits && credits.amount !== null && credits.amount !== undefined) {
    const state = credits.in_use ? "in use" : credits.stopped ? "stopped until the next check"
      : credits.enabled ? (credits.usable ? "ready" : "below the minimum") : "not used";
    rows.push(h("div", { class: "muted credits" }, `Credits: ${num(credits.amount)} (${state})`));
  }
  return rows;
}

function card(a, ctx) {
  const id = encodeURIComponent(a.id);
  const act = (label, method, path) => () => ctx.act(label, () => api(method, path));
  return h("article", { class: "account", dataset: { id: a.id, state: a.state }, "aria-label": `Account ${a.id}` },
    h("div", { class: "head" }, h("strong", {}, `#${a.number} ${a.id}`), badge(a)),
    a.email ? h("div", { class: "muted" }, a.email) : null,
    a.state === "needs_verification" && a.verification_url ? h("p", { class: "verify" },
      "Google asks to verify this account: ",
      h("a", { href: a.verification_url, target: "_blank", rel: "noopener noreferrer" }, "verify it"),
      " (signed in as it); it comes back by itself once verified.") : null,
    a.disabled_reason && a.state !== "needs_verification" ? h("p", { class: "problem reason" }, a.disabled_reason) : null,
    a.cooldowns.map((c) => h("div", { class: "muted cooldown" },
      `${c.model} cooling until ${when(c.until)} (${c.left})${c.reason ? ` · ${c.reason}` : ""}`)),
    a.quota.models.length ? a.quota.models.map(quotaBar) : h("div", { class: "muted" }, "No quota check yet."),
    buckets(a),
    h("dl", { class: "facts" },
      h("dt", {}, "Today"), h("dd", {}, `${num(a.today.requests)} requests · ${num(a.today.tokens)} tokens`),
      h("dt", {}, "Last used"), h("dd", {}, ago(a.last_used_at)),
      h("dt", {}, "In flight"), h("dd", {}, num(a.in_flight)),
      h("dt", {}, "Proxy"), h("dd", { class: "proxy" }, a.proxy, h("span", { class: "muted" }, PROXY_SOURCE[a.proxy_source])),
      h("dt", {}, "Quota checked"), h("dd", {}, ago(a.quota.checked_at))),
    h("div", { class: "actions" },
      a.state === "disabled" || a.state === "needs_verification"
        ? h("button", { type: "button", dataset: { focus: `enable:${a.id}` }, "aria-label": `Enable ${a.id}`,
          onclick: act(`Account ${a.id} enabled`, "POST", `/admin/api/accounts/${id}/enable`) }, "Enable")
        : h("button", { type: "button", dataset: { focus: `disable:${a.id}` }, "aria-label": `Disable ${a.id}`,
          onclick: act(`Account ${a.id} disabled`, "POST", `/admin/api/accounts/${id}/disable`) }, "Disable"),
      h("button", { type: "button", dataset: { focus: `recheck:${a.id}` }, "aria-label": `Recheck ${a.id}`,
        onclick: () => ctx.act(`Account ${a.id} rechecked`, async () => {
          const done = await api("POST", `/admin/api/accounts/${id}/recheck`);
          return { message: `Account ${a.id}: ${done.outcome}.` };
        }) }, "Recheck"),
      h("button", { type: "button", dataset: { focus: `remove:${a.id}` }, "aria-label": `Remove ${a.id}`,
        onclick: async () => {
          if (await ctx.confirm(`Remove ${a.id}${a.email ? ` (${a.email})` : ""} from tokens.json? Its tokens go too.`)) {
            ctx.act(`Account ${a.id} removed`, () => api("DELETE", `/admin/api/accounts/${id}`));
          }
        } }, "Remove")));
}

export function render(data, ctx) {
  replace($("accounts"), data.accounts.length ? data.accounts.map((a) => card(a, ctx))
    : h("p", {}, "No account yet: add one by signing in, or import a file."));
}

function openSignIn() {
  signIn = null;
  const local = LOOPBACK.includes(location.hostname);
  for (const radio of document.querySelectorAll('#sign-in-form input[name="mode"]')) {
    radio.checked = radio.value === (local ? "callback" : "paste");
  }
  $("sign-in-steps").hidden = true;
  $("sign-in-start").disabled = false;
  $("sign-in-status").textContent = "";
  $("sign-in-url").value = "";
  $("sign-in-dialog").showModal();
}

async function startSignIn(ctx) {
  const mode = document.querySelector('#sign-in-form input[name="mode"]:checked').value;
  try {
    signIn = await api("POST", "/admin/api/accounts/sign-in", { mode, origin: location.origin });
  } catch (error) {
    $("sign-in-status").textContent = error.message;
    $("sign-in-steps").hidden = false;
    return;
  }
  $("sign-in-start").disabled = true;
  $("sign-in-link").href = signIn.consent_url;
  $("sign-in-paste").hidden = mode !== "paste";
  $("sign-in-steps").hidden = false;
  $("sign-in-status").textContent = mode === "paste"
    ? "Sign in, then copy the address the browser shows (it will not load) and paste it here."
    : "Sign in in the new tab; this shows the outcome.";
  $("sign-in-link").focus();
  watch(ctx);
}

function watch(ctx) {
  clearTimeout(signInTimer);
  signInTimer = setTimeout(async () => {
    if (!signIn) return;
    try {
      show(await api("GET", `/admin/api/accounts/sign-in/${encodeURIComponent(signIn.id)}`), ctx);
    } catch (error) {
      $("sign-in-status").textContent = error.message;
    }
  }, 1000);
}

function show(state, ctx) {
  signIn = state;
  if (state.status === "done") {
    $("sign-in-status").textContent = `${state.message}.`;
    ctx.notify(`${state.message}.`);
    ctx.refresh();
  } else if (state.status === "failed") {
    $("sign-in-status").textContent = `Sign-in failed: ${state.message}`;
  } else {
    watch(ctx);
  }
}

async function finishSignIn(ctx) {
  const url = $("sign-in-url").value.trim();
  if (!signIn || !url) return;
  $("sign-in-status").textContent = "Adding the account…";
  try {
    show(await api("POST", `/admin/api/accounts/sign-in/${encodeURIComponent(signIn.id)}`, { url }), ctx);
  } catch (error) {
    $("sign-in-status").textContent = error.message;
  }
}

async function importFiles(ctx) {
  const input = $("import-files");
  if (!input.files.length) return;
  const form = new FormData();
  for (const file of input.files) form.append("file", file, file.name);
  await ctx.act("Imported", async () => {
    const report = await api("POST", "/admin/api/accounts/import", form);
    const skipped = report.skipped.map((s) => `${s.file}: ${s.reason}`).join("; ");
    return { message: `Imported: ${report.added} added, ${report.updated} updated` +
      (skipped ? `; skipped ${skipped}` : "") };
  });
  input.value = "";
}
