"""One self-contained HTML page of a handshake: the sequence diagram (inline SVG), each
arrow's meaning and decoded fields on click, the chain, the checks and the key schedule.
Its CSS and JavaScript ship inside the package (static/), so the page needs no network."""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from typing import Any

from tlssim.diagrams.sequence import Sequence, sequence_of
from tlssim.diagrams.svg import render_svg
from tlssim.report.model import Report
from tlssim.report.records import records_of, to_dicts
from tlssim.report.walkthrough import key_schedule


def static_text(name: str) -> str:
    return resources.files("tlssim.diagrams").joinpath("static", name).read_text()


def arrow_details(seq: Sequence) -> list[dict[str, Any]]:
    """What a click on row N shows: JSON for the page's script."""
    return [
        {
            "label": a.label,
            "from": a.source,
            "to": a.target,
            "at_ms": a.at_ms,
            "kind": str(a.kind),
            "failed": a.failed,
            "explanation": a.explanation,
            "fields": {k: _plain(v) for k, v in a.fields.items()},
        }
        for a in seq.arrows
    ]


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | list | dict) else str(value)


# Inside a <script> element the HTML parser, not JSON, decides where the text ends: "</script",
# "<!--" and "<script" change its state. With <, > and & escaped as JSON \u escapes the text
# holds none of them, and U+2028/U+2029 (line ends to older JavaScript) travel escaped too.
_SCRIPT_UNSAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element, whatever strings it holds: it parses to the
    same value."""
    return json.dumps(value).translate(_SCRIPT_UNSAFE)


def diagram_fragment(report: Report) -> str:
    """The diagram, its details panel and the report's facts, for any page to embed."""
    seq = sequence_of(report)
    banner = "ok" if seq.ok else "failed"
    parts = [
        f'<div class="banner {banner}">{escape(seq.outcome)}</div>',
        '<div class="diagram-area">',
        f'<div class="diagram">{render_svg(seq)}</div>',
        '<aside class="details"><p class="hint">Click a message to see its fields.</p></aside>',
        "</div>",
        f'<script type="application/json" class="arrow-data">'
        f"{script_json(arrow_details(seq))}</script>",
    ]
    if schedule := key_schedule(report):
        parts.append(f'<p class="keys"><b>keys:</b> {escape(schedule)}</p>')
    parts.append(_chain(report))
    parts.append(_checks(report))
    parts.append(_records(report))
    return "\n".join(parts)


def _records(report: Report) -> str:
    """Every record both ways (``tlssim handshake --records``), when the report holds them
    decoded or holds the bytes and the key log."""
    records: list[dict[str, Any]]
    if report.records is not None:
        records = list(report.records)
    elif report.capture is not None:
        records = to_dicts(
            records_of(
                report.capture.client_to_server,
                report.capture.server_to_client,
                report.keylog or (),
                report.capture.order,
            )
        )
    else:
        return ""
    rows = "".join(_record_row(r) for r in records)
    return (
        '<h2>Records on the wire</h2><table class="records"><tr><th>#</th><th>from</th>'
        "<th>type</th><th>length</th><th>protected by</th><th>inner type</th>"
        f"<th>contents</th></tr>{rows}</table>"
    )


def _record_row(r: dict[str, Any]) -> str:
    contents = "".join(
        f"<details><summary>{escape(str(m['name']))}, length {m['length']}</summary>"
        + "".join(
            f"<div><b>{escape(str(k))}</b>: {escape(_shown(v))}</div>"
            for k, v in m["fields"].items()
        )
        + "".join(
            f"<div>extension {escape(str(name))}, length {length}</div>"
            for name, length in m["extensions"]
        )
        + f"<div><code>{escape(str(m['hex']))}</code></div></details>"
        for m in r["messages"]
    ) or escape(str(r["note"]))
    sender = "client" if r["sender"] == "client" else "server"
    return (
        f'<tr class="{sender}"><td>{int(r["index"])}</td><td>{sender}</td>'
        f"<td>{escape(str(r['content_type']))}<br><code>{escape(str(r['header']))}</code></td>"
        f"<td>{int(r['length'])}</td><td>{escape(str(r['protected_by']))}</td>"
        f"<td>{escape(str(r['inner_type']))}</td><td>{contents}</td></tr>"
    )


def _shown(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _chain(report: Report) -> str:
    if not report.chain:
        return ""
    rows = "".join(
        f"<tr><td>{i}</td><td>{escape(c.subject)}</td><td>{escape(c.issuer)}</td>"
        f"<td><code>{escape(c.serial)}</code></td><td>{escape(c.not_after)}</td></tr>"
        for i, c in enumerate(report.chain)
    )
    return (
        '<h2>Certificate chain (leaf first)</h2><table class="chain"><tr><th>#</th>'
        "<th>subject</th><th>issuer</th><th>serial</th><th>not after</th></tr>"
        f"{rows}</table>"
    )


def _checks(report: Report) -> str:
    if not report.checks:
        return ""
    rows = "".join(
        f'<tr class="{"ok" if c.ok else "fail"}"><td>{"ok" if c.ok else "FAIL"}</td>'
        f"<td>{escape(c.name)}</td><td>{escape(c.source)}</td><td>{escape(c.detail)}</td></tr>"
        for c in report.checks
    )
    return (
        '<h2>Checks made by the client</h2><table class="checks"><tr><th></th><th>check</th>'
        f"<th>source</th><th>detail</th></tr>{rows}</table>"
    )


def html_page(report: Report) -> str:
    title = escape(sequence_of(report).title)
    meta = escape(f"via {report.target}, trace {report.trace_id}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>{static_text("diagram.css")}</style>
</head><body>
<h1>{title}</h1>
<p class="meta">{meta}</p>
<div class="handshake">{diagram_fragment(report)}</div>
<script>{static_text("diagram.js")}</script>
</body></html>
"""
