// Live accuracy per model version: a dot-and-interval chart (inline SVG, drawn here) and the same
// figures as a table for screen readers. The figures come from GET /v1/models/{version}/performance:
// accuracy of the rated predictions with its 95% Wilson interval and the number of labels behind it.
import { predict } from "./api.js";
import { h, percent, replace, svg } from "./dom.js";

const MAX_VERSIONS = 8;
const ROW = 46; // px: a line of text (the version and its figures), then its interval
const TOP = 26;

/** The versions worth a row: the newest that served (a rejected challenger never did) and the one in production. */
export function servedVersions(items, current) {
  return items.filter((v) => v.decision !== "rejected" || v.version === current).slice(0, MAX_VERSIONS);
}

function domain(rows) {
  const lows = rows.filter((r) => r.accuracy).map((r) => r.accuracy.low);
  const floor = lows.length ? Math.floor(Math.min(...lows) * 10) / 10 : 0;
  return [Math.min(floor, 0.9), 1];
}

// Positions are percentages of the chart's width, so it fills a phone or a laptop and its text keeps
// its size (a viewBox would scale the text with the width).
function chart(rows, current) {
  const [lo, hi] = domain(rows);
  const x = (v) => `${(3 + ((v - lo) / (hi - lo)) * 94).toFixed(2)}%`;
  const height = TOP + rows.length * ROW;
  const step = hi - lo > 0.3 ? 0.1 : 0.05;
  const ticks = [];
  for (let t = lo; t <= hi + 1e-9; t += step) ticks.push(Math.round(t * 100) / 100);
  return svg("svg", { width: "100%", height, class: "chart", role: "img", "aria-labelledby": "accuracy-title",
    "aria-describedby": "accuracy-desc", focusable: "false" },
    ticks.map((t) => svg("g", { class: "tick" },
      svg("line", { x1: x(t), x2: x(t), y1: TOP - 6, y2: height }),
      svg("text", { x: x(t), y: TOP - 12, "text-anchor": "middle" }, `${Math.round(t * 100)}%`))),
    rows.map((r, i) => {
      const top = TOP + i * ROW;
      const y = top + 32;
      const a = r.accuracy;
      const label = svg("text", { x: "0", y: top + 15 },
        svg("tspan", { class: "version" }, r.version === current ? `${r.version} ●` : r.version),
        svg("tspan", { class: a ? "value" : "note", dx: 10 },
          a ? `${percent(a.value)} · ${r.labels} label${r.labels === 1 ? "" : "s"}` : "no rated predictions yet"));
      if (!a) return svg("g", { class: "row empty" }, label);
      return svg("g", { class: r.version === current ? "row live" : "row" }, label,
        svg("line", { class: "ci", x1: x(a.low), x2: x(a.high), y1: y, y2: y }),
        svg("line", { class: "ci", x1: x(a.low), x2: x(a.low), y1: y - 6, y2: y + 6 }),
        svg("line", { class: "ci", x1: x(a.high), x2: x(a.high), y1: y - 6, y2: y + 6 }),
        svg("circle", { class: "point", cx: x(a.value), cy: y, r: 5 }));
    }));
}

function table(rows, current) {
  return h("table", { id: "accuracy-table", class: "sr-only" },
    h("caption", {}, "Live accuracy per model version, newest first"),
    h("thead", {}, h("tr", {}, ["Version", "Accuracy", "95% interval", "Labels", "Days rated"]
      .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {},
      h("th", { scope: "row" }, r.version, r.version === current ? " (in production)" : ""),
      h("td", {}, r.accuracy ? percent(r.accuracy.value) : "no rated predictions yet"),
      h("td", {}, r.accuracy ? `${percent(r.accuracy.low)} to ${percent(r.accuracy.high)}` : "—"),
      h("td", {}, r.labels),
      h("td", {}, r.days)))));
}

/** The panel; update() draws it for the versions listed (newest first). */
export function accuracyPanel() {
  const body = h("div", {}, h("p", {}, "Loading…"));
  const el = h("section", { class: "card", id: "accuracy", "aria-labelledby": "accuracy-title" },
    h("h2", { id: "accuracy-title" }, "Live accuracy per version"),
    h("p", { id: "accuracy-desc", class: "help" },
      "Accuracy of each version's predictions that people rated, with its 95% interval (Wilson) and the ",
      "number of labels behind it: the fewer labels, the wider the interval. ● marks the version in production."),
    body);
  let drawn = null;
  const update = async (items, current) => {
    const versions = servedVersions(items, current);
    const answers = await Promise.all(versions.map((v) =>
      predict(`/v1/models/${encodeURIComponent(v.version)}/performance`).then((r) => r.data)));
    const rows = answers.map((p, i) => ({ version: versions[i].version, accuracy: p.overall.accuracy,
      labels: p.overall.labels, days: p.days.length }));
    const signature = JSON.stringify([rows, current]);
    if (signature === drawn) return;
    drawn = signature;
    replace(body, rows.length
      ? [h("div", { class: "chart-box" }, chart(rows, current)), table(rows, current)]
      : h("p", {}, "No version has served yet."));
  };
  return { el, update };
}
