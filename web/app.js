// funnel demo page logic (plain browser JS, no dependencies).
//
// Contract with the server (see `funnel serve`):
//   GET  /v1/info   -> {version, index, default_cascade, cascades: [{name, stages: [{name, type, optional, info}]}]}
//   POST /v1/search <- {query, k, cascade, overrides, explain: true}
//                   -> {query, k, cascade, version, items: [...], trace: [...], total_ms}
//   errors          -> non-2xx with {error: {status, message}}
//
// The page builds per-request overrides from the switches shown for the
// selected cascade: ANN quota, fusion weights (changed ones only), DPP theta,
// and "skip" for optional stages. All server data is inserted as text, never
// as HTML.
"use strict";

const FUSION_TYPES = new Set(["formula", "ensemble_sort", "ltr", "gbdt"]);

const state = {
  info: null,      // the /v1/info response
  busy: false,     // a search is in flight
  docs: "",        // "N docs" from /v1/info, shown next to the version
};

const $ = (id) => document.getElementById(id);

// Creates an element with a class and text content.
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

// Integers as they are, other numbers with `digits` decimals.
function fmt(x, digits = 3) {
  if (typeof x !== "number" || !Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  return x.toFixed(digits);
}

// Milliseconds, always with two decimals ("0.00 ms").
function fmtMs(x) {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(2) : String(x);
}

// ---------------------------------------------------------------- errors

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.classList.remove("hidden");
}

function clearError() {
  const box = $("error");
  box.textContent = "";
  box.classList.add("hidden");
}

// Fetches JSON; throws an Error whose message is the server's error message
// (or a description of what failed) on network errors and non-2xx statuses.
async function fetchJson(url, options) {
  let resp;
  try {
    resp = await fetch(url, options);
  } catch (e) {
    throw new Error(`${url}: network error: ${e.message}`);
  }
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    // not JSON; handled below
  }
  if (!resp.ok) {
    const msg = body && body.error && body.error.message
      ? body.error.message
      : (text || resp.statusText);
    throw new Error(`${url}: HTTP ${resp.status}: ${msg}`);
  }
  if (body === null) throw new Error(`${url}: response is not JSON`);
  return body;
}

// ---------------------------------------------------------------- version

function showVersion(version, extra) {
  const box = $("version");
  box.textContent = "";
  if (!version) return;
  const parts = [
    ["generation", version.generation],
    ["store", version.store_version],
  ];
  for (const [k, v] of parts) {
    if (v === undefined) continue;
    const chip = el("span", "chip");
    chip.append(el("span", "chip-key", k), el("span", "chip-val", v));
    box.append(chip);
  }
  if (extra) box.append(el("span", "muted", extra));
}

// ---------------------------------------------------------------- controls

function currentCascade() {
  if (!state.info) return null;
  const name = $("cascade").value;
  return state.info.cascades.find((c) => c.name === name) || null;
}

function annStages(cascade) {
  return cascade.stages.filter((s) =>
    s.type === "recall" && s.info && Array.isArray(s.info.channels) &&
    s.info.channels.includes("ann"));
}

function fusionStages(cascade) {
  return cascade.stages.filter((s) =>
    FUSION_TYPES.has(s.type) && s.info && s.info.weights &&
    typeof s.info.weights === "object" && !Array.isArray(s.info.weights));
}

function dppStages(cascade) {
  return cascade.stages.filter((s) => s.type === "dpp");
}

function fillCascades(info) {
  const sel = $("cascade");
  sel.textContent = "";
  for (const c of info.cascades || []) {
    const opt = el("option", null, c.name);
    opt.value = c.name;
    sel.append(opt);
  }
  if (info.default_cascade) sel.value = info.default_cascade;
}

