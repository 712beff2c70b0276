// The line station's pages: plain DOM, data only through textContent (never parsed as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, children = []) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value; else if (key === "text") node.textContent = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
};
const score = (part) => (part.anomaly_score ?? part.score);
const fmt = (value, digits = 2) => (value === null || value === undefined) ? "–" : Number(value).toFixed(digits);
const localTime = (iso) => iso ? new Date(iso).toLocaleTimeString() : "";
const localDateTime = (iso) => iso ? new Date(iso).toLocaleString() : "";

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : (typeof body === "string" ? body : response.statusText);
    throw new Error(message);
  }
  return body;
}
const post = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

// ---- views ----
const views = ["live", "review", "history", "part", "model"];
function route() {
  const [view, argument] = (location.hash.replace(/^#\//, "") || "live").split("/");
  const name = views.includes(view) ? view : "live";
  for (const v of views) $("view-" + v).hidden = v !== name;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === name);
  if (name === "review") loadReview();
  if (name === "history") searchHistory(true);
  if (name === "part") loadPart(decodeURIComponent(argument || ""));
  if (name === "model") loadModel();
}
window.addEventListener("hashchange", route);

// ---- live ----
const shown = [];
function thumb(part) {
  const link = el("a", { class: "thumb " + part.decision, href: "#/part/" + encodeURIComponent(part.id), "data-id": part.id });
  if (part.photo_url) link.append(el("img", { src: part.photo_url, alt: part.name, loading: "lazy" }));
  link.append(el("div", { text: part.decision.toUpperCase() + " · " + (part.label ?? "") + " " + fmt(score(part)) }));
  link.append(el("div", { text: localTime(part.time) + " · " + part.name }));
  return link;
}
function showCurrent(part) {
  const state = $("state");
  state.className = "state state-" + (part ? part.decision : "none");
  $("state-word").textContent = part ? part.decision.toUpperCase() : "WAITING";
  $("state-detail").textContent = part ? `${part.label ?? ""} · ${fmt(score(part))} · ${localTime(part.time)} · ${part.name}` : "no part yet";
  const images = $("state-images");
  images.replaceChildren();
  if (part && part.decision !== "ok") {
    if (part.photo_url) images.append(el("img", { src: part.photo_url, alt: "photo" }));
    if (part.heatmap_url) images.append(el("img", { src: part.heatmap_url, alt: "heatmap" }));
  }
}
function addParts(parts) {
  const box = $("thumbs");
  for (const part of parts) {
    shown.unshift(part.id);
    box.prepend(thumb(part));
  }
  while (box.children.length > 24) { box.lastChild.remove(); shown.pop(); }
  if (parts.length) showCurrent(parts[parts.length - 1]);
}
function labelCounts(box, counts) {
  box.replaceChildren(...Object.entries(counts.labels).sort((a, b) => b[1] - a[1]).map(([label, n]) => el("span", { text: `${label} ${n}` })));
}
function showStatus(status) {
  const shift = status.shift.counts.decisions;
  for (const decision of ["ok", "defect", "review", "error"]) $("shift-" + decision).textContent = shift[decision] ?? 0;
  $("rate").textContent = fmt(status.rate_per_minute, 1);
  const latency = status.latency_ms ?? status.processing_ms;
  $("latency").textContent = latency ? `${fmt(latency.p50, 1)} / ${fmt(latency.p99, 1)}` : "–";
  $("queue").textContent = status.watcher ? status.watcher.queue_depth : "–";
  $("shift-start").textContent = "since " + localDateTime(status.shift.start);
  $("since-start").textContent = status.since_start.start ? "since " + localDateTime(status.since_start.start) : "(whole log)";
  labelCounts($("shift-labels"), status.shift.counts);
  labelCounts($("since-counts"), status.since_start.counts);
  $("nav-pending").textContent = status.review_pending || "";
  const connection = $("connection");
  if (status.watcher && !status.watcher.alive) { connection.textContent = "watcher stalled"; connection.className = "connection down"; }
  else { connection.textContent = "live · " + localTime(status.time); connection.className = "connection"; }
}
async function startLive() {
  const latest = await api("/api/parts?limit=24");
  addParts(latest.parts.reverse());
  const events = new EventSource("/api/events");
  events.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
  events.addEventListener("parts", (e) => {
    addParts(JSON.parse(e.data).filter((part) => !shown.includes(part.id)));
    if (!$("view-review").hidden && $("review-item").hidden) loadReview();
  });
  events.onerror = () => { $("connection").textContent = "reconnecting…"; $("connection").className = "connection down"; };
}

// ---- review ----
let reviewing = null;
$("who").value = localStorage.getItem("auge-who") || "";
$("who").addEventListener("change", () => localStorage.setItem("auge-who", $("who").value.trim()));
const who = () => $("who").value.trim() || "operator";
$("review-filter").addEventListener("change", loadReview);

async function loadReview() {
  try {
    const queue = await api("/api/review?decision=" + encodeURIComponent($("review-filter").value));
    $("review-count").textContent = `${queue.pending} waiting`;
    reviewing = queue.parts[0] || null;
    $("review-empty").hidden = reviewing !== null;
    $("review-item").hidden = reviewing === null;
    if (!reviewing) return;
    $("review-photo").src = reviewing.photo_url || "";
    $("review-heatmap").src = reviewing.heatmap_url || "";
    $("review-heatmap").parentElement.hidden = !reviewing.heatmap_url;
    $("review-info").textContent = `${reviewing.name} · model: ${reviewing.decision} ${reviewing.label ?? ""} (${fmt(score(reviewing))}) · ${localDateTime(reviewing.time)}`;
    $("verdict-ok").textContent = `OK: ${queue.ok_labels[0]} (O)`;
    $("verdict-ok").dataset.label = queue.ok_labels[0];
    $("defect-buttons").replaceChildren(...queue.defect_labels.map((label, i) => {
      const button = el("button", { class: "defect", type: "button", text: `Defect: ${label}` + (i < 9 ? ` (${i + 1})` : ""), "data-label": label });
      button.addEventListener("click", () => give("defect", label));
      return button;
    }));
  } catch (error) { $("review-message").textContent = error.message; }
}
async function give(verdict, label) {
  if (!reviewing) return;
  try {
    const record = await post("/api/review/" + encodeURIComponent(reviewing.id), { verdict, label, who: who() });
    $("review-message").textContent = `${reviewing.name}: ${record.verdict} ${record.label} — filed in ${record.feedback}`;
    await loadReview();
  } catch (error) { $("review-message").textContent = error.message; }
}
$("verdict-ok").addEventListener("click", () => give("ok", $("verdict-ok").dataset.label));
$("new-label").addEventListener("submit", (e) => {
  e.preventDefault();
  const label = $("new-label-text").value.trim();
  if (label) give("defect", label).then(() => { $("new-label-text").value = ""; });
});
$("undo").addEventListener("click", undo);
async function undo() {
  try {
    const undone = await post("/api/review/undo", { who: who() });
    $("review-message").textContent = `undone: ${undone.verdict} ${undone.label} for ${undone.photo.split("/").pop()}`;
    await loadReview();
  } catch (error) { $("review-message").textContent = error.message; }
}
document.addEventListener("keydown", (e) => {
  if ($("view-review").hidden || e.target.tagName === "INPUT" || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "o" || e.key === "O") $("verdict-ok").click();
  else if (e.key === "u" || e.key === "U") undo();
  else if (/^[1-9]$/.test(e.key)) { const button = $("defect-buttons").children[Number(e.key) - 1]; if (button) button.click(); }
});

// ---- history ----
let historyCursor = null;
function historyQuery() {
  const query = new URLSearchParams();
  const from = $("history-from").value, to = $("history-to").value;
  if (from) query.set("from", new Date(from).toISOString());
  if (to) query.set("to", new Date(to).toISOString());
  if ($("history-decision").value) query.set("decision", $("history-decision").value);
  if ($("history-label").value.trim()) query.set("label", $("history-label").value.trim());
  return query;
}
async function searchHistory(fresh) {
  const query = historyQuery();
  $("history-csv").href = "/api/parts.csv?" + query;
  query.set("limit", "100");
  if (!fresh && historyCursor) query.set("before", historyCursor);
  const rows = $("history-rows");
  if (fresh) rows.replaceChildren();
  const found = await api("/api/parts?" + query);
  for (const part of found.parts) {
    const link = el("a", { href: "#/part/" + encodeURIComponent(part.id), text: part.name });
    rows.append(el("tr", {}, [
      el("td", { text: localDateTime(part.time) }), el("td", {}, [link]), el("td", { class: part.decision, text: part.decision }),
      el("td", { text: part.label ?? "" }), el("td", { text: fmt(score(part)) }),
      el("td", { text: part.review ? `${part.review.verdict} ${part.review.label} (${part.review.who})` : "" }),
    ]));
  }
  historyCursor = found.parts.length ? found.parts[found.parts.length - 1].id : null;
  $("history-more").hidden = !found.more;
}
$("history-form").addEventListener("submit", (e) => { e.preventDefault(); searchHistory(true); });
$("history-more").addEventListener("click", () => searchHistory(false));

// ---- part and model pages ----
function facts(box, pairs) {
  box.replaceChildren(...pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
}
async function loadPart(id) {
  try {
    const page = await api("/api/parts/" + encodeURIComponent(id));
    const part = page.summary;
    $("part-title").textContent = `${part.name}: ${part.decision} ${part.label ?? ""}`;
    $("part-photo").src = part.photo_url || "";
    $("part-heatmap").src = part.heatmap_url || "";
    $("part-heatmap").parentElement.hidden = !part.heatmap_url;
    facts($("part-facts"), [
      ["time", localDateTime(part.time)], ["decision", part.decision], ["label", part.label], ["score", fmt(score(part), 3)],
      ["processing ms", part.ms], ["error", part.error], ["model", page.model], ["model sha256", page.model_sha256],
      ["threshold", page.threshold],
      ["verdict", part.review ? `${part.review.verdict} ${part.review.label} by ${part.review.who} at ${localDateTime(part.review.time)}` : "none"],
    ]);
    $("part-record").textContent = JSON.stringify(page.record, null, 2);
  } catch (error) { $("part-title").textContent = error.message; }
}
async function loadModel() {
  try {
    const model = await api("/api/model");
    facts($("model-facts"), [
      ["file", model.file], ["sha256", model.sha256], ["kind", model.kind], ["labels", model.labels.join(", ")],
      ["OK labels", model.ok_labels.join(", ")], ["threshold", model.threshold],
      ["review band", model.review_band ? `${model.review_band.lower} – ${model.review_band.upper}` : "none"],
    ]);
    const provenance = (model.metadata && model.metadata.provenance) || {};
    facts($("model-metrics"), Object.entries(provenance.validation_metrics || {}).map(([k, v]) => [k, fmt(v, 4)]));
    facts($("model-provenance"), Object.entries(provenance).filter(([k]) => k !== "validation_metrics")
      .map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : v]));
  } catch (error) { facts($("model-facts"), [["model", error.message]]); }
}

route();
startLive().catch((error) => { $("connection").textContent = error.message; $("connection").className = "connection down"; });
