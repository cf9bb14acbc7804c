// Small DOM helpers: elements from data (text is always text, never HTML), and formatting.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "width") el.style.width = value; // CSSOM: allowed by the page's CSP
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// Replace a container's content, keeping keyboard focus on the element with the same
// data-focus key (a page refreshed every few seconds must not throw the focus away).
export function replace(container, ...children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focus : null;
  container.replaceChildren();
  append(container, children);
  if (key) container.querySelector(`[data-focus="${CSS.escape(key)}"]`)?.focus();
}

const NUMBER = new Intl.NumberFormat("en");
export const num = (n) => (n === null || n === undefined ? "–" : NUMBER.format(n));

export function when(value) {
  if (!value) return "–";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return date.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

export function ago(value) {
  if (!value) return "never";
  const at = typeof value === "number" ? value * 1000 : Date.parse(value);
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function table(columns, rows, empty) {
  if (!rows.length) return [h("caption", { class: "muted" }, empty)];
  return [
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.title)))),
    h("tbody", {}, rows.map((row) => h("tr", row.attrs || {}, columns.map((c) =>
      h("td", { class: c.num ? "num" : null }, c.cell(row)))))),
  ];
}
