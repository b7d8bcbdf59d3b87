"""Key generation by type name, signature-hash choice and PEM (de)serialisation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, rsa

from tlssim.pki.enrollment import write_secret
from tlssim.pki.errors import InvalidRequest

log = logging.getLogger(__name__)

MldsaPrivateKey = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
MldsaPublicKey = mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey
PrivateKey = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | MldsaPrivateKey
)
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | MldsaPublicKey
_PRIVATE_TYPES: Final = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    mldsa.MLDSA44PrivateKey,
    mldsa.MLDSA65PrivateKey,
    mldsa.MLDSA87PrivateKey,
)
MLDSA_PUBLIC_TYPES: Final = (
    mldsa.MLDSA44PublicKey,
    mldsa.MLDSA65PublicKey,
    mldsa.MLDSA87PublicKey,
)
_PUBLIC_TYPES: Final = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    *MLDSA_PUBLIC_TYPES,
)
# FIPS 204 parameter sets by their key type name: the certificate keys of the post-quantum
# hierarchy (signature sizes 2420, 3309 and 4627 bytes).
_MLDSA_NAMES: Final = {
    mldsa.MLDSA44PublicKey: "mldsa44",
    mldsa.MLDSA65PublicKey: "mldsa65",
    mldsa.MLDSA87PublicKey: "mldsa87",
}
SignatureHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None
Encoding = serialization.Encoding  # re-exported: keys.Encoding.DER / .PEM

_GENERATORS: Final[dict[str, Callable[[], PrivateKey]]] = {
    "rsa2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "rsa3072": lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072),
    "rsa4096": lambda: rsa.generate_private_key(public_exponent=65537, key_size=4096),
    # Seconds of CPU to generate (callers that must not block run it in a thread).
    "rsa8192": lambda: rsa.generate_private_key(public_exponent=65537, key_size=8192),
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ecdsa-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ecdsa-p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "mldsa44": mldsa.MLDSA44PrivateKey.generate,
    "mldsa65": mldsa.MLDSA65PrivateKey.generate,
    "mldsa87": mldsa.MLDSA87PrivateKey.generate,
}
KEY_TYPES: Final[tuple[str, ...]] = tuple(_GENERATORS)
DEFAULT_KEY_TYPE: Final = "ecdsa-p256"
# Key types whose generation takes seconds, with a long tail (RSA-8192: 3 to 23 s here):
# worth keeping on disk so that a restarted service is ready in seconds, not half a minute.
SLOW_KEY_TYPES: Final = frozenset({"rsa4096", "rsa8192"})


def generate_private_key(key_type: str = DEFAULT_KEY_TYPE) -> PrivateKey:
    """A fresh private key of one of KEY_TYPES (e.g. "ecdsa-p256", "rsa2048")."""
    try:
        generate = _GENERATORS[key_type]
    except KeyError:
        known = ", ".join(KEY_TYPES)
        raise InvalidRequest(f"unknown key type {key_type!r}; known: {known}") from None
    return generate()


def kept_private_key(key_type: str, path: Path) -> PrivateKey:
    """The key of `key_type` kept at `path`; else a fresh one, kept there (0600) for next time.

    A missing, unreadable, garbled or other-type file gives a fresh key; a key that cannot be
    kept (a read-only disk) is still returned."""
    try:
        key = private_key_from_pem(path.read_bytes())
        if key_type_name(key) == key_type:
            return key
        log.warning(
            "%s holds a %s key, not %s: generating a new one", path, key_type_name(key), key_type
        )
    except FileNotFoundError:
        pass
    except (OSError, InvalidRequest) as exc:
        log.warning("cannot reuse the key at %s (%s): generating a new one", path, exc)
    key = generate_private_key(key_type)
    try:
        write_secret(path, private_key_to_pem(key).decode("ascii").rstrip("\n"))
    except OSError as exc:
        log.info(
            "cannot keep the new %s key at %s (%s); it lasts until the process ends",
            key_type,
            path,
            exc,
        )
    return key


def key_type_name(key: PrivateKey | PublicKey) -> str:
    """The KEY_TYPES name of a key, e.g. "rsa2048" or "ecdsa-p256"."""
    public = public_key_of(key)
    if isinstance(public, rsa.RSAPublicKey):
        return f"rsa{public.key_size}"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {
            "secp256r1": "ecdsa-p256",
            "secp384r1": "ecdsa-p384",
            "secp521r1": "ecdsa-p521",
        }.get(public.curve.name, f"ecdsa-{public.curve.name}")
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "ed25519"
    return mldsa_name(public) or type(public).__name__


def mldsa_name(key: PrivateKey | PublicKey) -> str | None:
    """ "mldsa44", "mldsa65" or "mldsa87" for an ML-DSA key, else None."""
    public = public_key_of(key)
    return next((n for t, n in _MLDSA_NAMES.items() if isinstance(public, t)), None)


def public_key_of(key: PrivateKey | PublicKey) -> PublicKey:
    if isinstance(key, _PUBLIC_TYPES):
        return key
    return key.public_key()


def certificate_public_key(cert: x509.Certificate) -> PublicKey:
    """The certificate's key, when it is one of the types tlssim supports."""
    return supported_public_key(cert.public_key())


def supported_public_key(key: object) -> PublicKey:
    """`key` itself when it is a public key of a type tlssim supports, else InvalidRequest."""
    if not isinstance(key, _PUBLIC_TYPES):
        raise InvalidRequest(f"unsupported public key type {type(key).__name__}")
    return key


def signature_hash_for(key: PrivateKey | PublicKey) -> SignatureHash:
    """The hash to sign with this key: None for Ed25519 and ML-DSA (they sign the message
    itself), SHA-384 for P-384, SHA-512 for P-521, else SHA-256."""
    public = public_key_of(key)
    if isinstance(public, ed25519.Ed25519PublicKey) or mldsa_name(public) is not None:
        return None
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.key_size >= 521:
        return hashes.SHA512()
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def subject_public_key_bits(public_key: PublicKey) -> bytes:
    """The contents of the subjectPublicKey BIT STRING (what OCSP's issuerKeyHash hashes)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if mldsa_name(public_key) is not None:  # RFC 9881: the raw public key
        return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raise InvalidRequest(f"unsupported public key type {type(public_key).__name__}")


def private_key_to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def private_key_from_pem(pem: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"not a PEM private key: {exc}") from exc
    if not isinstance(key, _PRIVATE_TYPES):
        raise InvalidRequest(f"unsupported private key type {type(key).__name__}")
    return key


def certificate_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificates_to_pem(certs: list[x509.Certificate] | tuple[x509.Certificate, ...]) -> str:
    return "".join(certificate_to_pem(c) for c in certs)


def certificates_from_pem(pem: str | bytes) -> list[x509.Certificate]:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise InvalidRequest(f"not PEM certificates: {exc}") from exc


def certificate_from_der(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise InvalidRequest(f"not a DER certificate: {exc}") from exc


def build_csr(
    key: PrivateKey, common_name: str, dns_names: tuple[str, ...] = ()
) -> x509.CertificateSigningRequest:
    """A CSR for `key` with CN `common_name` and, when given, a DNS SAN extension."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, common_name)])
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    return builder.sign(key, signature_hash_for(key))
