// The svmflow console: one page, one view per URL fragment (#/submit, #/batches, #/batches/<id>,
// #/models, #/jobs, #/dead-letters). Views poll the predict API while they are shown.
import { ApiError, ingest, predict, session } from "./api.js";
import { parseBatch } from "./csv.js";
import { accuracyPanel } from "./accuracy.js";
import { driftPanel } from "./drift.js";
import { h, percent, replace, when } from "./dom.js";
import { explanation } from "./explain.js";

const main = document.getElementById("main");
const notice = document.getElementById("notice");
let stopView = () => {};

function say(message, kind = "info") {
  replace(notice, message ? h("p", { class: `msg ${kind}` }, message) : "");
}

function every(ms, fn) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    try {
      await fn();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return signOut("Your API key is no longer accepted.");
      say(error.message, "error");
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function title(text, ...extra) {
  document.title = `${text} · svmflow console`;
  return h("div", { class: "view-head" }, h("h1", {}, text), ...extra);
}

// -- the model's spec ----------------------------------------------------------------------------

async function featureNames() {
  const { data } = await predict("/v1/models/current");
  if (Array.isArray(data.feature_names) && data.feature_names.length) return data.feature_names;
  return Array.from({ length: data.n_features || 0 }, (_, i) => `feature_${i + 1}`);
}

// -- sign in -------------------------------------------------------------------------------------

function signOut(message) {
  session.signOut();
  renderWho();
  location.hash = "#/signin";
  if (message) say(message, "error");
}

function signInView() {
  const input = h("input", { id: "key", name: "key", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "key-help" });
  const error = h("p", { id: "signin-error", class: "msg error", role: "alert", hidden: true });
  const form = h("form", { class: "card narrow", onsubmit: async (event) => {
    event.preventDefault();
    error.hidden = true;
    const key = input.value.trim();
    try {
      const { data } = await predict("/v1/me", { key });
      session.signIn(key, data.role);
      renderWho();
      say(data.operator ? "Signed in as an operator." : "Signed in.");
      location.hash = sessionStorage.getItem("svmflow.next") || "#/batches";
    } catch (e) {
      error.textContent = e.status === 401
        ? "That API key was not accepted. Check it and try again."
        : `Could not sign in: ${e.message}`;
      error.hidden = false;
      input.focus();
    }
  } },
    h("label", { for: "key" }, "API key"),
    input,
    h("p", { id: "key-help", class: "help" }, "Kept for this browser tab only (session storage); closing the tab signs you out."),
    error,
    h("button", { type: "submit" }, "Sign in"));
  replace(main, title("Sign in"), form);
  input.focus();
}

function renderWho() {
  const who = document.getElementById("who");
  // Dead letters are for operators; the API refuses them to a plain key anyway (403).
  document.getElementById("nav-dead-letters").hidden = !(session.key() && session.isOperator());
  if (!session.key()) return replace(who, "");
  replace(who,
    h("span", { class: `role ${session.role()}` }, session.isOperator() ? "operator" : "user"),
    h("button", { type: "button", class: "link", onclick: () => signOut("Signed out.") }, "Sign out"));
}

// -- submit --------------------------------------------------------------------------------------

const SAMPLE_HINT = "subject,variance,skewness,curtosis,entropy";

async function submitView() {
  const names = await featureNames();
  const hint = ["subject", ...names].join(",");
  const prefix = `web-${Date.now().toString(36)}`;
  let prepared = null;

  const text = h("textarea", { id: "rows", rows: 8, spellcheck: "false", "aria-describedby": "rows-help",
    placeholder: `${hint}\nnote-1,${names.map(() => "0.0").join(",")}` });
  const file = h("input", { id: "file", type: "file", accept: ".csv,text/csv,text/plain" });
  const drop = h("div", { class: "drop" }, h("label", { for: "file" }, "…or choose a CSV file, or drop one here"), file);
  const errors = h("div", { id: "errors", role: "alert" });
  const preview = h("div", { id: "preview" });
  const send = h("button", { type: "submit", disabled: true }, "Submit batch");

  const check = () => {
    const result = parseBatch(text.value, names, (line) => `${prefix}-${line}`);
    send.disabled = true;
    prepared = null;
    replace(errors, result.errors.length
      ? h("div", { class: "msg error" }, h("p", {}, `${result.errors.length} problem(s); nothing will be sent:`),
        h("ul", {}, result.errors.slice(0, 10).map((e) => h("li", {}, e))))
      : "");
    if (result.errors.length || !result.features.length) return replace(preview, "");
    // One key per prepared batch: a second click (or a retry) names the same batch, so it is sent once.
    prepared = { subjects: result.subjects, features: result.features, key: crypto.randomUUID() };
    send.disabled = false;
    const shown = result.features.slice(0, 10);
    replace(preview, h("h2", {}, `Will send ${result.features.length} row(s)`),
      h("div", { class: "scroll" }, h("table", {},
        h("caption", {}, shown.length < result.features.length ? `First ${shown.length} rows` : "All rows"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "subject"), names.map((n) => h("th", { scope: "col" }, n)))),
        h("tbody", {}, shown.map((row, i) => h("tr", {}, h("td", {}, result.subjects[i]),
          row.map((v) => h("td", { class: "num" }, v))))))));
  };
  text.addEventListener("input", check);
  const load = async (f) => {
    if (!f) return;
    text.value = await f.text();
    check();
  };
  file.addEventListener("change", () => load(file.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    load(e.dataTransfer.files[0]);
  });

  const form = h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    if (!prepared || send.dataset.busy) return;
    send.dataset.busy = "1";
    send.disabled = true;
    const batch = prepared;
    try {
      const { data } = await ingest("/v1/batches", {
        method: "POST",
        body: { subjects: batch.subjects, features: batch.features },
        headers: { "Idempotency-Key": batch.key },
      });
      remember(data.batch_id, batch);
      say(`Batch ${data.batch_id} accepted (${data.record_count} rows).`, "ok");
      location.hash = `#/batches/${data.batch_id}`;
    } catch (e) {
      replace(errors, h("p", { class: "msg error" }, `Not accepted: ${e.message}`));
      send.disabled = false;
    } finally {
      delete send.dataset.busy;
    }
  } },
    h("label", { for: "rows" }, "Rows"),
    h("p", { id: "rows-help", class: "help" },
      `One row per record with the model's ${names.length} features (${names.join(", ")}), `,
      "optionally a subject id first; a header line may name the columns.", h("br"),
      h("code", {}, hint)),
    text, drop, errors, preview,
    h("div", { class: "actions" }, send));
  replace(main, title("Submit a batch"), form);
}

