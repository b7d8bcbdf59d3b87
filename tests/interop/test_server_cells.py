"""The server role's cells, read from our client's reports: each kind of feature, the cells
not run (and why), the staple handed to the peers, and the committed table's round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from tlssim.interop import servers
from tlssim.interop.servers import (
    FEATURES,
    SERVER_PEERS,
    Feature,
    ServerCell,
    Setup,
    make_credentials,
    read_cell,
)

BY_NAME = {f.name: f for f in FEATURES}
PEERS = {p.name: p for p in SERVER_PEERS}


def report(**fields: Any) -> dict[str, Any]:
    """A report of a completed handshake, as `tlssim handshake --json` prints one."""
    base: dict[str, Any] = {
        "ok": True,
        "version": "TLSv1.3",
        "cipher_suite": "TLS_AES_128_GCM_SHA256",
        "key_exchange": "x25519",
        "resumed": False,
        "signature_scheme": "ecdsa_secp256r1_sha256",
        "alert": None,
        "error": None,
        "steps": [],
        "application_data": {"sent": 8, "echoed": 0},
        "revocation": {"policy": "soft", "status": "unavailable", "source": None},
    }
    return base | fields


def step(name: str, direction: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "direction": direction, "fields": fields}


def test_a_signature_cell_names_the_scheme_and_fails_on_another() -> None:
    pss = BY_NAME["rsa_pss_rsae_sha384"]
    assert pss.args == ("--sigalg", "rsa_pss_rsae_sha384") and pss.key_type == "rsa2048"
    signed = report(signature_scheme="rsa_pss_rsae_sha384")
    assert read_cell(pss, "1.3", signed) == (True, "signed with rsa_pss_rsae_sha384")
    other = report(signature_scheme="rsa_pss_rsae_sha256")
    assert read_cell(pss, "1.3", other) == (
        False,
        "signed with rsa_pss_rsae_sha256, not rsa_pss_rsae_sha384",
    )
    assert BY_NAME["rsa_pkcs1_sha256"].versions == ("1.2",)
    assert {f.key_type for f in FEATURES if f.name.startswith("ecdsa_")} == {
        "ecdsa-p256",
        "ecdsa-p384",
        "ecdsa-p521",
    }


def test_resumption_says_by_what() -> None:
    feature = BY_NAME["resumption"]
    assert read_cell(feature, "1.3", report(resumed=True)) == (True, "resumed by ticket")
    assert read_cell(feature, "1.2", report(resumed=True)) == (True, "resumed by session id")
    assert read_cell(feature, "1.2", report()) == (True, "full handshake again")


@pytest.mark.parametrize(
    ("early", "resumed", "text"),
    [
        ({"requested": 5, "sent": 5, "accepted": True}, True, "0-RTT accepted"),
        (
            {"requested": 5, "sent": 5, "accepted": False},
            True,
            "0-RTT rejected (sent again after the handshake)",
        ),
        (
            {"requested": 5, "sent": 0, "accepted": False},
            True,
            "0-RTT not sent: the ticket allows no early data",
        ),
        (None, False, "not resumed: no 0-RTT"),
    ],
)
def test_early_data_says_accepted_or_rejected(
    early: dict[str, Any] | None, resumed: bool, text: str
) -> None:
    feature = BY_NAME["0-RTT"]
    assert feature.versions == ("1.3",) and feature.mode == "early-data"
    assert read_cell(feature, "1.3", report(resumed=resumed, early_data=early)) == (True, text)


def test_mtls_needs_a_request_and_a_certificate_sent() -> None:
    feature = BY_NAME["mTLS"]
    asked = [
        step("CertificateRequest", "received"),
        step("Certificate", "sent", certificates=2),
    ]
    echoed = report(steps=asked, application_data={"sent": 8, "echoed": 8})
    assert read_cell(feature, "1.3", echoed, echo=True) == (
        True,
        "lab client certificate accepted (2 certificates sent; echo after it)",
    )
    ok, text = read_cell(feature, "1.3", report(steps=asked), echo=False)
    assert ok and "echoes nothing" in text
    assert read_cell(feature, "1.3", report()) == (False, "the server asked for no certificate")
    empty = [step("CertificateRequest", "received"), step("Certificate", "sent", certificates=0)]
    assert read_cell(feature, "1.3", report(steps=empty)) == (
        False,
        "our client sent no certificate",
    )
    refused = report(ok=False, alert={"description": "bad_certificate", "sent_by": "server"})
    assert read_cell(feature, "1.3", refused) == (False, "bad_certificate (server)")


def test_key_update_with_an_echo_needs_the_peers_own_update() -> None:
    feature = BY_NAME["KeyUpdate"]
    assert feature.args == ("--key-update",) and feature.versions == ("1.3",)
    ours = step("KeyUpdate", "sent", request="update_requested")
    theirs = step("KeyUpdate", "received", request="update_not_requested")
    both = report(steps=[ours, theirs], application_data={"sent": 8, "echoed": 8})
    assert read_cell(feature, "1.3", both, echo=True) == (
        True,
        "answered with its own KeyUpdate; echo under the new keys",
    )
    alone = report(steps=[ours], application_data={"sent": 8, "echoed": 8})
    assert read_cell(feature, "1.3", alone, echo=True) == (
        False,
        "echo without a KeyUpdate of its own",
    )
    assert read_cell(feature, "1.3", report(steps=[ours]), echo=False) == (
        True,
        "KeyUpdate sent, no alert (the peer echoes nothing)",
    )


def test_ocsp_needs_a_staple() -> None:
    feature = BY_NAME["OCSP staple"]
    stapled = report(revocation={"policy": "soft", "status": "good", "source": "staple"})
    assert read_cell(feature, "1.3", stapled) == (True, "staple seen: good, accepted")
    assert read_cell(feature, "1.3", report()) == (False, "no staple seen")


def test_an_error_line_is_the_cell() -> None:
    line = "tlssim: ML-KEM groups exist only in TLS 1.3; use --tls 1.3"
    assert read_cell(BY_NAME["X25519MLKEM768"], "1.2", line) == (False, line)


def test_what_a_peer_lacks_is_not_run_and_says_why() -> None:
    nss, go, openssl = PEERS["nss"], PEERS["go"], PEERS["openssl"]
    assert "Ed25519" in nss.lacking(BY_NAME["ed25519"])  # by key type
    assert "0-RTT" in go.lacking(BY_NAME["0-RTT"])  # by mode
    assert not openssl.lacking(BY_NAME["0-RTT"])
    planned = servers._servers_for(nss, "1.3")
    assert ("ed25519", "") not in planned
    assert [f.name for f in planned[("ecdsa-p256", "mtls")]] == ["mTLS"]
    assert all(f.name != "ed448" for group in planned.values() for f in group)
    cell = ServerCell("nss", "ed25519", "1.3", True, "", nss.lacking(BY_NAME["ed25519"]))
    assert cell.text.startswith("not supported by this peer: NSS 3.87")
    ours = ServerCell("go", "ed448", "1.3", True, "", "the engine has no Ed448", "our client")
    assert ours.text == "not supported by our client: the engine has no Ed448"


def test_the_staple_is_a_good_answer_for_the_leaf_signed_by_its_issuer(tmp_path: Path) -> None:
    creds = make_credentials(tmp_path, "ecdsa-p384")
    leaf = x509.load_pem_x509_certificate(creds.cert_file.read_bytes())
    root = x509.load_pem_x509_certificate(creds.ca_file.read_bytes())
    answer = ocsp.load_der_ocsp_response(creds.ocsp_file.read_bytes())
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert answer.serial_number == leaf.serial_number
    root_key, leaf_key = root.public_key(), leaf.public_key()
    assert isinstance(root_key, ec.EllipticCurvePublicKey)
    assert answer.signature_hash_algorithm is not None
    root_key.verify(
        answer.signature, answer.tbs_response_bytes, ec.ECDSA(answer.signature_hash_algorithm)
    )
    assert isinstance(leaf_key, ec.EllipticCurvePublicKey)
    assert leaf_key.curve.name == "secp384r1"


def test_each_mode_reaches_the_peers_command_line(tmp_path: Path) -> None:
    creds = make_credentials(tmp_path, "ecdsa-p256")
    anchors = tmp_path / "lab.pem"
    openssl = PEERS["openssl"].argv
    assert "-rev" in openssl(Setup(creds, "1.3"), 1)
    mtls = openssl(Setup(creds, "1.3", "mtls", anchors), 1)
    assert mtls[mtls.index("-Verify") + 1] == "1" and str(anchors) in mtls
    assert str(creds.ocsp_file) in openssl(Setup(creds, "1.2", "ocsp"), 1)
    early = openssl(Setup(creds, "1.3", "early-data"), 1)
    assert "-early_data" in early and "-rev" not in early
    gnutls = PEERS["gnutls"].argv(Setup(creds, "1.3", "mtls", anchors), 1)
    assert "--require-client-cert" in gnutls and str(anchors) in gnutls
    go = PEERS["go"].argv(Setup(creds, "1.2", "ocsp"), 1)
    assert go[go.index("-ocsp") + 1] == str(creds.ocsp_file)


def test_the_committed_table_reads_back(tmp_path: Path) -> None:
    cells = [
        ServerCell("openssl", "ECDSA", "1.3", True, "TLSv1.3 TLS_AES_128_GCM_SHA256 x25519"),
        ServerCell("openssl", "X25519MLKEM768", "1.3", False, "handshake_failure (server)"),
        ServerCell("openssl", "rsa_pss_rsae_sha256", "1.3", True, "signed with a | b"),
        ServerCell("go", "0-RTT", "1.3", True, "", "crypto/tls has no 0-RTT"),
        ServerCell("go", "ed448", "1.3", True, "", "no Ed448", "our client"),
    ]
    text = servers.to_markdown(cells)
    assert text.count("### Server role") == 2
    assert "**failed: handshake_failure (server)**" in text
    assert servers.parse_markdown(text) == {(c.peer, c.feature, c.version): c.text for c in cells}


def test_every_feature_has_a_known_kind_and_table() -> None:
    kinds = {"handshake", "resumption", "signature", "early-data", "mtls", "key-update", "ocsp"}
    tables = {key for key, _ in servers.TABLES}
    for feature in FEATURES:
        assert isinstance(feature, Feature)
        assert feature.kind in kinds and feature.table in tables, feature
        assert feature.our_client_lacks or feature.key_type in servers.KEY_TYPES, feature
