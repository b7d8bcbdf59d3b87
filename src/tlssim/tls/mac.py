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
    global _last
    last = _last  # read once, written whole: threads see one call's entry or another's
    if key is last[0] and hash_name is last[1]:
        # the same key object as the call before (a traffic secret's key then IV, a
        # secret's successive Derive-Secrets): its padded forms as computed then
        new = last[2]
        ikey = last[3]
        okey = last[4]
    else:
        new, block_size = _HASHES[hash_name]
        padded = new(key).digest() if len(key) > block_size else key
        padded = padded.ljust(block_size, b"\0")
        ikey = padded.translate(_IPAD)
        okey = padded.translate(_OPAD)
        # bytes only (immutable), held by reference: ``is`` matches no other object
        _last = (key if type(key) is bytes else None, hash_name, new, ikey, okey)
    return new(okey + new(ikey + msg).digest()).digest()


#: The last call's key, hash name, constructor, and inner and outer padded keys.
_last: tuple[bytes | None, str, Callable[[bytes], _Hash], bytes, bytes] = (
    None,
    "",
    hashlib.sha256,
    b"",
    b"",
)
