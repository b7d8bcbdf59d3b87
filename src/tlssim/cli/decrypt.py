"""`tlssim decrypt`: forward secrecy shown, not claimed.

With RSA key transport the premaster secret travels encrypted under the server's long-term
key, so whoever holds that key later can read a recorded session. With (EC)DHE the session
keys come from ephemeral keys that were never sent, and the same key recovers nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tlssim.cli.errors import CliError, Exit
from tlssim.tls import OfflineDecryptionError, decrypt_session


def _read_capture(capture_file: str) -> tuple[bytes, bytes]:
    """Both directions' bytes from a file `tlssim handshake --capture` wrote."""
    data = Path(capture_file).read_bytes()  # an OSError names the file
    try:
        capture = json.loads(data)
        return bytes.fromhex(capture["client_to_server"]), bytes.fromhex(
            capture["server_to_client"]
        )
    except (ValueError, KeyError, TypeError):
        raise CliError(
            f"{capture_file}: not a capture (expected the JSON `tlssim handshake --capture FILE` "
            "writes: client_to_server and server_to_client in hex)",
            Exit.FILE,
        ) from None


def run_decrypt(capture_file: str, key_file: str) -> int:
    client_to_server, server_to_client = _read_capture(capture_file)
    try:
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    except (ValueError, TypeError):
        raise CliError(
            f"{key_file}: not a private key (expected an unencrypted PEM key, as "
            "`tlssim server export-key` writes)",
            Exit.FILE,
        ) from None
    try:
        session = decrypt_session(client_to_server, server_to_client, key)  # type: ignore[arg-type]
    except OfflineDecryptionError as exc:
        print(f"cannot decrypt: {exc}", file=sys.stderr)
        return 1
    print(f"{session.version.label} {session.cipher_suite.name}: decrypted with the server's key")
    print(f"extended master secret: {'yes' if session.extended_master_secret else 'no'}")
    print(session.keylog_line())
    for sender, records in (
        ("client", session.client_application_data),
        ("server", session.server_application_data),
    ):
        data = b"".join(records)
        print(f"\n{sender} -> {'server' if sender == 'client' else 'client'}: {len(data)} bytes")
        print(data.decode(errors="replace"))
    return 0
