"""Outside text reaches the terminal escaped: one function, on every stream the command
writes to."""

from __future__ import annotations

import json

import pytest

from tlssim import terminal
from tlssim.cli.main import main

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[1A\x1b[K\r\x00\x7f\x85\x9b\u202e\u2066evil\u2069"


def test_every_control_character_is_shown_escaped() -> None:
    shown = terminal.escape(HOSTILE)
    assert terminal.UNSAFE.search(shown) is None
    assert shown == (
        "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[1A\\x1b[K\\x0d\\x00\\u007f\\u0085\\u009b"
        "\\u202e\\u2066evil\\u2069"
    )


def test_newlines_tabs_and_ordinary_text_pass() -> None:
    text = "a\tb\nc é 中 \u200b"
    assert terminal.escape(text) == text
    assert terminal.escape_line("a\nb\tc") == "a\\nb\\tc"


def test_json_stays_json_with_the_same_text() -> None:
    document = json.dumps({"cn": "a\x7f\x85\u202eb"}, ensure_ascii=False)
    assert json.loads(terminal.escape(document)) == {"cn": "a\x7f\x85\u202eb"}


def test_the_command_escapes_what_argparse_says(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["handshake", "--tls", "\u202e1.3\x1b[2J"])
    said = capsys.readouterr().err
    assert "invalid choice" in said
    assert terminal.UNSAFE.search(said) is None
    assert "\\u202e" in said


def test_the_command_escapes_its_error_lines(capsys: pytest.CaptureFixture[str]) -> None:
    # A file that cannot be read: the error line names it.
    hostile = HOSTILE.replace("\x00", "")
    code = main(["decrypt", f"/nonexistent/{hostile}", "--key", "/nonexistent/key"])
    said = capsys.readouterr().err
    assert code == 4, said
    assert said.startswith("tlssim: ")
    assert terminal.UNSAFE.search(said) is None
    assert "\\x1b]0;pwned\\x07" in said


def test_the_command_writes_its_own_cursor_control(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    with terminal.guarded_output():
        terminal.control(sys.stderr, "\r\x1b[K")
        sys.stderr.write("\x1b[K")
    assert capsys.readouterr().err == "\r\x1b[K\\x1b[K"
