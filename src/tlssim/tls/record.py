"""Record layer (RFC 8446 section 5, RFC 5246 section 6): framing, fragmentation, AEAD.

TLS 1.3 protection hides the content type inside the ciphertext (every protected record is
outer type application_data); TLS 1.2 protection keeps the real type in the header and
protects every record type after ChangeCipherSpec.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag

from tlssim.tls.constants import MAX_CIPHERTEXT, MAX_CIPHERTEXT_TLS12, MAX_PLAINTEXT, ContentType
from tlssim.tls.errors import BadRecordMac, RecordOverflow, UnexpectedMessage
from tlssim.tls.keyschedule import SuiteParams, traffic_key_iv
from tlssim.tls.tls12 import Tls12Suite

_KNOWN_TYPES = frozenset(int(t) for t in ContentType if t != ContentType.invalid)
_APPLICATION_DATA = int(ContentType.application_data)
_OUTER_HEADER = b"\x17\x03\x03"
_TAG_LENGTH = 16
#: What ``_next`` returns for a record it dropped.
_SKIPPED = (-1, b"")


class RecordProtection:
    """One direction of AEAD protection under one traffic secret; the AEAD is built once."""

    __slots__ = ("_aead", "_iv", "seq")

    #: TLS 1.3: only application_data records are protected (the inner type is hidden).
    protects_all_types = False
    max_ciphertext = MAX_CIPHERTEXT

    def __init__(self, params: SuiteParams, secret: bytes) -> None:
        key, iv = traffic_key_iv(params, secret)
        self._aead = params.aead(key)
        self._iv = int.from_bytes(iv, "big")
        self.seq = 0

    def _nonce(self) -> bytes:
        nonce = (self._iv ^ self.seq).to_bytes(12, "big")
        self.seq += 1
        return nonce

    def seal(self, content_type: int, data: bytes | memoryview) -> bytes:
        """A complete TLSCiphertext record for ``data`` (at most 2^14 bytes)."""
        inner = bytes(data) + bytes([content_type])
        length = len(inner) + 16
        header = _OUTER_HEADER + length.to_bytes(2, "big")
        return header + self._aead.encrypt(self._nonce(), inner, header)

    def open(self, header: bytes, payload: bytes) -> tuple[int, bytes]:
        """Decrypt one record and recover (content type, content) from TLSInnerPlaintext."""
        try:
            inner = self._aead.decrypt(self._nonce(), payload, header)
        except InvalidTag as exc:
            raise BadRecordMac("record failed authentication") from exc
        end = len(inner)
        while end and inner[end - 1] == 0:
            end -= 1
        if end == 0:
            raise UnexpectedMessage("protected record without a content type")
        if end - 1 > MAX_PLAINTEXT:
            raise RecordOverflow("decrypted record too long")
        return inner[end - 1], inner[: end - 1]


class Tls12RecordProtection:
    """One direction of TLS 1.2 AEAD protection (RFC 5246 6.2.3.3, RFC 5288, RFC 7905).

    additional_data = seq_num + type + version + length of the plaintext. GCM sends the
    sequence number as its 8-byte explicit nonce (unique, as RFC 5288 requires).
    """

    __slots__ = ("_aead", "_explicit", "_iv", "_salt", "seq")

    protects_all_types = True
    max_ciphertext = MAX_CIPHERTEXT_TLS12

    def __init__(self, suite: Tls12Suite, key: bytes, iv: bytes) -> None:
        self._aead = suite.aead(key)
        self._explicit = suite.explicit_nonce_length
        self._salt = iv
        self._iv = int.from_bytes(iv, "big")
        self.seq = 0

    def seal(self, content_type: int, data: bytes | memoryview) -> bytes:
        seq = self.seq
        self.seq += 1
        seq_bytes = seq.to_bytes(8, "big")
        plain = bytes(data)
        aad = seq_bytes + bytes([content_type, 3, 3]) + len(plain).to_bytes(2, "big")
        if self._explicit:
            nonce = self._salt + seq_bytes
            body = seq_bytes + self._aead.encrypt(nonce, plain, aad)
        else:
            body = self._aead.encrypt((self._iv ^ seq).to_bytes(12, "big"), plain, aad)
        return bytes([content_type, 3, 3]) + len(body).to_bytes(2, "big") + body

    def open(self, header: bytes, payload: bytes) -> tuple[int, bytes]:
        seq = self.seq
        self.seq += 1
        if len(payload) < self._explicit + 16:
            raise BadRecordMac("record too short to be authentic")
        if self._explicit:
            nonce = self._salt + payload[: self._explicit]
            payload = payload[self._explicit :]
        else:
            nonce = (self._iv ^ seq).to_bytes(12, "big")
        length = len(payload) - 16
        if length > MAX_PLAINTEXT:
            raise RecordOverflow("decrypted record too long")
        aad = seq.to_bytes(8, "big") + header[:3] + length.to_bytes(2, "big")
        try:
            return header[0], self._aead.decrypt(nonce, payload, aad)
        except InvalidTag as exc:
            raise BadRecordMac("record failed authentication") from exc


Protection = RecordProtection | Tls12RecordProtection


class RecordLayer:
    """Parses incoming records from a byte buffer and frames outgoing ones."""

    __slots__ = ("_in", "outgoing", "read_protection", "skip_early_data", "write_protection")

    def __init__(self) -> None:
        self._in = bytearray()
        #: Bytes of rejected 0-RTT data a server may still drop (see ``next_record``).
        self.skip_early_data = 0
        self.outgoing = bytearray()
        self.read_protection: Protection | None = None
        self.write_protection: Protection | None = None

    def feed(self, data: bytes) -> None:
        self._in += data

    def has_partial(self) -> bool:
        return bool(self._in)

    def next_record(self) -> tuple[int, bytes] | None:
        """The next record as (content type, plaintext), or None when incomplete.

        Plaintext records other than alert/change_cipher_spec are unexpected once read
        protection is on; application_data is unexpected before. While ``skip_early_data``
        is positive (a server that rejected 0-RTT, 4.2.10), records that fail to decrypt,
        or application_data arriving before keys (after a HelloRetryRequest), are dropped
        against that budget until the first record that is the client's own.
        """
        while True:
            record = self._next()
            if record is not _SKIPPED:
                return record

    def _next(self) -> tuple[int, bytes] | None:
        buf = self._in
        if len(buf) < 5:
            if buf and buf[0] not in _KNOWN_TYPES:
                raise UnexpectedMessage("unknown record content type")
            return None
        content_type = buf[0]
        if content_type not in _KNOWN_TYPES:
            raise UnexpectedMessage("unknown record content type")
        length = (buf[3] << 8) | buf[4]
        protection = self.read_protection
        if protection is not None and (
            protection.protects_all_types or content_type == _APPLICATION_DATA
        ):
            limit = protection.max_ciphertext
        else:
            protection = None
            limit = MAX_PLAINTEXT if not self.skip_early_data else MAX_CIPHERTEXT
        if length > limit:
            raise RecordOverflow("record too long")
        if len(buf) < 5 + length:
            return None
        header = bytes(buf[:5])
        payload = bytes(buf[5 : 5 + length])
        del buf[: 5 + length]
        if protection is not None:
            if not self.skip_early_data:
                return protection.open(header, payload)
            seq = protection.seq
            try:
                opened = protection.open(header, payload)
            except BadRecordMac:
                protection.seq = seq  # a skipped record uses no sequence number
                return self._skip(payload)
            self.skip_early_data = 0
            return opened
        if content_type == _APPLICATION_DATA:
            if self.skip_early_data:
                return self._skip(payload)
            raise UnexpectedMessage("application data before keys")
        if self.read_protection is not None and content_type == ContentType.handshake:
            raise UnexpectedMessage("plaintext handshake record after key change")
        if content_type == ContentType.handshake:
            self.skip_early_data = 0
        return content_type, payload

    def _skip(self, payload: bytes) -> tuple[int, bytes]:
        size = max(len(payload) - _TAG_LENGTH, 0)
        if size > self.skip_early_data:
            raise UnexpectedMessage("more undecryptable early data than max_early_data_size")
        self.skip_early_data -= size
        return _SKIPPED

    def write(self, content_type: int, data: bytes) -> None:
        """Queue ``data`` as one or more records (fragments of at most 2^14 bytes)."""
        view = memoryview(data)
        protection = self.write_protection
        out = self.outgoing
        start = 0
        total = len(data)
        while True:
            chunk = view[start : start + MAX_PLAINTEXT]
            if protection is None:
                out += bytes([content_type, 3, 3]) + len(chunk).to_bytes(2, "big")
                out += chunk
            else:
                out += protection.seal(content_type, chunk)
            start += MAX_PLAINTEXT
            if start >= total:
                break

    def write_plaintext(self, content_type: int, data: bytes, legacy_version: int) -> None:
        """A plaintext record with a chosen legacy_record_version (the first ClientHello)."""
        self.outgoing += bytes([content_type]) + legacy_version.to_bytes(2, "big")
        self.outgoing += len(data).to_bytes(2, "big") + data

    def take_outgoing(self) -> bytes:
        data = bytes(self.outgoing)
        self.outgoing.clear()
        return data
