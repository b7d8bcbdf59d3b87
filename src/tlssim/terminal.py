"""Outside text made safe for a terminal, in one place.

Certificates, server names, alerts, error details and log lines come from peers and
callers; a control character among them would move the cursor, retitle the window, erase
lines or reorder what the operator reads. Everything the tlssim command writes goes through
`SafeStream` (installed by `guarded_output`), which shows those characters escaped instead:
C0 controls other than newline and tab as ``\\x1b``, DEL, C1 controls and the Unicode bidi
overrides and isolates as ``\\u007f``, ``\\u009b``, ``\\u202e`` (a JSON document keeps
parsing, to the same text). The command's own cursor control goes through `control`.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from typing import IO, Any

# C0 (but newline and tab), DEL, C1, bidi embeddings/overrides (U+202A-U+202E) and isolates
# (U+2066-U+2069).
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """`text` with every character that would control a terminal shown escaped."""
    return UNSAFE.sub(_escaped, text)


def escape_line(text: str) -> str:
    """`text` escaped and on one line (newlines and tabs escaped too): for a log field."""
    return escape(text).replace("\n", "\\n").replace("\t", "\\t")


class SafeStream:
    """A text stream that escapes what is written to it before passing it on."""

    def __init__(self, inner: IO[str]) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(escape(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, ...
        return getattr(self.inner, name)


def control(stream: IO[str] | SafeStream, sequence: str) -> None:
    """Writes the command's own control `sequence` (e.g. erase the progress line) as is."""
    (stream.inner if isinstance(stream, SafeStream) else stream).write(sequence)


@contextlib.contextmanager
def guarded_output() -> Iterator[None]:
    """Standard output and error escape what is written to them, until the block ends."""
    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
