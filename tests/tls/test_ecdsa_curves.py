"""ECDSA handshake signatures on each curve a lab host's key may be on: P-256, P-384 and
P-521, each bound to its own scheme in TLS 1.3 (RFC 8446 4.2.3)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tlssim.tls.config import DEFAULT_SIGNATURE_SCHEMES
from tlssim.tls.constants import SignatureScheme
from tlssim.tls.errors import DecryptError, IllegalParameter
from tlssim.tls.signatures import SERVER_CONTEXT, key_supports, sign, signed_content, verify

CURVES = [
    (ec.SECP256R1(), SignatureScheme.ecdsa_secp256r1_sha256),
    (ec.SECP384R1(), SignatureScheme.ecdsa_secp384r1_sha384),
    (ec.SECP521R1(), SignatureScheme.ecdsa_secp521r1_sha512),
]


@pytest.mark.parametrize(("curve", "scheme"), CURVES)
def test_each_curve_signs_with_its_scheme_only(
    curve: ec.EllipticCurve, scheme: SignatureScheme
) -> None:
    key = ec.generate_private_key(curve)
    content = signed_content(SERVER_CONTEXT, b"\x01" * 48)
    verify(key.public_key(), scheme, sign(key, scheme, content), content)
    with pytest.raises(DecryptError):
        verify(key.public_key(), scheme, sign(key, scheme, content), content + b"!")
    for _, other in CURVES:
        assert key_supports(key, other) == (other == scheme)
        if other != scheme:
            with pytest.raises(IllegalParameter):
                verify(key.public_key(), other, b"", content)
    assert scheme in DEFAULT_SIGNATURE_SCHEMES  # the client offers it
