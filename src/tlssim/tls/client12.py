"""The TLS 1.2 client handshake (RFC 5246 section 7.3), from the ServerHello on.

Full:        ServerHello -> Certificate -> [CertificateStatus] -> [ServerKeyExchange]
             -> ServerHelloDone; we send ClientKeyExchange, ChangeCipherSpec, Finished
             -> ChangeCipherSpec -> Finished
Abbreviated: ServerHello echoing our session id -> ChangeCipherSpec -> Finished; we send
             ChangeCipherSpec, Finished

The ``CertificateReceived`` pause comes as soon as the chain and its staple are known:
right after Certificate, or after CertificateStatus when the server acknowledged
status_request; so the caller judges the chain *before* the ServerKeyExchange signature
is checked (a server that acknowledged status_request but sends no CertificateStatus, as
RFC 6066 allows, gets the pause with no staple before its next message is processed).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from tlssim.tls import events as ev
from tlssim.tls.certificate_request import CertificateRequest12, client_scheme, request_fields
from tlssim.tls.client_hello import ClientOffer
from tlssim.tls.config import CertifiedKey
from tlssim.tls.constants import (
    AlertDescription,
    CipherSuite,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
)
from tlssim.tls.core import ConnectionCore
from tlssim.tls.describe import server_hello_fields
from tlssim.tls.errors import (
    BadCertificate,
    DecodeError,
    HandshakeFailure,
    IllegalParameter,
    InternalError,
    TLSError,
    UnexpectedMessage,
    UnsupportedExtension,
)
from tlssim.tls.extensions import decode_replica
from tlssim.tls.ffdhe import DhGroup, DhShare, check_server_group
from tlssim.tls.keyexchange import ECDHE_GROUPS, KeyShare
from tlssim.tls.keys12 import Tls12Keys, refuse_renegotiation
from tlssim.tls.legacy_signatures import legacy_verify
from tlssim.tls.legacy_signatures import scheme_for as legacy_scheme
from tlssim.tls.messages import CertificateVerify, ServerHello
from tlssim.tls.messages12 import (
    Certificate12,
    CertificateStatus,
    ClientKeyExchange,
    DheServerKeyExchange,
    ServerHelloDone,
    ServerKeyExchange,
)
from tlssim.tls.negotiated import Negotiated, key_exchange_name
from tlssim.tls.sessions import Session
from tlssim.tls.signatures import PublicKey, sign, verify
from tlssim.tls.states import CHANGE_CIPHER_SPEC, Handshake, Table, Tls12State, step
from tlssim.tls.tls12 import ALL_TLS12_SUITES
from tlssim.tls.versions import client_check_downgrade

S, M = Tls12State, HandshakeType


#: ServerHello extensions a TLS 1.2 server may answer with (only if we sent them).
_SH12_ALLOWED = {
    ExtensionType.server_name,
    ExtensionType.status_request,
    ExtensionType.renegotiation_info,
    ExtensionType.extended_master_secret,
    ExtensionType.ec_point_formats,
    ExtensionType.tlssim_replica,
    ExtensionType.encrypt_then_mac,
}


@dataclass(frozen=True, slots=True)
class _ServerShare:
    """What a ServerKeyExchange settles (ECDHE): the group, the server's public value and
    the scheme it signed them with."""

    group: NamedGroup
    public: bytes
    scheme: SignatureScheme


class ClientTls12(Handshake):
    version = ProtocolVersion.TLSv1_2

    def __init__(
        self,
        core: ConnectionCore,
        offer: ClientOffer,
        hello: tuple[ServerHello, dict[int, bytes]],
        protocol: ProtocolVersion = ProtocolVersion.TLSv1_2,
    ) -> None:
        self.state = S.WAIT_SH
        #: The version the server chose: TLS 1.2, or 1.1 / 1.0 when we offered them.
        self.protocol = protocol
        self._core = core
        self._offer = offer
        self._config = offer.config
        #: The ServerHello the facade parsed to choose this version.
        self._first_hello = hello
        #: From the ServerHello on (the table runs nothing that needs it before).
        self._keys_or_none: Tls12Keys | None = None
        self._ems = False
        self._resumed_from: Session | None = None
        self._server_session_id = b""
        self._staple_expected = False
        #: The server's chain and its leaf's key, from its Certificate on.
        self._certificate: tuple[tuple[bytes, ...], PublicKey] | None = None
        #: From the ServerKeyExchange on (None: RSA key transport, or a resumption).
        self._share: _ServerShare | None = None
        self._request: CertificateRequest12 | None = None
        #: DHE: the server's group, its public value and the scheme it signed them with.
        self._dhe: tuple[DhGroup, bytes, SignatureScheme] | None = None
        self._server_replica: str | None = None

    @property
    def _keys(self) -> Tls12Keys:
        if self._keys_or_none is None:
            raise InternalError("no keys before the ServerHello")
        return self._keys_or_none

    @property
    def _leaf(self) -> tuple[tuple[bytes, ...], PublicKey]:
        if self._certificate is None:
            raise InternalError("no server certificate before its Certificate")
        return self._certificate

    def on_server_hello(self, body: bytes, raw: bytes) -> Tls12State:
        sh, exts = self._first_hello
        core, config = self._core, self._config
        client_check_downgrade(sh.random, self.protocol, self._offer.versions)
        if sh.cipher_suite not in self._offer.suites or sh.cipher_suite not in ALL_TLS12_SUITES:
            raise IllegalParameter("server chose a cipher suite we did not offer")
        suite = ALL_TLS12_SUITES[CipherSuite(sh.cipher_suite)]
        if suite.min_version > self.protocol:
            raise IllegalParameter(f"{suite.suite.name} is not for {self.protocol.label}")
        etm = ExtensionType.encrypt_then_mac in exts
        if etm and ExtensionType.encrypt_then_mac not in self._offer.sent_extensions:
            raise UnsupportedExtension("encrypt_then_mac answered but not sent")
        if etm and exts[ExtensionType.encrypt_then_mac]:
            raise DecodeError("encrypt_then_mac with a body")
        if etm and not suite.is_cbc:  # RFC 7366 3: never with an AEAD suite
            raise IllegalParameter("encrypt_then_mac with a suite that is not CBC")
        if sh.legacy_compression_method != 0:
            raise IllegalParameter("non-null compression")
        for etype in exts:
            if etype not in _SH12_ALLOWED:
                raise UnsupportedExtension(f"unexpected extension {etype} in ServerHello")
        if ExtensionType.status_request in exts and not config.request_ocsp:
            raise UnsupportedExtension("status_request acknowledged but not sent")
        if ExtensionType.server_name in exts and config.server_name is None:
            raise UnsupportedExtension("server_name acknowledged but not sent")
        if ExtensionType.tlssim_replica in exts:
            if not config.ask_replica:
                raise UnsupportedExtension("tlssim_replica answered but not sent")
            self._server_replica = decode_replica(exts[ExtensionType.tlssim_replica])
        reneg = exts.get(ExtensionType.renegotiation_info)
        if reneg is not None and reneg != b"\x00":
            raise HandshakeFailure("non-empty renegotiation_info in an initial handshake")
        ems = exts.get(ExtensionType.extended_master_secret)
        if ems:
            raise DecodeError("extended_master_secret with a body")
        self._ems = ems is not None
        core.peer_hello_seen = True
        self._keys_or_none = keys = Tls12Keys(core, suite, sh.random, self.protocol, etm)
        self._server_session_id = sh.legacy_session_id_echo
        self._staple_expected = ExtensionType.status_request in exts
        core.transcript.start(suite)
        session = config.session
        resumed = (
            session is not None
            and session.version == self.protocol
            and bool(session.session_id)
            and sh.legacy_session_id_echo == session.session_id
        )
        fields = server_hello_fields(sh, exts, None)
        fields["selected_version"] = self.protocol.label
        fields["extended_master_secret"] = self._ems
        fields["resumed"] = resumed
        if suite.aead is None:
            fields["encrypt_then_mac"] = etm
        core.received(raw, "ServerHello", fields)
        if session is None or not resumed:
            return S.WAIT_CERT
        if session.cipher_suite != sh.cipher_suite:
            raise IllegalParameter("resumed session with a different cipher suite")
        if session.extended_master_secret != self._ems:
            raise HandshakeFailure("extended_master_secret differs from the session's")
        self._resumed_from = session
        keys.set_master(session.secret)
        return S.WAIT_CCS

    # -- the server's certificate ---------------------------------------------------------

    def on_certificate(self, body: bytes, raw: bytes) -> Tls12State:
        cert = Certificate12.parse(body)
        if not cert.chain:
            raise DecodeError("server sent an empty Certificate")
        try:
            key = x509.load_der_x509_certificate(cert.chain[0]).public_key()
        except Exception as exc:
            raise BadCertificate(f"cannot parse the leaf certificate: {exc}") from exc
        if self._keys.suite.authentication == "rsa":
            fits = isinstance(key, rsa.RSAPublicKey)
        else:
            fits = isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
        if not fits or not isinstance(
            key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
        ):
            raise TLSError(
                "certificate key does not fit the cipher suite",
                AlertDescription.unsupported_certificate,
            )
        self._certificate = (cert.chain, key)
        self._core.received(
            raw,
            "Certificate",
            {"certificates": len(cert.chain), "sizes": [len(c) for c in cert.chain]},
        )
        if self._staple_expected:
            return S.WAIT_CERT_STATUS
        return self._pause_for_certificate(None)

    def _pause_for_certificate(self, staple: bytes | None) -> Tls12State:
        """Hand the chain to the caller; the key exchange decides what comes next."""
        self._core.events.append(ev.CertificateReceived(self._leaf[0], staple))
        self._core.pause()
        return S.WAIT_SHD if self._keys.suite.key_exchange == "rsa" else S.WAIT_SKE

    def on_certificate_status(self, body: bytes, raw: bytes) -> Tls12State:
        status = CertificateStatus.parse(body)
        self._core.received(
            raw,
            "CertificateStatus",
            {"status_type": "ocsp", "ocsp_response_size": len(status.ocsp_response)},
        )
        return self._pause_for_certificate(status.ocsp_response)

    def on_no_certificate_status(self, body: bytes, raw: bytes) -> Tls12State:
        """status_request acknowledged but no CertificateStatus (RFC 6066 allows it)."""
        self._core.hs_in[:0] = raw  # handled again after the caller's decision
        return self._pause_for_certificate(None)

    # -- key exchange -----------------------------------------------------------------------

    def on_server_key_exchange(self, body: bytes, raw: bytes) -> None:
        config, keys = self._config, self._keys
        if keys.suite.key_exchange == "dhe":
            self._on_dhe_key_exchange(body, raw)
            return
        ske = ServerKeyExchange.parse(body, self.protocol >= ProtocolVersion.TLSv1_2)
        if ske.group not in config.supported_groups or ske.group not in ECDHE_GROUPS:
            raise IllegalParameter("ServerKeyExchange for a group we did not offer")
        signed = self._core.client_random + keys.server_random + ske.params
        scheme = self._check_signature(ske.algorithm, ske.signature, signed)
        share = self._share = _ServerShare(NamedGroup(ske.group), ske.public, scheme)
        self._core.received(
            raw,
            "ServerKeyExchange",
            {
                "key_exchange": "ecdhe",
                "group": share.group.name,
                "public_size": len(ske.public),
                "signature_scheme": share.scheme.name,
            },
        )

    def _check_signature(
        self, algorithm: int | None, signature: bytes, signed: bytes
    ) -> SignatureScheme:
        """The ServerKeyExchange signature: a scheme we offered (TLS 1.2), or MD5+SHA-1 /
        SHA-1 by the key's type (TLS 1.0/1.1, no algorithm field)."""
        key = self._leaf[1]
        if algorithm is None:
            legacy_verify(key, signature, signed)
            return legacy_scheme(key)
        if algorithm not in self._config.signature_schemes:
            raise IllegalParameter("ServerKeyExchange signed with a scheme we did not offer")
        verify(key, algorithm, signature, signed, tls12=True)
        return SignatureScheme(algorithm)

    def _on_dhe_key_exchange(self, body: bytes, raw: bytes) -> None:
        """ServerDHParams: the signature first, then what we demand of the group."""
        config, keys = self._config, self._keys
        ske = DheServerKeyExchange.parse(body, self.protocol >= ProtocolVersion.TLSv1_2)
        signed = self._core.client_random + keys.server_random + ske.params
        scheme = self._check_signature(ske.algorithm, ske.signature, signed)
        p, g = int.from_bytes(ske.p, "big"), int.from_bytes(ske.g, "big")
        self._core.received(
            raw,
            "ServerKeyExchange",
            {
                "key_exchange": "dhe",
                "group_bits": p.bit_length(),
                "public_size": len(ske.public),
                "signature_scheme": scheme.name,
            },
        )
        check_server_group(p, g, int.from_bytes(ske.public, "big"), config.min_dh_bits)
        self._dhe = (DhGroup(f"dhe{p.bit_length()}", p, g), ske.public, scheme)

    def on_certificate_request(self, body: bytes, raw: bytes) -> None:
        if self._request is not None:
            raise UnexpectedMessage("a second CertificateRequest")
        request = self._request = CertificateRequest12.parse(
            body, self.protocol >= ProtocolVersion.TLSv1_2
        )
        fields = request_fields(request.schemes, request.authorities)
        fields["certificate_types"] = list(request.certificate_types)
        self._core.received(raw, "CertificateRequest", fields)

    def on_server_hello_done(self, body: bytes, raw: bytes) -> None:
        """ClientKeyExchange, then the master secret, ChangeCipherSpec and our Finished."""
        core, config, keys = self._core, self._config, self._keys
        ServerHelloDone.parse(body)
        core.received(raw, "ServerHelloDone", {})
        signer = self._send_client_certificate()
        suite = keys.suite
        if suite.key_exchange == "dhe":
            if self._dhe is None:
                raise InternalError("DHE without a ServerKeyExchange")
            group, server_public, _ = self._dhe
            mine = DhShare(group, config.entropy(32))
            premaster = mine.exchange(server_public)
            cke = ClientKeyExchange(key_exchange="dhe", exchange_keys=mine.public)
            fields: dict[str, object] = {
                "key_exchange": "dhe",
                "group_bits": group.bits,
                "public_size": len(mine.public),
            }
        elif suite.key_exchange == "ecdhe":
            if self._share is None:  # the table takes ServerHelloDone after it, for ECDHE
                raise InternalError("ECDHE without a ServerKeyExchange")
            ours = KeyShare(self._share.group, config.entropy)
            premaster = ours.exchange(self._share.public)
            cke = ClientKeyExchange(key_exchange="ecdhe", exchange_keys=ours.public)
            fields = {
                "key_exchange": "ecdhe",
                "group": self._share.group.name,
                "public_size": len(ours.public),
            }
        else:
            # the version we offered (ClientHello.legacy_version), not the one negotiated
            premaster = self._offer.legacy_version.to_bytes(2, "big") + config.entropy(46)
            leaf_key = self._leaf[1]
            if not isinstance(leaf_key, rsa.RSAPublicKey):  # on_certificate checked it fits
                raise InternalError("RSA key transport without an RSA key")
            encrypted = leaf_key.encrypt(premaster, padding.PKCS1v15())
            cke = ClientKeyExchange(key_exchange="rsa", exchange_keys=encrypted)
            fields = {
                "key_exchange": "rsa",
                "premaster": "encrypted with the server's public key",
                "encrypted_size": len(encrypted),
            }
        core.send_handshake(cke.serialize(), "ClientKeyExchange", fields)
        master = keys.master_secret(premaster, self._ems)
        if signer is not None:
            self._send_certificate_verify(*signer)
        keys.set_master(master)
        keys.send_change_cipher_spec()
        keys.send_finished()

    def _send_client_certificate(self) -> tuple[CertifiedKey, SignatureScheme] | None:
        """When asked: our chain (it and the scheme to sign with come back) or an empty one."""
        request, config = self._request, self._config
        if request is None:
            return None
        certified = config.client_certificate
        scheme = client_scheme(
            certified, request.schemes, config.signature_schemes, True, request.certificate_types
        )
        signer = (certified, scheme) if certified is not None and scheme is not None else None
        chain = signer[0].chain if signer is not None else ()
        self._core.send_handshake(
            Certificate12(chain=chain).serialize(),
            "Certificate",
            {"certificates": len(chain), "sizes": [len(c) for c in chain]},
        )
        return signer

    def _send_certificate_verify(self, certified: CertifiedKey, scheme: SignatureScheme) -> None:
        """The signature over every handshake message so far (RFC 5246 7.4.8)."""
        core = self._core
        signature = sign(certified.private_key, scheme, core.transcript.messages())
        cv = CertificateVerify(algorithm=scheme, signature=signature)
        core.send_handshake(cv.serialize(), "CertificateVerify", {"signature_scheme": scheme.name})

    # -- ChangeCipherSpec, Finished ------------------------------------------------------

    def on_change_cipher_spec(self, body: bytes, raw: bytes) -> None:
        self._keys.receive_change_cipher_spec()

    def on_finished(self, body: bytes, raw: bytes) -> None:
        core, keys, share = self._core, self._keys, self._share
        keys.check_finished(body, raw)
        resumed = self._resumed_from is not None
        if resumed:
            keys.send_change_cipher_spec()
            keys.send_finished()
        group = None if share is None else share.group
        key_exchange = key_exchange_name(group, self._resumed_from)
        dhe = self._dhe
        if dhe is not None and not resumed:
            key_exchange = dhe[0].name
        core.complete(
            Negotiated(
                version=self.protocol,
                cipher_suite=keys.suite.suite,
                group=group,
                signature_scheme=share.scheme if share is not None else dhe and dhe[2],
                server_name=self._config.server_name,
                key_exchange=key_exchange,
                extended_master_secret=self._ems,
                resumed=resumed,
                server_replica=self._server_replica,
            )
        )
        if self._server_session_id and not resumed:
            session = Session(
                version=self.protocol,
                cipher_suite=keys.suite.suite,
                secret=keys.master,
                server_name=self._config.server_name,
                session_id=self._server_session_id,
                extended_master_secret=self._ems,
                key_exchange=key_exchange,
            )
            core.events.append(ev.SessionReceived(session))

    def on_hello_request(self, body: bytes, raw: bytes) -> None:
        refuse_renegotiation(self._core, raw)


