"""Client-side chain verification with named checks and the TLS alert for each failure."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import SignatureAlgorithmOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from tlssim.clock import Clock, SystemClock
from tlssim.pki.checks import Check, failed, first_alert, passed
from tlssim.pki.names import subject_text
from tlssim.pki.revocation import OcspVerification, build_ocsp_request, check_ocsp_response

__all__ = [
    "ChainVerification",
    "ChainVerifier",
    "OcspVerification",
    "build_ocsp_request",
    "check_ocsp_response",
]


@dataclass(frozen=True, slots=True)
class ChainVerification:
    """The outcome of checking a presented chain: every check, and the alert to send."""

    ok: bool
    checks: tuple[Check, ...]
    alert: str | None
    # The validated path (leaf first, ending at the trust anchor) when signature/chain passed.
    verified_chain: tuple[x509.Certificate, ...] = ()

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


def _subject_for(name: str) -> x509.DNSName | x509.IPAddress:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _dns_names_and_ips(leaf: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return (
        san.get_values_for_type(x509.DNSName),
        [str(ip) for ip in san.get_values_for_type(x509.IPAddress)],
    )


def _dns_matches(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:] and "." in rest
    return pattern == name


class ChainVerifier:
    """Checks server chains against one trust store; build it once and reuse it."""

    def __init__(self, roots: Iterable[x509.Certificate], clock: Clock | None = None) -> None:
        self.roots = tuple(roots)
        self.clock: Clock = clock or SystemClock()
        self._store = Store(list(self.roots))
        # Paths already validated, by (presented chain, name checked). A path's outcome
        # depends on the moment only through its certificates' validity windows, so a hit
        # is reused only when every certificate of the path is valid at the new moment.
        self._paths: dict[
            tuple[tuple[x509.Certificate, ...], str], tuple[x509.Certificate, ...]
        ] = {}

    def verify(
        self,
        chain: list[x509.Certificate],
        server_name: str,
        now: dt.datetime | None = None,
    ) -> ChainVerification:
        """Checks `chain` (leaf first, as presented) for `server_name` at `now`
        (default: the verifier's clock).

        Checks, in the order OpenSSL reports them: "signature/chain" (path to a trusted root,
        signatures, CA constraints; unknown_ca or bad_certificate), "validity" (every
        certificate's window; certificate_expired or bad_certificate when not yet valid) and
        "hostname" (the leaf's SANs; bad_certificate).
        """
        if not chain:
            check = failed("signature/chain", "the server sent no certificate", "bad_certificate")
            return ChainVerification(False, (check,), check.alert)
        now = self.clock.now() if now is None else now
        leaf, intermediates = chain[0], chain[1:]
        validity = self._validity_check(chain, now)
        hostname = self._hostname_check(leaf, server_name)
        chain_check, path = self._chain_check(leaf, intermediates, server_name, now, hostname.ok)
        checks = (chain_check, validity, hostname)
        ok = all(c.ok for c in checks)
        return ChainVerification(ok, checks, first_alert(checks), path)

    def _chain_check(
        self,
        leaf: x509.Certificate,
        intermediates: list[x509.Certificate],
        server_name: str,
        now: dt.datetime,
        hostname_ok: bool,
    ) -> tuple[Check, tuple[x509.Certificate, ...]]:
        # Isolate the path check from validity and hostname, which have their own checks:
        # verify at a moment inside the leaf's window, for a name the leaf does carry.
        at = now
        if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            at = (
                leaf.not_valid_before_utc
                + (leaf.not_valid_after_utc - leaf.not_valid_before_utc) / 2
            )
        dns_names, ips = _dns_names_and_ips(leaf)
        name = server_name
        if not hostname_ok:
            # A name the leaf does carry (a wildcard stands for any one label).
            carried = [n.replace("*", "wildcard", 1) for n in dns_names]
            name = (carried or ips or [server_name])[0]
        key = ((leaf, *intermediates), name)
        cached = self._paths.get(key)
        if cached is not None and all(
            c.not_valid_before_utc <= at <= c.not_valid_after_utc for c in cached
        ):
            return _chain_passed(cached), cached
        try:
            verifier = (
                PolicyBuilder()
                .store(self._store)
                .time(at)
                .build_server_verifier(_subject_for(name))
            )
            path = verifier.verify(leaf, intermediates)
        except VerificationError as exc:
            weak = _weak_signature(leaf, intermediates)
            if weak is not None:
                return failed("signature/chain", weak, "bad_certificate"), ()
            if "not valid at validation time" in str(exc):
                expired = _expired_issuer(leaf, intermediates, self.roots, at)
                if expired is not None:
                    return failed("signature/chain", expired, "certificate_expired"), ()
            reaches_root = _reaches_trusted_root(leaf, intermediates, self.roots)
            alert = "bad_certificate" if reaches_root else "unknown_ca"
            detail = _constraint_words(str(exc), leaf, intermediates) or in_words(str(exc))
            return failed("signature/chain", detail, alert), ()
        except ValueError as exc:  # e.g. a name that is not a valid DNS name
            return failed("signature/chain", str(exc), "bad_certificate"), ()
        if len(self._paths) >= _MAX_CACHED_PATHS:
            self._paths.clear()
        self._paths[key] = tuple(path)
        return _chain_passed(tuple(path)), tuple(path)

    @staticmethod
    def _validity_check(chain: list[x509.Certificate], now: dt.datetime) -> Check:
        for position, cert in enumerate(chain):
            what = "leaf" if position == 0 else f"certificate {position}"
            if now > cert.not_valid_after_utc:
                return failed(
                    "validity",
                    f"{what} expired at {cert.not_valid_after_utc.isoformat()}"
                    f" (now {now.isoformat()})",
                    "certificate_expired",
                )
            if now < cert.not_valid_before_utc:
                return failed(
                    "validity",
                    f"{what} is not valid before {cert.not_valid_before_utc.isoformat()}"
                    f" (now {now.isoformat()})",
                    "bad_certificate",
                )
        leaf = chain[0]
        return passed("validity", f"valid until {leaf.not_valid_after_utc.isoformat()}")

    @staticmethod
    def _hostname_check(leaf: x509.Certificate, server_name: str) -> Check:
        dns_names, ips = _dns_names_and_ips(leaf)
        try:
            wanted_ip: str | None = str(ipaddress.ip_address(server_name))
        except ValueError:
            wanted_ip = None
        if wanted_ip is not None and wanted_ip in ips:
            return passed("hostname", f"{server_name} matches an IP address SAN")
        if wanted_ip is None:
            for pattern in dns_names:
                if _dns_matches(pattern, server_name):
                    return passed("hostname", f"{server_name} matches SAN {pattern}")
        names = ", ".join([*dns_names, *ips]) or "none"
        return failed(
            "hostname",
            f"{server_name} does not match the certificate's names ({names})",
            "bad_certificate",
        )


_MAX_CACHED_PATHS = 256


def _chain_passed(path: tuple[x509.Certificate, ...]) -> Check:
    anchor = subject_text(path[-1])
    return passed("signature/chain", f"{len(path)} certificates up to {anchor}")


#: Signature algorithms no client should accept on a certificate: their hashes collide.
_WEAK_SIGNATURES = {
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.RSA_WITH_MD5: "MD5",
}
_COLLISIONS = {
    "SHA-1": "SHA-1 collisions are practical (SHAttered, 2017; a chosen-prefix collision, "
    "2020), so a CA's signature over one certificate can be made to fit another it never "
    "saw; browsers and OpenSSL at its default security level refuse SHA-1 signatures",
    "MD5": "MD5 collisions forged a CA certificate in 2008",
}


def _weak_signature(leaf: x509.Certificate, intermediates: list[x509.Certificate]) -> str | None:
    """In words, the first certificate signed with a broken hash (a self-signed one's own
    signature does not count: a trust anchor is trusted for what it is), else None."""
    for position, cert in enumerate((leaf, *intermediates)):
        hash_name = _WEAK_SIGNATURES.get(cert.signature_algorithm_oid)
        if hash_name is None or cert.issuer == cert.subject:
            continue
        what = "the server's certificate" if position == 0 else f"certificate {position}"
        return (
            f"{what} ({cert.subject.rfc4514_string() or 'empty subject'}) is signed with "
            f"{hash_name} by {cert.issuer.rfc4514_string()}: refused, since "
            f"{_COLLISIONS[hash_name]}"
        )
    return None


def _constraint_words(
    message: str, leaf: x509.Certificate, intermediates: list[x509.Certificate]
) -> str | None:
    """For a name constraints failure: which names break which CA's constraints."""
    if "name constraint" not in message:
        return None
    for cert in intermediates:
        try:
            constraints = cert.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            continue
        permitted = ", ".join(str(n.value) for n in constraints.permitted_subtrees or ()) or "any"
        excluded = ", ".join(str(n.value) for n in constraints.excluded_subtrees or ()) or "none"
        names = ", ".join(_dns_names_and_ips(leaf)[0]) or "none"
        return (
            f"the server's names ({names}) lie outside what {cert.subject.rfc4514_string()} "
            f"may certify: its nameConstraints permit {permitted} and exclude {excluded}, "
            "so it never had the right to vouch for them"
        )
    return None


def _expired_issuer(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    roots: tuple[x509.Certificate, ...],
    at: dt.datetime,
) -> str | None:
    """In words, the first CA on the path the presented certificates lead along (each the
    first that signed the one below) that is not valid at `at`: an expired trust anchor
    a path builder found no way around."""
    current = leaf
    for _ in range(len(intermediates) + 1):
        issuer = next((r for r in roots if _signed_by(current, r)), None)
        anchor = issuer is not None
        if issuer is None:
            issuer = next(
                (c for c in intermediates if c is not current and _signed_by(current, c)), None
            )
        if issuer is None:
            return None
        if not issuer.not_valid_before_utc <= at <= issuer.not_valid_after_utc:
            what = "a trusted root" if anchor else "an intermediate"
            return (
                f"every path from the server's certificate ends at "
                f"{issuer.subject.rfc4514_string()}, {what} that is valid only from "
                f"{issuer.not_valid_before_utc.isoformat()} to "
                f"{issuer.not_valid_after_utc.isoformat()}: a trust store may keep an "
                "expired root, a client may not use it"
            )
        if anchor:
            return None
        current = issuer
    return None


def _reaches_trusted_root(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    roots: tuple[x509.Certificate, ...],
) -> bool:
    """Whether signatures link `leaf` through the presented certificates to a trusted root.

    Tells unknown_ca (no path to a trust anchor) from bad_certificate (a path exists but
    something on it breaks the policy: a missing extension, a CA constraint, ...).
    """
    current = leaf
    for _ in range(len(intermediates) + 1):
        if any(_signed_by(current, root) for root in roots):
            return True
        parent = next(
            (c for c in intermediates if c is not current and _signed_by(current, c)), None
        )
        if parent is None:
            return False
        current = parent
    return False


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


_EXTENSIONS = {
    "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.15": "keyUsage",
    "2.5.29.17": "subjectAltName",
    "2.5.29.19": "basicConstraints",
    "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.37": "extendedKeyUsage",
}
_EXPLAINED = (
    (
        "basicConstraints.cA must not be asserted in an EE certificate",
        "is marked as a CA (basicConstraints cA=TRUE) yet is the server's own certificate",
    ),
    ("missing required extension:", "lacks a required extension:"),
    ("missing required extension", "lacks a required extension"),
)


def in_words(message: str) -> str:
    """The path validator's message, saying which certificate is wrong and how, in words."""
    text = message.removeprefix("validation failed: ")
    if text.startswith("candidates exhausted"):
        return (
            "no chain leads from the server's certificate to a trusted root (its issuer is "
            "unknown, or an intermediate was not sent)"
        )
    where = ""
    if "(encountered processing <Certificate(subject=<Name(" in text:
        text, _, rest = text.partition(" (encountered processing <Certificate(subject=<Name(")
        where = rest.split(")>", 1)[0]
    for oid, name in _EXTENSIONS.items():
        text = text.replace(oid, name)
    for phrase, words in _EXPLAINED:
        if phrase in text:
            text = text.replace(phrase, words, 1)
            break
    return f"the certificate of {where} {text}" if where else text
