"""The server's virtual hosts: SNI name -> the certificates it presents, and what a
verifying client should make of them (the README's table is this data).

A host may hold several keys (like nginx or OpenSSL with an ECDSA and an RSA certificate);
the one the client's signature_algorithms can use is presented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_HOST: Final = "valid.tlssim.test"
# Not a ca profile: the server signs this host's certificate with its own key.
SELF_SIGNED: Final = "self-signed"


@dataclass(frozen=True, slots=True)
class OpensslOutcome:
    """What `openssl s_client -verify_return_error -verify_hostname HOST -CAfile bundle`
    reports: success, or the X509 verify error and the alert it then sends."""

    verify_error: int | None = None  # X509_V_ERR_* code, None when verification passes
    verify_message: str = ""
    alert: str | None = None  # RFC 8446 name of the alert s_client sends
    note: str = ""
    #: The alert our server sends when it refuses what s_client offers (before any
    #: certificate is verified), e.g. an OpenSSL without ML-DSA or ML-KEM.
    server_alert: str | None = None
    #: The alert s_client sends before any certificate is verified: a handshake message it
    #: will not read (a certificate list past its limit).
    client_alert: str | None = None

    @property
    def ok(self) -> bool:
        return self.verify_error is None and self.server_alert is None and self.client_alert is None


@dataclass(frozen=True, slots=True)
class VirtualHost:
    name: str
    key_types: tuple[str, ...] = ("ecdsa-p256",)
    profile: str = "server"  # the ca's certificate profile, or SELF_SIGNED
    send_intermediates: bool = True  # False: the server presents the leaf alone
    certificate: str = ""  # what the certificate is, for the README
    expected: str = "success"  # our client (policy hard): "success" or the alert it sends
    openssl: OpensslOutcome = OpensslOutcome()
    #: "required" or "optional": the server asks for a client certificate from our CA.
    client_auth: str = ""
    #: The key exchange groups the host accepts (empty: the server's defaults).
    groups: tuple[str, ...] = ()


_OK = OpensslOutcome()
#: What the system's OpenSSL 3.0 s_client meets on a post-quantum-only host.
_OPENSSL3_REFUSED = OpensslOutcome(
    server_alert="handshake_failure",
    note="OpenSSL 3.0 offers neither ML-DSA nor ML-KEM; OpenSSL 4 (pyOpenSSL) succeeds",
)
_SHA1_REFUSED = OpensslOutcome(
    68,
    "CA signature digest algorithm too weak",
    "bad_certificate",
    note="refused at OpenSSL's default security level; `openssl verify` alone accepts it",
)
_MLDSA_CHAIN = "under the ML-DSA-65 intermediate and ML-DSA-87 root"

VIRTUAL_HOSTS: tuple[VirtualHost, ...] = (
    VirtualHost(
        DEFAULT_HOST,
        ("ecdsa-p256", "rsa2048"),
        certificate="ECDSA P-256 and RSA-2048, chosen by signature_algorithms",
    ),
    VirtualHost("rsa2048.tlssim.test", ("rsa2048",), certificate="RSA-2048"),
    VirtualHost("ecdsa-p256.tlssim.test", ("ecdsa-p256",), certificate="ECDSA P-256"),
    VirtualHost("ed25519.tlssim.test", ("ed25519",), certificate="Ed25519"),
    VirtualHost(
        "expired.tlssim.test",
        profile="expired",
        certificate="notAfter 90 days ago",
        expected="certificate_expired",
        openssl=OpensslOutcome(10, "certificate has expired", "certificate_expired"),
    ),
    VirtualHost(
        "not-yet-valid.tlssim.test",
        profile="not-yet-valid",
        certificate="notBefore 30 days ahead",
        expected="bad_certificate",
        openssl=OpensslOutcome(9, "certificate is not yet valid", "bad_certificate"),
    ),
    VirtualHost(
        "wrong-host.tlssim.test",
        profile="wrong-host",
        certificate="names only wrong.host.tlssim.invalid",
        expected="bad_certificate",
        openssl=OpensslOutcome(62, "hostname mismatch", "bad_certificate"),
    ),
    VirtualHost(
        "untrusted.tlssim.test",
        profile="untrusted",
        certificate="issued by tlssim Untrusted Intermediate CA, whose root is not in the bundle",
        expected="unknown_ca",
        openssl=OpensslOutcome(20, "unable to get local issuer certificate", "unknown_ca"),
    ),
    VirtualHost(
        "self-signed.tlssim.test",
        profile=SELF_SIGNED,
        certificate="self-signed by the server",
        expected="unknown_ca",
        openssl=OpensslOutcome(18, "self-signed certificate", "unknown_ca"),
    ),
    VirtualHost(
        "revoked.tlssim.test",
        profile="revoked",
        certificate="revoked (keyCompromise) right after issuance; the staple says revoked",
        expected="certificate_revoked",
        openssl=OpensslOutcome(
            note="s_client checks no revocation; with -status it prints 'Cert Status: revoked'"
        ),
    ),
    VirtualHost(
        "incomplete-chain.tlssim.test",
        send_intermediates=False,
        certificate="issued by the intermediate, which the server does not send",
        expected="unknown_ca",
        openssl=OpensslOutcome(20, "unable to get local issuer certificate", "unknown_ca"),
    ),
    VirtualHost(
        "long-chain.tlssim.test",
        profile="long-chain",
        certificate="three intermediates below the root (TLSSIM_LONG_CHAIN_DEPTH, 1..8)",
    ),
    VirtualHost(
        "must-staple.tlssim.test",
        profile="must-staple",
        certificate="TLS feature status_request (must-staple); the server staples",
        openssl=OpensslOutcome(note="s_client does not enforce must-staple"),
    ),
    VirtualHost(
        "client-auth.tlssim.test",
        certificate="ECDSA P-256; requires a client certificate from the tlssim CA",
        client_auth="required",
        openssl=OpensslOutcome(
            note="accepted with -cert/-key of a client certificate from the tlssim CA; "
            "without one the server sends certificate_required"
        ),
    ),
    VirtualHost(
        "client-auth-optional.tlssim.test",
        certificate="ECDSA P-256; asks for a client certificate, accepts none",
        client_auth="optional",
    ),
    VirtualHost(
        "mldsa44.tlssim.test",
        ("mldsa44",),
        profile="mldsa",
        certificate=f"ML-DSA-44 {_MLDSA_CHAIN}; TLS 1.3 only",
        openssl=_OPENSSL3_REFUSED,
    ),
    VirtualHost(
        "mldsa65.tlssim.test",
        ("mldsa65",),
        profile="mldsa",
        certificate=f"ML-DSA-65 {_MLDSA_CHAIN}; TLS 1.3 only",
        openssl=_OPENSSL3_REFUSED,
    ),
    VirtualHost(
        "pq.tlssim.test",
        certificate="ECDSA P-256; accepts only the post-quantum groups (X25519MLKEM768, "
        "SecP256r1MLKEM768, MLKEM768)",
        groups=("X25519MLKEM768", "SecP256r1MLKEM768", "MLKEM768"),
        openssl=OpensslOutcome(
            server_alert="handshake_failure",
            note="OpenSSL 3.0 lists no post-quantum group; OpenSSL 4 (pyOpenSSL) succeeds",
        ),
    ),
    # Certificates and chains a modern client refuses, or must build: badssl.com's kinds.
    VirtualHost(
        "sha1-intermediate.tlssim.test",
        profile="sha1-intermediate",
        certificate="issued by the SHA-1 Intermediate CA, whose certificate the root signed "
        "with SHA-1",
        expected="bad_certificate",
        openssl=_SHA1_REFUSED,
    ),
    VirtualHost(
        "sha1-leaf.tlssim.test",
        profile="sha1-leaf",
        certificate="signed with SHA-1 (ecdsa-with-SHA1) by the intermediate",
        expected="bad_certificate",
        openssl=_SHA1_REFUSED,
    ),
    VirtualHost("rsa4096.tlssim.test", ("rsa4096",), certificate="RSA-4096"),
    VirtualHost(
        "rsa8192.tlssim.test",
        ("rsa8192",),
        certificate="RSA-8192 (each signature costs the server tens of milliseconds)",
    ),
    VirtualHost("ecdsa-p384.tlssim.test", ("ecdsa-p384",), certificate="ECDSA P-384"),
    VirtualHost("ecdsa-p521.tlssim.test", ("ecdsa-p521",), certificate="ECDSA P-521"),
    VirtualHost(
        "1000-sans.tlssim.test",
        profile="1000-sans",
        certificate="1,000 DNS names in its SAN (a certificate of about 28 KB)",
    ),
    VirtualHost(
        "10000-sans.tlssim.test",
        profile="10000-sans",
        certificate="10,000 DNS names in its SAN (a certificate of about 300 KB, a "
        "Certificate message past both clients' limits)",
        expected="illegal_parameter",
        openssl=OpensslOutcome(
            client_alert="illegal_parameter",
            note="excessive message size: s_client takes at most 100 KiB of certificate "
            "list (max_cert_list), our client 256 KiB of handshake message",
        ),
    ),
    VirtualHost(
        "no-common-name.tlssim.test",
        profile="no-common-name",
        certificate="subject O=tlssim, no CN: the name is in the SAN alone",
    ),
    VirtualHost(
        "no-subject.tlssim.test",
        profile="no-subject",
        certificate="an empty subject; the SAN, critical, holds the name",
    ),
    VirtualHost(
        "aia-chain.tlssim.test",
        profile="aia-chain",
        send_intermediates=False,
        certificate="issued by the intermediate, which the server does not send; the leaf's "
        "AIA caIssuers names where the responder's HTTP port serves it",
        expected="unknown_ca",
        openssl=OpensslOutcome(
            20,
            "unable to get local issuer certificate",
            "unknown_ca",
            note="s_client fetches nothing; our client with --chase-aia succeeds",
        ),
    ),
    VirtualHost(
        "cross-signed.tlssim.test",
        profile="cross-signed",
        certificate="issued by the Cross-Signed Intermediate CA, certified by two trusted "
        "roots: the Old Root CA (expired) and the Cross Root CA; the server sends the old "
        "root's certificate of it first, then the new one's",
        openssl=OpensslOutcome(
            10,
            "certificate has expired",
            "certificate_expired",
            note="OpenSSL takes the first intermediate that fits, reaches the expired root "
            "and does not look for another path",
        ),
    ),
    VirtualHost(
        "name-constrained.tlssim.test",
        profile="name-constrained",
        certificate="issued by the Name-Constrained Intermediate CA, which may certify only "
        "names under permitted.tlssim.test",
        expected="bad_certificate",
        openssl=OpensslOutcome(47, "permitted subtree violation", "certificate_unknown"),
    ),
)


def find(name: str | None) -> VirtualHost | None:
    """The host for an SNI name; no SNI gets the default host."""
    wanted = (name or DEFAULT_HOST).lower().rstrip(".")
    return next((h for h in VIRTUAL_HOSTS if h.name == wanted), None)
