"""`tlssim handshake --records` against the real stack: every record both ways, protected
ones opened and named by the traffic secret that protected them; the same records in the
`--html` page."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack

pytestmark = pytest.mark.integration


def _headers(text: str) -> list[tuple[str, str, int, str]]:
    """(sender, content type, length, protected by) of each record printed."""
    out = []
    for block in text.split("\n\n"):
        sender = re.search(r"Record #\d+ \((\w+)\)", block)
        ctype = re.search(r"Content Type = (\w+)", block)
        length = re.search(r"  Length = (\d+)", block)
        if sender and ctype and length:
            key = re.search(r"Protected by = (.+)", block)
            out.append(
                (sender.group(1), ctype.group(1), int(length.group(1)), key.group(1) if key else "")
            )
    return out


def test_tls13_records_name_their_keys_and_add_up_to_the_wire(stack: LocalStack) -> None:
    done = stack.tlssim("handshake", "--records")
    assert done.returncode == 0, done.stderr
    records = _headers(done.stdout)
    keys = [(sender, key) for sender, _, _, key in records if key]
    assert ("server", "server handshake traffic secret") in keys
    assert ("client", "client handshake traffic secret") in keys
    assert ("client", "client application traffic secret") in keys
    assert ("server", "server application traffic secret") in keys
    assert "no key for it" not in done.stdout
    for name in ("ClientHello", "ServerHello", "EncryptedExtensions", "CertificateVerify"):
        assert f"    {name}, Length=" in done.stdout
    assert "extension_type=key_share" in done.stdout
    assert any(ctype == "ChangeCipherSpec" for _, ctype, _, _ in records)
    assert len([r for r in records if r[0] == "client"]) >= 3


def test_early_data_is_named_as_sent_under_the_early_traffic_secret(stack: LocalStack) -> None:
    done = stack.tlssim("handshake", "--resume", "--early-data", "GET / 0-RTT")
    assert done.returncode == 0, done.stderr
    done = stack.tlssim("handshake", "--resume", "--early-data", "GET / 0-RTT", "--records")
    assert done.returncode == 0, done.stderr
    assert "Protected by = client early traffic secret (0-RTT)" in done.stdout
    assert "extension_type=pre_shared_key" in done.stdout
    assert "extension_type=early_data" in done.stdout
    assert "EndOfEarlyData" in done.stdout


def test_tls12_records_after_change_cipher_spec_are_opened(stack: LocalStack) -> None:
    done = stack.tlssim("handshake", "--tls", "1.2", "--records")
    assert done.returncode == 0, done.stderr
    records = _headers(done.stdout)
    assert ("client", "Handshake", 40, "client write key (TLS 1.2 key block)") in records
    assert "no master secret" not in done.stdout


def test_records_and_json_together_are_refused(stack: LocalStack) -> None:
    done = stack.tlssim("handshake", "--records", "--json")
    assert done.returncode == 2
    assert "--records and --json" in done.stderr


def test_the_html_page_lists_the_records(stack: LocalStack, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    done = stack.tlssim("handshake", "--html", str(page))
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    assert "Records on the wire" in html
    assert "server handshake traffic secret" in html
    # the secrets opened the records; they are not in the page
    assert not re.search(r"TRAFFIC_SECRET\w* [0-9a-f]{64}", html)


def test_the_console_detail_lists_the_records_without_a_secret(
    stack: LocalStack, tmp_path: Path
) -> None:
    done = stack.tlssim("handshake", "--html", str(tmp_path / "page.html"), "--json")
    assert done.returncode == 0, done.stderr
    trace_id = json.loads(done.stdout)["trace_id"]
    url = f"{stack.console_url}/api/handshakes/{urllib.parse.quote(trace_id)}"
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                detail = json.load(reply)
            break
        except urllib.error.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert "Records on the wire" in detail["html"]
    assert "client application traffic secret" in detail["html"]
    # In wire order: the server's Finished before the client's.
    names = re.findall(r"<summary>(\w+), length \d+</summary>", detail["html"])
    assert names[:2] == ["ClientHello", "ServerHello"], names
    finished = [at for at, name in enumerate(names) if name == "Finished"]
    assert len(finished) == 2 and names.index("CertificateVerify") < finished[0], names
    assert not re.search(r"[0-9a-f]{64} [0-9a-f]{64}", detail["html"])


def _blocks(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(sender, content type, handshake message names) of each record, in printed order."""
    out = []
    for block in text.split("\n\n"):
        sender = re.search(r"Record #\d+ \((\w+)\)", block)
        ctype = re.search(r"Content Type = (\w+)", block)
        if sender and ctype:
            names = tuple(re.findall(r"^    (\w+), Length=\d+", block, flags=re.M))
            out.append((sender.group(1), ctype.group(1), names))
    return out


@pytest.mark.parametrize("columns", [60, 120])
@pytest.mark.parametrize("tls", ["1.3", "1.2"])
def test_records_come_in_wire_order_and_fit_the_terminal(
    stack: LocalStack, tls: str, columns: int
) -> None:
    done = stack.tlssim(
        "handshake", "--tls", tls, "--records", env=stack.env | {"COLUMNS": str(columns)}
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns, done.stdout
    blocks = _blocks(done.stdout)
    senders = [sender for sender, _, _ in blocks]
    finished = [sender for sender, _, names in blocks if "Finished" in names]
    assert senders[0] == "client" and senders[1] == "server", senders
    if tls == "1.3":
        # The server's flight, its Finished included, before the client's Finished.
        assert finished == ["server", "client"], blocks
    else:
        assert finished == ["client", "server"], blocks
        ccs = [at for at, (_, ctype, _) in enumerate(blocks) if ctype == "ChangeCipherSpec"]
        assert [blocks[at][0] for at in ccs] == ["client", "server"], blocks
        for at in ccs:  # each side's ChangeCipherSpec right before its Finished
            assert blocks[at + 1][0] == blocks[at][0] and "Finished" in blocks[at + 1][2]
        key_exchange = next(at for at, b in enumerate(blocks) if "ClientKeyExchange" in b[2])
        assert ccs[0] == key_exchange + 1, blocks
    # The hex of the ClientHello is all there, wrapped a byte at a time.
    hello = done.stdout.split("ClientHello, Length=", 1)[1].split("\n\n", 1)[0]
    digits = re.search(r"bytes:((?:\n? +[0-9a-f]+)+)\.\.\.", hello)
    assert digits is not None, hello
    assert len(re.sub(r"\s", "", digits.group(1))) == 128, hello