// Rebuilds the per-cascade switches (ANN, weights, theta, skips).
function renderControls() {
  const cascade = currentCascade();
  const annBox = $("ann-box"), thetaBox = $("theta-box");
  const weights = $("weights"), skips = $("skips");
  weights.textContent = "";
  skips.textContent = "";
  annBox.classList.add("hidden");
  thetaBox.classList.add("hidden");
  if (!cascade) return;

  if (annStages(cascade).length > 0) {
    $("ann").checked = true;
    annBox.classList.remove("hidden");
  }

  for (const stage of fusionStages(cascade)) {
    const group = el("span", "weight-group");
    group.append(el("span", "muted", `${stage.name}:`));
    for (const [input, value] of Object.entries(stage.info.weights)) {
      const label = el("label", "inline weight", input);
      const box = document.createElement("input");
      box.type = "number";
      box.step = "any";
      box.value = String(value);
      box.dataset.stage = stage.name;
      box.dataset.input = input;
      box.dataset.initial = String(value);
      label.append(box);
      group.append(label);
    }
    weights.append(group);
  }

  const dpp = dppStages(cascade)[0];
  if (dpp) {
    const theta = typeof dpp.info?.theta === "number" ? dpp.info.theta : 0.5;
    $("theta").value = String(theta);
    $("theta").dataset.initial = String(theta);
    $("theta-value").textContent = theta.toFixed(2);
    thetaBox.classList.remove("hidden");
  }

  for (const stage of cascade.stages.filter((s) => s.optional)) {
    const label = el("label", "inline skip");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = `skip-${stage.name}`;
    box.dataset.stage = stage.name;
    label.append(box, ` skip ${stage.name}`);
    skips.append(label);
  }
}

// The per-request overrides: {stage name: {key: value}}.
function buildOverrides() {
  const cascade = currentCascade();
  const overrides = {};
  const put = (stage, key, value) => {
    (overrides[stage] ||= {})[key] = value;
  };
  if (!cascade) return overrides;

  if (!$("ann-box").classList.contains("hidden") && !$("ann").checked) {
    for (const s of annStages(cascade)) put(s.name, "quota", { ann: 0 });
  }

  for (const box of $("weights").querySelectorAll("input[type=number]")) {
    const value = Number(box.value);
    if (box.value === "" || !Number.isFinite(value)) continue;
    if (value === Number(box.dataset.initial)) continue;
    const w = (overrides[box.dataset.stage] ||= {}).weights ||= {};
    w[box.dataset.input] = value;
  }

  if (!$("theta-box").classList.contains("hidden")) {
    const dpp = dppStages(cascade)[0];
    const theta = Number($("theta").value);
    if (dpp && theta !== Number($("theta").dataset.initial)) {
      put(dpp.name, "theta", theta);
    }
  }

  for (const box of $("skips").querySelectorAll("input[type=checkbox]")) {
    if (box.checked) put(box.dataset.stage, "skip", true);
  }
  return overrides;
}

// ---------------------------------------------------------------- results

// A compact table: one column per stage the item passed, rows score and rank.
function renderStagesTable(stages) {
  const table = el("table", "stages");
  const names = el("tr"), scores = el("tr"), ranks = el("tr");
  names.append(el("th", null, "stage"));
  scores.append(el("th", null, "score"));
  ranks.append(el("th", null, "rank"));
  for (const s of stages) {
    names.append(el("th", "num", s.stage));
    scores.append(el("td", "num", fmt(s.score)));
    ranks.append(el("td", "num", s.rank));
  }
  table.append(names, scores, ranks);
  return table;
}

function renderItem(item) {
  const li = el("li", "result");
  const head = el("div", "result-head");
  head.append(el("span", "rank", `#${item.rank}`),
              el("span", "title", item.title || "(untitled)"),
              el("span", "score", fmt(item.score)));
  li.append(head);

  const meta = el("div", "result-meta");
  meta.append(el("span", "doc-id", item.id));
  for (const ch of item.channels || []) meta.append(el("span", `channel ch-${ch}`, ch));
  li.append(meta);

  if (item.pxtr && Object.keys(item.pxtr).length > 0) {
    const px = el("div", "pxtr");
    px.append(el("span", "pxtr-label", "pXtr"));
    for (const [k, v] of Object.entries(item.pxtr)) {
      const chip = el("span", "chip");
      chip.append(el("span", "chip-key", k), el("span", "chip-val", fmt(v)));
      px.append(chip);
    }
    li.append(px);
  }

  if (Array.isArray(item.stages) && item.stages.length > 0) {
    const wrap = el("div", "stage-details");
    wrap.append(renderStagesTable(item.stages));
    li.append(wrap);
  }
  return li;
}

