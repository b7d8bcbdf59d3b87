"""TLS 1.3 key shares: (EC)DHE, ML-KEM-768 and the hybrids; private keys from injected entropy.

An (EC)DHE share is the same on both sides. A KEM group is asymmetric: the client's share
carries an encapsulation key, the server answers with a ciphertext (draft-ietf-tls-mlkem).
The hybrids (draft-ietf-tls-ecdhe-mlkem) concatenate an ECDH share and the ML-KEM part, and
their shared secrets in the same order: X25519MLKEM768 puts ML-KEM first, SecP256r1MLKEM768
puts ECDH first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tlssim.tls.constants import NamedGroup, member_of
from tlssim.tls.errors import IllegalParameter

#: Groups usable for (EC)DHE in TLS 1.2 and 1.3.
ECDHE_GROUPS = (NamedGroup.x25519, NamedGroup.secp256r1)
#: Groups with an ML-KEM part: TLS 1.3 only, in our preference order (hybrids first).
KEM_GROUPS = (NamedGroup.X25519MLKEM768, NamedGroup.SecP256r1MLKEM768, NamedGroup.MLKEM768)
#: Every group a TLS 1.3 key share may use.
SUPPORTED_GROUPS = ECDHE_GROUPS + KEM_GROUPS

#: FIPS 203 ML-KEM-768 sizes: encapsulation key and ciphertext.
MLKEM768_KEY_LENGTH = 1184
MLKEM768_CIPHERTEXT_LENGTH = 1088
_ECDH_SHARE_LENGTH = {NamedGroup.x25519: 32, NamedGroup.secp256r1: 65}

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True, kw_only=True)
class _Layout:
    """What a group's key_exchange holds, and in which order."""

    ecdh: NamedGroup | None
    kem: bool
    kem_first: bool = False

    def join(self, ecdh_part: bytes, kem_part: bytes) -> bytes:
        """Shares and shared secrets concatenate in the same order."""
        return kem_part + ecdh_part if self.kem_first else ecdh_part + kem_part

    def split(self, data: bytes, kem_length: int) -> tuple[bytes, bytes]:
        """(ECDH part, ML-KEM part) of a KEM group's share; a wrong length is illegal."""
        ecdh_length = _ECDH_SHARE_LENGTH[self.ecdh] if self.ecdh is not None else 0
        if len(data) != ecdh_length + kem_length:
            raise IllegalParameter(
                f"key share of {len(data)} bytes; expected {ecdh_length + kem_length}"
            )
        if self.kem_first:
            return data[kem_length:], data[:kem_length]
        return data[:ecdh_length], data[ecdh_length:]


_LAYOUTS = {
    NamedGroup.x25519: _Layout(ecdh=NamedGroup.x25519, kem=False),
    NamedGroup.secp256r1: _Layout(ecdh=NamedGroup.secp256r1, kem=False),
    NamedGroup.X25519MLKEM768: _Layout(ecdh=NamedGroup.x25519, kem=True, kem_first=True),
    NamedGroup.SecP256r1MLKEM768: _Layout(ecdh=NamedGroup.secp256r1, kem=True),
    NamedGroup.MLKEM768: _Layout(ecdh=None, kem=True),
}


def _layout(group: NamedGroup) -> _Layout:
    try:
        return _LAYOUTS[group]
    except KeyError:
        raise ValueError(f"unsupported group {group!r}") from None


class _Ecdh:
    """One ephemeral X25519 or secp256r1 key."""

    __slots__ = ("_ec", "_x25519", "public")

    def __init__(self, group: NamedGroup, seed: bytes) -> None:
        """X25519 uses the seed as the private scalar (as RFC 7748 / RFC 8448 do);
        secp256r1 reduces it into [1, n-1]."""
        self._x25519: x25519.X25519PrivateKey | None = None
        self._ec: ec.EllipticCurvePrivateKey | None = None
        if group == NamedGroup.x25519:
            self._x25519 = x25519.X25519PrivateKey.from_private_bytes(seed)
            self.public = self._x25519.public_key().public_bytes_raw()
        else:
            scalar = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
            self._ec = ec.derive_private_key(scalar, ec.SECP256R1())
            self.public = self._ec.public_key().public_bytes(
                Encoding.X962, PublicFormat.UncompressedPoint
            )

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


