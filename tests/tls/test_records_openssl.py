"""`--records` against OpenSSL's own `-trace` of the same handshake: our client engine talks
to `openssl s_server -trace` over loopback, and the records we decode from the captured bytes
and the key log match, in order and both ways, the record types, lengths, inner content types
and handshake message names OpenSSL printed."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tlssim.pki.throwaway import make_ca, make_leaf
from tlssim.report.records import Record, records_of, render_records
from tlssim.tls import ClientConfig, ClientConnection, ProtocolVersion, events
from tlssim.tls.constants import NamedGroup

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

NAME = "records.example.test"
Summary = tuple[str, str, int, str, tuple[str, ...]]


def _credentials(tmp: Path) -> tuple[Path, Path]:
    ca, ca_key = make_ca("Records Test Root")
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_leaf(ca, ca_key, NAME, key)
    cert_file, key_file = tmp / "leaf.pem", tmp / "leaf.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


Order = list[tuple[str, int]]


def _handshake(port: int, version: ProtocolVersion) -> tuple[bytes, bytes, list[str], Order]:
    """Our engine's handshake, 12 bytes of application data and a close_notify; both
    directions' bytes, the key log, and the order the chunks crossed in."""
    client = ClientConnection(
        ClientConfig(
            server_name=NAME,
            entropy=os.urandom,
            versions=(version,),
            supported_groups=(NamedGroup.x25519, NamedGroup.secp256r1),
            key_share_groups=(NamedGroup.x25519,),
        )
    )
    sent, received = bytearray(), bytearray()
    order: Order = []
    evs = client.start()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        sent += client.data_to_send()
        order.append(("client", len(sent)))
        conn.sendall(sent)
        while True:
            try:
                data = conn.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            received += data
            order.append(("server", len(data)))
            evs += client.receive_data(data)
            while client.awaiting_certificate_decision:
                evs += client.accept_certificate()
            if client.handshake_complete and conn.gettimeout() == 10:
                conn.settimeout(1.0)  # what follows the handshake arrives at once
                client.send_application_data(b"hello openss")
            if out := client.data_to_send():
                sent += out
                order.append(("client", len(out)))
                conn.sendall(out)
        client.close()
        if out := client.data_to_send():
            sent += out
            order.append(("client", len(out)))
            conn.sendall(out)
        time.sleep(0.3)
    keylog = [e.keylog_line() for e in evs if isinstance(e, events.SecretDerived)]
    return bytes(sent), bytes(received), keylog, order


def _openssl_trace(text: str) -> dict[str, list[Summary]]:
    """s_server's records: 'Received Record' are the client's, 'Sent Record' the server's;
    under "both", all of them in the order the server printed them."""
    out: dict[str, list[Summary]] = {"client": [], "server": [], "both": []}
    blocks = re.split(r"(Sent|Received) Record\n", text)
    for who, body in zip(blocks[1::2], blocks[2::2], strict=True):
        ctype = re.search(r"Content Type = (\w+) \((\d+)\)", body)
        length = re.search(r"Length = (\d+)", body)
        inner = re.search(r"Inner Content Type = (\w+)", body)
        assert ctype and length
        names = tuple(re.findall(r"^    (\w+), Length=\d+", body, flags=re.M))
        sender = "client" if who == "Received" else "server"
        summary = (
            sender,
            ctype.group(1),
            int(length.group(1)),
            inner.group(1) if inner else "",
            names,
        )
        out[sender].append(summary)
        out["both"].append(summary)
    return out


