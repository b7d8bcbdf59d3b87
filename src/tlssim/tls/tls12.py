"""TLS 1.2 cipher suites and key derivation (RFC 5246 sections 5, 6.3, 7.4.9, 8.1; RFC 7627).

The PRF is P_hash from section 5, written with ``mac.hmac_digest``.
TLS 1.0 and 1.1 use the older PRF (RFC 2246 5): P_MD5 over the first half of the secret
XORed with P_SHA-1 over the second half, and Finished over MD5 + SHA-1 of the handshake.

``TLS12_SUITES`` are the AEAD suites a modern peer uses; ``LEGACY_SUITES`` the CBC ones
(HMAC, MAC-then-encrypt or RFC 7366 encrypt-then-MAC; AES and 3DES) and finite-field DHE
that the engine runs only when a configuration names them (a lesson, or a legacy host).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from tlssim.tls.constants import CipherSuite
from tlssim.tls.mac import hmac_digest


@dataclass(frozen=True, slots=True)
class Tls12Suite:
    """What a TLS 1.2 suite fixes.

    ``key_exchange`` is ``"ecdhe"``, ``"dhe"`` (finite field) or ``"rsa"`` (key
    transport); ``authentication`` is the certificate key type (``"ecdsa"`` or ``"rsa"``).
    GCM uses a 4-byte implicit salt plus an 8-byte explicit nonce in each record (RFC
    5288); ChaCha20-Poly1305 a 12-byte IV XORed with the sequence number and no explicit
    part (RFC 7905). CBC suites (``aead`` None) use HMAC and a block cipher
    (``record.Tls12CbcProtection``).
    """

    suite: CipherSuite
    key_exchange: str
    authentication: str
    hash_name: str
    key_length: int
    fixed_iv_length: int
    explicit_nonce_length: int
    aead: type[AESGCM] | type[ChaCha20Poly1305] | None
    #: CBC suites: the HMAC hash (``"sha1"``, ``"sha256"``, ``"sha384"``) and the block
    #: cipher (``"aes"`` or ``"3des"``; the record carries an explicit IV in TLS 1.1+), or
    #: the RC4 stream cipher (``"rc4"``, RFC 7465 forbids it: no IV, no padding).
    mac_name: str = ""
    block_cipher: str = ""
    #: The oldest version the suite may be used with (the SHA-256/384 ones are TLS 1.2's).
    min_version: int = 0x0303

    @property
    def hash_length(self) -> int:
        return 48 if self.hash_name == "sha384" else 32

    @property
    def is_cbc(self) -> bool:
        """A block cipher in CBC mode (encrypt_then_mac applies); RC4 is a stream cipher."""
        return self.block_cipher in ("aes", "3des")

    @property
    def mac_length(self) -> int:
        return {"sha1": 20, "sha256": 32, "sha384": 48}.get(self.mac_name, 0)

    @property
    def block_size(self) -> int:
        return {"3des": 8, "rc4": 0}.get(self.block_cipher, 16)

    def hash_algorithm(self) -> hashes.HashAlgorithm:
        return hashes.SHA384() if self.hash_name == "sha384" else hashes.SHA256()


def _gcm(suite: CipherSuite, kx: str, auth: str, hash_name: str, key_length: int) -> Tls12Suite:
    return Tls12Suite(suite, kx, auth, hash_name, key_length, 4, 8, AESGCM)


def _chacha(suite: CipherSuite, auth: str) -> Tls12Suite:
    return Tls12Suite(suite, "ecdhe", auth, "sha256", 32, 12, 0, ChaCha20Poly1305)


def _cbc(
    suite: CipherSuite, kx: str, auth: str, mac: str, key_length: int, cipher: str = "aes"
) -> Tls12Suite:
    """A CBC suite: the PRF is SHA-384 for the SHA-384 MAC, SHA-256 otherwise (RFC 5246 5)."""
    prf_hash = "sha384" if mac == "sha384" else "sha256"
    block = {"3des": 8, "rc4": 0}.get(cipher, 16)
    oldest = 0x0301 if mac == "sha1" else 0x0303
    return Tls12Suite(
        suite, kx, auth, prf_hash, key_length, block, block, None, mac, cipher, oldest
    )


_S = CipherSuite

#: Every TLS 1.2 suite the engine runs; the SHA-384 ones use the SHA-384 PRF (RFC 5289 3.2).
TLS12_SUITES: dict[CipherSuite, Tls12Suite] = {
    suite.suite: suite
    for suite in (
        _gcm(_S.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ecdhe", "ecdsa", "sha256", 16),
        _gcm(_S.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ecdhe", "ecdsa", "sha384", 32),
        _gcm(_S.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ecdhe", "rsa", "sha256", 16),
        _gcm(_S.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ecdhe", "rsa", "sha384", 32),
        _chacha(_S.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ecdsa"),
        _chacha(_S.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "rsa"),
        _gcm(_S.TLS_RSA_WITH_AES_128_GCM_SHA256, "rsa", "rsa", "sha256", 16),
        _gcm(_S.TLS_RSA_WITH_AES_256_GCM_SHA384, "rsa", "rsa", "sha384", 32),
    )
}

#: CBC and DHE suites: never offered nor accepted unless a configuration names them.
LEGACY_SUITES: dict[CipherSuite, Tls12Suite] = {
    suite.suite: suite
    for suite in (
        _cbc(_S.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "ecdhe", "ecdsa", "sha1", 16),
        _cbc(_S.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "ecdhe", "ecdsa", "sha1", 32),
        _cbc(_S.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "ecdhe", "rsa", "sha1", 16),
        _cbc(_S.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, "ecdhe", "rsa", "sha1", 32),
        _cbc(_S.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "ecdhe", "ecdsa", "sha256", 16),
        _cbc(_S.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384, "ecdhe", "ecdsa", "sha384", 32),
        _cbc(_S.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, "ecdhe", "rsa", "sha256", 16),
        _cbc(_S.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, "ecdhe", "rsa", "sha384", 32),
        _cbc(_S.TLS_RSA_WITH_AES_128_CBC_SHA, "rsa", "rsa", "sha1", 16),
        _cbc(_S.TLS_RSA_WITH_AES_256_CBC_SHA, "rsa", "rsa", "sha1", 32),
        _cbc(_S.TLS_RSA_WITH_AES_128_CBC_SHA256, "rsa", "rsa", "sha256", 16),
        _cbc(_S.TLS_RSA_WITH_AES_256_CBC_SHA256, "rsa", "rsa", "sha256", 32),
        _cbc(_S.TLS_RSA_WITH_3DES_EDE_CBC_SHA, "rsa", "rsa", "sha1", 24, "3des"),
        _cbc(_S.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, "ecdhe", "rsa", "sha1", 24, "3des"),
        _cbc(_S.TLS_RSA_WITH_RC4_128_SHA, "rsa", "rsa", "sha1", 16, "rc4"),
        _cbc(_S.TLS_ECDHE_RSA_WITH_RC4_128_SHA, "ecdhe", "rsa", "sha1", 16, "rc4"),
        _gcm(_S.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256, "dhe", "rsa", "sha256", 16),
        _gcm(_S.TLS_DHE_RSA_WITH_AES_256_GCM_SHA384, "dhe", "rsa", "sha384", 32),
        _cbc(_S.TLS_DHE_RSA_WITH_AES_128_CBC_SHA, "dhe", "rsa", "sha1", 16),
        _cbc(_S.TLS_DHE_RSA_WITH_AES_256_CBC_SHA, "dhe", "rsa", "sha1", 32),
        _cbc(_S.TLS_DHE_RSA_WITH_AES_128_CBC_SHA256, "dhe", "rsa", "sha256", 16),
        _cbc(_S.TLS_DHE_RSA_WITH_AES_256_CBC_SHA256, "dhe", "rsa", "sha256", 32),
    )
}

#: Every TLS 1.2 (and older) suite the engine can run.
ALL_TLS12_SUITES: dict[CipherSuite, Tls12Suite] = {**TLS12_SUITES, **LEGACY_SUITES}


def p_hash(hash_name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    """P_hash(secret, seed) from RFC 5246 section 5, truncated to ``length`` bytes."""
    out = bytearray()
    a = seed
    while len(out) < length:
        a = hmac_digest(secret, a, hash_name)
        out += hmac_digest(secret, a + seed, hash_name)
    return bytes(out[:length])


def prf(hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """PRF(secret, label, seed) = P_<hash>(secret, label + seed)."""
    return p_hash(hash_name, secret, label + seed, length)


def legacy_prf(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """The TLS 1.0/1.1 PRF (RFC 2246 5): P_MD5(S1) XOR P_SHA-1(S2), S1 and S2 the halves of
    the secret (sharing a byte when its length is odd)."""
    half = (len(secret) + 1) // 2
    md5 = p_hash("md5", secret[:half], label + seed, length)
    sha1 = p_hash("sha1", secret[len(secret) - half :], label + seed, length)
    return bytes(a ^ b for a, b in zip(md5, sha1, strict=True))


def version_prf(
    version: int, hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int
) -> bytes:
    """The PRF of a version: TLS 1.2's P_hash, or the MD5/SHA-1 one below it."""
    if version < 0x0303:
        return legacy_prf(secret, label, seed, length)
    return prf(hash_name, secret, label, seed, length)


