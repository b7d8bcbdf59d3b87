"""JSON Web Signatures as ACME uses them (RFC 8555 section 6.2, RFC 7515, 7517, 7518, 8037).

Only the flattened JSON serialization, only the asymmetric algorithms ACME allows (ES256,
ES384, RS256, EdDSA with Ed25519), and one key per request: `jwk` or `kid`, never both.
Every refusal is an AcmeProblem of the type RFC 8555 names for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tlssim.acme.problems import AcmeProblem

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

ALGORITHMS: Final = ("ES256", "ES384", "RS256", "EdDSA")
_CURVES: Final[dict[str, tuple[ec.EllipticCurve, int, str]]] = {
    # crv -> (curve, coordinate bytes, the one alg that goes with it)
    "P-256": (ec.SECP256R1(), 32, "ES256"),
    "P-384": (ec.SECP384R1(), 48, "ES384"),
}
# RSA account keys: at least this many bits (and at most, so a verification stays cheap).
MIN_RSA_BITS: Final = 2048
MAX_RSA_BITS: Final = 8192


def b64decode(text: object, what: str) -> bytes:
    """base64url without padding, as JOSE writes it; malformed otherwise."""
    if not isinstance(text, str) or "=" in text:
        raise AcmeProblem.malformed(f"{what} is not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AcmeProblem.malformed(f"{what} is not base64url text") from None


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int(value: object, what: str) -> int:
    return int.from_bytes(b64decode(value, what), "big")


def key_from_jwk(jwk: object) -> PublicKey:
    """The public key a JWK describes; badPublicKey for a kind or size we do not take."""
    if not isinstance(jwk, Mapping):
        raise AcmeProblem.malformed("jwk must be a JSON object")
    kty = jwk.get("kty")
    if "d" in jwk:
        raise AcmeProblem("badPublicKey", "the jwk holds a private key")
    if kty == "EC":
        crv = jwk.get("crv")
        if not isinstance(crv, str) or crv not in _CURVES:
            raise AcmeProblem("badPublicKey", f"EC keys on {crv!r} are not accepted (P-256, P-384)")
        curve, size, _ = _CURVES[str(crv)]
        x, y = b64decode(jwk.get("x"), "jwk x"), b64decode(jwk.get("y"), "jwk y")
        if len(x) != size or len(y) != size:
            raise AcmeProblem("badPublicKey", f"{crv} coordinates must be {size} bytes")
        try:
            return ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
            ).public_key()
        except ValueError:
            raise AcmeProblem("badPublicKey", "the EC point is not on the curve") from None
    if kty == "RSA":
        n, e = _int(jwk.get("n"), "jwk n"), _int(jwk.get("e"), "jwk e")
        if not MIN_RSA_BITS <= n.bit_length() <= MAX_RSA_BITS:
            raise AcmeProblem(
                "badPublicKey",
                f"RSA keys of {n.bit_length()} bits are not accepted "
                f"({MIN_RSA_BITS} to {MAX_RSA_BITS})",
            )
        try:
            return rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError:
            raise AcmeProblem("badPublicKey", "not a usable RSA public key") from None
    if kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise AcmeProblem("badPublicKey", "OKP keys must be Ed25519")
        raw = b64decode(jwk.get("x"), "jwk x")
        try:
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise AcmeProblem("badPublicKey", "not an Ed25519 public key") from None
    raise AcmeProblem("badPublicKey", f"key type {kty!r} is not accepted (EC, RSA, OKP)")


def jwk_of(key: PublicKey) -> dict[str, str]:
    """The public JWK of a key, with the members RFC 7638 hashes."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[key.curve.name]
        size = _CURVES[crv][1]
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64encode(numbers.x.to_bytes(size, "big")),
            "y": b64encode(numbers.y.to_bytes(size, "big")),
        }
    if isinstance(key, rsa.RSAPublicKey):
        rsa_numbers = key.public_numbers()
        return {
            "kty": "RSA",
            "n": b64encode(rsa_numbers.n.to_bytes((rsa_numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64encode(rsa_numbers.e.to_bytes((rsa_numbers.e.bit_length() + 7) // 8, "big")),
        }
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64encode(raw)}


def thumbprint(key: PublicKey) -> str:
    """The RFC 7638 SHA-256 thumbprint, base64url: what a key authorization ends with."""
    canonical = json.dumps(jwk_of(key), sort_keys=True, separators=(",", ":"))
    return b64encode(hashlib.sha256(canonical.encode()).digest())


def same_key(a: PublicKey, b: PublicKey) -> bool:
    return thumbprint(a) == thumbprint(b)


def _check_alg_fits(alg: str, key: PublicKey) -> None:
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}.get(key.curve.name, "")
        fits = crv in _CURVES and _CURVES[crv][2] == alg
    elif isinstance(key, rsa.RSAPublicKey):
        fits = alg == "RS256"
    else:
        fits = alg == "EdDSA"
    if not fits:
        raise AcmeProblem(
            "badSignatureAlgorithm",
            f"alg {alg} does not go with this key",
            algorithms=list(ALGORITHMS),
        )


def verify_signature(alg: str, key: PublicKey, signing_input: bytes, signature: bytes) -> bool:
    _check_alg_fits(alg, key)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            )
            digest = hashes.SHA256() if alg == "ES256" else hashes.SHA384()
            key.verify(der, signing_input, ec.ECDSA(digest))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(signature, signing_input)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Jws:
    """A parsed flattened JWS whose signature is not yet checked."""

    protected: dict[str, Any]
    payload_bytes: bytes
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.protected["alg"])

    @property
    def is_post_as_get(self) -> bool:
        return self.payload_bytes == b""

    def payload(self) -> dict[str, Any]:
        """The payload as a JSON object (malformed otherwise)."""
        try:
            value = json.loads(self.payload_bytes)
        except (ValueError, UnicodeDecodeError):
            raise AcmeProblem.malformed("the JWS payload is not JSON") from None
        if not isinstance(value, dict):
            raise AcmeProblem.malformed("the JWS payload must be a JSON object")
        return value

    def verify(self, key: PublicKey) -> None:
        if not verify_signature(self.alg, key, self.signing_input, self.signature):
            raise AcmeProblem.malformed("the JWS signature does not verify")


def parse(body: bytes) -> Jws:
    """A flattened JWS (RFC 7515 7.2.2) with an allowed alg; malformed or
    badSignatureAlgorithm otherwise. The protected header's other members are checked by
    the caller (nonce, url, jwk or kid)."""
    try:
        outer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise AcmeProblem.malformed("the request body is not JSON") from None
    if not isinstance(outer, dict):
        raise AcmeProblem.malformed("the request body must be a flattened JWS object")
    if "signatures" in outer or "header" in outer:
        raise AcmeProblem.malformed("only the flattened JWS serialization without header is used")
    if set(outer) != {"protected", "payload", "signature"}:
        raise AcmeProblem.malformed("a JWS has protected, payload and signature, and no more")
    protected_text = outer["protected"]
    payload_text = outer["payload"]
    raw_protected = b64decode(protected_text, "the protected header")
    try:
        protected = json.loads(raw_protected)
    except (ValueError, UnicodeDecodeError):
        raise AcmeProblem.malformed("the protected header is not JSON") from None
    if not isinstance(protected, dict):
        raise AcmeProblem.malformed("the protected header must be a JSON object")
    alg = protected.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise AcmeProblem(
            "badSignatureAlgorithm",
            f"alg {str(alg)[:20]!r} is not accepted",
            algorithms=list(ALGORITHMS),
        )
    payload = b64decode(payload_text, "the payload")
    signature = b64decode(outer["signature"], "the signature")
    signing_input = f"{protected_text}.{payload_text}".encode("ascii")
    return Jws(protected, payload, signing_input, signature)


def verify_hs256(protected_text: str, payload_text: str, signature: bytes, key: bytes) -> bool:
    """The MAC of an external account binding (RFC 8555 7.3.4), compared in constant time."""
    expected = hmac.new(key, f"{protected_text}.{payload_text}".encode(), "sha256").digest()
    return hmac.compare_digest(expected, signature)
