"""Draws a sequence as inline SVG, with no JavaScript library: lanes as lifelines, one row
per arrow, times in the left margin. Each row is a `<g class="row" data-index="N">` so
that a page can show that arrow's fields on click."""

from __future__ import annotations

from html import escape

from tlssim.diagrams.sequence import Arrow, Kind, Sequence

LANE_GAP = 230
LEFT = 90  # the time column
TOP = 70  # lane headers
ROW = 34
BOX_W, BOX_H = 120, 34
MAX_LABEL = 44  # characters of a label before it is cut (the page shows it whole)

_COLOURS = {
    Kind.MESSAGE: "#2563eb",
    Kind.LOCAL: "#6b7280",
    Kind.QUERY: "#7c3aed",
    Kind.ANSWER: "#7c3aed",
    Kind.SETUP: "#0d9488",
    Kind.ALERT: "#dc2626",
}
_LANE_COLOURS = {"client": "#dbeafe", "server": "#dcfce7", "ocsp": "#ede9fe", "ca": "#fef3c7"}
FAILED = "#dc2626"


def _x(seq: Sequence, lane: str) -> int:
    return LEFT + BOX_W // 2 + 10 + seq.lanes.index(lane) * LANE_GAP


def render_svg(seq: Sequence) -> str:
    width = _x(seq, seq.lanes[-1]) + BOX_W // 2 + 30
    height = TOP + (len(seq.arrows) + 2) * ROW + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sequence" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        'font-size="12" role="img">',
        f"<title>{escape(seq.title)}</title>",
        '<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="context-stroke"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    bottom = height - 10
    for lane in seq.lanes:
        x = _x(seq, lane)
        parts.append(
            f'<line x1="{x}" y1="{TOP - 20}" x2="{x}" y2="{bottom}" stroke="#9ca3af" '
            'stroke-dasharray="4 4"/>'
        )
        parts.append(
            f'<rect x="{x - BOX_W // 2}" y="10" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{_LANE_COLOURS.get(lane, "#e5e7eb")}" stroke="#374151"/>'
        )
        parts.append(
            f'<text x="{x}" y="32" text-anchor="middle" font-weight="bold">{escape(lane)}</text>'
        )
    for index, arrow in enumerate(seq.arrows):
        parts.append(_row(seq, index, arrow, TOP + (index + 1) * ROW))
    y = TOP + (len(seq.arrows) + 1) * ROW
    colour = "#16a34a" if seq.ok else FAILED
    parts.append(
        f'<rect x="{LEFT}" y="{y - 16}" width="{width - LEFT - 10}" height="24" rx="4" '
        f'fill="{colour}" opacity="0.15" stroke="{colour}"/>'
    )
    parts.append(
        f'<text x="{LEFT + 8}" y="{y}" font-weight="bold" fill="{colour}" class="outcome">'
        f"{escape(seq.outcome)}</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _row(seq: Sequence, index: int, arrow: Arrow, y: int) -> str:
    colour = FAILED if arrow.failed else _COLOURS[arrow.kind]
    x1, x2 = _x(seq, arrow.source), _x(seq, arrow.target)
    dash = ' stroke-dasharray="6 3"' if arrow.kind in (Kind.ANSWER, Kind.SETUP) else ""
    weight = 3 if arrow.kind is Kind.ALERT else 1.6
    label = arrow.label if len(arrow.label) <= MAX_LABEL else arrow.label[: MAX_LABEL - 3] + "..."
    when = "before" if arrow.at_ms is None else f"{arrow.at_ms:.2f} ms"
    cls = "row failed" if arrow.failed else "row"
    out = [
        f'<g class="{cls}" data-index="{index}" data-kind="{arrow.kind}" style="cursor:pointer">',
        f'<rect x="0" y="{y - 22}" width="100%" height="{ROW}" fill="transparent"/>',
        f'<text x="8" y="{y + 4}" fill="#6b7280">{escape(when)}</text>',
    ]
    if x1 == x2:  # a party acting on its own: a small loop and the label beside it
        out.append(
            f'<path d="M{x1},{y - 8} h24 v14 h-22" fill="none" stroke="{colour}" '
            f'stroke-width="{weight}" marker-end="url(#head)"/>'
        )
        out.append(f'<text x="{x1 + 30}" y="{y + 2}" fill="{colour}">{escape(label)}</text>')
    else:
        out.append(
            f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" '
            f'stroke-width="{weight}"{dash} marker-end="url(#head)"/>'
        )
        if arrow.kind is Kind.ALERT:
            out.append(
                f'<text x="{x2 + (12 if x2 > x1 else -12)}" y="{y + 5}" fill="{FAILED}" '
                f'font-size="16" font-weight="bold" text-anchor="middle">&#x2716;</text>'
            )
        mid = (x1 + x2) // 2
        bold = ' font-weight="bold"' if arrow.failed else ""
        out.append(
            f'<text x="{mid}" y="{y - 5}" text-anchor="middle" fill="{colour}"{bold}>'
            f"{escape(label)}</text>"
        )
    out.append("</g>")
    return "\n".join(out)
