"""Handshake signatures over ``cryptography`` keys, and which scheme fits which key.

TLS 1.3 CertificateVerify (RFC 8446 4.4.3) and TLS 1.2 ServerKeyExchange (RFC 5246 7.4.3)
share the schemes, except PKCS#1 v1.5, which TLS 1.2 allows and TLS 1.3 forbids in
CertificateVerify (4.2.3), and ML-DSA, which exists in TLS 1.3 only (draft-ietf-tls-mldsa:
pure ML-DSA over the usual signed content, empty context): ``SCHEMES_FOR_KEY`` holds the
rule per version.
"""

from __future__ import annotations

from typing import TypeGuard, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa

from tlssim.tls.constants import AlertDescription, ProtocolVersion, SignatureScheme
from tlssim.tls.errors import BadCertificate, DecryptError, IllegalParameter, TLSError

MldsaPrivateKey = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
MldsaPublicKey = mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey
PrivateKey = (
    ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | MldsaPrivateKey
)
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey | MldsaPublicKey
#: The ML-DSA parameter set of each key class, by the scheme that names it.
_MLDSA_KINDS: tuple[tuple[type, type, SignatureScheme], ...] = (
    (mldsa.MLDSA44PrivateKey, mldsa.MLDSA44PublicKey, SignatureScheme.mldsa44),
    (mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey, SignatureScheme.mldsa65),
    (mldsa.MLDSA87PrivateKey, mldsa.MLDSA87PublicKey, SignatureScheme.mldsa87),
)

SERVER_CONTEXT = b"TLS 1.3, server CertificateVerify"
CLIENT_CONTEXT = b"TLS 1.3, client CertificateVerify"

_RSA_PSS: dict[int, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    SignatureScheme.rsa_pss_rsae_sha256: hashes.SHA256,
    SignatureScheme.rsa_pss_rsae_sha384: hashes.SHA384,
    SignatureScheme.rsa_pss_rsae_sha512: hashes.SHA512,
}
_RSA_PKCS1: dict[int, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    SignatureScheme.rsa_pkcs1_sha256: hashes.SHA256,
    SignatureScheme.rsa_pkcs1_sha384: hashes.SHA384,
    SignatureScheme.rsa_pkcs1_sha512: hashes.SHA512,
}
_ECDSA: dict[int, tuple[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]]] = {
    SignatureScheme.ecdsa_secp256r1_sha256: ("secp256r1", hashes.SHA256),
    SignatureScheme.ecdsa_secp384r1_sha384: ("secp384r1", hashes.SHA384),
    SignatureScheme.ecdsa_secp521r1_sha512: ("secp521r1", hashes.SHA512),
}

_CLASSICAL_SCHEMES = (
    SignatureScheme.ecdsa_secp256r1_sha256,
    SignatureScheme.rsa_pss_rsae_sha256,
    SignatureScheme.ed25519,
    SignatureScheme.ecdsa_secp384r1_sha384,
    SignatureScheme.rsa_pss_rsae_sha384,
    SignatureScheme.rsa_pss_rsae_sha512,
    SignatureScheme.ecdsa_secp521r1_sha512,
)
MLDSA_SCHEMES = (SignatureScheme.mldsa44, SignatureScheme.mldsa65, SignatureScheme.mldsa87)
#: Every scheme this engine can sign or verify in TLS 1.3.
SUPPORTED_SCHEMES = (*_CLASSICAL_SCHEMES, *MLDSA_SCHEMES)


def signed_content(context: bytes, transcript_hash: bytes) -> bytes:
    return b"\x20" * 64 + context + b"\x00" + transcript_hash


#: Schemes this engine can sign or verify in a TLS 1.2 ServerKeyExchange.
SUPPORTED_SCHEMES_TLS12 = (
    *_CLASSICAL_SCHEMES,
    SignatureScheme.rsa_pkcs1_sha256,
    SignatureScheme.rsa_pkcs1_sha384,
    SignatureScheme.rsa_pkcs1_sha512,
)


