// Overview: counts, the config's state, use per day (chart), the latest requests, refused system
// prompts and changes.

import { api } from "./api.js";
import { stackedBars } from "./chart.js";
import { ago, h, num, replace, table, when } from "./dom.js";

const $ = (id) => document.getElementById(id);

export function init(refresh) {
  for (const id of ["usage-by", "usage-days", "usage-metric"]) $(id).addEventListener("change", refresh);
}

export async function load() {
  const by = $("usage-by").value, days = $("usage-days").value;
  return api("GET", `/admin/api/overview?by=${encodeURIComponent(by)}&days=${encodeURIComponent(days)}`);
}

function card(title, value, detail, attrs = {}) {
  return h("div", { class: "card", ...attrs }, h("div", { class: "muted" }, title),
    h("div", { class: "value" }, value), detail ? h("div", { class: "muted" }, detail) : null);
}

export function render(data) {
  const a = data.accounts;
  replace($("overview-cards"),
    card("Accounts serving", num(a.enabled - a.cooling), `${num(a.cooling)} cooling · ${num(a.disabled)} disabled`,
      { id: "card-accounts" }),
    card("Calls in flight", num(a.in_flight)),
    card("Client keys", num(data.keys)),
    card("Live state", data.state.backend, data.state.ok ? "answering" : "not answering"));
  const problems = [];
  if (data.config.last_error) {
    problems.push(h("p", { class: "problem", id: "config-error" },
      "gateway.yaml edit refused (the last good config is in force): ", h("code", {}, data.config.last_error)));
  }
  if (data.config.restart_required.length) {
    problems.push(h("p", { class: "problem", id: "restart-required" },
      "Edited settings that take effect after a restart: ", data.config.restart_required.join(", ")));
  }
  for (const [label, text] of [["tokens.json refused", data.tokens.last_error],
    ["tokens.json cannot be written", data.tokens.write_error], ["Upstream", data.version_notice]]) {
    if (text) problems.push(h("p", { class: "problem" }, `${label}: `, h("code", {}, text)));
  }
  replace($("config-state"), h("div", { class: "panel", id: "config-panel" },
    h("h2", {}, "Configuration"),
    h("dl", { class: "facts" },
      h("dt", {}, "Config"), h("dd", {}, h("code", {}, data.config.path), ` · loaded ${ago(data.config.loaded_at)}`),
      h("dt", {}, "Accounts file"), h("dd", {}, h("code", {}, data.tokens.path))),
    problems.length ? problems : h("p", { class: "ok", id: "config-ok" }, "Both files are in force as saved.")));
  replace($("sharing-state"), data.sharing ? sharing(data.sharing) : null);
  const metric = $("usage-metric").value;
  replace($("usage-chart"), stackedBars(data.usage, metric, `${metric} per day by ${data.usage.by}`));
  replace($("recent-requests"), table([
    { title: "Time", cell: (r) => r.time.replace("T", " ").slice(0, 19) },
    { title: "Key", cell: (r) => r.key || "–" },
    { title: "Model", cell: (r) => r.model || "–" },
    { title: "Account", cell: (r) => r.project || "–" },
    { title: "Status", cell: (r) => r.status },
    { title: "ms", num: true, cell: (r) => num(Math.round(r.duration_ms)) },
    { title: "Tokens in", num: true, cell: (r) => num(r.tokens_in) },
    { title: "Tokens out", num: true, cell: (r) => num(r.tokens_out) },
    { title: "Error", cell: (r) => r.error_type || "" },
  ], data.recent_requests, "No client request since the gateway started."));
  const refused = data.content_rejections;
  replace($("content-rejections"), table([
    { title: "Time", cell: (r) => when(r.time) },
    { title: "Model", cell: (r) => r.model || "–" },
    { title: "Key", cell: (r) => r.key || "–" },
    { title: "Route", cell: (r) => r.route || "–" },
  ], refused.latest, "No system prompt refused since the gateway started."));
  $("rejections-total").textContent = refused.total ? `· ${num(refused.total)} since the start` : "";
  replace($("admin-writes"), table([
    { title: "Time", cell: (w) => when(w.at) },
    { title: "Who", cell: (w) => `${w.who} (${w.address})` },
    { title: "Action", cell: (w) => w.action },
    { title: "On", cell: (w) => w.target },
    { title: "Outcome", cell: (w) => w.outcome },
  ], data.admin_writes, "No change made from the console since the gateway started."));
}

// Hosts sharing the pool through Redis: where this host's account list and keys stand.
function sharing(s) {
  const problems = [];
  if (!s.tokens_shared) {
    problems.push(h("p", { class: "problem" },
      "No key is set (AG2API_SECRET_KEY): accounts added or signed in again stay on the host where that was done."));
  }
  if (s.last_error) problems.push(h("p", { class: "problem" }, "Sync: ", h("code", {}, s.last_error)));
  for (const k of s.keys_held) {
    problems.push(h("p", { class: "problem" }, `Shared key ${k.label} not written here: ${k.why}`));
  }
  return h("div", { class: "panel", id: "sharing-panel" },
    h("h2", {}, "Hosts"),
    h("dl", { class: "facts" },
      h("dt", {}, "This host"), h("dd", {}, s.host),
      h("dt", {}, "Last sync"), h("dd", {}, ago(s.last_sync)),
      h("dt", {}, "Pending here"), h("dd", { id: "sharing-pending" }, num(s.pending))),
    h("table", { id: "sharing-hosts" }, table([
      { title: "Host", cell: (x) => x.host },
      { title: "Last seen", cell: (x) => ago(x.last_seen) },
      { title: "Not merged yet", num: true, cell: (x) => num(x.pending) },
    ], s.hosts, "No host has synced yet.")),
    problems);
}