def _ours(records: list[Record], sender: str) -> list[Summary]:
    return [
        (r.sender, r.type_name, r.length, r.inner_name, tuple(m.name for m in r.messages))
        for r in records
        if r.sender == sender
    ]


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_records_match_openssl_trace(tmp_path: Path, version: str) -> None:
    cert_file, key_file = _credentials(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    trace = tmp_path / "trace.txt"
    flag = "-tls1_3" if version == "1.3" else "-tls1_2"
    wanted = ProtocolVersion.TLSv1_3 if version == "1.3" else ProtocolVersion.TLSv1_2
    with trace.open("w") as sink:
        server = subprocess.Popen(
            ["openssl", "s_server", "-accept", str(port), "-cert", str(cert_file),
             "-key", str(key_file), flag, "-trace", "-ign_eof"],
            stdin=subprocess.PIPE, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while "ACCEPT" not in trace.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            sent, received, keylog, order = _handshake(port, wanted)
        finally:
            server.kill()
            server.wait()
    theirs = _openssl_trace(trace.read_text(errors="replace"))
    records = records_of(sent, received, keylog, order)
    text = render_records(records, width=100)
    for sender in ("client", "server"):
        ours = _ours(records, sender)
        assert ours == theirs[sender][: len(ours)], text
        assert len(ours) == len(theirs[sender]), text
    assert all(r.protected_by or r.type_name != "ApplicationData" for r in records)
    # Both directions in one order: up to the client's Finished the handshake is lock-step,
    # so the server's view (OpenSSL's trace) and the client's (ours) list the same records
    # in the same order; after it each side may see the other's next flight first.
    both = [(r.sender, r.type_name, r.length, r.inner_name, tuple(m.name for m in r.messages))
            for r in records]  # fmt: skip
    client_finished = next(
        at for at, s in enumerate(both) if s[0] == "client" and "Finished" in s[4]
    )
    assert both[: client_finished + 1] == theirs["both"][: client_finished + 1], text
    finished = [s[0] for s in both if "Finished" in s[4]]
    # TLS 1.3: the server finishes first; TLS 1.2 (full handshake): the client does.
    assert finished == (["server", "client"] if version == "1.3" else ["client", "server"])
    for width in (60, 120):
        _assert_fits(render_records(records, width=width), records, width)
    ccs = [at for at, s in enumerate(both) if s[1] == "ChangeCipherSpec"]
    if version == "1.2":
        # Each side's ChangeCipherSpec comes right before its Finished.
        for at in ccs:
            assert "Finished" in both[at + 1][4] and both[at + 1][0] == both[at][0], text
        assert [both[at][0] for at in ccs] == ["client", "server"], text
    # Fields both print: each Finished's verify_data, the CertificateVerify's algorithm,
    # the tickets' lifetime hints.
    fields = [(m.name, m.fields) for r in records for m in r.messages]
    raw = trace.read_text(errors="replace")
    theirs_verify = {v.lower() for v in re.findall(r"verify_data \(len=\d+\): (\w+)", raw)}
    ours_verify = {str(f["verify_data"]) for n, f in fields if n == "Finished"}
    assert ours_verify == theirs_verify and len(ours_verify) == 2
    for algorithm in re.findall(r"Signature Algorithm: (\w+) \(0x", raw):
        assert any(f.get("signature_algorithm") == algorithm for _, f in fields), algorithm
    for hint in re.findall(r"ticket_lifetime_hint=(\d+)", raw):
        assert any(f.get("ticket_lifetime_hint") == int(hint) for _, f in fields), hint


def _assert_fits(text: str, records: list[Record], width: int) -> None:
    """Every line within `width`; nothing cut: each message's hex, name and extension names
    are all there, whole."""
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, text
    assert max(len(line) for line in lines) > width - 12, text  # the width is used
    hex_runs = re.findall(r"bytes:((?:\n? +[0-9a-f]+(?:\.\.\.)?)+)", text)
    shown = {run.replace("\n", "").replace(" ", "").removesuffix("...") for run in hex_runs}
    for record in records:
        for message in record.messages:
            assert message.head_hex in shown, (message.name, text)
            assert f"{message.name}, Length={message.length}" in text
            for name, length in message.extensions:
                assert f"extension_type={name}, length={length}" in text.replace("\n", " "), name
