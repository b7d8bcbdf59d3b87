"""A handshake report as a Mermaid sequenceDiagram (paste it into any Mermaid viewer)."""

from __future__ import annotations

import re

from tlssim.diagrams.sequence import Arrow, Kind, sequence_of
from tlssim.report.model import Report

# Mermaid arrows: solid for messages, dotted for answers and what happened before,
# a cross for a fatal alert.
_ARROWS = {
    Kind.MESSAGE: "->>",
    Kind.LOCAL: "->>",
    Kind.QUERY: "->>",
    Kind.ANSWER: "-->>",
    Kind.SETUP: "-->>",
    Kind.ALERT: "-x",
}
# Characters Mermaid reads as syntax inside a message text.
_UNSAFE = re.compile(r"[;#\n\r]")


def mermaid(report: Report) -> str:
    seq = sequence_of(report)
    lines = ["sequenceDiagram", "    autonumber"]
    lines += [f"    participant {lane}" for lane in seq.lanes]
    before = True
    for arrow in seq.arrows:
        if before and arrow.kind is not Kind.SETUP:
            lines.append("    Note over client,ca: the handshake (times since the client started)")
            before = False
        lines.append("    " + _line(arrow))
        if arrow.kind is Kind.ALERT:
            lines.append(
                f"    Note over {arrow.source}: {_text(arrow.label)} sent by the {arrow.source}"
            )
    lines.append(f"    Note over client,ca: {_text(seq.outcome)}")
    return "\n".join(lines)


def _line(arrow: Arrow) -> str:
    when = "" if arrow.at_ms is None else f"[{arrow.at_ms:.2f} ms] "
    return f"{arrow.source}{_ARROWS[arrow.kind]}{arrow.target}: {when}{_text(arrow.label)}"


def _text(text: str) -> str:
    return _UNSAFE.sub(",", text).strip() or "-"
