// Client keys: policy and use, create (the key shown once), edit, disable, delete.

import { api } from "./api.js";
import { h, num, replace, table } from "./dom.js";

const $ = (id) => document.getElementById(id);
const NUMBERS = ["rpm", "tpm", "max_concurrent", "daily_tokens", "monthly_tokens"];
let editing = null; // the label being edited; null: a new key

export function init(ctx) {
  $("new-key").addEventListener("click", () => openForm(null, null));
  $("key-defaults").addEventListener("change", () => {
    $("key-policy").disabled = $("key-defaults").checked;
  });
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault(); // Enter in a field saves, as the button does
    save(ctx);
  });
  $("key-copy").addEventListener("click", async () => {
    $("key-value").select();
    await navigator.clipboard?.writeText($("key-value").value).catch(() => {});
  });
}

export const load = () => api("GET", "/admin/api/keys");

function limitCell(limit) {
  if (limit.limit === null) {
    return limit.used === null || limit.used === undefined ? h("span", { class: "muted" }, "no limit")
      : [num(limit.used), h("div", { class: "muted" }, "no limit")];
  }
  const used = limit.used ?? 0;
  const share = Math.min(1, used / limit.limit);
  return [`${num(used)} / ${num(limit.limit)}`,
    h("span", { class: "meter", "aria-hidden": "true" },
      h("span", { class: share >= 1 ? "full" : null, width: `${(share * 100).toFixed(1)}%` }))];
}

function state(key) {
  if (!key.enabled) return "disabled";
  return key.expired ? "expired" : "active";
}

export function render(data, ctx) {
  $("keys-note").textContent = `Limits count requests per minute and tokens per UTC day (${data.day}) ` +
    `and month (${data.month}). Changes are written to ${data.config_path} and applied by its reload.`;
  replace($("keys"), table([
    { title: "Key", cell: (k) => [h("strong", {}, k.label), k.hashed ? h("div", { class: "muted" }, "stored hashed") : null] },
    { title: "State", cell: (k) => h("span", { class: `badge ${state(k)}` }, state(k)) },
    { title: "Policy", cell: (k) => [k.policy === "own" ? "own" : "defaults",
      h("div", { class: "muted" }, k.models ? k.models.join(", ") : "all models"),
      k.expires ? h("div", { class: "muted" }, `until ${k.expires.slice(0, 10)}`) : null] },
    { title: "Requests/min", cell: (k) => limitCell(k.limits.rpm) },
    { title: "Tokens/min", cell: (k) => limitCell(k.limits.tpm) },
    { title: "In flight", cell: (k) => limitCell(k.limits.max_concurrent) },
    { title: "Tokens today", cell: (k) => limitCell({ ...k.limits.daily_tokens, used: k.limits.daily_tokens.used ?? k.today.tokens }) },
    { title: "Tokens this month", cell: (k) => limitCell({ ...k.limits.monthly_tokens, used: k.limits.monthly_tokens.used ?? k.month.tokens }) },
    { title: "Requests today / month", num: true, cell: (k) => `${num(k.today.requests)} / ${num(k.month.requests)}` },
    { title: "Actions", cell: (k) => h("div", { class: "actions" },
      h("button", { type: "button", dataset: { focus: `edit:${k.label}` }, "aria-label": `Edit ${k.label}`,
        onclick: () => openForm(k.label, k.own_policy) }, "Edit"),
      h("button", { type: "button", dataset: { focus: `toggle:${k.label}` },
        "aria-label": `${k.enabled ? "Disable" : "Enable"} ${k.label}`,
        onclick: () => ctx.act(`Key ${k.label} ${k.enabled ? "disabled" : "enabled"}`,
          () => api("PATCH", `/admin/api/keys/${encodeURIComponent(k.label)}`, { enabled: !k.enabled })) },
        k.enabled ? "Disable" : "Enable"),
      h("button", { type: "button", dataset: { focus: `delete:${k.label}` }, "aria-label": `Delete ${k.label}`,
        onclick: async () => {
          if (await ctx.confirm(`Delete the key ${k.label}? Clients using it are refused at once.`)) {
            ctx.act(`Key ${k.label} deleted`, () => api("DELETE", `/admin/api/keys/${encodeURIComponent(k.label)}`));
          }
        } }, "Delete")) },
  ], data.keys.map((k) => ({ ...k, attrs: { "data-key": k.label } })),
  "No client key: the gateway accepts every local client. Create one."));
}

function openForm(label, policy) {
  editing = label;
  $("h-key").textContent = label === null ? "New key" : `Edit ${label}`;
  $("key-save").textContent = label === null ? "Create" : "Save";
  $("key-label").value = label ?? "";
  $("key-label").readOnly = label !== null;
  $("key-defaults").checked = label !== null && policy === null;
  $("key-policy").disabled = $("key-defaults").checked;
  const p = policy || {};
  $("key-models").value = (p.models || []).join(", ");
  for (const name of NUMBERS) $(`key-${name}`).value = p[name] ?? "";
  $("key-expires").value = p.expires ? p.expires.slice(0, 10) : "";
  $("key-error").textContent = "";
  $("key-dialog").showModal();
  (label === null ? $("key-label") : $("key-models")).focus();
}

function policyFromForm() {
  if ($("key-defaults").checked) return null;
  const policy = {};
  const models = $("key-models").value.split(",").map((m) => m.trim()).filter(Boolean);
  if (models.length) policy.models = models;
  for (const name of NUMBERS) {
    const value = $(`key-${name}`).value.trim();
    if (value) policy[name] = Number(value);
  }
  if ($("key-expires").value) policy.expires = $("key-expires").value;
  return policy;
}

async function save(ctx) {
  const policy = policyFromForm();
  try {
    if (editing === null) {
      const made = await api("POST", "/admin/api/keys", { label: $("key-label").value.trim(), policy });
      $("key-dialog").close();
      $("key-value").value = made.key;
      $("key-shown").showModal();
      $("key-value").select();
      ctx.notify(`Key ${made.label} created${made.applied ? " and in force" : ""}.`);
    } else {
      const done = await api("PATCH", `/admin/api/keys/${encodeURIComponent(editing)}`, { policy });
      $("key-dialog").close();
      ctx.notify(`Key ${editing} saved${done.applied ? " and in force" : ""}.`);
    }
    ctx.refresh();
  } catch (error) {
    $("key-error").textContent = error.message;
  }
}
