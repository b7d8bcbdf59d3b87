// A click on a row of a sequence diagram shows that arrow's meaning and fields.
function tlssimShowArrow(container, index) {
  const data = JSON.parse(container.querySelector("script.arrow-data").textContent);
  const arrow = data[index];
  const panel = container.querySelector(".details");
  container.querySelectorAll(".row.selected").forEach(r => r.classList.remove("selected"));
  const row = container.querySelector(`.row[data-index="${index}"]`);
  if (row) row.classList.add("selected");
  const text = s => String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
  const when = arrow.at_ms === null ? "before the handshake" : `${arrow.at_ms.toFixed(2)} ms`;
  let html = `<h3 class="${arrow.failed ? "failed" : ""}">${text(arrow.label)}</h3>`;
  html += `<p>${text(arrow.from)} &rarr; ${text(arrow.to)}, ${text(when)}</p>`;
  if (arrow.explanation) html += `<p>${text(arrow.explanation)}</p>`;
  const rows = Object.entries(arrow.fields).map(([k, v]) =>
    `<tr><td><b>${text(k)}</b></td><td>${text(Array.isArray(v) ? v.join(", ") : (typeof v === "object" ? JSON.stringify(v) : v))}</td></tr>`);
  if (rows.length) html += `<table>${rows.join("")}</table>`;
  panel.innerHTML = html;
}

function tlssimWireDiagram(container) {
  container.querySelectorAll(".row").forEach(row => {
    row.addEventListener("click", () => tlssimShowArrow(container, Number(row.dataset.index)));
  });
  // A failed handshake opens on the row that failed.
  const failed =
    container.querySelector('.row[data-kind="alert"]') || container.querySelector(".row.failed");
  if (failed) tlssimShowArrow(container, Number(failed.dataset.index));
}

document.querySelectorAll(".handshake").forEach(tlssimWireDiagram);
