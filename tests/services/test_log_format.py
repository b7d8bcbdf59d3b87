"""One formatter for every service's log: no field of a line can start another line or
write to the terminal that shows the log, in text or JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from tlssim.rpcutil import trace_id_var
from tlssim.services import runtime
from tlssim.terminal import UNSAFE

FORGED = "evil\n[faults] host:80\r\x1b[1A\x1b[K\x07\x7f\x9b\u202e"


@pytest.fixture(params=["text", "json"])
def logged(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[io.StringIO]:
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        runtime.configure_logging("faults", "INFO", request.param)
        yield out
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def _lines(out: io.StringIO) -> list[str]:
    text = out.getvalue()
    assert UNSAFE.search(text) is None, repr(text)
    return text.splitlines()


def test_a_message_and_its_arguments_stay_on_one_line(logged: io.StringIO) -> None:
    token = trace_id_var.set("t-1")
    try:
        logging.getLogger(f"tlssim.{FORGED}").info("proxy %s -> %s " + FORGED, "x", FORGED)
    finally:
        trace_id_var.reset(token)
    (line,) = _lines(logged)
    assert "[faults] host:80" in line
    if line.startswith("{"):
        entry = json.loads(line)
        assert entry["message"].count(FORGED) == 2
        assert entry["logger"] == f"tlssim.{FORGED}"
    else:
        assert (
            line.count("evil\\n[faults] host:80\\x0d\\x1b[1A\\x1b[K\\x07\\u007f\\u009b\\u202e") == 2
        )


def test_a_traceback_cannot_forge_a_line(logged: io.StringIO) -> None:
    try:
        raise ValueError(FORGED)
    except ValueError:
        logging.getLogger("tlssim.test").exception("failed")
    lines = _lines(logged)
    if lines[0].startswith("{"):
        assert len(lines) == 1
        assert FORGED in json.loads(lines[0])["exception"]
    else:
        # The first line is the record's; each traceback line is indented, on its own.
        assert all(line.startswith("  ") for line in lines[1:]), lines
        assert not any(line.startswith("[faults]") for line in lines)


def test_errors_and_warnings_of_one_kind_are_logged_once_a_second() -> None:
    now = [0.0]
    limit = runtime.RateLimit(clock=lambda: now[0])

    def passes(level: int, msg: str, *args: object, **extra: str) -> bool:
        record = logging.LogRecord("grpc._cython", level, "x", 1, msg, args, None)
        record.__dict__.update(extra)
        passed = limit.filter(record)
        if passed:
            shown.append(record.getMessage())
        return passed

    shown: list[str] = []
    assert [passes(logging.ERROR, "Failed sending error status %s", i) for i in range(100)] == [
        True
    ] + [False] * 99
    assert passes(logging.INFO, "info is never held back")
    assert passes(logging.WARNING, "refused %s", "a", rate_key="refused a")
    assert passes(logging.WARNING, "refused %s", "b", rate_key="refused b")
    assert not passes(logging.WARNING, "refused %s", "b", rate_key="refused b")
    now[0] = 1.5
    assert passes(logging.ERROR, "Failed sending error status %s", 100)
    assert shown[-1] == "Failed sending error status 100 (99 more like it not logged)"
