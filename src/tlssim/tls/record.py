"""Record layer (RFC 8446 section 5, RFC 5246 section 6): framing, fragmentation, AEAD.

TLS 1.3 protection hides the content type inside the ciphertext (every protected record is
outer type application_data); TLS 1.2 protection keeps the real type in the header and
protects every record type after ChangeCipherSpec.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4, TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

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

    def seal(self, content_type: int, data: bytes | memoryview) -> bytes:
        """A complete TLSCiphertext record for ``data`` (at most 2^14 bytes)."""
        inner = bytes(data) + bytes((content_type,))
        header = _OUTER_HEADER + (len(inner) + 16).to_bytes(2, "big")
        seq = self.seq
        self.seq = seq + 1
        nonce = (self._iv ^ seq).to_bytes(12, "big")
        return header + self._aead.encrypt(nonce, inner, header)

    def open(self, header: bytes, payload: bytes) -> tuple[int, bytes]:
        """Decrypt one record and recover (content type, content) from TLSInnerPlaintext."""
        seq = self.seq
        self.seq = seq + 1
        try:
            inner = self._aead.decrypt((self._iv ^ seq).to_bytes(12, "big"), payload, header)
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
        if suite.aead is None:
            raise ValueError(f"{suite.suite.name} is not an AEAD suite")
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


class Tls12CbcProtection:
    """One direction of CBC + HMAC protection (RFC 5246 6.2.3.2, RFC 4346, RFC 2246, RFC 7366).

    MAC-then-encrypt (the default): the HMAC covers seq_num + type + version + length +
    content, then content + MAC + padding is encrypted. Encrypt-then-MAC (RFC 7366, when
    both sides sent the extension): the padded content is encrypted and the HMAC covers the
    header and the IV + ciphertext, checked before anything is decrypted.

    TLS 1.1 and 1.2 send an explicit IV at the head of each record; we make it as NIST SP
    800-38A appendix C does, the block cipher applied to a nonce (here the sequence
    number), so it is unpredictable without the key and needs no randomness. TLS 1.0 chains
    records: each record's IV is the last ciphertext block of the one before (the first
    comes from the key block), which is what BEAST exploits.

    Receiving MAC-then-encrypt, the padding cannot be judged before the MAC (Lucky
    Thirteen): ``open`` checks the padding with the same operations whatever its bytes,
    takes a bad one as zero-length (RFC 5246 6.2.3.2), feeds the HMAC the same number of
    bytes whatever the padding length (what the MAC did not cover goes into a dummy hash),
    and then fails a bad padding and a bad MAC alike: BadRecordMac, same message.
    ``mac_bytes`` counts the bytes hashed, for the test that shows it.

    RC4 (a stream cipher, RFC 7465 forbids it: its keystream's biases leak plaintext
    repeated across many connections) encrypts content + MAC with one keystream per
    direction that runs on across records: no IV, no padding.
    """

    __slots__ = (
        "_algorithm",
        "_block",
        "_etm",
        "_explicit",
        "_iv",
        "_mac_key",
        "_mac_len",
        "_mac_name",
        "_stream",
        "_version",
        "mac_bytes",
        "seq",
    )

    protects_all_types = True
    max_ciphertext = MAX_CIPHERTEXT_TLS12

    def __init__(
        self,
        suite: Tls12Suite,
        key: bytes,
        iv: bytes,
        mac_key: bytes,
        version: int,
        encrypt_then_mac: bool,
    ) -> None:
        cipher = suite.block_cipher
        # (RC4 uses no block cipher: the AES object below is never used for it)
        self._algorithm: algorithms.AES | TripleDES = (
            TripleDES(key) if cipher == "3des" else algorithms.AES(key.ljust(16, b"\x00"))
        )
        #: RC4: one keystream for the direction (RC4 decrypts as it encrypts).
        self._stream = (
            Cipher(ARC4(key), mode=None).encryptor() if suite.block_cipher == "rc4" else None
        )
        self._block = suite.block_size
        self._mac_key = mac_key
        self._mac_name = suite.mac_name
        self._mac_len = suite.mac_length
        self._version = version.to_bytes(2, "big")
        self._explicit = version >= 0x0302
        self._iv = iv
        self._etm = encrypt_then_mac
        self.mac_bytes = 0
        self.seq = 0

    def _mac(self, seq: int, content_type: int, data: bytes) -> bytes:
        header = seq.to_bytes(8, "big") + bytes([content_type]) + self._version
        self.mac_bytes += 13 + len(data)
        return hmac.digest(
            self._mac_key, header + len(data).to_bytes(2, "big") + data, self._mac_name
        )

    def _next_iv(self, seq: int) -> bytes:
        if not self._explicit:
            return self._iv
        nonce = seq.to_bytes(self._block, "big")
        encryptor = Cipher(self._algorithm, modes.ECB()).encryptor()
        return encryptor.update(nonce) + encryptor.finalize()

    def _padded(self, data: bytes) -> bytes:
        pad = self._block - (len(data) + 1) % self._block
        if pad == self._block:
            pad = 0
        return data + bytes([pad]) * (pad + 1)

    def seal(self, content_type: int, data: bytes | memoryview) -> bytes:
        seq = self.seq
        self.seq += 1
        plain = bytes(data)
        if self._stream is not None:
            body = self._stream.update(plain + self._mac(seq, content_type, plain))
            return bytes([content_type]) + self._version + len(body).to_bytes(2, "big") + body
        iv = self._next_iv(seq)
        if self._etm:
            padded = self._padded(plain)
        else:
            padded = self._padded(plain + self._mac(seq, content_type, plain))
        encryptor = Cipher(self._algorithm, modes.CBC(iv)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        if not self._explicit:
            self._iv = ciphertext[-self._block :]
        body = (iv if self._explicit else b"") + ciphertext
        if self._etm:
            body += self._mac(seq, content_type, body)
        return bytes([content_type]) + self._version + len(body).to_bytes(2, "big") + body

    def open(self, header: bytes, payload: bytes) -> tuple[int, bytes]:
        seq = self.seq
        self.seq += 1
        block, mac_len = self._block, self._mac_len
        explicit = block if self._explicit else 0
        content_type = header[0]
        if self._stream is not None:
            plain = self._stream.update(payload)
            if len(plain) < mac_len:
                raise BadRecordMac("record failed authentication")
            content, tag = plain[: len(plain) - mac_len], plain[len(plain) - mac_len :]
            if not hmac.compare_digest(self._mac(seq, content_type, content), tag):
                raise BadRecordMac("record failed authentication")
        elif self._etm:
            # the MAC first, over what came on the wire; nothing is decrypted before it
            body, tag = payload[:-mac_len], payload[-mac_len:]
            if len(body) < explicit + block or (len(body) - explicit) % block:
                raise BadRecordMac("record failed authentication")
            if not hmac.compare_digest(self._mac(seq, content_type, body), tag):
                raise BadRecordMac("record failed authentication")
            plain = self._decrypt(body, explicit)
            pad = plain[-1]
            if pad + 1 > len(plain) or plain[-pad - 1 :] != bytes([pad]) * (pad + 1):
                raise BadRecordMac("record failed authentication")
            content = plain[: len(plain) - pad - 1]
        else:
            minimum = max(block, mac_len + 1)  # the length is public: no secret in this check
            if len(payload) < explicit + minimum or (len(payload) - explicit) % block:
                raise BadRecordMac("record failed authentication")
            content = self._open_mac_then_encrypt(seq, content_type, payload, explicit)
        if len(content) > MAX_PLAINTEXT:
            raise RecordOverflow("decrypted record too long")
        return content_type, content

    def _decrypt(self, body: bytes, explicit: int) -> bytes:
        iv = body[:explicit] if explicit else self._iv
        ciphertext = body[explicit:]
        if not explicit:
            self._iv = ciphertext[-self._block :]
        decryptor = Cipher(self._algorithm, modes.CBC(iv)).decryptor()
        return decryptor.update(ciphertext) + decryptor.finalize()

    def _open_mac_then_encrypt(
        self, seq: int, content_type: int, payload: bytes, explicit: int
    ) -> bytes:
        """Padding and MAC judged together, with the same work for any padding."""
        plain = self._decrypt(payload, explicit)
        mac_len = self._mac_len
        n = len(plain)
        pad = plain[-1]
        # good is 1 when pad + 1 + mac_len <= n and the last pad + 1 bytes all equal pad;
        # every candidate byte is looked at, whatever pad is
        good = int(pad + 1 + mac_len <= n)
        for i in range(min(256, n)):
            in_padding = int(i <= pad)
            differs = int((plain[n - 1 - i] ^ pad) != 0)
            good &= 1 - (in_padding & differs)
        pad_length = pad * good + 1  # a bad padding counts as none (RFC 5246 6.2.3.2)
        content_length = n - mac_len - pad_length
        content = plain[:content_length]
        expected = self._mac(seq, content_type, content)
        # the HMAC saw content_length bytes; the dummy hash takes the rest of the longest
        # content this record could hold, so the bytes hashed do not depend on the padding
        longest = n - mac_len - 1
        rest = longest - content_length
        dummy = hashlib.new(self._mac_name)
        dummy.update(plain[:rest])
        self.mac_bytes += rest
        received = plain[content_length : content_length + mac_len]
        mac_ok = int(hmac.compare_digest(expected, received))
        if not good & mac_ok:
            raise BadRecordMac("record failed authentication")
        return content


Protection = RecordProtection | Tls12RecordProtection | Tls12CbcProtection


class RecordLayer:
    """Parses incoming records from a byte buffer and frames outgoing ones."""

    __slots__ = (
        "_in",
        "outgoing",
        "read_protection",
        "skip_early_data",
        "version",
        "write_protection",
    )

    def __init__(self) -> None:
        self._in = bytearray()
        #: Bytes of rejected 0-RTT data a server may still drop (see ``next_record``).
        self.skip_early_data = 0
        self.outgoing = bytearray()
        self.read_protection: Protection | None = None
        self.write_protection: Protection | None = None
        #: legacy_record_version of plaintext records: TLS 1.0 and 1.1 put their own.
        self.version = b"\x03\x03"

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
        if len(data) <= MAX_PLAINTEXT:  # one record (every handshake flight but the largest)
            protection = self.write_protection
            if protection is None:
                self.outgoing += b"%c%b%b%b" % (
                    content_type,
                    self.version,
                    len(data).to_bytes(2, "big"),
                    data,
                )
            else:
                self.outgoing += protection.seal(content_type, data)
            return
        view = memoryview(data)
        protection = self.write_protection
        out = self.outgoing
        start = 0
        total = len(data)
        while True:
            chunk = view[start : start + MAX_PLAINTEXT]
            if protection is None:
                out += bytes([content_type]) + self.version + len(chunk).to_bytes(2, "big")
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
