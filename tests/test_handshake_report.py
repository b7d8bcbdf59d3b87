"""`handshake_report`, which every test reading `tlssim handshake --json` goes through: it
returns the typed report, and fails when the exit code or the outcome does not match."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tlssim.harness.localstack import handshake_report

VECTORS = Path(__file__).resolve().parent / "vectors" / "reports"
OK = (VECTORS / "tls13.json").read_text()
REFUSED = (VECTORS / "server-alert.json").read_text()


def _done(stdout: str, code: int, stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(["tlssim", "handshake", "--json"], code, stdout, stderr)


def test_the_report_comes_back_typed() -> None:
    report = handshake_report(_done(OK, 0), ok=True)
    assert report.ok and report.version == "TLSv1.3"
    refused = handshake_report(_done(REFUSED, 1), ok=False)
    assert not refused.ok and refused.alert is not None


@pytest.mark.parametrize(
    ("stdout", "code"),
    [(OK, 1), (REFUSED, 0), (REFUSED, 2)],
    ids=["ok-exit-1", "refused-exit-0", "refused-exit-2"],
)
def test_an_exit_code_that_disagrees_with_the_report_fails(stdout: str, code: int) -> None:
    with pytest.raises(AssertionError, match="exit"):
        handshake_report(_done(stdout, code))


@pytest.mark.parametrize(("stdout", "code", "ok"), [(OK, 0, False), (REFUSED, 1, True)])
def test_an_outcome_other_than_the_one_expected_fails(stdout: str, code: int, ok: bool) -> None:
    with pytest.raises(AssertionError, match="expected ok="):
        handshake_report(_done(stdout, code), ok=ok)


def test_no_report_fails_with_what_the_command_said() -> None:
    with pytest.raises(AssertionError, match="client service unreachable"):
        handshake_report(_done("", 2, "tlssim: client service unreachable"))
