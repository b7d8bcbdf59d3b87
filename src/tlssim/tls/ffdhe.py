"""Finite-field Diffie-Hellman for TLS 1.2 DHE suites (RFC 5246 7.4.3, 8.1.2; RFC 7919).

The server sends its group (p, g) and its public value Ys in ServerDHParams; the client
answers with Yc, and the premaster secret is g^(xy) mod p with its leading zero bytes
stripped (RFC 5246 8.1.2). A server's "own group" may be anything: that is the problem
RFC 7919 fixed by naming vetted groups. Our client checks what it is sent, as a careful
client of that era had to: p at least ``min_bits`` (Logjam: 512-bit export groups and
precomputation against common 1024-bit primes), p a safe prime (p = 2q + 1 with q prime:
no small subgroups to confine a key in, no composite modulus), 1 < g < p - 1 and
1 < Ys < p - 1 with Ys^q = 1 (Ys in the prime-order subgroup).

The exponentiation is Python's ``pow`` (not constant-time): this is for the lessons and
legacy hosts; the modern suites use ECDHE.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from tlssim.tls.constants import AlertDescription, NamedGroup
from tlssim.tls.errors import IllegalParameter, TLSError

_FFDHE2048_P = int(
    "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695"
    "a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617a"
    "d3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935"
    "984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797a"
    "bc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4"
    "ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f61"
    "9172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005"
    "c58ef1837d1683b2c6f34a26c1b2effa886b423861285c97ffffffffffffffff",
    16,
)

_RFC5114_2048_224_P = int(
    "ad107e1e9123a9d0d660faa79559c51fa20d64e5683b9fd1b54b1597b61d0a75"
    "e6fa141df95a56dbaf9a3c407ba1df15eb3d688a309c180e1de6b85a1274a0a6"
    "6d3f8152ad6ac2129037c9edefda4df8d91e8fef55b7394b7ad5b7d0b6c12207"
    "c9f98d11ed34dbf6c6ba0b2c8bbc27be6a00e0a0b9c49708b3bf8a3170918836"
    "81286130bc8985db1602e714415d9330278273c7de31efdc7310f7121fd5a074"
    "15987d9adc0a486dcdf93acc44328387315d75e198c641a480cd86a1b9e587e8"
    "be60e69cc928b2b9c52172e413042e9b23f10b0e16e79763c9b53dcf4ba80a29"
    "e3fb73c16b8e75b97ef363e2ffa31f71cf9de5384e71b81c0ac4dffe0c10e64f",
    16,
)

_RFC5114_2048_224_G = int(
    "ac4032ef4f2d9ae39df30b5c8ffdac506cdebe7b89998caf74866a08cfe4ffe3"
    "a6824a4e10b9a6f0dd921f01a70c4afaab739d7700c29f52c57db17c620a8652"
    "be5e9001a8d66ad7c17669101999024af4d027275ac1348bb8a762d0521bc98a"
    "e247150422ea1ed409939d54da7460cdb5f6c6b250717cbef180eb34118e98d1"
    "19529a45d6f834566e3025e316a330efbb77a86f0c1ab15b051ae3d428c8f8ac"
    "b70a8137150b8eeb10e183edd19963ddd9e263e4770589ef6aa21e7f5f2ff381"
    "b539cce3409d13cd566afbb48d6c019181e1bcfe94b30269edfe72fe9b6aa4bd"
    "7b5a0f1c71cfff4c19c418e1f6ec017981bc087f2a7065b384b890d3191f2bfa",
    16,
)

_RFC5114_2048_224_Q = int(
    "801c0d34c58d93fe997177101f80535a4738cebcbf389a99b36371eb",
    16,
)

_FFDHE3072_P = int(
    "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695"
    "a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617a"
    "d3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935"
    "984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797a"
    "bc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4"
    "ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f61"
    "9172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005"
    "c58ef1837d1683b2c6f34a26c1b2effa886b4238611fcfdcde355b3b6519035b"
    "bc34f4def99c023861b46fc9d6e6c9077ad91d2691f7f7ee598cb0fac186d91c"
    "aefe130985139270b4130c93bc437944f4fd4452e2d74dd364f2e21e71f54bff"
    "5cae82ab9c9df69ee86d2bc522363a0dabc521979b0deada1dbf9a42d5c4484e"
    "0abcd06bfa53ddef3c1b20ee3fd59d7c25e41d2b66c62e37ffffffffffffffff",
    16,
)
_OAKLEY2_P = int(
    "ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74"
    "020bbea63b139b22514a08798e3404ddef9519b3cd3a431b302b0a6df25f1437"
    "4fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7ed"
    "ee386bfb5a899fa5ae9f24117c4b1fe649286651ece65381ffffffffffffffff",
    16,
)

_LAB480_P = int(
    "94ad33b130dfca73c30e0d48dbe72d810acdf1bc1c0b53e73da7017206ccc574"
    "70188f83dd96dfdad9d0d22c6c5593b09a32d37d09622768ff1d02bb",
    16,
)


@dataclass(frozen=True, slots=True)
class DhGroup:
    """A finite-field group as a server sends it: modulus and generator."""

    name: str
    p: int
    g: int

    @property
    def bits(self) -> int:
        return self.p.bit_length()


#: RFC 7919 ffdhe2048 and ffdhe3072 (named groups 0x0100 and 0x0101).
FFDHE2048 = DhGroup("ffdhe2048", _FFDHE2048_P, 2)
FFDHE3072 = DhGroup("ffdhe3072", _FFDHE3072_P, 2)
#: The RFC 7919 groups by their supported_groups code point.
NAMED_DH_GROUPS = {NamedGroup.ffdhe2048: FFDHE2048, NamedGroup.ffdhe3072: FFDHE3072}
#: RFC 2409 Oakley group 2: the 1024-bit prime most servers shared, the one Logjam's
#: precomputation targets.
OAKLEY_GROUP2 = DhGroup("modp1024", _OAKLEY2_P, 2)
#: A 480-bit safe prime generated for the lab (the size of export-grade DH and below).
LAB_480 = DhGroup("lab-480", _LAB480_P, 2)
#: RFC 5114 2.3 (2048-bit MODP with a 224-bit prime-order subgroup): p - 1 has other,
#: small factors, so a public value outside the subgroup leaks the exponent modulo them.
RFC5114_2048_224 = DhGroup("rfc5114-2048-224", _RFC5114_2048_224_P, _RFC5114_2048_224_G)
#: A composite "modulus": ffdhe2048's p times 3, shifted to 2048 bits (odd, not prime).
COMPOSITE_2048 = DhGroup("composite-2048", (_FFDHE2048_P >> 2) * 3 | 1, 2)

#: The groups a host may name (``HostPolicy.dh_group``).
DH_GROUPS = {
    g.name: g
    for g in (FFDHE2048, FFDHE3072, OAKLEY_GROUP2, LAB_480, RFC5114_2048_224, COMPOSITE_2048)
}

#: Safe primes the client recognises without testing them (RFC 7919 and RFC 2409 groups;
#: tests/tls check that each is one).
_KNOWN_SAFE_PRIMES = frozenset({FFDHE2048.p, FFDHE3072.p, OAKLEY_GROUP2.p})

#: The smallest modulus our client accepts by default (NIST SP 800-57, RFC 7919's floor).
DEFAULT_MIN_DH_BITS = 2048


def negotiate(configured: DhGroup, client_groups: tuple[int, ...]) -> DhGroup | None:
    """The group for a DHE suite (RFC 7919 4): a server holding an RFC 7919 group uses one
    the client lists, the configured one first, and none (no DHE suite) when the client
    lists RFC 7919 groups but none of ours; a client listing none takes the configured
    group. A server with a group of its own (a legacy host) ignores the list, as servers
    from before RFC 7919 did."""
    offered = [NAMED_DH_GROUPS[NamedGroup(g)] for g in client_groups if g in NAMED_DH_GROUPS]
    listed_any = any(0x0100 <= g <= 0x01FF for g in client_groups)
    if configured not in NAMED_DH_GROUPS.values() or not listed_any:
        return configured
    if configured in offered:
        return configured
    return offered[0] if offered else None


@functools.lru_cache(maxsize=32)
def _probably_prime(n: int) -> bool:
    """Miller-Rabin with 32 bases drawn from a hash of n (deterministic, for a check; the
    few groups servers send are remembered)."""
    if n < 4:
        return n in (2, 3)
    for small in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % small == 0:
            return n == small
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    seed = hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).digest()
    for i in range(32):
        a = 2 + int.from_bytes(hashlib.sha256(seed + bytes([i])).digest(), "big") % (n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def is_safe_prime(p: int) -> bool:
    return _probably_prime(p) and _probably_prime((p - 1) // 2)


def check_server_group(p: int, g: int, ys: int, min_bits: int) -> None:
    """What our client demands of ServerDHParams (insufficient_security for a small
    group, illegal_parameter for a bad one)."""
    if p.bit_length() < min_bits:
        raise TLSError(
            f"server DH group of {p.bit_length()} bits, below {min_bits} (Logjam)",
            AlertDescription.insufficient_security,
        )
    q = (p - 1) // 2
    if p not in _KNOWN_SAFE_PRIMES:  # a named group is known good; any other is tested
        if not _probably_prime(p):
            raise IllegalParameter("server DH modulus is not prime")
        if not _probably_prime(q):
            raise IllegalParameter("server DH modulus is not a safe prime (small subgroups)")
    if not 1 < g < p - 1 or not 1 < ys < p - 1 or pow(ys, q, p) != 1:
        raise IllegalParameter("server DH value outside the prime-order subgroup")


def _to_bytes(n: int, length: int = 0) -> bytes:
    return n.to_bytes(max(length, (n.bit_length() + 7) // 8, 1), "big")


class DhShare:
    """One side's exponent and public value in a group (the exponent from ``entropy``)."""

    __slots__ = ("_x", "group", "public")

    def __init__(self, group: DhGroup, seed: bytes) -> None:
        self.group = group
        self._x = int.from_bytes(seed, "big") % (group.p - 3) + 2
        #: The public value, as long as p (RFC 7919 5 asks for it so; OpenSSL does it).
        self.public = _to_bytes(pow(group.g, self._x, group.p), (group.bits + 7) // 8)

    def exchange(self, peer_public: bytes) -> bytes:
        """Z with leading zero bytes stripped (RFC 5246 8.1.2); a peer value outside
        (1, p - 1) is illegal_parameter."""
        y = int.from_bytes(peer_public, "big")
        if not 1 < y < self.group.p - 1:
            raise IllegalParameter("DH public value out of range")
        return _to_bytes(pow(y, self._x, self.group.p))
