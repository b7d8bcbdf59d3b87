"""Outside text reaches the terminal escaped: one function, on every stream the command
writes to."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

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


def _hostile_report(name: str, replace: dict[str, str]) -> Any:
    from tests.diagrams.reports import VECTORS
    from tlssim.report.model import Report

    text = (VECTORS / f"{name}.json").read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, json.dumps(new)[1:-1])
    return Report.from_json(text)


STORIES = {
    "OCSP responder name": (
        "tls13-live-ocsp",
        {"CN=tlssim OCSP responder": f"CN={HOSTILE}"},
    ),
    "alert text": ("server-alert", {}),
    "subject": ("tls12-revoked", {"CN=revoked.tlssim.test": f"CN={HOSTILE}"}),
    "SNI": ("tls13", {}),
}


@pytest.mark.parametrize("case", sorted(STORIES))
def test_the_story_of_a_hostile_report_reaches_the_terminal_escaped(
    case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from tlssim.report.story import render

    name, replace = STORIES[case]
    report = _hostile_report(name, replace)
    if case == "SNI":
        report = dataclasses.replace(report, server_name=HOSTILE)
    if case == "alert text":
        assert report.alert is not None
        report = dataclasses.replace(
            report, alert=dataclasses.replace(report.alert, description=HOSTILE)
        )
    with terminal.guarded_output():
        print(render(report), file=sys.stdout)
    said = capsys.readouterr().out
    assert terminal.UNSAFE.search(said) is None
    assert "\\x1b]0;pwned\\x07" in said, said
