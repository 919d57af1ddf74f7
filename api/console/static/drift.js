// Input drift per feature for the version in production, from GET /v1/models/{version}/drift: each
// feature's population stability index (drawn as a bar), its Kolmogorov-Smirnov statistic and p-value,
// and whether the window was flagged. The flag comes from the API's tests; PSI is shown for reading.
import { ApiError, predict } from "./api.js";
import { h, replace, svg, when } from "./dom.js";

const PSI_MARK = 0.1; // the usual "worth a look" level of PSI
const BAR_WIDTH = 160;

function psiBar(psi, scale) {
  const width = Math.max(1, Math.min(1, psi / scale) * BAR_WIDTH);
  const mark = (PSI_MARK / scale) * BAR_WIDTH;
  return svg("svg", { viewBox: `0 0 ${BAR_WIDTH} 14`, class: "bar", "aria-hidden": "true", focusable: "false" },
    svg("rect", { class: "track", x: 0, y: 2, width: BAR_WIDTH, height: 10, rx: 2 }),
    svg("rect", { class: psi >= PSI_MARK ? "fill high" : "fill", x: 0, y: 2, width, height: 10, rx: 2 }),
    mark <= BAR_WIDTH ? svg("line", { class: "mark", x1: mark, x2: mark, y1: 0, y2: 14 }) : null);
}

function fixed(value, digits) {
  return typeof value === "number" ? value.toFixed(digits) : "—";
}

function pValue(p) {
  if (typeof p !== "number") return "—";
  return p < 0.0001 ? "< 0.0001" : p.toFixed(4);
}

function flag(drifted) {
  return h("span", { class: `badge ${drifted ? "drifted" : "stable"}` }, drifted ? "drifted" : "stable");
}

// Before a version's first window closes the route answers 200 with the records counted so far and
// no figures; a 404 means it does not know the version.
function notYet(version, d) {
  const counted = d
    ? h("p", { class: "help" }, `${d.records_in_window} of ${d.window_size} records counted toward the first window.`)
    : null;
  return h("div", {}, h("p", { id: "drift-empty" }, `No drift data yet for ${version}.`), counted);
}

function report(d) {
  const scale = Math.max(0.25, ...d.features.map((f) => f.psi));
  return [
    h("dl", { class: "facts" },
      h("dt", {}, "Version"), h("dd", { class: "mono" }, d.model_version),
      h("dt", {}, "Status"), h("dd", { id: "drift-status" }, flag(d.drifted)),
      h("dt", {}, "Window"), h("dd", {}, `${d.records_in_window} of ${d.window_size} records in the open window; `,
        `${d.windows_closed} window${d.windows_closed === 1 ? "" : "s"} tested`),
      h("dt", {}, "Updated"), h("dd", {}, when(d.updated_at))),
    h("div", { class: "scroll" }, h("table", { id: "drift-table" },
      h("caption", {}, "Per feature, in the newest tested window (the marker on a bar is PSI 0.1)"),
      h("thead", {}, h("tr", {}, ["Feature", "PSI", "KS", "p-value", "Status"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, d.features.map((f) => h("tr", { class: f.drifted ? "drifted" : null },
        h("th", { scope: "row" }, f.name),
        h("td", { class: "num psi" }, psiBar(f.psi, scale), " ", fixed(f.psi, 3)),
        h("td", { class: "num" }, fixed(f.ks, 3)),
        h("td", { class: "num" }, pValue(f.p_value)),
        h("td", {}, flag(f.drifted))))))),
  ];
}

/** The panel; update(version) shows the drift of that version's live inputs. */
export function driftPanel() {
  const body = h("div", {}, h("p", {}, "Loading…"));
  const el = h("section", { class: "card", id: "drift", "aria-labelledby": "drift-title" },
    h("h2", { id: "drift-title" }, "Input drift per feature"),
    h("p", { class: "help" },
      "How far the live records' features have moved from the training data's. A feature is flagged when its ",
      "mean or its distribution differs beyond chance (z and Kolmogorov-Smirnov tests); PSI, the population ",
      "stability index, is shown for reading."),
    body);
  let drawn = null;
  const update = async (version) => {
    let next;
    if (!version) {
      next = h("p", {}, "No model is in production yet.");
    } else {
      try {
        const { data } = await predict(`/v1/models/${encodeURIComponent(version)}/drift`);
        next = data.windows_closed > 0 && data.features.length ? data : notYet(version, data);
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 404) throw e;
        next = notYet(version, null);
      }
    }
    const signature = next instanceof Node ? next.textContent : JSON.stringify(next);
    if (signature === drawn) return; // unchanged: keep focus and scroll where they are
    drawn = signature;
    replace(body, next instanceof Node ? next : report(next));
  };
  return { el, update };
}
