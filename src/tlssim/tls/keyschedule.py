"""TLS 1.3 key schedule (RFC 8446 section 7): HKDF-Expand-Label, secrets, traffic keys.

HKDF-Extract and single-block HKDF-Expand are one HMAC each (``mac.hmac_digest``, several
times cheaper than building an HKDFExpand object); longer outputs use ``cryptography``'s
HKDFExpand.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from tlssim.tls.constants import CipherSuite, HandshakeType
from tlssim.tls.errors import LocalProtocolError
from tlssim.tls.mac import hmac_digest
from tlssim.tls.tls12 import Tls12Suite


@dataclass(frozen=True, slots=True)
class SuiteParams:
    """What a TLS 1.3 cipher suite fixes: the hash and the AEAD with its key length."""

    suite: CipherSuite
    hash_name: str
    hash_length: int
    key_length: int
    aead: type[AESGCM] | type[ChaCha20Poly1305]

    def hash_algorithm(self) -> hashes.HashAlgorithm:
        return _SHA384 if self.hash_name == "sha384" else _SHA256


# Hash algorithm objects hold no state: one of each serves every transcript.
_SHA256 = hashes.SHA256()
_SHA384 = hashes.SHA384()


TLS13_SUITES: dict[CipherSuite, SuiteParams] = {
    CipherSuite.TLS_AES_128_GCM_SHA256: SuiteParams(
        CipherSuite.TLS_AES_128_GCM_SHA256, "sha256", 32, 16, AESGCM
    ),
    CipherSuite.TLS_AES_256_GCM_SHA384: SuiteParams(
        CipherSuite.TLS_AES_256_GCM_SHA384, "sha384", 48, 32, AESGCM
    ),
    CipherSuite.TLS_CHACHA20_POLY1305_SHA256: SuiteParams(
        CipherSuite.TLS_CHACHA20_POLY1305_SHA256, "sha256", 32, 32, ChaCha20Poly1305
    ),
}


def hkdf_extract(hash_name: str, salt: bytes, ikm: bytes) -> bytes:
    return hmac_digest(salt, ikm, hash_name)


def hkdf_expand_label(
    params: SuiteParams, secret: bytes, label: bytes, context: bytes, length: int
) -> bytes:
    """HKDF-Expand-Label(Secret, Label, Context, Length) from RFC 8446 section 7.1."""
    prefix = _LABEL_PREFIXES.get((label, length))
    if prefix is None:  # a handshake uses about a dozen (label, length) pairs, each often
        full_label = b"tls13 " + label
        prefix = length.to_bytes(2, "big") + bytes([len(full_label)]) + full_label
        if len(_LABEL_PREFIXES) < 256:
            _LABEL_PREFIXES[(label, length)] = prefix
    if length <= params.hash_length:
        # HKDF-Expand with a single output block: T(1) = HMAC(PRK, info | 0x01) (RFC 5869)
        info = b"%b%c%b\x01" % (prefix, len(context), context)
        return hmac_digest(secret, info, params.hash_name)[:length]
    info = prefix + bytes([len(context)]) + context
    return HKDFExpand(params.hash_algorithm(), length, info).derive(secret)


#: HkdfLabel's length and label fields, by (label, length).
_LABEL_PREFIXES: dict[tuple[bytes, int], bytes] = {}


def derive_secret(
    params: SuiteParams, secret: bytes, label: bytes, transcript_hash: bytes
) -> bytes:
    return hkdf_expand_label(params, secret, label, transcript_hash, params.hash_length)


def traffic_key_iv(params: SuiteParams, secret: bytes) -> tuple[bytes, bytes]:
    """The record protection key and IV for one traffic secret (7.3)."""
    key_info = _KEY_INFO.get(params.key_length)
    if key_info is None:
        key = hkdf_expand_label(params, secret, b"key", b"", params.key_length)
    else:
        key = hmac_digest(secret, key_info, params.hash_name)[: params.key_length]
    return key, hmac_digest(secret, _IV_INFO, params.hash_name)[:12]


def _single_block_info(label: bytes, length: int) -> bytes:
    """HKDF-Expand's input for one output block of an empty-context HkdfLabel."""
    full_label = b"tls13 " + label
    return length.to_bytes(2, "big") + bytes([len(full_label)]) + full_label + b"\x00\x01"


# Every traffic key takes these two expansions: their HkdfLabels, made once.
_KEY_INFO = {n: _single_block_info(b"key", n) for n in (16, 32)}
_IV_INFO = _single_block_info(b"iv", 12)


def finished_verify_data(params: SuiteParams, base_key: bytes, transcript_hash: bytes) -> bytes:
    """verify_data = HMAC(finished_key, Transcript-Hash(...)) (4.4.4)."""
    finished_key = hkdf_expand_label(params, base_key, b"finished", b"", params.hash_length)
    return hmac_digest(finished_key, transcript_hash, params.hash_name)


def resumption_psk(params: SuiteParams, resumption_master: bytes, nonce: bytes) -> bytes:
    """The PSK a NewSessionTicket stands for (4.6.1)."""
    return hkdf_expand_label(params, resumption_master, b"resumption", nonce, params.hash_length)


def next_traffic_secret(params: SuiteParams, secret: bytes) -> bytes:
    """application_traffic_secret_N+1 (7.2, KeyUpdate)."""
    return hkdf_expand_label(params, secret, b"traffic upd", b"", params.hash_length)