// What this tab submitted: the features (the read model keeps labels and scores only) and, until the
// results are in, the fact that the batch is pending.
function remember(batchId, batch) {
  sessionStorage.setItem(`svmflow.batch.${batchId}`, JSON.stringify({ subjects: batch.subjects, features: batch.features }));
  const pending = JSON.parse(sessionStorage.getItem("svmflow.pending") || "[]");
  if (!pending.some((p) => p.id === batchId)) pending.unshift({ id: batchId, at: new Date().toISOString() });
  sessionStorage.setItem("svmflow.pending", JSON.stringify(pending.slice(0, 50)));
}

function submitted(batchId) {
  return JSON.parse(sessionStorage.getItem(`svmflow.batch.${batchId}`) || "null");
}

// -- batches -------------------------------------------------------------------------------------

const details = new Map(); // batch id -> its results (immutable once done)

async function batchDetail(id) {
  if (!details.has(id)) {
    const { data } = await predict(`/v1/batches/${encodeURIComponent(id)}`);
    // Pending and failed can still change (an operator may replay a failed batch's request).
    if (data.status !== "done") return data;
    details.set(id, data);
  }
  return details.get(id);
}

function statusBadge(status) {
  return h("span", { class: `badge ${status}` }, status);
}

function batchesView() {
  const cursors = [null];
  let page = 0;
  const filter = h("input", { id: "filter", type: "search", placeholder: "batch id, subject or model version" });
  const body = h("tbody");
  const older = h("button", { type: "button", class: "secondary", disabled: true }, "Older →");
  const newer = h("button", { type: "button", class: "secondary", disabled: true }, "← Newer");
  const where = h("span", { class: "help", "aria-live": "polite" });
  let rows = [];
  let drawn = null;

  const draw = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = rows.filter((r) => !needle || r.text.includes(needle));
    replace(body, shown.length ? shown.map((r) => r.el)
      : h("tr", {}, h("td", { colspan: 6, class: "empty" }, needle ? "No batch matches the filter." : "No batches yet.")));
  };

  const refresh = async () => {
    const cursor = cursors[page];
    const query = `/v1/batches?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const { data } = await predict(query);
    cursors[page + 1] = data.next_cursor;
    older.disabled = !data.next_cursor;
    newer.disabled = page === 0;
    where.textContent = `Page ${page + 1}`;
    const listed = new Set(data.items.map((i) => i.batch_id));
    // Batches this tab submitted whose results are not in yet are not listed by the API: show them.
    let pending = JSON.parse(sessionStorage.getItem("svmflow.pending") || "[]").filter((p) => !listed.has(p.id));
    const next = [];
    if (page === 0) {
      for (const p of pending) {
        const d = await batchDetail(p.id);
        if (d.status === "done") continue;
        next.push(row(p.id, p.at, d));
      }
      pending = pending.filter((p) => !details.has(p.id));
      sessionStorage.setItem("svmflow.pending", JSON.stringify(pending));
    }
    for (const item of data.items) next.push(row(item.batch_id, item.submitted_at, await batchDetail(item.batch_id)));
    const signature = next.map((r) => r.signature).join("|");
    if (signature === drawn) return; // unchanged: keep focus where it is
    drawn = signature;
    rows = next;
    draw();
  };

  const row = (id, at, d) => {
    const labels = d.results ? d.results.map((r) => r.label) : [];
    const positives = labels.filter((l) => l === 1).length;
    const el = h("tr", {},
      h("td", {}, h("a", { href: `#/batches/${id}`, class: "mono", "aria-label": `Batch ${id}`, title: id }, id.slice(0, 12) + "…")),
      h("td", {}, statusBadge(d.status), d.reason ? h("div", { class: "reason help" }, d.reason) : null),
      h("td", {}, when(at)),
      h("td", { class: "num" }, d.record_count ?? "—"),
      h("td", { class: "num" }, d.results ? `${positives} / ${labels.length - positives}` : "—"),
      h("td", { class: "mono" }, d.model_version ?? "—"));
    const text = [id, d.model_version || "", d.status, ...(d.results || []).map((r) => r.subject)].join(" ").toLowerCase();
    return { el, text, signature: `${id}:${d.status}` };
  };

  filter.addEventListener("input", draw);
  let stop = every(2000, refresh);
  const go = (delta) => {
    page += delta;
    drawn = null;
    stop();
    stop = every(2000, refresh);
  };
  older.addEventListener("click", () => go(1));
  newer.addEventListener("click", () => go(-1));
  replace(main, title("Batches", h("a", { class: "button", href: "#/submit" }, "Submit a batch")),
    h("div", { class: "card" },
      h("div", { class: "toolbar" }, h("label", { for: "filter" }, "Filter"), filter),
      h("div", { class: "scroll" }, h("table", { id: "batches" },
        h("caption", { class: "sr-only" }, "Batches, newest first; updates live"),
        h("thead", {}, h("tr", {}, ["Batch", "Status", "Submitted", "Rows", "Labels 1 / 0", "Model version"]
          .map((c) => h("th", { scope: "col" }, c)))),
        body)),
      h("div", { class: "pager" }, newer, where, older)));
  return () => stop();
}