_PSS_SCHEMES = frozenset(SignatureScheme(s) for s in _RSA_PSS)
_PKCS1_SCHEMES = frozenset(SignatureScheme(s) for s in _RSA_PKCS1)
_BY_CURVE = {
    "secp256r1": frozenset({SignatureScheme.ecdsa_secp256r1_sha256}),
    "secp384r1": frozenset({SignatureScheme.ecdsa_secp384r1_sha384}),
    "secp521r1": frozenset({SignatureScheme.ecdsa_secp521r1_sha512}),
}
#: TLS 1.2 names an ECDSA scheme's hash only: any curve's key signs with either (RFC 8446
#: 4.2.3 notes that TLS 1.2 did not bind the curve; RFC 5246 7.4.1.4.1 pairs hash and
#: signature algorithm, nothing more).
_ECDSA_ANY_CURVE = frozenset(SignatureScheme(s) for s in _ECDSA)
_ED25519 = frozenset({SignatureScheme.ed25519})
_BY_MLDSA_SET = {scheme.name: frozenset({scheme}) for _, _, scheme in _MLDSA_KINDS}

#: The schemes a key may sign with, by key kind ("rsa", "ed25519", the EC curve or the
#: ML-DSA set), per version: TLS 1.3 signs RSA with RSASSA-PSS only (4.2.3); TLS 1.2 also
#: with PKCS#1 v1.5 (RFC 5246 7.4.1.4.1), and ML-DSA not at all. TLS 1.3 binds an ECDSA
#: scheme to its curve (4.2.3), as each ML-DSA scheme to its parameter set; TLS 1.2 binds
#: only the hash, so a P-256 key may sign ecdsa_secp384r1_sha384 there (as Botan's does).
SCHEMES_FOR_KEY: dict[ProtocolVersion, dict[str, frozenset[SignatureScheme]]] = {
    ProtocolVersion.TLSv1_3: {
        "rsa": _PSS_SCHEMES,
        "ed25519": _ED25519,
        **_BY_CURVE,
        **_BY_MLDSA_SET,
    },
    ProtocolVersion.TLSv1_2: {
        "rsa": _PSS_SCHEMES | _PKCS1_SCHEMES,
        "ed25519": _ED25519,
        **dict.fromkeys(_BY_CURVE, _ECDSA_ANY_CURVE),
    },
}

#: What a TLS 1.2-only scheme means in TLS 1.3 terms: the same key kind and hash.
TLS13_COUNTERPART = {
    SignatureScheme.rsa_pkcs1_sha256: SignatureScheme.rsa_pss_rsae_sha256,
    SignatureScheme.rsa_pkcs1_sha384: SignatureScheme.rsa_pss_rsae_sha384,
    SignatureScheme.rsa_pkcs1_sha512: SignatureScheme.rsa_pss_rsae_sha512,
}


def leaf_public_key(der: bytes) -> PublicKey:
    """The public key of a peer's leaf certificate, one this engine can verify with."""
    try:
        key = x509.load_der_x509_certificate(der).public_key()
    except Exception as exc:
        raise BadCertificate(f"cannot parse the leaf certificate: {exc}") from exc
    if not is_supported_public_key(key):
        raise TLSError("unsupported leaf key type", AlertDescription.unsupported_certificate)
    return key


def is_supported_public_key(key: object) -> TypeGuard[PublicKey]:
    """Whether a certificate's key is one this engine can verify handshake signatures with."""
    supported = _SUPPORTED_PUBLIC_TYPE.get(type(key))
    if supported is None:  # the isinstance checks go through ABCs: once per key class
        classical = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
        supported = isinstance(key, classical) or any(
            isinstance(key, pub) for _, pub, _ in _MLDSA_KINDS
        )
        _SUPPORTED_PUBLIC_TYPE[type(key)] = supported
    return supported


_SUPPORTED_PUBLIC_TYPE: dict[type, bool] = {}