class KeyShare:
    """The share that speaks first: a client's (or a TLS 1.2 server's) ephemeral keys.

    ``public`` is its KeyShareEntry.key_exchange; ``exchange`` takes the peer's answer
    (an (EC)DHE share, or for KEM groups the server's ciphertext) to the shared secret.
    """

    __slots__ = ("_ecdh", "_kem", "_layout", "group", "public")

    def __init__(self, group: NamedGroup, entropy: Callable[[int], bytes]) -> None:
        """Draw ``entropy(32)`` for the ECDH key, then ``entropy(64)`` for the ML-KEM
        seed (FIPS 203 d || z), whichever the group has."""
        self.group = group
        self._layout = layout = _layout(group)
        self._ecdh = _Ecdh(layout.ecdh, entropy(32)) if layout.ecdh is not None else None
        self._kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(entropy(64)) if layout.kem else None
        self.public = layout.join(
            self._ecdh.public if self._ecdh is not None else b"",
            self._kem.public_key().public_bytes_raw() if self._kem is not None else b"",
        )

    def exchange(self, peer_public: bytes) -> bytes:
        """The shared secret; a malformed share or ciphertext is illegal_parameter."""
        if self._kem is None:
            assert self._ecdh is not None
            return self._ecdh.exchange(peer_public)
        ecdh_part, ciphertext = self._layout.split(peer_public, MLKEM768_CIPHERTEXT_LENGTH)
        try:
            kem_secret = self._kem.decapsulate(ciphertext)
        except ValueError as exc:
            raise IllegalParameter(f"invalid ML-KEM ciphertext: {exc}") from exc
        ecdh_secret = self._ecdh.exchange(ecdh_part) if self._ecdh is not None else b""
        return self._layout.join(ecdh_secret, kem_secret)


def answer_share(
    group: NamedGroup, client_public: bytes, entropy: Callable[[int], bytes]
) -> tuple[bytes, bytes]:
    """The TLS 1.3 server's key_exchange for the client's share, and the shared secret.

    (EC)DHE draws ``entropy(32)`` for the server's key. For a KEM group the client's
    encapsulation key must have its exact length (else illegal_parameter); the ML-KEM
    encapsulation draws its randomness inside the library, which takes no seed.
    """
    layout = _layout(group)
    if not layout.kem:
        share = KeyShare(group, entropy)
        return share.public, share.exchange(client_public)
    ecdh_part, key_bytes = layout.split(client_public, MLKEM768_KEY_LENGTH)
    try:
        encapsulation_key = mlkem.MLKEM768PublicKey.from_public_bytes(key_bytes)
    except ValueError as exc:
        raise IllegalParameter(f"invalid ML-KEM encapsulation key: {exc}") from exc
    ecdh_public = ecdh_secret = b""
    if layout.ecdh is not None:
        ecdh = _Ecdh(layout.ecdh, entropy(32))
        ecdh_public, ecdh_secret = ecdh.public, ecdh.exchange(ecdh_part)
    kem_secret, ciphertext = encapsulation_key.encapsulate()
    return layout.join(ecdh_public, ciphertext), layout.join(ecdh_secret, kem_secret)


def is_post_quantum(group: int) -> bool:
    """Whether the group has an ML-KEM part."""
    return group in KEM_GROUPS


def host_groups(
    supported: tuple[NamedGroup, ...],
    narrowing: Callable[[str | None], tuple[NamedGroup, ...] | None] | None,
    server_name: str | None,
) -> tuple[NamedGroup, ...]:
    """A server's groups for one SNI: ``supported`` unless ``narrowing`` names others."""
    narrowed = None if narrowing is None else narrowing(server_name)
    return supported if narrowed is None else narrowed


def select_group(
    server_groups: tuple[int, ...],
    client_groups: tuple[int, ...],
    client_shares: tuple[tuple[int, bytes], ...],
) -> tuple[NamedGroup, bytes | None] | None:
    """The server's group for a ClientHello, with the client's share for it if it sent one.

    Groups come in two tiers: post-quantum (ML-KEM and its hybrids) before classical.
    In the best tier both sides support, a share the client sent is taken (the server's
    most preferred such); without one, the server's most preferred group of that tier is
    asked for with a HelloRetryRequest (share None). So a client that lists a hybrid but
    sends only an x25519 share is asked for the hybrid, while a classical client is not
    sent a retry just to trade x25519 for secp256r1. None: no common group.
    """
    mutual = [g for g in server_groups if g in client_groups]
    if not mutual:
        return None
    tier = [g for g in mutual if is_post_quantum(g)] or mutual
    shares = dict(client_shares)
    for group in tier:
        if group in shares:
            return member_of(NamedGroup, group), shares[group]
    return member_of(NamedGroup, tier[0]), None
