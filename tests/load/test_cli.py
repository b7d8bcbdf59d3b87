"""`tlssim load`'s command line: what it refuses before any handshake."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlssim.cli.main import main


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--rate", "0"], 2, "--rate must be above 0"),
        (["--concurrency", "100000"], 2, "--concurrency must be 1..512"),
        (["--count", "0"], 2, "--count must be 1..1000000"),
        (["--tcp", "nohost"], 2, "--tcp: expected HOST:PORT"),
        (["--tcp", "127.0.0.1:1"], 2, "needs --ca-file FILE"),
        (["--tcp", "127.0.0.1:1", "--insecure", "--no-staple"], 2, "not --tcp"),
        (["--tcp", "127.0.0.1:1", "--ca-file", "/nonexistent.pem"], 4, "no such file"),
    ],
)
def test_refused_before_any_handshake(
    args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["load", *args]) == code
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1


def test_a_ca_file_without_certificates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    assert main(["load", "--tcp", "127.0.0.1:1", "--ca-file", str(bad)]) == 4
    assert "no PEM certificates" in capsys.readouterr().err