TRANSITIONS: Table[ClientTls12] = {
    # a full handshake, or the server resumes the session we offered
    (S.WAIT_SH, M.server_hello): step(ClientTls12.on_server_hello, S.WAIT_CERT, S.WAIT_CCS),
    # CertificateStatus if status_request was acknowledged; ServerKeyExchange for ECDHE
    (S.WAIT_CERT, M.certificate): step(
        ClientTls12.on_certificate, S.WAIT_CERT_STATUS, S.WAIT_SKE, S.WAIT_SHD
    ),
    (S.WAIT_CERT_STATUS, M.certificate_status): step(
        ClientTls12.on_certificate_status, S.WAIT_SKE, S.WAIT_SHD
    ),
    (S.WAIT_CERT_STATUS, M.server_key_exchange): step(
        ClientTls12.on_no_certificate_status, S.WAIT_SKE
    ),
    (S.WAIT_CERT_STATUS, M.server_hello_done): step(
        ClientTls12.on_no_certificate_status, S.WAIT_SHD
    ),
    (S.WAIT_SKE, M.server_key_exchange): step(ClientTls12.on_server_key_exchange, S.WAIT_SHD),
    (S.WAIT_CERT_STATUS, M.certificate_request): step(
        ClientTls12.on_no_certificate_status, S.WAIT_SKE, S.WAIT_SHD
    ),
    # a CertificateRequest may come before ServerHelloDone
    (S.WAIT_SHD, M.certificate_request): step(ClientTls12.on_certificate_request, S.WAIT_SHD),
    (S.WAIT_SHD, M.server_hello_done): step(ClientTls12.on_server_hello_done, S.WAIT_CCS),
    (S.WAIT_CCS, CHANGE_CIPHER_SPEC): step(ClientTls12.on_change_cipher_spec, S.WAIT_FINISHED),
    (S.WAIT_FINISHED, M.finished): step(ClientTls12.on_finished, S.CONNECTED),
    (S.CONNECTED, M.hello_request): step(ClientTls12.on_hello_request, S.CONNECTED),
}

ClientTls12.transitions = TRANSITIONS
