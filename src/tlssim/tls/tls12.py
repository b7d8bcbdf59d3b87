"""TLS 1.2 cipher suites and key derivation (RFC 5246 sections 5, 6.3, 7.4.9, 8.1; RFC 7627).

The PRF is P_hash from section 5, written with ``hmac.digest`` (OpenSSL's HMAC in C).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from tlssim.tls.constants import CipherSuite


@dataclass(frozen=True, slots=True)
class Tls12Suite:
    """What a TLS 1.2 AEAD suite fixes.

    ``key_exchange`` is ``"ecdhe"`` or ``"rsa"`` (key transport); ``authentication`` is the
    certificate key type (``"ecdsa"`` or ``"rsa"``). GCM uses a 4-byte implicit salt plus an
    8-byte explicit nonce in each record (RFC 5288); ChaCha20-Poly1305 a 12-byte IV XORed
    with the sequence number and no explicit part (RFC 7905).
    """

    suite: CipherSuite
    key_exchange: str
    authentication: str
    hash_name: str
    key_length: int
    fixed_iv_length: int
    explicit_nonce_length: int
    aead: type[AESGCM] | type[ChaCha20Poly1305]

    @property
    def hash_length(self) -> int:
        return 48 if self.hash_name == "sha384" else 32

    def hash_algorithm(self) -> hashes.HashAlgorithm:
        return hashes.SHA384() if self.hash_name == "sha384" else hashes.SHA256()


def _gcm(suite: CipherSuite, kx: str, auth: str, hash_name: str, key_length: int) -> Tls12Suite:
    return Tls12Suite(suite, kx, auth, hash_name, key_length, 4, 8, AESGCM)


def _chacha(suite: CipherSuite, auth: str) -> Tls12Suite:
    return Tls12Suite(suite, "ecdhe", auth, "sha256", 32, 12, 0, ChaCha20Poly1305)


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


def p_hash(hash_name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    """P_hash(secret, seed) from RFC 5246 section 5, truncated to ``length`` bytes."""
    out = bytearray()
    a = seed
    while len(out) < length:
        a = hmac.digest(secret, a, hash_name)
        out += hmac.digest(secret, a + seed, hash_name)
    return bytes(out[:length])


def prf(hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """PRF(secret, label, seed) = P_<hash>(secret, label + seed)."""
    return p_hash(hash_name, secret, label + seed, length)


def master_secret(
    suite: Tls12Suite,
    premaster: bytes,
    client_random: bytes,
    server_random: bytes,
    session_hash: bytes | None,
) -> bytes:
    """The 48-byte master secret; with ``session_hash`` the RFC 7627 extended one."""
    if session_hash is not None:
        return prf(suite.hash_name, premaster, b"extended master secret", session_hash, 48)
    return prf(suite.hash_name, premaster, b"master secret", client_random + server_random, 48)


@dataclass(frozen=True, slots=True)
class KeyBlock:
    client_write_key: bytes
    server_write_key: bytes
    client_write_iv: bytes
    server_write_iv: bytes


def key_block(
    suite: Tls12Suite, master: bytes, client_random: bytes, server_random: bytes
) -> KeyBlock:
    """Partition key_block (6.3); AEAD suites have no MAC keys."""
    k, iv = suite.key_length, suite.fixed_iv_length
    block = prf(
        suite.hash_name, master, b"key expansion", server_random + client_random, 2 * (k + iv)
    )
    return KeyBlock(block[:k], block[k : 2 * k], block[2 * k : 2 * k + iv], block[2 * k + iv :])


def verify_data(suite: Tls12Suite, master: bytes, is_client: bool, transcript_hash: bytes) -> bytes:
    """Finished.verify_data (7.4.9): 12 bytes of PRF over the handshake hash."""
    label = b"client finished" if is_client else b"server finished"
    return prf(suite.hash_name, master, label, transcript_hash, 12)
