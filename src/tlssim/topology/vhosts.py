"""The server's virtual hosts: SNI name -> the certificates it presents, and what a
verifying client should make of them (the README's table is this data).

A host may hold several keys (like nginx or OpenSSL with an ECDSA and an RSA certificate);
the one the client's signature_algorithms can use is presented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tlssim.topology.lessons import (
    DHE_RSA,
    INTERMEDIATE_TLS12,
    LEGACY_RSA_CBC,
    LESSONS,
    OLD_TLS12,
    TLS13_SUITES,
)

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
        return (
            self.verify_error is None
            and self.server_alert is None
            and self.client_alert is None
            and self.alert is None
        )


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
    #: The protocol versions the host allows, best first, as ProtocolVersion names
    #: ("TLSv1_0"); empty: the server's (TLS 1.3 and 1.2). A host allowing only TLS 1.1 or
    #: below answers as servers of that time did: with its own version, whatever is offered.
    versions: tuple[str, ...] = ()
    #: The cipher suites the host allows, in its preference order (IANA names); empty: the
    #: server's. Legacy suites (CBC, 3DES) are reachable only on hosts that name them.
    cipher_suites: tuple[str, ...] = ()
    #: Grants RFC 7366 encrypt_then_mac to a client asking for it with a CBC suite.
    encrypt_then_mac: bool = True
    #: Who sends the alert in ``expected``: "client" (ours refuses what the host sent) or
    #: "server" (the host refuses our client's offer, which holds nothing it allows).
    alert_from: str = "client"
    #: Why a modern client does not go there: the attack the refusal avoids (the story).
    lesson: str = ""
    #: The finite-field group of its DHE suites, a ``tlssim.tls.ffdhe.DH_GROUPS`` name
    #: (empty: the server's, RFC 7919 ffdhe2048).
    dh_group: str = ""


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

#: The system's OpenSSL 3.0 at its default security level (1) still speaks TLS 1.0/1.1
#: and offers AES-CBC with RSA key transport; at level 2 (some distributions) it refuses.
_OPENSSL_OLD_TLS = OpensslOutcome(
    note="OpenSSL 3.0 at security level 1 still offers TLS 1.0/1.1, CBC and RSA key transport"
)
#: Neither OpenSSL 3.0 nor 4 has a 3DES or RC4 suite left (GnuTLS still does).
_OPENSSL_HAS_NONE = OpensslOutcome(
    server_alert="handshake_failure", note="OpenSSL 3.0 offers no such suite at all"
)
#: OpenSSL 3.0's client at its default security level takes no DH group under 2048 bits
#: ("dh key too small") and none under 512 at all ("modulus too small"); it checks neither
#: that p is a safe prime nor that it is a prime.
_OPENSSL_DH = {
    "dh480": OpensslOutcome(
        alert="illegal_parameter", note="bad dh value: modulus too small (DH_check_params)"
    ),
    "dh1024": OpensslOutcome(
        alert="handshake_failure", note="dh key too small (at @SECLEVEL=0: success)"
    ),
    "dh2048": _OK,
    "dh-small-subgroup": OpensslOutcome(note="OpenSSL does not ask for a safe prime"),
    "dh-composite": OpensslOutcome(note="OpenSSL does not check that p is prime"),
}

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
    # -- legacy protocols and ciphers (issue 27): reachable only on these hosts ------------
    VirtualHost(
        "tls-v1-0.tlssim.test",
        ("rsa2048",),
        certificate="RSA-2048; TLS 1.0 only (AES-CBC with HMAC-SHA1, RSA key transport)",
        expected="handshake_failure",
        alert_from="server",
        versions=("TLSv1_0",),
        cipher_suites=LEGACY_RSA_CBC,
        lesson=LESSONS["tls1.0"],
        openssl=_OPENSSL_OLD_TLS,
    ),
    VirtualHost(
        "tls-v1-1.tlssim.test",
        ("rsa2048",),
        certificate="RSA-2048; TLS 1.1 only (AES-CBC with HMAC-SHA1, RSA key transport)",
        expected="handshake_failure",
        alert_from="server",
        versions=("TLSv1_1",),
        cipher_suites=LEGACY_RSA_CBC,
        lesson=LESSONS["tls1.1"],
        openssl=_OPENSSL_OLD_TLS,
    ),
    VirtualHost(
        "cbc.tlssim.test",
        ("ecdsa-p256", "rsa2048"),
        certificate="ECDSA P-256 and RSA-2048; TLS 1.2 with AES-CBC suites only, "
        "MAC-then-encrypt (no encrypt_then_mac)",
        expected="handshake_failure",
        alert_from="server",
        versions=("TLSv1_2",),
        cipher_suites=(
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        ),
        encrypt_then_mac=False,
        lesson=LESSONS["cbc"],
        openssl=OpensslOutcome(note="OpenSSL 3.0 still offers CBC suites by default"),
    ),
    VirtualHost(
        "3des.tlssim.test",
        ("rsa2048",),
        certificate="RSA-2048; TLS 1.2 with 3DES-CBC suites only (RSA and ECDHE-RSA)",
        expected="handshake_failure",
        alert_from="server",
        versions=("TLSv1_2",),
        cipher_suites=("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        lesson=LESSONS["3des"],
        openssl=_OPENSSL_HAS_NONE,
    ),
    VirtualHost(
        "rc4.tlssim.test",
        ("rsa2048",),
        certificate="RSA-2048; TLS 1.2 with RC4-128 suites only (RSA and ECDHE-RSA)",
        expected="handshake_failure",
        alert_from="server",
        versions=("TLSv1_2",),
        cipher_suites=("TLS_ECDHE_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_RC4_128_SHA"),
        lesson=LESSONS["rc4"],
        openssl=_OPENSSL_HAS_NONE,
    ),
    VirtualHost(
        "static-rsa.tlssim.test",
        ("rsa2048",),
        certificate="RSA-2048; TLS 1.2 with RSA key transport only (AES-GCM, no ECDHE)",
        expected="handshake_failure",
        alert_from="server",
        versions=("TLSv1_2",),
        cipher_suites=(
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
        ),
        lesson=LESSONS["static-rsa"],
        openssl=OpensslOutcome(note="OpenSSL 3.0 still offers RSA key transport by default"),
    ),
    VirtualHost(
        "dh480.tlssim.test",
        ("rsa2048",),
        certificate="RSA-2048; TLS 1.2 with DHE-RSA suites only, in a 480-bit group (a "
        "safe prime generated for the lab)",
        expected="handshake_failure",
        alert_from="server",
        versions=("TLSv1_2",),
        cipher_suites=DHE_RSA,
        dh_group="lab-480",
        lesson=LESSONS["dh-small"],
        openssl=_OPENSSL_DH["dh480"],
    ),
    VirtualHost(
        "dh1024.tlssim.test",
        ("rsa2048",),
        certificate="RSA-2048; TLS 1.2 with DHE-RSA suites only, in the 1024-bit Oakley "
        "group 2 (RFC 2409), the common prime Logjam targets",
        expected="handshake_failure",
        alert_from="server",
        versions=("TLSv1_2",),
        cipher_suites=DHE_RSA,
        dh_group="modp1024",
        lesson=LESSONS["dh-small"],
        openssl=_OPENSSL_DH["dh1024"],
    ),
    VirtualHost(
        "dh2048.tlssim.test",
        ("rsa2048",),
        certificate="RSA-2048; TLS 1.2 with DHE-RSA suites only, in RFC 7919 ffdhe2048",
        expected="handshake_failure",
        alert_from="server",
        versions=("TLSv1_2",),
        cipher_suites=DHE_RSA,
        dh_group="ffdhe2048",
        lesson=LESSONS["dhe"],
        openssl=_OPENSSL_DH["dh2048"],
    ),
    VirtualHost(
        "dh-small-subgroup.tlssim.test",
        ("rsa2048",),
        certificate="RSA-2048; TLS 1.2 with DHE-RSA suites only, in the RFC 5114 2048-bit "
        "group with a 224-bit subgroup (not a safe prime)",
        expected="handshake_failure",
        alert_from="server",
        versions=("TLSv1_2",),
        cipher_suites=DHE_RSA,
        dh_group="rfc5114-2048-224",
        lesson=LESSONS["dh-subgroup"],
        openssl=_OPENSSL_DH["dh-small-subgroup"],
    ),
    VirtualHost(
        "dh-composite.tlssim.test",
        ("rsa2048",),
        certificate="RSA-2048; TLS 1.2 with DHE-RSA suites only, in a 2048-bit composite modulus",
        expected="handshake_failure",
        alert_from="server",
        versions=("TLSv1_2",),
        cipher_suites=DHE_RSA,
        dh_group="composite-2048",
        lesson=LESSONS["dh-composite"],
        openssl=_OPENSSL_DH["dh-composite"],
    ),
    VirtualHost(
        "mozilla-modern.tlssim.test",
        certificate="ECDSA P-256; Mozilla's modern configuration: TLS 1.3 only",
        versions=("TLSv1_3",),
        cipher_suites=TLS13_SUITES,
        groups=("x25519", "secp256r1"),
    ),
    VirtualHost(
        "mozilla-intermediate.tlssim.test",
        certificate="ECDSA P-256; Mozilla's intermediate configuration: TLS 1.3 and 1.2 "
        "with (EC)DHE and AEAD suites (ffdhe2048)",
        versions=("TLSv1_3", "TLSv1_2"),
        cipher_suites=TLS13_SUITES + INTERMEDIATE_TLS12,
        groups=("x25519", "secp256r1"),
    ),
    VirtualHost(
        "mozilla-old.tlssim.test",
        ("rsa2048",),
        certificate="RSA-2048; Mozilla's old configuration: TLS 1.3 down to 1.0, AEAD then "
        "CBC and 3DES suites (below TLS 1.2, RSA key transport only)",
        versions=("TLSv1_3", "TLSv1_2", "TLSv1_1", "TLSv1_0"),
        cipher_suites=TLS13_SUITES + OLD_TLS12,
        openssl=OpensslOutcome(note="TLS 1.3, as for any modern client"),
    ),
)


def find(name: str | None) -> VirtualHost | None:
    """The host for an SNI name; no SNI gets the default host."""
    wanted = (name or DEFAULT_HOST).lower().rstrip(".")
    return next((h for h in VIRTUAL_HOSTS if h.name == wanted), None)