function batchView(id) {
  const head = title("Batch", h("a", { href: "#/batches" }, "← all batches"));
  const box = h("div", { class: "card" }, h("p", {}, "Loading…"));
  replace(main, head, box);
  let pollTraining = null; // once the results are shown: follows the ratings into the training data
  const stop = every(1000, async () => {
    if (pollTraining) return pollTraining();
    const { data } = await predict(`/v1/batches/${encodeURIComponent(id)}`);
    if (data.status === "failed") {
      replace(box, h("dl", { class: "facts" }, h("dt", {}, "Batch"), h("dd", { class: "mono" }, id),
        h("dt", {}, "Status"), h("dd", {}, statusBadge(data.status)),
        h("dt", {}, "Reason"), h("dd", { id: "failure-reason" }, data.reason),
        h("dt", {}, "Failed"), h("dd", {}, when(data.failed_at))),
        h("p", { class: "help" }, session.isOperator()
          ? h("span", {}, "Replay its request from ", h("a", { href: "#/dead-letters" }, "Dead letters"),
            " once the cause is fixed; this page updates by itself.")
          : "An operator can replay its request once the cause is fixed; this page updates by itself."));
      return;
    }
    if (data.status !== "done") {
      replace(box, h("dl", { class: "facts" }, h("dt", {}, "Batch"), h("dd", { class: "mono" }, id),
        h("dt", {}, "Status"), h("dd", {}, statusBadge(data.status))),
        h("p", { class: "help" }, "The prediction is on its way; this page updates by itself."));
      return;
    }
    details.set(id, data);
    pollTraining = drawBatch(box, data, await explainedBatch(id));
    await pollTraining();
  });
  return stop;
}

