"""Client state machine: TLS 1.3 (RFC 8446 appendix A.1) here, TLS 1.2 in ``client12``.

The ClientHello offers ``config.versions``; the ServerHello decides, and from then on the
connection dispatches through that version's transition table.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tlssim.tls import events as ev
from tlssim.tls.client12 import ClientTLS12
from tlssim.tls.config import ClientConfig
from tlssim.tls.connection import Connection, Negotiated, State
from tlssim.tls.constants import (
    AlertDescription,
    CipherSuite,
    ContentType,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    name_of,
)
from tlssim.tls.describe import certificate_fields, client_hello_fields, server_hello_fields
from tlssim.tls.errors import (
    BadCertificate,
    DecodeError,
    DecryptError,
    IllegalParameter,
    MissingExtension,
    TLSError,
    UnsupportedExtension,
)
from tlssim.tls.extensions import (
    Extension,
    decode_certificate_status,
    decode_cookie,
    decode_server_key_share,
    decode_uint16,
    encode_client_key_shares,
    encode_client_versions,
    encode_cookie,
    encode_server_name,
    encode_status_request,
    encode_uint16_list,
    index_extensions,
)
from tlssim.tls.keyexchange import SUPPORTED_GROUPS, KeyShare
from tlssim.tls.keyschedule import (
    TLS13_SUITES,
    KeySchedule,
    SuiteParams,
    finished_verify_data,
    resumption_psk,
)
from tlssim.tls.messages import (
    Certificate,
    CertificateVerify,
    ClientHello,
    EncryptedExtensions,
    Finished,
    NewSessionTicket,
    ServerHello,
)
from tlssim.tls.sessions import Session
from tlssim.tls.signatures import SERVER_CONTEXT, PublicKey, signed_content, verify
from tlssim.tls.tickets import (
    PSK_DHE_KE,
    OfferedPsks,
    PskIdentity,
    compute_binder,
    encode_psk_modes,
    truncated_hello,
)
from tlssim.tls.tls12 import TLS12_SUITES
from tlssim.tls.versions import check_enabled, client_check_version

_SH_ALLOWED = {ExtensionType.key_share, ExtensionType.supported_versions}
_HRR_ALLOWED = {ExtensionType.key_share, ExtensionType.supported_versions, ExtensionType.cookie}
_EE_ALLOWED = {ExtensionType.server_name, ExtensionType.supported_groups}
_EE_FORBIDDEN = {
    ExtensionType.key_share,
    ExtensionType.supported_versions,
    ExtensionType.signature_algorithms,
    ExtensionType.status_request,
    ExtensionType.pre_shared_key,
    ExtensionType.cookie,
}

Handler = Callable[["ClientConnection", bytes, bytes], None]


_RENEGOTIATION_INFO_EMPTY = b"\x00"
_EC_POINT_FORMATS_UNCOMPRESSED = b"\x01\x00"


class ClientConnection(ClientTLS12):
    """The client side. ``start()`` queues the ClientHello.

    On ``CertificateReceived`` the engine pauses; the caller then calls
    ``accept_certificate()`` or ``reject_certificate(alert)``.

    A TLS 1.3 ``config.session`` is offered as a PSK (psk_dhe_ke, one identity, the binder
    over the truncated ClientHello) when its SNI equals ``config.server_name`` and a suite
    with its hash is offered. If the server accepts it the handshake is abbreviated: no
    Certificate, no CertificateVerify, so no ``CertificateReceived`` and no pause; the
    server proved it holds the PSK, and the caller relies on the verification done in the
    session's original handshake. ``HandshakeComplete.resumed`` tells which happened.
    """

    is_client = True

    def __init__(self, config: ClientConfig) -> None:
        super().__init__(config.entropy)
        self._versions = check_enabled(config.versions)
        self._offers_tls13 = ProtocolVersion.TLSv1_3 in self._versions
        self._offers_tls12 = ProtocolVersion.TLSv1_2 in self._versions
        if self._offers_tls13:
            for group in config.key_share_groups:
                if group not in SUPPORTED_GROUPS or group not in config.supported_groups:
                    raise ValueError(f"cannot send a key share for {group!r}")
        if any(s not in TLS13_SUITES and s not in TLS12_SUITES for s in config.cipher_suites):
            raise ValueError("cipher_suites must be TLS 1.3 or TLS 1.2 AEAD suites")
        self._suites = tuple(
            s
            for s in config.cipher_suites
            if (self._offers_tls13 and s in TLS13_SUITES)
            or (self._offers_tls12 and s in TLS12_SUITES)
        )
        if not self._suites:
            if not self._offers_tls12:
                raise ValueError("cipher_suites must be TLS 1.3 suites")
            raise ValueError("no cipher suite for the offered versions")
        self.config = config
        self._init_tls12()
        self._session_id = b""
        self._shares: dict[int, KeyShare] = {}
        self._hrr_suite: int | None = None
        self._cookie: bytes | None = None
        self._group: NamedGroup | None = None
        self._scheme: SignatureScheme | None = None
        self._leaf_key: PublicKey | None = None
        self._server_hs_secret = b""
        self._client_hs_secret = b""
        self._version = ProtocolVersion.TLSv1_3
        self._resumption_master = b""
        self._psk_session = self._usable_psk(config)
        self._psk_offered = False

    # -- public API -----------------------------------------------------------------

    def start(self) -> list[ev.Event]:
        """Queue the ClientHello; returns its HandshakeMessageSent event."""
        if self._state is not State.START:
            raise RuntimeError("start() called twice")
        entropy = self.config.entropy
        self._client_random = entropy(32)
        session = self.config.session
        if (
            session is not None
            and session.version == ProtocolVersion.TLSv1_2
            and self._offers_tls12
            and session.session_id
        ):
            self._session_id = session.session_id
        elif self.config.compatibility_mode and self._offers_tls13:
            self._session_id = entropy(32)
        if self._offers_tls13:
            self._shares = {g: KeyShare(g, entropy) for g in self.config.key_share_groups}
        raw = self._client_hello()
        self._records.write_plaintext(ContentType.handshake, raw, 0x0301)
        self._state = State.WAIT_SH
        out, self._events = self._events, []
        return out

    def accept_certificate(self) -> list[ev.Event]:
        """Resume after CertificateReceived: verify CertificateVerify and Finished."""
        if not self._paused:
            raise RuntimeError("no certificate is awaiting a decision")
        self._paused = False
        return self._run()

    def reject_certificate(
        self, alert: AlertDescription = AlertDescription.bad_certificate
    ) -> list[ev.Event]:
        """Abort after CertificateReceived with a fatal ``alert``."""
        if not self._paused:
            raise RuntimeError("no certificate is awaiting a decision")
        self._fail(TLSError("certificate rejected by the caller", alert))
        out, self._events = self._events, []
        return out

    @property
    def awaiting_certificate_decision(self) -> bool:
        return self._paused

    def _usable_psk(self, config: ClientConfig) -> Session | None:
        """The TLS 1.3 session to offer as a PSK, if it may be offered here (4.2.11)."""
        session = config.session
        if (
            session is None
            or not self._offers_tls13
            or session.version != ProtocolVersion.TLSv1_3
            or not session.ticket
            or session.server_name != config.server_name
            or session.cipher_suite not in TLS13_SUITES
        ):
            return None
        hash_name = TLS13_SUITES[session.cipher_suite].hash_name
        if not any(
            s in TLS13_SUITES and TLS13_SUITES[s].hash_name == hash_name for s in self._suites
        ):
            return None
        return session

    # -- messages we send ---------------------------------------------------------------

    def _client_hello(self) -> bytes:
        cfg = self.config
        exts: list[Extension] = []
        if cfg.server_name is not None:
            exts.append(Extension(ExtensionType.server_name, encode_server_name(cfg.server_name)))
        exts += [
            Extension(ExtensionType.supported_groups, encode_uint16_list(cfg.supported_groups)),
            Extension(
                ExtensionType.signature_algorithms, encode_uint16_list(cfg.signature_schemes)
            ),
        ]
        if cfg.request_ocsp:
            exts.append(Extension(ExtensionType.status_request, encode_status_request()))
        if self._offers_tls12:
            exts += [
                Extension(ExtensionType.ec_point_formats, _EC_POINT_FORMATS_UNCOMPRESSED),
                Extension(ExtensionType.extended_master_secret, b""),
                Extension(ExtensionType.renegotiation_info, _RENEGOTIATION_INFO_EMPTY),
            ]
        if self._offers_tls13:
            exts += [
                Extension(ExtensionType.supported_versions, encode_client_versions(self._versions)),
                Extension(
                    ExtensionType.key_share,
                    encode_client_key_shares(tuple((g, s.public) for g, s in self._shares.items())),
                ),
            ]
        if self._cookie is not None:
            exts.append(Extension(ExtensionType.cookie, encode_cookie(self._cookie)))
        ch = ClientHello(
            random=self._client_random,
            legacy_session_id=self._session_id,
            cipher_suites=self._suites,
            extensions=tuple(exts),
        )
        session = self._psk_session
        self._psk_offered = False
        if session is not None:
            params = TLS13_SUITES[session.cipher_suite]
            hrr = self._hrr_suite
            if hrr is None or TLS13_SUITES[CipherSuite(hrr)].hash_name == params.hash_name:
                ch = self._with_psk(ch, exts, session, params)
                self._psk_offered = True
        raw = ch.serialize()
        self._send_handshake(
            raw, "ClientHello", client_hello_fields(ch, index_extensions(ch.extensions))
        )
        self._hs_out.clear()  # written directly as a plaintext record by the caller
        return raw

    def _with_psk(
        self, ch: ClientHello, exts: list[Extension], session: Session, params: SuiteParams
    ) -> ClientHello:
        """``ch`` plus psk_key_exchange_modes and pre_shared_key (last) with its binder."""
        age = (self.config.session_age_ms + session.ticket_age_add) % (1 << 32)
        identity = PskIdentity(session.ticket, age)
        placeholder = OfferedPsks((identity,), (bytes(params.hash_length),))
        modes = Extension(ExtensionType.psk_key_exchange_modes, encode_psk_modes((PSK_DHE_KE,)))

        def hello(offered: OfferedPsks) -> ClientHello:
            psk = Extension(ExtensionType.pre_shared_key, offered.encode())
            return ClientHello(
                random=ch.random,
                legacy_session_id=ch.legacy_session_id,
                cipher_suites=ch.cipher_suites,
                extensions=(*exts, modes, psk),
            )

        truncated = truncated_hello(hello(placeholder).serialize(), placeholder)
        transcript_hash = self._transcript.digest_with(truncated, params)
        binder = compute_binder(params, session.secret, transcript_hash)
        return hello(OfferedPsks((identity,), (binder,)))

    # -- transition table -----------------------------------------------------------------

    def _offered_versions(self) -> tuple[ProtocolVersion, ...]:
        return self._versions

    def _dispatch(self, msg_type: int, body: bytes, raw: bytes) -> None:
        if self._tls12:
            handler12 = self._TRANSITIONS_TLS12.get((self._state, msg_type))
            if handler12 is None:
                raise self._unexpected(msg_type)
            handler12(self, body, raw)
            return
        handler = self._TRANSITIONS.get((self._state, msg_type))
        if handler is None:
            raise self._unexpected(msg_type)
        handler(self, body, raw)

    def _on_server_hello(self, body: bytes, raw: bytes) -> None:
        sh = ServerHello.parse(body)
        exts = index_extensions(sh.extensions)
        self._version = client_check_version(exts, self._versions, sh.legacy_version)
        if self._version == ProtocolVersion.TLSv1_2:
            if self._hrr_suite is not None:
                raise IllegalParameter("TLS 1.2 ServerHello after a HelloRetryRequest")
            self._on_server_hello_tls12(sh, exts, raw)
            return
        if sh.legacy_session_id_echo != self._session_id:
            raise IllegalParameter("legacy_session_id_echo does not match")
        if sh.cipher_suite not in self._suites or sh.cipher_suite not in TLS13_SUITES:
            raise IllegalParameter("server chose a cipher suite we did not offer")
        if sh.legacy_compression_method != 0:
            raise IllegalParameter("non-null compression")
        allowed = _HRR_ALLOWED if sh.is_hello_retry_request else _SH_ALLOWED
        if self._psk_offered and not sh.is_hello_retry_request:
            allowed = allowed | {ExtensionType.pre_shared_key}
        for etype in exts:
            if etype not in allowed:
                raise UnsupportedExtension(f"unexpected extension {etype} in ServerHello")
        self._peer_hello_seen = True
        if sh.is_hello_retry_request:
            self._on_hello_retry_request(sh, exts, raw)
            return
        if self._hrr_suite is not None and sh.cipher_suite != self._hrr_suite:
            raise IllegalParameter("cipher suite changed after HelloRetryRequest")
        if ExtensionType.key_share not in exts:
            raise MissingExtension("ServerHello without key_share")
        group, server_public = decode_server_key_share(exts[ExtensionType.key_share])
        share = self._shares.get(group)
        if share is None:
            raise IllegalParameter("server key share for a group we did not send")
        shared = share.exchange(server_public)
        self._group = NamedGroup(group)
        self._params = params = TLS13_SUITES[CipherSuite(sh.cipher_suite)]
        if self._hrr_suite is None:
            self._transcript.start(params)
        psk = self._selected_psk(exts, params)
        fields = server_hello_fields(sh, exts, group)
        if psk is not None:
            self._resumed = True
            fields["selected_identity"] = 0
            fields["resumed"] = True
        self._received(raw, "ServerHello", fields)
        self._schedule = schedule = KeySchedule(params, psk)
        schedule.enter_handshake(shared)
        th = self._transcript.digest()
        self._client_hs_secret = schedule.derive(b"c hs traffic", th)
        self._server_hs_secret = schedule.derive(b"s hs traffic", th)
        self._secret("CLIENT_HANDSHAKE_TRAFFIC_SECRET", self._client_hs_secret)
        self._secret("SERVER_HANDSHAKE_TRAFFIC_SECRET", self._server_hs_secret)
        self._set_read_key(self._server_hs_secret)
        if self.config.compatibility_mode:
            self._send_compat_ccs()
        self._set_write_key(self._client_hs_secret)
        self._state = State.WAIT_EE

    def _selected_psk(self, exts: dict[int, bytes], params: SuiteParams) -> bytes | None:
        """The PSK the server selected in ServerHello, or None for a full handshake."""
        body = exts.get(ExtensionType.pre_shared_key)
        if body is None:
            return None
        session = self._psk_session
        assert session is not None  # pre_shared_key is only allowed when we offered one
        if decode_uint16(body) != 0:
            raise IllegalParameter("server selected a PSK identity we did not offer")
        if TLS13_SUITES[session.cipher_suite].hash_name != params.hash_name:
            raise IllegalParameter("server resumed with a cipher suite of another hash")
        return session.secret

    def _on_hello_retry_request(self, hrr: ServerHello, exts: dict[int, bytes], raw: bytes) -> None:
        if self._hrr_suite is not None:
            raise self._unexpected(HandshakeType.server_hello)
        if ExtensionType.cookie in exts:
            self._cookie = decode_cookie(exts[ExtensionType.cookie])
        selected: int | None = None
        if ExtensionType.key_share in exts:
            selected = decode_uint16(exts[ExtensionType.key_share])
            if (
                selected not in self.config.supported_groups
                or selected not in SUPPORTED_GROUPS
                or selected in self._shares
            ):
                raise IllegalParameter("HelloRetryRequest selected an unusable group")
        elif self._cookie is None:
            raise IllegalParameter("HelloRetryRequest would not change the ClientHello")
        params = TLS13_SUITES[CipherSuite(hrr.cipher_suite)]
        self._hrr_suite = hrr.cipher_suite
        self._transcript.start(params)
        self._transcript.replace_with_message_hash(params)
        self._received(raw, "HelloRetryRequest", server_hello_fields(hrr, exts, selected))
        if selected is not None:
            group = NamedGroup(selected)
            self._shares = {group: KeyShare(group, self.config.entropy)}
        if self.config.compatibility_mode:
            self._send_compat_ccs()
        raw2 = self._client_hello()
        self._records.write(ContentType.handshake, raw2)

    def _on_encrypted_extensions(self, body: bytes, raw: bytes) -> None:
        ee = EncryptedExtensions.parse(body)
        exts = index_extensions(ee.extensions)
        for etype in exts:
            if etype in _EE_FORBIDDEN:
                raise IllegalParameter(f"extension {etype} not allowed in EncryptedExtensions")
            if etype in (ExtensionType.server_name,) and self.config.server_name is None:
                raise UnsupportedExtension("server_name acknowledged but not sent")
        fields: dict[str, object] = {
            "extensions": [name_of(ExtensionType, t) for t in exts],
        }
        self._received(raw, "EncryptedExtensions", fields)
        # resumed with a PSK: the server authenticated by knowing it; Finished comes next
        self._state = State.WAIT_FINISHED if self._resumed else State.WAIT_CERT

    def _on_certificate(self, body: bytes, raw: bytes) -> None:
        cert = Certificate.parse(body)
        if cert.request_context:
            raise IllegalParameter("server Certificate with a request context")
        if not cert.entries:
            raise DecodeError("server sent an empty Certificate")
        ocsp: bytes | None = None
        leaf_exts = index_extensions(cert.entries[0].extensions)
        if ExtensionType.status_request in leaf_exts:
            if not self.config.request_ocsp:
                raise UnsupportedExtension("OCSP staple we did not ask for")
            ocsp = decode_certificate_status(leaf_exts[ExtensionType.status_request])
        for entry in cert.entries[1:]:
            index_extensions(entry.extensions)
        try:
            leaf = x509.load_der_x509_certificate(cert.entries[0].cert_data)
            key = leaf.public_key()
        except Exception as exc:
            raise BadCertificate(f"cannot parse the leaf certificate: {exc}") from exc
        if not isinstance(
            key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
        ):
            raise TLSError("unsupported leaf key type", AlertDescription.unsupported_certificate)
        self._leaf_key = key
        self._received(raw, "Certificate", certificate_fields(cert, ocsp))
        self._events.append(ev.CertificateReceived(tuple(e.cert_data for e in cert.entries), ocsp))
        self._paused = True
        self._state = State.WAIT_CV

    def _on_certificate_verify(self, body: bytes, raw: bytes) -> None:
        cv = CertificateVerify.parse(body)
        if cv.algorithm not in self.config.signature_schemes:
            raise IllegalParameter("CertificateVerify with a scheme we did not offer")
        assert self._leaf_key is not None
        content = signed_content(SERVER_CONTEXT, self._transcript.digest())
        verify(self._leaf_key, cv.algorithm, cv.signature, content)
        self._scheme = SignatureScheme(cv.algorithm)
        self._received(raw, "CertificateVerify", {"signature_scheme": self._scheme.name})
        self._state = State.WAIT_FINISHED

    def _on_finished(self, body: bytes, raw: bytes) -> None:
        fin = Finished.parse(body)
        params, schedule = self._params, self._schedule
        assert params is not None and schedule is not None
        expected = finished_verify_data(params, self._server_hs_secret, self._transcript.digest())
        if not hmac.compare_digest(expected, fin.verify_data):
            raise DecryptError("server Finished does not verify")
        self._received(raw, "Finished", {"verify_data": fin.verify_data.hex()})
        schedule.enter_master()
        th = self._transcript.digest()
        self._write_app_secret = schedule.derive(b"c ap traffic", th)
        self._read_app_secret = schedule.derive(b"s ap traffic", th)
        self._secret("CLIENT_TRAFFIC_SECRET_0", self._write_app_secret)
        self._secret("SERVER_TRAFFIC_SECRET_0", self._read_app_secret)
        self._set_read_key(self._read_app_secret)
        verify_data = finished_verify_data(params, self._client_hs_secret, th)
        self._send_handshake(
            Finished(verify_data=verify_data).serialize(),
            "Finished",
            {"verify_data": verify_data.hex()},
        )
        self._set_write_key(self._write_app_secret)
        self._resumption_master = schedule.derive(b"res master", self._transcript.digest())
        self._complete(
            Negotiated(
                version=self._version,
                cipher_suite=params.suite,
                group=self._group,
                signature_scheme=self._scheme,
                server_name=self.config.server_name,
                resumed=self._resumed,
            )
        )

    def _on_new_session_ticket(self, body: bytes, raw: bytes) -> None:
        """Keep the ticket as a resumable Session (4.6.1), offered back as a PSK."""
        ticket = NewSessionTicket.parse(body)
        self._events.append(
            ev.HandshakeMessageReceived(
                "NewSessionTicket",
                len(raw),
                {"ticket_lifetime": ticket.ticket_lifetime, "ticket_size": len(ticket.ticket)},
            )
        )
        params = self._params
        assert params is not None
        psk = resumption_psk(params, self._resumption_master, ticket.ticket_nonce)
        session = Session(
            version=ProtocolVersion.TLSv1_3,
            cipher_suite=params.suite,
            secret=psk,
            server_name=self.config.server_name,
            ticket=ticket.ticket,
            ticket_age_add=ticket.ticket_age_add,
            ticket_lifetime=ticket.ticket_lifetime,
        )
        self._events.append(ev.SessionReceived(session))

    _TRANSITIONS: ClassVar[dict[tuple[State, int], Handler]] = {
        (State.WAIT_SH, HandshakeType.server_hello): _on_server_hello,
        (State.WAIT_EE, HandshakeType.encrypted_extensions): _on_encrypted_extensions,
        (State.WAIT_CERT, HandshakeType.certificate): _on_certificate,
        (State.WAIT_CV, HandshakeType.certificate_verify): _on_certificate_verify,
        (State.WAIT_FINISHED, HandshakeType.finished): _on_finished,
        (State.CONNECTED, HandshakeType.new_session_ticket): _on_new_session_ticket,
        (State.CONNECTED, HandshakeType.key_update): Connection._on_key_update,
    }
