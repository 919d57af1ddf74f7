// A record's explanation: each feature's exact contribution to the decision (weight × standardised
// value, from GET /v1/batches/{id}?explain=true), drawn as bars either side of zero, with the numbers.
import { h, svg } from "./dom.js";

const WIDTH = 200;

function bar(value, scale) {
  const half = WIDTH / 2;
  const length = scale > 0 ? (Math.abs(value) / scale) * (half - 2) : 0;
  return svg("svg", { viewBox: `0 0 ${WIDTH} 14`, class: "bar diverging", "aria-hidden": "true", focusable: "false" },
    svg("line", { class: "axis", x1: half, x2: half, y1: 0, y2: 14 }),
    svg("rect", { class: value >= 0 ? "fill up" : "fill down", x: value >= 0 ? half : half - length, y: 2,
      width: Math.max(length, 1), height: 10, rx: 2 }));
}

const signed = (v) => `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(3)}`;

/** The explanation of one result: one table per decision (a binary model has one). */
export function explanation(key, result, id) {
  return key.decisions.map((towards, d) => {
    const values = result.contributions[d];
    const scale = Math.max(...values.map(Math.abs));
    const total = values.reduce((a, b) => a + b, 0) + key.intercept[d];
    return h("table", { class: "explain", id: `${id}-${d}` },
      h("caption", {}, `Why ${result.subject} scored ${result.score.toFixed(3)}: `,
        `positive contributions push towards class ${towards}, negative ones away from it.`),
      h("thead", {}, h("tr", {}, ["Feature", "Value", "Contribution", ""].map((c, i) =>
        h("th", { scope: "col" }, i === 3 ? h("span", { class: "sr-only" }, "Bar") : c)))),
      h("tbody", {}, key.feature_names.map((name, i) => h("tr", {},
        h("th", { scope: "row" }, name),
        h("td", { class: "num" }, result.features ? result.features[i] : "—"),
        h("td", { class: "num" }, signed(values[i])),
        h("td", {}, bar(values[i], scale)))),
      h("tr", { class: "sum" }, h("th", { scope: "row" }, "intercept"), h("td", {}),
        h("td", { class: "num" }, signed(key.intercept[d])), h("td", {})),
      h("tr", { class: "sum" }, h("th", { scope: "row" }, "score"), h("td", {}),
        h("td", { class: "num" }, signed(total)), h("td", {}))));
  });
}