// The results with each record's features and contributions; null for a batch restored from the
// database without them (409), whose page then shows the results alone.
async function explainedBatch(id) {
  try {
    return (await predict(`/v1/batches/${encodeURIComponent(id)}?explain=true`)).data;
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) return null;
    throw e;
  }
}

// Microseconds since 1970 of an API timestamp (they carry six decimals; Date keeps three).
function micros(iso) {
  const [, whole, fraction = "", zone] = iso.match(/^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/);
  return Date.parse(whole + zone) * 1000 + Number(fraction.padEnd(6, "0").slice(0, 6));
}

// Which ratings of a batch have reached the training data: GET /v1/batches/{id}/training-labels,
// polled while a rating accepted here has not arrived yet.
function trainingTracker(batchId) {
  const entries = new Map(); // subject -> its newest rating in the training data
  const waiting = new Map(); // subject -> when the rating sent from this page was recorded
  const listeners = new Set();
  let polled = false;
  return {
    entry: (subject) => entries.get(subject),
    isWaiting: (subject) => waiting.has(subject),
    onChange: (fn) => listeners.add(fn),
    expect(subjects, ratedAt) {
      for (const s of subjects) waiting.set(s, micros(ratedAt));
      for (const fn of listeners) fn(subjects);
    },
    async poll() {
      if (polled && !waiting.size) return;
      polled = true;
      const { data } = await predict(`/v1/batches/${encodeURIComponent(batchId)}/training-labels`);
      const changed = [];
      for (const entry of data.items) {
        const before = entries.get(entry.subject);
        if (before && before.rated_at === entry.rated_at) continue;
        entries.set(entry.subject, entry);
        if (waiting.has(entry.subject) && micros(entry.rated_at) >= waiting.get(entry.subject)) waiting.delete(entry.subject);
        changed.push(entry.subject);
      }
      if (changed.length) for (const fn of listeners) fn(changed);
    },
  };
}

function trainingState(tracker, subject) {
  const entry = tracker.entry(subject);
  if (tracker.isWaiting(subject)) return h("span", { class: "arrival" }, "on its way…");
  if (!entry) return h("span", { class: "arrival" }, "not rated");
  return h("span", { class: "arrival ok" }, `label ${entry.label} since `, when(entry.reached_at));
}

