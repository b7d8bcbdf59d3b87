"""`tlssim up` supervises its children: a dead service comes back, a chatty one never stalls."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack, running_stack
from tlssim.cli import launcher

# The server re-enrolls every virtual host when it restarts (about fifty, an RSA-8192 key
# among them): seconds on a busy machine.
RECOVERY_S = 25.0


def _handshake_ok(stack: LocalStack) -> bool:
    try:
        return stack.handshake("--revocation", "hard", timeout=30).ok
    except AssertionError:  # no report, or an exit code that does not match it
        return False


def _wait_for(condition: object, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


@pytest.mark.integration
def test_each_killed_service_is_restarted_and_handshakes_recover(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        assert _handshake_ok(stack)
        # The server's slow keys are kept for its next start: generating an RSA-8192 key
        # again took from 3 to over 20 s, longer than a restart may take here.
        kept = stack.data_dir / "server-keys" / "rsa8192.tlssim.test.rsa8192.pem"
        before = kept.read_bytes()
        for name in ("server", "client", "ocsp", "ca", "faults"):
            os.kill(stack.service_pid(name), signal.SIGKILL)
            killed = time.monotonic()
            said = f"{name} exited with status -9; restarted (1)"
            assert _wait_for(lambda said=said: said in stack.logs(), RECOVERY_S), stack.logs()
            assert _wait_for(lambda: _handshake_ok(stack), RECOVERY_S - (time.monotonic() - killed))
        assert "stopping the stack" not in stack.logs()
        assert kept.read_bytes() == before


@pytest.mark.integration
def test_a_service_that_stops_answering_its_health_check_is_restarted(tmp_path: Path) -> None:
    """Alive but useless (here: SIGSTOP, as a process out of file descriptors or stuck in a
    loop would be): killed once its health check has failed for TLSSIM_UP_HEALTH_FAIL_S,
    then restarted and reported like a service that died."""
    with running_stack(tmp_path, TLSSIM_UP_HEALTH_FAIL_S="2") as stack:
        assert _handshake_ok(stack)
        for name in ("server", "faults"):
            pid = stack.service_pid(name)
            os.kill(pid, signal.SIGSTOP)
            stopped = time.monotonic()
            said = f"{name} exited with status -9 (failed its health check for 2 s); restarted (1)"
            assert _wait_for(lambda said=said: said in stack.logs(), RECOVERY_S + 2), stack.logs()
            assert f"{name} failed its health check for 2 s; killing it to restart it" in (
                stack.logs()
            )
            assert stack.service_pid(name) != pid
            assert _wait_for(
                lambda: _handshake_ok(stack), RECOVERY_S + 2 - (time.monotonic() - stopped)
            )


@pytest.mark.integration
def test_ctrl_c_ends_the_stack_within_seconds(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        pids = [stack.service_pid(n) for n in ("ca", "ocsp", "server", "client", "faults")]
        started = time.monotonic()
        stack.process.send_signal(signal.SIGINT)
        stack.process.wait(timeout=15)
        assert time.monotonic() - started < launcher.STOP_TIMEOUT_S + 3
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_a_huge_log_line_is_cut_and_never_stalls_the_reader(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def pump(data: bytes) -> None:
        reader = asyncio.StreamReader(limit=1024)
        reader.feed_data(data)
        reader.feed_eof()
        await asyncio.wait_for(launcher.pump_output("ca", reader), 5)

    asyncio.run(pump(b"x" * 1_000_000 + b"\nnext line\nno newline at the end"))
    lines = capsys.readouterr().err.splitlines()
    assert (
        lines[0]
        == "[    ca] "
        + "x" * launcher.MAX_LOG_LINE
        + f" ... [{1_000_000 - launcher.MAX_LOG_LINE} more bytes]"
    )
    assert lines[1:] == ["[    ca] next line", "[    ca] no newline at the end"]
