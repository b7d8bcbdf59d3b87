"""Conformance items found by other stacks' probes, reproduced with the openssl command
against the server service's TCP port."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack
from tests.peers import openssl_client

pytestmark = pytest.mark.integration


def s_client(stack: LocalStack, bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return openssl_client(stack.server_tcp, *args, server_name="valid.tlssim.test", ca_file=bundle)


def test_encrypted_extensions_list_our_groups_when_the_client_has_not_our_first(
    stack: LocalStack, bundle: Path
) -> None:
    """RFC 8446 4.2.7: the server prefers a group the client did not offer, so its
    EncryptedExtensions carry supported_groups with all of its groups, as OpenSSL's do."""
    done = s_client(stack, bundle, "-tls1_3", "-groups", "P-256", "-trace")
    assert "Verify return code: 0 (ok)" in done.stdout, done.stdout + done.stderr
    ee = done.stdout.split("EncryptedExtensions", 1)[1].split("Certificate", 1)[0]
    assert "extension_type=supported_groups" in ee, ee
    # X25519MLKEM768 (4588), which OpenSSL 3.0 does not know, x25519 (29) and P-256 (23)
    assert all(f"({code})" in ee for code in (4588, 29, 23)), ee


def test_tls12_session_offered_without_its_cipher_suite_is_illegal_parameter(
    stack: LocalStack, bundle: Path, tmp_path: Path
) -> None:
    """A known session id offered without that session's suite is refused (OpenSSL:
    'required cipher missing'), never resumed or silently replaced by a full handshake."""
    session = tmp_path / "session.pem"
    tls12 = ("-tls1_2", "-no_ticket", "-cipher")
    first = s_client(
        stack, bundle, *tls12, "ECDHE-ECDSA-AES128-GCM-SHA256", "-sess_out", str(session)
    )
    assert "Verify return code: 0 (ok)" in first.stdout, first.stdout + first.stderr
    again = s_client(
        stack, bundle, *tls12, "ECDHE-ECDSA-AES256-GCM-SHA384", "-sess_in", str(session)
    )
    assert "alert illegal parameter" in again.stderr, again.stdout + again.stderr
    resumed = s_client(
        stack, bundle, *tls12, "ECDHE-ECDSA-AES128-GCM-SHA256", "-sess_in", str(session)
    )
    assert "Reused, TLSv1.2" in resumed.stdout, resumed.stdout + resumed.stderr