function drawBatch(box, batch, explained) {
  const mine = submitted(batch.batch_id);
  const featuresOf = new Map(explained
    ? explained.results.map((r) => [r.subject, r.features])
    : mine ? mine.subjects.map((s, i) => [s, mine.features[i]]) : []);
  const width = featuresOf.size ? featuresOf.values().next().value.length : 0;
  const names = explained?.explanation.feature_names || window.svmflowFeatureNames || [];
  const explanations = new Map(explained ? explained.results.map((r) => [r.subject, r]) : []);
  const tracker = trainingTracker(batch.batch_id);
  const columns = 1 + width + 4;
  const trainingCells = new Map();
  const rows = batch.results.flatMap((r, index) => {
    const state = h("span", { class: "rated", "aria-live": "polite" });
    const select = h("select", { "aria-label": `Label of ${r.subject}`, dataset: { subject: r.subject } },
      [0, 1].map((label) => h("option", { value: label, selected: label === r.label }, String(label))));
    select.addEventListener("change", async () => {
      const corrected = Number(select.value) !== r.label;
      select.disabled = true;
      state.textContent = "sending…";
      try {
        const { data } = await predict(`/v1/batches/${encodeURIComponent(batch.batch_id)}`, {
          method: "PATCH", body: { subjects: [r.subject], ratings: [corrected ? 0 : 1] },
        });
        state.textContent = corrected ? `corrected to ${select.value} · accepted` : "confirmed · accepted";
        state.className = "rated ok";
        if (data.rated_at) tracker.expect([r.subject], data.rated_at);
      } catch (e) {
        state.textContent = `not accepted: ${e.message}`;
        state.className = "rated error";
      } finally {
        select.disabled = false;
      }
    });
    const values = featuresOf.get(r.subject);
    const training = h("td", { class: "training", "aria-live": "polite" }, trainingState(tracker, r.subject));
    trainingCells.set(r.subject, training);
    const explainedResult = explanations.get(r.subject);
    const detailId = `why-${index}`;
    const detail = explainedResult
      ? h("tr", { id: detailId, class: "why", hidden: true },
        h("td", { colspan: columns }, explanation(explained.explanation, explainedResult, `${detailId}-table`)))
      : null;
    const toggle = detail
      ? h("button", { type: "button", class: "secondary small", "aria-expanded": "false", "aria-controls": detailId,
        "aria-label": `Why ${r.subject} is ${r.label}`, onclick: () => {
          const open = toggle.getAttribute("aria-expanded") !== "true";
          toggle.setAttribute("aria-expanded", String(open));
          detail.hidden = !open;
        } }, "Why?")
      : null;
    return [h("tr", { class: "result" },
      h("th", { scope: "row" }, r.subject),
      width ? (values || Array(width).fill(null)).map((v) => h("td", { class: "num" }, v ?? "—")) : null,
      h("td", { class: "num" }, r.label),
      h("td", { class: "num score" }, r.score.toFixed(3), toggle ? " " : null, toggle),
      h("td", {}, select, " ", state),
      training), detail];
  });
  tracker.onChange((subjects) => {
    for (const s of subjects) replace(trainingCells.get(s), trainingState(tracker, s));
  });
  const confirmAll = h("button", { type: "button", class: "secondary" }, "Confirm every predicted label");
  const allState = h("span", { class: "rated", "aria-live": "polite" });
  let allSent = null; // the subjects confirmed at once, until they are all in the training data
  tracker.onChange(() => {
    if (!allSent || allSent.subjects.some((s) => tracker.isWaiting(s))) return;
    allState.textContent = `${allSent.subjects.length} rating(s) accepted · all in the training data`;
    allSent = null;
  });
  confirmAll.addEventListener("click", async () => {
    confirmAll.disabled = true;
    try {
      const selects = [...box.querySelectorAll("select[data-subject]")];
      const subjects = selects.map((s) => s.dataset.subject);
      const { data } = await predict(`/v1/batches/${encodeURIComponent(batch.batch_id)}`, {
        method: "PATCH",
        body: { subjects, ratings: selects.map((s, i) => (Number(s.value) === batch.results[i].label ? 1 : 0)) },
      });
      allState.textContent = `${selects.length} rating(s) accepted · on their way to the training data`;
      allState.className = "rated ok";
      allSent = { subjects };
      if (data.rated_at) tracker.expect(subjects, data.rated_at);
    } catch (e) {
      allState.textContent = `not accepted: ${e.message}`;
      allState.className = "rated error";
    } finally {
      confirmAll.disabled = false;
    }
  });
  replace(box,
    h("dl", { class: "facts" },
      h("dt", {}, "Batch"), h("dd", { class: "mono" }, batch.batch_id),
      h("dt", {}, "Status"), h("dd", {}, statusBadge(batch.status)),
      h("dt", {}, "Model version"), h("dd", { class: "mono" }, batch.model_version),
      h("dt", {}, "Submitted"), h("dd", {}, when(batch.submitted_at)),
      h("dt", {}, "Predicted"), h("dd", {}, when(batch.predicted_at))),
    h("p", { class: "help" },
      "Change a label to correct it: the correction is sent at once as feedback and becomes training data ",
      "(the Training data column shows when it got there); enough new labels start a retraining (see Jobs). ",
      "The score is the signed distance to the decision boundary; “Why?” beside it shows each feature's contribution.",
      explained ? "" : " This batch was restored without its features: they and the explanations are shown only in the tab that submitted it."),
    h("div", { class: "scroll" }, h("table", { id: "results" },
      h("caption", { class: "sr-only" }, "Predictions, one per record"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Subject"),
        width ? Array.from({ length: width }, (_, i) => h("th", { scope: "col" }, names[i] || `feature ${i + 1}`)) : null,
        h("th", { scope: "col" }, "Predicted"), h("th", { scope: "col" }, "Score"), h("th", { scope: "col" }, "Label (correct here)"),
        h("th", { scope: "col" }, "Training data"))),
      h("tbody", {}, rows))),
    h("div", { class: "actions" }, confirmAll, allState));
  return tracker.poll;
}