def master_secret(
    suite: Tls12Suite,
    premaster: bytes,
    client_random: bytes,
    server_random: bytes,
    session_hash: bytes | None,
    version: int = 0x0303,
) -> bytes:
    """The 48-byte master secret; with ``session_hash`` the RFC 7627 extended one."""
    if session_hash is not None:
        label, seed = b"extended master secret", session_hash
    else:
        label, seed = b"master secret", client_random + server_random
    return version_prf(version, suite.hash_name, premaster, label, seed, 48)


@dataclass(frozen=True, slots=True)
class KeyBlock:
    client_write_key: bytes
    server_write_key: bytes
    client_write_iv: bytes
    server_write_iv: bytes
    client_write_mac_key: bytes = b""
    server_write_mac_key: bytes = b""


def key_block(
    suite: Tls12Suite,
    master: bytes,
    client_random: bytes,
    server_random: bytes,
    version: int = 0x0303,
) -> KeyBlock:
    """Partition key_block (6.3): MAC keys (CBC suites only), keys, then IVs (for CBC the
    TLS 1.0 implicit first IVs; TLS 1.1 and 1.2 send an explicit IV in every record)."""
    m, k, iv = suite.mac_length, suite.key_length, suite.fixed_iv_length
    size = 2 * (m + k + iv)
    block = version_prf(
        version, suite.hash_name, master, b"key expansion", server_random + client_random, size
    )
    parts = []
    start = 0
    for length in (m, m, k, k, iv, iv):
        parts.append(block[start : start + length])
        start += length
    cmac, smac, ckey, skey, civ, siv = parts
    return KeyBlock(ckey, skey, civ, siv, cmac, smac)


def verify_data(
    suite: Tls12Suite,
    master: bytes,
    is_client: bool,
    transcript_hash: bytes,
    version: int = 0x0303,
) -> bytes:
    """Finished.verify_data (7.4.9): 12 bytes of PRF over the handshake hash (for TLS 1.0
    and 1.1, MD5 + SHA-1 of the handshake)."""
    label = b"client finished" if is_client else b"server finished"
    return version_prf(version, suite.hash_name, master, label, transcript_hash, 12)
