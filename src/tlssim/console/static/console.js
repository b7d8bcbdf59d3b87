// The console: rows of handshakes and lab events, kept current by server-sent events.
const rows = document.querySelector("#handshakes tbody");
const text = s => String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
let selected = null;

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString();
}

function showHandshake(h, fresh) {
  let row = rows.querySelector(`tr[data-id="${CSS.escape(h.id)}"]`);
  if (!row) {
    row = document.createElement("tr");
    row.className = "handshake";
    row.dataset.id = h.id;
    row.addEventListener("click", () => openHandshake(h.id));
    rows.prepend(row);
  }
  const outcome = h.ok ? "OK" : h.outcome.replace(/^FAILED\s+/, "FAILED: ");
  row.innerHTML = `<td>${text(clock(h.started))}</td><td>${text(h.source)}</td>` +
    `<td>${text(h.host)}</td><td class="${h.ok ? "ok" : "failed"}">${text(outcome)}</td>` +
    `<td>${text(h.version)}</td><td>${text(h.suite)}</td><td>${text(h.group)}</td>` +
    `<td>${h.ms.toFixed(1)}</td>`;
  row.classList.toggle("selected", h.id === selected);
  if (fresh) { row.classList.remove("fresh"); void row.offsetWidth; row.classList.add("fresh"); }
  document.getElementById("no-handshakes").hidden = true;
  if (fresh && h.id === selected) openHandshake(h.id);
}

function showEvent(e) {
  const item = document.createElement("li");
  item.className = e.kind;
  item.innerHTML = `<b>${text(clock(e.time))}</b> ${text(e.text)}`;
  document.getElementById("events").prepend(item);
}

async function openHandshake(id) {
  selected = id;
  rows.querySelectorAll("tr").forEach(r => r.classList.toggle("selected", r.dataset.id === id));
  const reply = await fetch(`/api/handshakes/${encodeURIComponent(id)}`);
  const detail = document.getElementById("detail");
  if (!reply.ok) { detail.textContent = await reply.text(); return; }
  const h = await reply.json();
  detail.innerHTML = `<h2>${text(h.summary.host)} from ${text(h.summary.source)}</h2>` + h.html +
    `<h2>The story</h2><pre>${text(h.story)}</pre>`;
  tlssimWireDiagram(detail);
}

async function start() {
  const state = await (await fetch("/api/state")).json();
  state.handshakes.slice().reverse().forEach(h => showHandshake(h, false));
  state.events.slice().reverse().forEach(showEvent);
  const live = document.getElementById("live");
  const source = new EventSource(`/events?after=${state.sequence}`);
  source.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  source.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
  source.addEventListener("handshake", m => showHandshake(JSON.parse(m.data).handshake, true));
  source.addEventListener("event", m => showEvent(JSON.parse(m.data).event));
}

start();
