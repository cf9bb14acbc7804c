// A stacked bar chart per day, drawn as SVG, with a legend and the numbers as a table.

import { h, num } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#1a73e8", "#e8710a", "#188038", "#a142f4", "#d93025", "#12b5cb", "#f9ab00",
                 "#5f6368", "#9aa0a6"];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

export function stackedBars({ days, series }, metric, title) {
  const width = 720, height = 220, left = 56, bottom = 22, top = 8;
  const totals = days.map((_, i) => series.reduce((sum, one) => sum + one[metric][i], 0));
  const peak = Math.max(1, ...totals);
  const step = (width - left) / Math.max(1, days.length);
  const bar = Math.max(2, step * 0.7);
  const y = (v) => top + (height - top - bottom) * (1 - v / peak);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  for (const fraction of [0, 0.5, 1]) {
    const value = Math.round(peak * fraction);
    svg.append(s("line", { x1: left, x2: width, y1: y(value), y2: y(value), stroke: "#e8eaed" }),
      s("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end", "font-size": 11,
        fill: "#5f6368" }, num(value)));
  }
  days.forEach((day, i) => {
    let base = 0;
    const x = left + i * step + (step - bar) / 2;
    series.forEach((one, k) => {
      const value = one[metric][i];
      if (!value) return;
      const rect = s("rect", { x, width: bar, y: y(base + value), height: y(base) - y(base + value),
        fill: COLOURS[k % COLOURS.length], "data-day": day, "data-name": one.name,
        "data-value": value });
      rect.append(s("title", {}, `${day} · ${one.name}: ${num(value)} ${metric}`));
      svg.append(rect);
      base += value;
    });
    if (days.length <= 16 || i % Math.ceil(days.length / 12) === 0) {
      svg.append(s("text", { x: x + bar / 2, y: height - 6, "text-anchor": "middle",
        "font-size": 10, fill: "#5f6368" }, day.slice(5)));
    }
  });
  const legend = h("ul", { class: "legend" }, series.map((one, k) => h("li", {},
    h("span", { class: "swatch", "aria-hidden": "true", dataset: { colour: k } }), one.name)));
  legend.querySelectorAll(".swatch").forEach((el) => {
    el.style.background = COLOURS[Number(el.dataset.colour) % COLOURS.length];
  });
  const data = h("details", {}, h("summary", {}, "The numbers"), h("div", { class: "scroll" },
    h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"),
        series.map((one) => h("th", { scope: "col" }, one.name)))),
      h("tbody", {}, days.map((day, i) => h("tr", {}, h("th", { scope: "row" }, day),
        series.map((one) => h("td", { class: "num" }, num(one[metric][i])))))))));
  if (!series.length) return [h("p", { class: "muted" }, "No use recorded in these days.")];
  return [svg, legend, data];
}
