"""Which ClientHello fingerprint (`tlssim.tls.fingerprint`) each peer's client sends, so that
the lab's server can name the stack that connects to it.

Each peer is run as the matrix runs it (each version, with its defaults and with its
revocation options: the options change the offer) against a listener of ours that keeps the
first ClientHello and hangs up. The table is JSON: per peer, its version, the name the
server shows, and its fingerprints. `tlssim interop` (client role) writes it where the
local server reads it (`client-fingerprints.json` in the state directory); the committed
default beside this module (`client_fingerprints.json`, read when the state directory has
none) is regenerated with `tlssim interop --role client --fingerprints
src/tlssim/interop/client_fingerprints.json`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tlssim.interop.peers import ClientPeer, Target
from tlssim.tls.fingerprint import Fingerprint, client_hello_in, fingerprint

#: The committed table, read by the server when its state directory has none.
DEFAULT_TABLE = Path(__file__).with_name("client_fingerprints.json")
#: The table's name in the lab's state directory (TLSSIM_DATA_DIR).
FILE_NAME = "client-fingerprints.json"
#: How long the listener waits for a peer's ClientHello.
CAPTURE_TIMEOUT_S = 30.0
SERVER_NAME = "valid.tlssim.test"

#: How the server names each peer's stack; {v} is the version number the peer reports.
NAMES = {
    "openssl": "OpenSSL {v} (s_client)",
    "pyopenssl": "OpenSSL {v} (pyOpenSSL)",
    "gnutls": "GnuTLS {v}",
    "nss": "NSS {v}",
    "botan": "Botan {v}",
    "go": "Go {v} crypto/tls",
    "java": "Java {v} (JSSE)",
    "tlslite": "tlslite-ng {v}",
    "python-ssl": "Python {v} ssl",
    "curl": "curl {v}",
    "wget": "wget {v}",
}


def display_name(peer: str, version: str) -> str:
    """ "GnuTLS 3.7.9" from the peer's name and its version line ("gnutls-cli 3.7.9")."""
    number = re.search(r"\d+(?:\.\d+)+", version)
    template = NAMES.get(peer, peer + " {v}")
    if number is None:
        return template.replace(" {v}", "")
    return template.format(v=number.group(0))


def cases(peer: ClientPeer) -> list[tuple[str, bool]]:
    """(version, revocation options) as the matrix runs the peer."""
    return [
        (version, revocation)
        for version in peer.versions
        for revocation in (False, True)
        if not revocation or peer.revocation_options
    ]


def capture(peer: ClientPeer, version: str, revocation: bool, ca_file: Path) -> Fingerprint | None:
    """The fingerprint of the first ClientHello the peer sends, or None if none came."""
    seen: list[bytes] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(CAPTURE_TIMEOUT_S)
        port = listener.getsockname()[1]
        reader = threading.Thread(target=_first_hello, args=(listener, seen), daemon=True)
        reader.start()
        # the peer fails to connect (we hang up): only what it sent first matters
        with contextlib.suppress(Exception):
            peer.run(Target(f"127.0.0.1:{port}", SERVER_NAME, ca_file, version, revocation))
        reader.join(CAPTURE_TIMEOUT_S)
    hello = client_hello_in(seen[0]) if seen else None
    return fingerprint(hello) if hello is not None else None


def _first_hello(listener: socket.socket, seen: list[bytes]) -> None:
    try:
        conn, _ = listener.accept()
    except OSError:
        return
    with conn:
        conn.settimeout(CAPTURE_TIMEOUT_S)
        data = b""
        while client_hello_in(data) is None:
            try:
                chunk = conn.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        seen.append(data)


Progress = Callable[[int, int, str], None]


def record(
    peers: Sequence[ClientPeer], ca_file: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """The table: {"peers": {name: {"version", "name", "fingerprints": {digest: {"text",
    "cases"}}}}}."""
    todo = [(peer, version, revocation) for peer in peers for version, revocation in cases(peer)]
    table: dict[str, Any] = {}
    for done, (peer, version, revocation) in enumerate(todo, 1):
        entry = table.get(peer.name)
        if entry is None:
            peer_version = peer.version_of()
            entry = table[peer.name] = {
                "version": peer_version,
                "name": display_name(peer.name, peer_version),
                "fingerprints": {},
            }
        found = capture(peer, version, revocation, ca_file)
        if found is not None:
            case = f"TLS {version}" + (" with its revocation options" if revocation else "")
            prints = entry["fingerprints"]
            prints.setdefault(found.digest, {"text": found.text, "cases": []})["cases"].append(case)
        if progress is not None:
            progress(done, len(todo), f"fingerprint of {peer.name} TLS {version}")
    return {"peers": table}


def save(table: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")


def merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new`'s peers in place of `old`'s, the others kept (a run with --peers records some)."""
    return {"peers": dict(old.get("peers", {})) | dict(new.get("peers", {}))}
