"""Text fitted to the terminal: every line the CLI prints stays within its width."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterable

MIN_WIDTH = 40


def terminal_width() -> int:
    """The terminal's columns ($COLUMNS first, 80 when there is no terminal)."""
    return max(MIN_WIDTH, shutil.get_terminal_size((80, 24)).columns)


def wrap(text: str, width: int, indent: int = 0, hanging: int = 0) -> list[str]:
    """`text` in lines of at most `width` columns: the first indented by `indent`, the
    others by `indent + hanging`; words longer than a line (hex, URLs) are cut."""
    first = " " * indent
    rest = " " * (indent + hanging)
    if width - len(rest) < 10:  # a very narrow terminal: keep at least a few words a line
        rest = first = " " * min(indent, 2)
    lines = textwrap.wrap(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=True,
        break_on_hyphens=False,
    )
    return lines or [first.rstrip()]


def two_columns(rows: Iterable[tuple[str, str]], width: int, gap: int = 2) -> list[str]:
    """Name and description rows: the description beside the name when there is room,
    wrapped under it otherwise."""
    rows = list(rows)
    name_width = max((len(name) for name, _ in rows), default=0) + gap
    out: list[str] = []
    for name, description in rows:
        if width - name_width >= 30:
            body = wrap(description, width - name_width)
            out.append(f"{name:<{name_width}}{body[0]}".rstrip())
            out.extend(" " * name_width + line for line in body[1:])
        else:
            out.extend(wrap(name, width))
            out.extend(wrap(description, width, indent=4))
    return out