function renderResults(resp) {
  const list = $("results");
  list.textContent = "";
  const items = resp.items || [];
  for (const item of items) list.append(renderItem(item));
  if (items.length === 0) list.append(el("li", "empty", "no results"));
  $("summary").textContent =
    `${items.length} for “${resp.query}” · cascade ${resp.cascade}`;
}

// ---------------------------------------------------------------- funnel

// Width (percent) of a bar for n candidates on a log scale up to max.
function logWidth(n, max) {
  if (!(n > 0) || !(max > 0)) return 0;
  return Math.max(1.5, 100 * Math.log10(1 + n) / Math.log10(1 + max));
}

function renderFunnel(resp) {
  const box = $("funnel");
  box.textContent = "";
  const trace = resp.trace || [];
  const max = Math.max(1, ...trace.map((t) => Math.max(t.in || 0, t.out || 0)));
  for (const t of trace) {
    const row = el("div", t.skipped ? "stage skipped" : "stage");
    const label = el("div", "stage-label");
    label.append(el("span", "stage-name", `${t.name} (${t.type})`),
                 el("span", "stage-flow", `: ${t.in} -> ${t.out}, ${fmtMs(t.ms)} ms`));
    if (t.skipped) label.append(el("span", "skipped-tag", "skipped"));
    row.append(label);

    const track = el("div", "track");
    const inBar = el("div", "bar bar-in");
    inBar.style.width = `${logWidth(t.in, max)}%`;
    const outBar = el("div", "bar bar-out");
    outBar.style.width = `${logWidth(t.out, max)}%`;
    track.append(inBar, outBar);
    row.append(track);

    if (Array.isArray(t.notes) && t.notes.length > 0) {
      const notes = el("ul", "notes");
      for (const n of t.notes) notes.append(el("li", null, n));
      row.append(notes);
    }
    box.append(row);
  }
  $("total").textContent = "bars: candidates in (light) and out (dark), log scale";
  const total = el("div", "funnel-total", `total: ${fmtMs(resp.total_ms)} ms`);
  box.append(total);
}

// ---------------------------------------------------------------- actions

async function search() {
  if (state.busy) return;
  const query = $("query").value.trim();
  if (!query) {
    showError("type a query first");
    return;
  }
  clearError();
  state.busy = true;
  $("search").disabled = true;
  document.body.classList.add("loading");
  try {
    const body = {
      query,
      k: Number($("k").value),
      cascade: $("cascade").value || undefined,
      overrides: buildOverrides(),
      explain: true,
    };
    const resp = await fetchJson("/v1/search", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    renderResults(resp);
    renderFunnel(resp);
    showVersion(resp.version, state.docs);
  } catch (e) {
    showError(e.message);
  } finally {
    state.busy = false;
    $("search").disabled = false;
    document.body.classList.remove("loading");
  }
}

async function loadInfo() {
  try {
    const info = await fetchJson("/v1/info");
    info.cascades ||= [];
    state.info = info;
    fillCascades(info);
    renderControls();
    state.docs = info.index && info.index.docs !== undefined
      ? `${info.index.docs} docs` : "";
    showVersion(info.version, state.docs);
  } catch (e) {
    $("version").textContent = "server unavailable";
    showError(e.message);
  }
}

function init() {
  $("search").addEventListener("click", search);
  $("query").addEventListener("keydown", (e) => {
    if (e.key === "Enter") search();
  });
  $("cascade").addEventListener("change", renderControls);
  $("theta").addEventListener("input", () => {
    $("theta-value").textContent = Number($("theta").value).toFixed(2);
  });
  loadInfo();
}

document.addEventListener("DOMContentLoaded", init);
