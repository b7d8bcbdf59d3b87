"""(EC)DHE key shares for X25519 and secp256r1; private keys come from injected entropy."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tlssim.tls.constants import NamedGroup
from tlssim.tls.errors import IllegalParameter

SUPPORTED_GROUPS = (NamedGroup.x25519, NamedGroup.secp256r1)

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class KeyShare:
    """One ephemeral private key and its public share (KeyShareEntry.key_exchange)."""

    __slots__ = ("_ec", "_x25519", "group", "public")

    def __init__(self, group: NamedGroup, entropy: Callable[[int], bytes]) -> None:
        """Draw the private key from ``entropy(32)``.

        X25519 uses the 32 bytes as the private scalar (as RFC 7748 / RFC 8448 do);
        secp256r1 reduces them into [1, n-1].
        """
        self.group = group
        self._x25519: x25519.X25519PrivateKey | None = None
        self._ec: ec.EllipticCurvePrivateKey | None = None
        seed = entropy(32)
        if group == NamedGroup.x25519:
            self._x25519 = x25519.X25519PrivateKey.from_private_bytes(seed)
            self.public = self._x25519.public_key().public_bytes_raw()
        elif group == NamedGroup.secp256r1:
            scalar = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
            self._ec = ec.derive_private_key(scalar, ec.SECP256R1())
            self.public = self._ec.public_key().public_bytes(
                Encoding.X962, PublicFormat.UncompressedPoint
            )
        else:
            raise ValueError(f"unsupported group {group!r}")

    def exchange(self, peer_public: bytes) -> bytes:
        """The shared secret; a malformed or degenerate peer share is illegal_parameter."""
        try:
            if self._x25519 is not None:
                if len(peer_public) != 32:
                    raise IllegalParameter("bad X25519 key share length")
                peer = x25519.X25519PublicKey.from_public_bytes(peer_public)
                return self._x25519.exchange(peer)
            assert self._ec is not None
            if len(peer_public) != 65 or peer_public[0] != 4:
                raise IllegalParameter("secp256r1 share must be an uncompressed point")
            peer_ec = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer_public)
            return self._ec.exchange(ec.ECDH(), peer_ec)
        except ValueError as exc:
            raise IllegalParameter(f"invalid key share: {exc}") from exc