def key_kind(key: PrivateKey | PublicKey) -> str:
    """ "rsa", "ed25519", an EC curve's name or an ML-DSA scheme's; "" for none of them."""
    kind = _type_kind(key)
    if kind == "ec":
        return str(key.curve.name)  # type: ignore[union-attr]
    return kind


def _type_kind(key: object) -> str:
    """``_kind_of_type``, judged once per key class (isinstance goes through ABCs)."""
    kind = _KIND_OF_TYPE.get(type(key))
    if kind is None:
        kind = _KIND_OF_TYPE[type(key)] = _kind_of_type(key)
    return kind


def _kind_of_type(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ec"
    for private, public, scheme in _MLDSA_KINDS:
        if isinstance(key, private | public):
            return scheme.name
    return ""  # a key no scheme here fits


_KIND_OF_TYPE: dict[type, str] = {}


def key_supports(key: PrivateKey | PublicKey, scheme: int, tls12: bool = False) -> bool:
    """Whether ``scheme`` can be used with this (private or public) key."""
    version = ProtocolVersion.TLSv1_2 if tls12 else ProtocolVersion.TLSv1_3
    allowed = SCHEMES_FOR_KEY[version].get(key_kind(key))
    return allowed is not None and scheme in allowed


def sign(key: PrivateKey, scheme: SignatureScheme, content: bytes) -> bytes:
    kind = _type_kind(key)
    if kind == "ed25519":
        return cast(ed25519.Ed25519PrivateKey, key).sign(content)
    if kind in _MLDSA_NAMES:
        return cast(MldsaPrivateKey, key).sign(content)  # pure ML-DSA, empty context
    if kind == "rsa":
        rsa_key = cast(rsa.RSAPrivateKey, key)
        if scheme in _RSA_PKCS1:
            return rsa_key.sign(content, padding.PKCS1v15(), _RSA_PKCS1[scheme]())
        h = _RSA_PSS[scheme]()
        return rsa_key.sign(content, padding.PSS(padding.MGF1(h), h.digest_size), h)
    return cast(ec.EllipticCurvePrivateKey, key).sign(content, _ecdsa(scheme))


def _ecdsa(scheme: int) -> ec.ECDSA:
    """The ECDSA algorithm object of a scheme (they hold nothing but the hash: made once)."""
    algorithm = _ECDSA_ALGORITHMS.get(scheme)
    if algorithm is None:
        algorithm = _ECDSA_ALGORITHMS[scheme] = ec.ECDSA(_ECDSA[scheme][1]())
    return algorithm


_ECDSA_ALGORITHMS: dict[int, ec.ECDSA] = {}
_MLDSA_NAMES = frozenset(scheme.name for _, _, scheme in _MLDSA_KINDS)


def verify(
    key: PublicKey, scheme: int, signature: bytes, content: bytes, tls12: bool = False
) -> None:
    """Raise IllegalParameter for a scheme that does not fit the key, DecryptError if bad."""
    if not key_supports(key, scheme, tls12):
        raise IllegalParameter("signature scheme does not match the certificate key")
    kind = _type_kind(key)
    try:
        if kind == "ed25519" or kind in _MLDSA_NAMES:
            # they sign the content itself (ML-DSA: no context)
            cast(ed25519.Ed25519PublicKey | MldsaPublicKey, key).verify(signature, content)
        elif kind == "rsa" and scheme in _RSA_PKCS1:
            rsa_key = cast(rsa.RSAPublicKey, key)
            rsa_key.verify(signature, content, padding.PKCS1v15(), _RSA_PKCS1[scheme]())
        elif kind == "rsa":
            h = _RSA_PSS[scheme]()
            cast(rsa.RSAPublicKey, key).verify(
                signature, content, padding.PSS(padding.MGF1(h), h.digest_size), h
            )
        else:
            cast(ec.EllipticCurvePublicKey, key).verify(signature, content, _ecdsa(scheme))
    except InvalidSignature as exc:
        raise DecryptError("handshake signature does not verify") from exc