@dataclass(frozen=True, slots=True)
class _Fixed:
    """What the key schedule starts from for one hash, the same for every connection."""

    zeros: bytes
    empty_hash: bytes
    #: The early secret without a PSK, and its Derive-Secret(., "derived", "").
    early_secret: bytes
    derived: bytes


_FIXED: dict[str, _Fixed] = {}


def _fixed(params: SuiteParams) -> _Fixed:
    fixed = _FIXED.get(params.hash_name)
    if fixed is None:  # once per hash (two of them)
        zeros = bytes(params.hash_length)
        empty_hash = hashes.Hash(params.hash_algorithm()).finalize()
        early_secret = hkdf_extract(params.hash_name, zeros, zeros)
        derived = derive_secret(params, early_secret, b"derived", empty_hash)
        fixed = _FIXED[params.hash_name] = _Fixed(zeros, empty_hash, early_secret, derived)
    return fixed


class KeySchedule:
    """Early -> Handshake -> Master secret chain (section 7.1), with an optional PSK."""

    __slots__ = ("_empty_hash", "_fixed", "_zeros", "params", "secret")

    def __init__(self, params: SuiteParams, psk: bytes | None = None) -> None:
        self._fixed = fixed = _fixed(params)
        self.params = params
        self._zeros = fixed.zeros
        self._empty_hash = fixed.empty_hash
        if psk is None:
            self.secret = fixed.early_secret  # early secret
        else:
            self.secret = hkdf_extract(params.hash_name, self._zeros, psk)  # early secret

    def binder_key(self) -> bytes:
        """The resumption binder_key (from the early secret; call before enter_handshake)."""
        return derive_secret(self.params, self.secret, b"res binder", self._empty_hash)

    def early_traffic(self, client_hello_hash: bytes) -> bytes:
        """client_early_traffic_secret (7.1): the 0-RTT key, over Hash(ClientHello)."""
        return derive_secret(self.params, self.secret, b"c e traffic", client_hello_hash)

    def _derived(self) -> bytes:
        if self.secret is self._fixed.early_secret:  # no PSK: known in advance
            return self._fixed.derived
        return derive_secret(self.params, self.secret, b"derived", self._empty_hash)

    def enter_handshake(self, shared_secret: bytes) -> None:
        self.secret = hkdf_extract(self.params.hash_name, self._derived(), shared_secret)

    def enter_master(self) -> None:
        self.secret = hkdf_extract(self.params.hash_name, self._derived(), self._zeros)

    def derive(self, label: bytes, transcript_hash: bytes) -> bytes:
        params = self.params  # Derive-Secret, without one more call
        return hkdf_expand_label(params, self.secret, label, transcript_hash, params.hash_length)


def _new_hash(hash_name: str) -> _Hash:
    """The transcript's hash: hashlib's, cheaper to make, copy and read than
    ``cryptography``'s Hash (and ``digest()`` leaves the running hash as it is)."""
    return hashlib.sha384() if hash_name == "sha384" else hashlib.sha256()


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def copy(self) -> _Hash: ...


class Transcript:
    """The running transcript hash; buffers messages until the suite (hash) is known."""

    __slots__ = ("_hash", "_messages", "_pending")

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._hash: _Hash | None = None
        #: Every message as added: a TLS 1.2 CertificateVerify signs them, not a hash.
        self._messages = bytearray()

    def messages(self) -> bytes:
        return bytes(self._messages)

    def add(self, message: bytes) -> None:
        self._messages += message
        if self._hash is None:
            self._pending.append(message)
        else:
            self._hash.update(message)

    def start(self, params: SuiteParams | Tls12Suite) -> None:
        """Fix the hash function (once the cipher suite is chosen)."""
        self._hash = _new_hash(params.hash_name)
        for message in self._pending:
            self._hash.update(message)
        self._pending.clear()

    def replace_with_message_hash(self, params: SuiteParams) -> None:
        """After a HelloRetryRequest: ClientHello1 becomes message_hash(Hash(CH1)) (4.4.1)."""
        ch1_hash = self.digest()
        self._hash = _new_hash(params.hash_name)
        self._hash.update(
            bytes([HandshakeType.message_hash]) + len(ch1_hash).to_bytes(3, "big") + ch1_hash
        )

    def digest_with(self, extra: bytes, params: SuiteParams) -> bytes:
        """Hash(transcript so far + ``extra``) without changing it (PSK binders, 4.2.11.2)."""
        if self._hash is None:
            h = _new_hash(params.hash_name)
            for message in self._pending:
                h.update(message)
        else:
            h = self._hash.copy()
        h.update(extra)
        return h.digest()

    def fork(self) -> Transcript:
        """A copy that goes on separately (post-handshake authentication, 4.6.2, hashes
        the handshake and its own messages, never another exchange's)."""
        copy = Transcript()
        copy._messages = bytearray(self._messages)
        copy._pending = list(self._pending)
        copy._hash = None if self._hash is None else self._hash.copy()
        return copy

    @property
    def started(self) -> bool:
        return self._hash is not None

    def digest(self) -> bytes:
        if self._hash is None:
            raise LocalProtocolError("transcript hash not started")
        return self._hash.digest()