// -- models and jobs -----------------------------------------------------------------------------

function evaluationList(label, e) {
  if (!e) return null;
  return h("div", { class: "eval" }, h("h4", {}, label), h("dl", {},
    h("dt", {}, "seed hold-out"), h("dd", {}, `${percent(e.seed_holdout_accuracy)} of ${e.seed_holdout_size}`),
    h("dt", {}, "feedback hold-out"), h("dd", {}, `${percent(e.feedback_holdout_accuracy)} of ${e.feedback_holdout_size}`)));
}

function modelsView() {
  const current = h("div", { class: "card", id: "current" }, h("p", {}, "Loading…"));
  const timeline = h("ol", { class: "timeline", id: "timeline" });
  const outcome = h("div", { id: "rollback-outcome", role: "status", "aria-live": "polite" });
  let confirming = null; // the version an operator is about to roll back to
  let latest = null;

  const rollBack = async (version) => {
    confirming = null;
    draw();
    try {
      const { data } = await predict("/v1/models/rollback", { method: "POST", body: { to_version: version } });
      replace(outcome, h("p", { class: "msg ok" },
        `Rollback to ${data.to_version} requested (job ${data.job_id}); production changes once the rollback function has acted.`));
    } catch (e) {
      replace(outcome, h("p", { class: "msg error" }, `Rollback refused: ${e.message}`));
    }
  };

  const rollbackControl = (v, c) => {
    // Any stored version can serve again, a rejected challenger included: the operator decides.
    if (!session.isOperator() || !c || v.version === c.version) return null;
    if (confirming === v.version) {
      return h("div", { class: "actions" },
        h("button", { type: "button", class: "danger", onclick: () => rollBack(v.version) }, `Confirm: serve ${v.version} again`),
        h("button", { type: "button", class: "secondary", onclick: () => { confirming = null; draw(); } }, "Cancel"));
    }
    return h("div", { class: "actions" }, h("button", { type: "button", class: "secondary",
      onclick: () => { confirming = v.version; draw(); } }, "Roll back to this version"));
  };

  const draw = () => {
    if (!latest) return;
    const [c, items] = latest;
    replace(current, c
      ? [h("h2", {}, "In production"), h("dl", { class: "facts" },
        h("dt", {}, "Version"), h("dd", { class: "mono" }, c.version),
        h("dt", {}, "Since"), h("dd", {}, when(c.since)),
        h("dt", {}, "Decision"), h("dd", {}, statusBadge(c.decision), " ", c.reason),
        h("dt", {}, "Seed hold-out accuracy"), h("dd", {}, percent(c.evaluation?.seed_holdout_accuracy))),
        session.isOperator() ? null : h("p", { class: "help" }, "Rolling back needs an API key with the operator role.")]
      : h("p", {}, "No model is in production yet."));
    replace(timeline, items.length ? items.map((v) => h("li", { class: v.decision },
      h("div", { class: "when" }, when(v.created_at)),
      h("div", { class: "what" },
        h("h3", {}, h("span", { class: "mono" }, v.version), " ", statusBadge(v.decision),
          c && v.version === c.version ? h("span", { class: "badge live" }, "in production") : null),
        h("p", {}, v.reason),
        h("div", { class: "evals" }, evaluationList("Challenger (this version)", v.evaluation),
          evaluationList("Champion at the time", v.champion_evaluation),
          h("div", { class: "eval" }, h("h4", {}, "Data"), h("dl", {},
            h("dt", {}, "training rows"), h("dd", {}, v.train_size ?? "—"),
            h("dt", {}, "features"), h("dd", {}, v.n_features ?? "—")))),
        rollbackControl(v, c)))) : h("li", {}, "No versions yet."));
  };

  const accuracy = accuracyPanel();
  const drift = driftPanel();
  replace(main, title("Models"), outcome, current, accuracy.el, drift.el, h("h2", {}, "Version history"), timeline);
  return every(3000, async () => {
    const [now, versions] = await Promise.all([
      predict("/v1/models/current").catch((e) => (e.status === 404 ? { data: null } : Promise.reject(e))),
      predict("/v1/models?limit=50"),
    ]);
    const next = [now.data, versions.data.items];
    // The figures move with every rating, the history only with a decision: both are asked each time.
    await Promise.all([accuracy.update(next[1], now.data?.version), drift.update(now.data?.version)]);
    if (JSON.stringify(next) === JSON.stringify(latest)) return; // keeps focus where it is
    latest = next;
    draw();
  });
}

