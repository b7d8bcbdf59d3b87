"""The docs stay true: every `tlssim` and `openssl` command in a fenced block of README.md and
docs/*.md runs against a live stack and exits 0.

Placeholders in the docs are filled from the stack (SUBSTITUTIONS); a command that cannot
run here says why in SKIPPED.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack, running_stack

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

SKIPPED = {
    "tlssim up": "the stack under test is already up",
    "tlssim faults container": "container faults need compose (tests/compose runs them)",
    "tlssim scenarios run --all": "the whole catalogue runs in tests/integration/test_scenarios",
}


def doc_commands() -> list[tuple[str, str]]:
    """(where, command) for every command line in the docs' fenced blocks."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, re.S):
            for line in block.splitlines():
                command = line.split("  #", 1)[0].strip()
                if re.match(r"(tlssim|openssl) ", command):
                    found.append((doc.name, command))
    return found


@pytest.fixture(scope="module")
def docs_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack of its own: the docs' commands add faults and revoke a certificate."""
    with running_stack(tmp_path_factory.mktemp("docs")) as stack:
        yield stack


def _substitutions(stack: LocalStack, folder: Path) -> dict[str, str]:
    report = stack.handshake("--server-name", "ed25519.tlssim.test")
    host, port = stack.server_tcp
    bundle = stack.tlssim("ca", "bundle").stdout
    for name in ("ca.pem", "bundle.pem"):  # what the docs call the trust anchors
        (folder / name).write_text(bundle)
    return {
        "SERIAL": report.chain[0].serial,
        "TRACE_ID": report.trace_id,
        "127.0.0.1:4433": f"{host}:{port}",
        "127.0.0.1:8443": f"{host}:{port}",
        "example.test": "valid.tlssim.test",
        "--data-dir DIR": f"--data-dir {stack.data_dir}",
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for all the commands, run in the docs' order: what one writes (a capture,
    a key) the next one reads, as for a reader following along."""
    return tmp_path_factory.mktemp("docs-workdir")


@pytest.mark.integration
def test_the_docs_name_commands() -> None:
    assert len(doc_commands()) >= 15


@pytest.mark.integration
@pytest.mark.parametrize(("doc", "command"), doc_commands(), ids=lambda v: str(v)[:60])
def test_a_documented_command_works(
    docs_stack: LocalStack, workdir: Path, doc: str, command: str
) -> None:
    for prefix, reason in SKIPPED.items():
        if command.startswith(prefix):
            pytest.skip(reason)
    for placeholder, value in _substitutions(docs_stack, workdir).items():
        command = command.replace(placeholder, value)
    env = docs_stack.env | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    }
    done = subprocess.run(
        ["bash", "-c", command + " </dev/null"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{doc}: {command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr
    docs_stack.tlssim("faults", "reset")
