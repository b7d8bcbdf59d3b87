"""Record layer (RFC 8446 section 5): framing, fragmentation, AEAD protection."""

from __future__ import annotations

from cryptography.exceptions import InvalidTag

from tlssim.tls.constants import MAX_CIPHERTEXT, MAX_PLAINTEXT, ContentType
from tlssim.tls.errors import BadRecordMac, RecordOverflow, UnexpectedMessage
from tlssim.tls.keyschedule import SuiteParams, traffic_key_iv

_KNOWN_TYPES = frozenset(int(t) for t in ContentType if t != ContentType.invalid)
_APPLICATION_DATA = int(ContentType.application_data)
_OUTER_HEADER = b"\x17\x03\x03"


class RecordProtection:
    """One direction of AEAD protection under one traffic secret; the AEAD is built once."""

    __slots__ = ("_aead", "_iv", "seq")

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


class RecordLayer:
    """Parses incoming records from a byte buffer and frames outgoing ones."""

    __slots__ = ("_in", "outgoing", "read_protection", "write_protection")

    def __init__(self) -> None:
        self._in = bytearray()
        self.outgoing = bytearray()
        self.read_protection: RecordProtection | None = None
        self.write_protection: RecordProtection | None = None

    def feed(self, data: bytes) -> None:
        self._in += data

    def has_partial(self) -> bool:
        return bool(self._in)

    def next_record(self) -> tuple[int, bytes] | None:
        """The next record as (content type, plaintext), or None when incomplete.

        Plaintext records other than alert/change_cipher_spec are unexpected once read
        protection is on; application_data is unexpected before.
        """
        buf = self._in
        if len(buf) < 5:
            if buf and buf[0] not in _KNOWN_TYPES:
                raise UnexpectedMessage("unknown record content type")
            return None
        content_type = buf[0]
        if content_type not in _KNOWN_TYPES:
            raise UnexpectedMessage("unknown record content type")
        length = (buf[3] << 8) | buf[4]
        protected = self.read_protection is not None and content_type == _APPLICATION_DATA
        if length > (MAX_CIPHERTEXT if protected else MAX_PLAINTEXT):
            raise RecordOverflow("record too long")
        if len(buf) < 5 + length:
            return None
        header = bytes(buf[:5])
        payload = bytes(buf[5 : 5 + length])
        del buf[: 5 + length]
        if protected:
            assert self.read_protection is not None
            return self.read_protection.open(header, payload)
        if content_type == _APPLICATION_DATA:
            raise UnexpectedMessage("application data before keys")
        if self.read_protection is not None and content_type == ContentType.handshake:
            raise UnexpectedMessage("plaintext handshake record after key change")
        return content_type, payload

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
