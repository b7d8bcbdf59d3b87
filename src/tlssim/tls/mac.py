"""HMAC (RFC 2104) over hashlib's hash constructors.

``hmac.digest`` looks OpenSSL's HMAC up by name on every call, which costs more than the
two hashes it computes for the key schedule's short keys and messages (a handshake makes
about forty). Here the key is padded and XORed with ipad/opad by ``bytes.translate``, as
the standard library's own pure-Python HMAC does, and hashed with hashlib's constructors
(OpenSSL's digests, looked up once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol

_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class _Hash(Protocol):
    def digest(self) -> bytes: ...


#: hash name -> (constructor, block size in bytes)
_HASHES: dict[str, tuple[Callable[[bytes], _Hash], int]] = {
    "md5": (hashlib.md5, 64),
    "sha1": (hashlib.sha1, 64),
    "sha256": (hashlib.sha256, 64),
    "sha384": (hashlib.sha384, 128),
    "sha512": (hashlib.sha512, 128),
}


def hmac_digest(key: bytes, msg: bytes, hash_name: str) -> bytes:
    """HMAC(key, msg) with the named hash; the same bytes as ``hmac.digest``."""
    new, block_size = _HASHES[hash_name]
    if len(key) > block_size:
        key = new(key).digest()
    key = key.ljust(block_size, b"\0")
    inner = new(key.translate(_IPAD) + msg).digest()
    return new(key.translate(_OPAD) + inner).digest()
