// The console: a page of handshakes, the lab's events by kind, and one handshake's detail,
// drawn at once from the state the page came with and kept current by server-sent events.
const rows = document.querySelector("#handshakes tbody");
const text = s => String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
const PAGE = 50;
const handshakes = [];  // summaries, newest first
const events = [];  // newest first
let ocspAnswers = 0;
let page = 0;
let selected = null;

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString();
}

function rowHtml(h) {
  const outcome = h.ok ? "OK" : h.outcome.replace(/^FAILED\s+/, "FAILED: ");
  const family = h.group_family || "-";
  const early = h.early_data || "-";
  const client = h.client || "-";
  const clientTitle = h.fingerprint ? `${client}, fingerprint ${h.fingerprint}` : client;
  return `<td>${text(clock(h.started))}</td><td>${text(h.host)}</td>` +
    `<td class="${h.ok ? "ok" : "failed"} outcome" title="${text(outcome)}">${text(outcome)}</td>` +
    `<td>${text(h.version)}</td>` +
    `<td class="${family.includes("PQ") ? "pq" : ""}">${text(family)}</td>` +
    `<td>${h.resumed ? "resumed" : "-"}</td><td>${text(early)}</td>` +
    `<td class="client" title="${text(clientTitle)}">${text(client)}</td><td>${text(h.group)}</td>` +
    `<td>${Number(h.ms).toFixed(1)}</td><td>${text(h.suite)}</td><td>${text(h.source)}</td>`;
}

function renderPage() {
  const pages = Math.max(1, Math.ceil(handshakes.length / PAGE));
  page = Math.min(page, pages - 1);
  rows.innerHTML = "";
  for (const h of handshakes.slice(page * PAGE, (page + 1) * PAGE)) {
    const row = document.createElement("tr");
    row.className = "handshake";
    row.dataset.id = h.id;
    row.innerHTML = rowHtml(h);
    row.classList.toggle("selected", h.id === selected);
    row.addEventListener("click", () => openHandshake(h.id));
    rows.append(row);
  }
  const first = handshakes.length ? page * PAGE + 1 : 0;
  const last = Math.min(handshakes.length, (page + 1) * PAGE);
  document.getElementById("page-label").textContent =
    `${first}-${last} of ${handshakes.length} (newest first)`;
  document.getElementById("newer").disabled = page === 0;
  document.getElementById("older").disabled = page >= pages - 1;
  document.getElementById("no-handshakes").hidden = handshakes.length > 0;
  document.getElementById("counts").textContent =
    `${handshakes.length} handshakes, ${events.filter(e => e.kind !== "ocsp").length} events, ` +
    `${ocspAnswers} OCSP answers`;
}

function showHandshake(h, fresh) {
  const at = handshakes.findIndex(x => x.id === h.id);
  if (at >= 0) handshakes[at] = h; else handshakes.unshift(h);
  if (handshakes.length > 200) handshakes.length = 200;
  if (!fresh) return;
  if (page === 0 || at >= 0) renderPage();
  const row = rows.querySelector(`tr[data-id="${CSS.escape(h.id)}"]`);
  if (row) { row.classList.remove("fresh"); void row.offsetWidth; row.classList.add("fresh"); }
  if (h.id === selected) openHandshake(h.id, false);
}

function wantedKinds() {
  return new Set([...document.querySelectorAll("#filters input:checked")].map(i => i.value));
}

function renderEvents() {
  const kinds = wantedKinds();
  const known = new Set([...document.querySelectorAll("#filters input")].map(i => i.value));
  const shown = events.filter(e => kinds.has(e.kind) || !known.has(e.kind)).slice(0, 200);
  const item = e => `<li class="${text(e.kind)}"><b>${text(clock(e.time))}</b> ${text(e.text)}</li>`;
  // The OCSP answers, unless asked for one by one, are one line: how many, and the latest.
  const latest = events.find(e => e.kind === "ocsp");
  const folded = kinds.has("ocsp") || !latest ? "" :
    `<li class="ocsp folded" id="ocsp-folded"><b>${ocspAnswers} OCSP answers</b> folded ` +
    `(tick "OCSP answers" to list them); the latest, ${text(clock(latest.time))}: ` +
    `${text(latest.text)}</li>`;
  document.getElementById("events").innerHTML = folded + shown.map(item).join("");
}

function showEvent(e, fresh) {
  events.unshift(e);
  if (e.kind === "ocsp" && fresh) ocspAnswers += 1;
  if (events.length > 400) events.length = 400;
  if (fresh) { renderEvents(); renderPage(); }
}

async function openHandshake(id, scroll = true) {
  selected = id;
  rows.querySelectorAll("tr").forEach(r => r.classList.toggle("selected", r.dataset.id === id));
  const detail = document.getElementById("detail");
  detail.hidden = false;
  const reply = await fetch(`/api/handshakes/${encodeURIComponent(id)}`);
  if (!reply.ok) { detail.textContent = await reply.text(); return; }
  const h = await reply.json();
  detail.innerHTML = `<div class="detail-head"><h2>${text(h.summary.host)} from ` +
    `${text(h.summary.client)}, ${text(h.summary.source)}</h2><button type="button" id="back">back to the list</button></div>` +
    h.html + `<h2>The story</h2><pre>${text(h.story)}</pre>`;
  tlssimWireDiagram(detail);
  document.getElementById("back").addEventListener("click", () => window.scrollTo(0, 0));
  if (scroll) detail.scrollIntoView({block: "start"});
}

function initialState() {
  try {
    const state = JSON.parse(document.getElementById("initial-state").textContent);
    return Array.isArray(state.handshakes) ? state : null;
  } catch (_) {
    return null;
  }
}

async function start() {
  // The page arrives with the lab's state in it: drawn before any request or stream.
  const state = initialState() || await (await fetch("/api/state")).json();
  state.handshakes.slice().reverse().forEach(h => showHandshake(h, false));
  state.events.slice().reverse().forEach(e => showEvent(e, false));
  ocspAnswers = state.ocsp_answers || events.filter(e => e.kind === "ocsp").length;
  renderPage();
  renderEvents();
  const live = document.getElementById("live");
  live.textContent = "loaded, connecting for live updates";
  document.getElementById("newer").addEventListener("click", () => { page -= 1; renderPage(); });
  document.getElementById("older").addEventListener("click", () => { page += 1; renderPage(); });
  document.querySelectorAll("#filters input").forEach(i => i.addEventListener("change", renderEvents));
  const source = new EventSource(`/events?after=${state.sequence}`);
  source.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  source.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
  source.addEventListener("handshake", m => showHandshake(JSON.parse(m.data).handshake, true));
  source.addEventListener("event", m => showEvent(JSON.parse(m.data).event, true));
}

start();