function jobsView() {
  const body = h("tbody");
  replace(main, title("Training jobs"), h("div", { class: "card scroll" }, h("table", { id: "jobs" },
    h("caption", { class: "sr-only" }, "Training jobs and rollbacks, newest first; updates live"),
    h("thead", {}, h("tr", {}, ["Finished", "Job", "Outcome", "Reason", "New labels", "Training rows"]
      .map((c) => h("th", { scope: "col" }, c)))), body)));
  let drawn = null;
  return every(2000, async () => {
    const { data } = await predict("/v1/jobs?limit=50");
    const signature = JSON.stringify(data.items);
    if (signature === drawn) return; // unchanged: keep focus where it is
    drawn = signature;
    replace(body, data.items.length ? data.items.map((j) => h("tr", {},
      h("td", {}, when(j.finished_at)),
      h("td", { class: "mono" }, j.job_id),
      h("td", {}, statusBadge(j.decision)),
      h("td", {}, j.reason),
      h("td", { class: "num" }, j.new_labels ?? "—"),
      h("td", { class: "num" }, j.train_size ?? "—")))
      : h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No training jobs yet.")));
  });
}

function deadLettersView() {
  if (!session.isOperator()) {
    replace(main, title("Dead letters"), h("p", { class: "msg error" }, "Dead letters need an API key with the operator role."));
    return null;
  }
  const outcome = h("div", { "aria-live": "polite" });
  const body = h("tbody");
  const replaying = new Set();
  let items = [];
  const replay = async (letter) => {
    replaying.add(letter.message_id);
    draw();
    try {
      await predict(`/v1/dead-letters/${encodeURIComponent(letter.message_id)}/replay`, { method: "POST" });
      replace(outcome, h("p", { class: "msg ok" },
        `Replay of ${letter.message_id} requested; it goes back to ${letter.topic}.`));
    } catch (e) {
      replaying.delete(letter.message_id);
      replace(outcome, h("p", { class: "msg error" }, `Replay refused: ${e.message}`));
      draw();
    }
  };
  const draw = () => {
    replace(body, items.length ? items.map((d) => h("tr", {},
      h("td", {}, when(d.dead_lettered_at)),
      h("td", { class: "mono" }, d.topic),
      h("td", {}, d.batch_id ? h("a", { href: `#/batches/${d.batch_id}`, class: "mono" }, d.batch_id.slice(0, 12) + "…") : "—"),
      h("td", {}, d.reason),
      h("td", { class: "num" }, d.delivery_attempts ?? "—"),
      h("td", {}, h("button", { type: "button", class: "secondary", disabled: replaying.has(d.message_id),
        "aria-label": `Replay ${d.message_id}`, onclick: () => replay(d) },
      replaying.has(d.message_id) ? "Replaying…" : "Replay"))))
      : h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No dead letters.")));
  };
  replace(main, title("Dead letters"), outcome, h("div", { class: "card scroll" }, h("table", { id: "dead-letters" },
    h("caption", { class: "sr-only" }, "Messages the system gave up on, newest first; updates live"),
    h("thead", {}, h("tr", {}, ["Dead-lettered", "Topic", "Batch", "Reason", "Attempts", "Replay"]
      .map((c) => h("th", { scope: "col" }, c)))), body)));
  let drawn = null;
  return every(2000, async () => {
    const { data } = await predict("/v1/dead-letters?limit=50");
    const signature = JSON.stringify(data.items);
    if (signature === drawn) return; // unchanged: keep focus where it is
    drawn = signature;
    items = data.items;
    draw();
  });
}

// -- routing -------------------------------------------------------------------------------------

const views = [
  [/^#\/submit$/, submitView],
  [/^#\/batches$/, batchesView],
  [/^#\/batches\/([^/]+)$/, batchView],
  [/^#\/models$/, modelsView],
  [/^#\/jobs$/, jobsView],
  [/^#\/dead-letters$/, deadLettersView],
];
export function register(pattern, view) {
  views.push([pattern, view]);
}

async function route() {
  stopView();
  stopView = () => {};
  const hash = location.hash || "#/batches";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === hash || hash.startsWith(`${a.getAttribute("href")}/`)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!session.key()) {
    if (hash !== "#/signin") sessionStorage.setItem("svmflow.next", hash);
    return signInView();
  }
  if (hash === "#/signin") return signInView();
  for (const [pattern, view] of views) {
    const match = hash.match(pattern);
    if (!match) continue;
    try {
      if (!window.svmflowFeatureNames) window.svmflowFeatureNames = await featureNames().catch(() => []);
      stopView = (await view(...match.slice(1).map(decodeURIComponent))) || (() => {});
      main.focus({ preventScroll: true });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return signOut("Your API key is no longer accepted.");
      replace(main, title("Something went wrong"), h("p", { class: "msg error" }, e.message));
    }
    return;
  }
  replace(main, title("Not found"), h("p", {}, "There is no such page in the console."));
}

window.addEventListener("hashchange", () => {
  say("");
  route();
});
renderWho();
route();
