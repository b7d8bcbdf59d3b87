"""Server state machine: TLS 1.3 (RFC 8446 appendix A.2) here, TLS 1.2 in ``server12``.

The ClientHello decides the version (``versions.server_select_version``); from then on the
connection dispatches through that version's transition table.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import ClassVar

from tlssim.tls import events as ev
from tlssim.tls.config import CertifiedKey, ServerConfig
from tlssim.tls.connection import Connection, Negotiated, State
from tlssim.tls.constants import (
    HELLO_RETRY_REQUEST_RANDOM,
    CipherSuite,
    ContentType,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
)
from tlssim.tls.describe import certificate_fields, client_hello_fields, server_hello_fields
from tlssim.tls.errors import (
    DecryptError,
    HandshakeFailure,
    IllegalParameter,
    MissingExtension,
    TLSError,
)
from tlssim.tls.extensions import (
    Extension,
    decode_client_key_shares,
    decode_server_name,
    decode_status_request,
    decode_uint16_list,
    encode_certificate_status,
    encode_server_key_share,
    encode_uint16,
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
    CertificateEntry,
    CertificateVerify,
    ClientHello,
    EncryptedExtensions,
    Finished,
    NewSessionTicket,
    ServerHello,
)
from tlssim.tls.server12 import ServerTLS12
from tlssim.tls.signatures import SERVER_CONTEXT, key_supports, sign, signed_content
from tlssim.tls.tickets import (
    MAX_TICKET_LIFETIME,
    PSK_DHE_KE,
    OfferedPsks,
    TicketContents,
    compute_binder,
    decode_psk_modes,
    open_ticket,
    seal_ticket,
    truncated_hello,
)
from tlssim.tls.tls12 import TLS12_SUITES
from tlssim.tls.versions import check_enabled, server_select_version

Handler = Callable[["ServerConnection", bytes, bytes], None]


class _Offer:
    """What a ClientHello offers, validated once."""

    __slots__ = (
        "groups",
        "hello",
        "psk_dhe_ke",
        "psks",
        "schemes",
        "server_name",
        "shares",
        "status_request",
    )

    def __init__(self, hello: ClientHello, exts: dict[int, bytes]) -> None:
        self.hello = hello
        for needed in (
            ExtensionType.supported_groups,
            ExtensionType.key_share,
            ExtensionType.signature_algorithms,
        ):
            if needed not in exts:
                raise MissingExtension(f"ClientHello without {ExtensionType(needed).name}")
        if hello.legacy_compression_methods != b"\x00":
            raise IllegalParameter("TLS 1.3 ClientHello must offer only null compression")
        self.groups = decode_uint16_list(exts[ExtensionType.supported_groups])
        self.shares = decode_client_key_shares(exts[ExtensionType.key_share])
        for group, _ in self.shares:
            if group not in self.groups:
                raise IllegalParameter("key share for a group not in supported_groups")
        self.schemes = tuple(
            SignatureScheme(s)
            for s in decode_uint16_list(exts[ExtensionType.signature_algorithms])
            if s in SignatureScheme._value2member_map_
        )
        name_ext = exts.get(ExtensionType.server_name)
        self.server_name = decode_server_name(name_ext) if name_ext is not None else None
        status = exts.get(ExtensionType.status_request)
        self.status_request = status is not None and decode_status_request(status)
        # pre_shared_key (4.2.11): the last extension, and only with psk_key_exchange_modes
        self.psks: OfferedPsks | None = None
        self.psk_dhe_ke = False
        psk_body = exts.get(ExtensionType.pre_shared_key)
        if psk_body is not None:
            if hello.extensions[-1].type != ExtensionType.pre_shared_key:
                raise IllegalParameter("pre_shared_key is not the last extension")
            modes = exts.get(ExtensionType.psk_key_exchange_modes)
            if modes is None:
                raise MissingExtension("pre_shared_key without psk_key_exchange_modes")
            self.psks = OfferedPsks.decode(psk_body)
            self.psk_dhe_ke = PSK_DHE_KE in decode_psk_modes(modes)


class _AcceptedPsk:
    """The offered identity the server resumes (its index) and what its ticket held."""

    __slots__ = ("contents", "index")

    def __init__(self, index: int, contents: TicketContents) -> None:
        self.index = index
        self.contents = contents


class ServerConnection(ServerTLS12):
    """The server side: waits for a ClientHello, then answers in one flight."""

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(config.entropy)
        check_enabled(config.versions)
        if not config.cipher_suites or any(
            s not in TLS13_SUITES and s not in TLS12_SUITES for s in config.cipher_suites
        ):
            raise ValueError("cipher_suites must be TLS 1.3 or TLS 1.2 AEAD suites")
        if config.ticket_key is not None and len(config.ticket_key) != 32:
            raise ValueError("ticket_key must be 32 bytes")
        if not 0 < config.ticket_lifetime <= MAX_TICKET_LIFETIME:
            raise ValueError("ticket_lifetime must be 1..604800 seconds (RFC 8446 4.6.1)")
        self.config = config
        self._init_tls12()
        self._state = State.WAIT_CH
        self._version = ProtocolVersion.TLSv1_3
        self._certified: CertifiedKey | None = None
        self._scheme: SignatureScheme | None = None
        self._group: NamedGroup | None = None
        self._hrr_group: NamedGroup | None = None
        self._server_name: str | None = None
        self._client_hs_secret = b""

    def start(self) -> list[ev.Event]:
        """Nothing to send first; present for symmetry with the client."""
        return []

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

    # -- ClientHello ----------------------------------------------------------------------

    def _parse_hello(self, body: bytes) -> tuple[ClientHello, dict[int, bytes]]:
        hello = ClientHello.parse(body)
        exts = index_extensions(hello.extensions)
        self._version = server_select_version(exts, hello.legacy_version, self.config.versions)
        self._peer_hello_seen = True
        return hello, exts

    def _on_client_hello(self, body: bytes, raw: bytes) -> None:
        hello, exts = self._parse_hello(body)
        if self._version == ProtocolVersion.TLSv1_2:
            self._answer_tls12(hello, exts, raw)
            return
        offer = _Offer(hello, exts)
        self._client_random = offer.hello.random
        suite = next(
            (
                s
                for s in self.config.cipher_suites
                if s in offer.hello.cipher_suites and s in TLS13_SUITES
            ),
            None,
        )
        if suite is None:
            raise HandshakeFailure("no common cipher suite")
        self._params = params = TLS13_SUITES[suite]
        self._server_name = offer.server_name
        share = next((s for s in offer.shares if s[0] in self._server_groups()), None)
        psk: _AcceptedPsk | None = None
        if share is not None:  # after a HelloRetryRequest the second ClientHello decides
            candidates = tuple(
                TLS13_SUITES[s]
                for s in self.config.cipher_suites
                if s in offer.hello.cipher_suites and s in TLS13_SUITES
            )
            psk, psk_params = self._accept_psk(offer, raw, candidates)
            if psk is not None:
                self._params = params = psk_params
        if psk is None:
            self._select_certificate(offer)
        self._transcript.add(raw)
        self._transcript.start(params)
        self._events_received_hello(raw, offer, exts)
        if share is None:
            group = next((g for g in self._server_groups() if g in offer.groups), None)
            if group is None:
                raise HandshakeFailure("no common key exchange group")
            self._send_hello_retry_request(offer, NamedGroup(group), params)
            return
        self._answer(offer, NamedGroup(share[0]), share[1], params, psk)

    def _on_client_hello_2(self, body: bytes, raw: bytes) -> None:
        hello, exts = self._parse_hello(body)
        if self._version != ProtocolVersion.TLSv1_3:
            raise IllegalParameter("second ClientHello changed the version")
        offer = _Offer(hello, exts)
        assert self._params is not None and self._hrr_group is not None
        if offer.hello.random != self._client_random:
            raise IllegalParameter("second ClientHello changed the random")
        if self._params.suite not in offer.hello.cipher_suites:
            raise IllegalParameter("second ClientHello dropped the selected cipher suite")
        if len(offer.shares) != 1 or offer.shares[0][0] != self._hrr_group:
            raise IllegalParameter("second ClientHello must carry only the requested share")
        psk, _ = self._accept_psk(offer, raw, (self._params,))
        self._transcript.add(raw)
        self._events_received_hello(raw, offer, exts)
        self._answer(offer, self._hrr_group, offer.shares[0][1], self._params, psk)

    def _accept_psk(
        self, offer: _Offer, raw: bytes, candidates: tuple[SuiteParams, ...]
    ) -> tuple[_AcceptedPsk | None, SuiteParams]:
        """The first offered ticket we sealed that fits, with the suite to use (4.2.11).

        A ticket that does not open (another key, tampered), is for another SNI, too old by
        the client's account, or whose hash fits no common suite is skipped: a full
        handshake follows. The chosen one's binder must verify, else decrypt_error.
        """
        key = self.config.ticket_key
        fallback = candidates[0]
        if key is None or offer.psks is None or not offer.psk_dhe_ke:
            return None, fallback
        for index, identity in enumerate(offer.psks.identities):
            contents = open_ticket(key, identity.identity)
            if (
                contents is None
                or contents.server_name != offer.server_name
                or contents.cipher_suite not in TLS13_SUITES
                or not contents.age_is_acceptable(identity.obfuscated_ticket_age)
            ):
                continue
            hash_name = TLS13_SUITES[contents.cipher_suite].hash_name
            params = next((p for p in candidates if p.hash_name == hash_name), None)
            if params is None or len(contents.psk) != params.hash_length:
                continue
            truncated = truncated_hello(raw, offer.psks)
            expected = compute_binder(
                params, contents.psk, self._transcript.digest_with(truncated, params)
            )
            if not hmac.compare_digest(expected, offer.psks.binders[index]):
                raise DecryptError("PSK binder does not verify")
            return _AcceptedPsk(index, contents), params
        return None, fallback

    def _events_received_hello(self, raw: bytes, offer: _Offer, exts: dict[int, bytes]) -> None:
        self._events.append(
            ev.HandshakeMessageReceived(
                "ClientHello", len(raw), client_hello_fields(offer.hello, exts)
            )
        )

    def _server_groups(self) -> tuple[int, ...]:
        return tuple(g for g in self.config.supported_groups if g in SUPPORTED_GROUPS)

    def _select_certificate(self, offer: _Offer) -> None:
        try:
            certified = self.config.certificate_selector(offer.server_name, offer.schemes)
        except TLSError:
            raise
        except Exception as exc:
            raise HandshakeFailure(f"certificate selection failed: {exc!r}") from exc
        scheme = next(
            (
                s
                for s in offer.schemes
                if s in self.config.signature_schemes and key_supports(certified.private_key, s)
            ),
            None,
        )
        if scheme is None or not certified.chain:
            raise HandshakeFailure("no signature scheme fits the certificate key")
        self._certified = certified
        self._scheme = scheme

    def _send_hello_retry_request(
        self, offer: _Offer, group: NamedGroup, params: SuiteParams
    ) -> None:
        self._transcript.replace_with_message_hash(params)
        exts = (
            Extension(ExtensionType.supported_versions, encode_uint16(self._version)),
            Extension(ExtensionType.key_share, encode_uint16(group)),
        )
        hrr = ServerHello(
            random=HELLO_RETRY_REQUEST_RANDOM,
            legacy_session_id_echo=offer.hello.legacy_session_id,
            cipher_suite=params.suite,
            extensions=exts,
        )
        raw = hrr.serialize()
        self._send_handshake(
            raw, "HelloRetryRequest", server_hello_fields(hrr, index_extensions(exts), group)
        )
        self._flush_handshake()
        if offer.hello.legacy_session_id:
            self._send_compat_ccs()
        self._hrr_group = group
        self._state = State.WAIT_CH2

    # -- the server flight ----------------------------------------------------------------

    def _answer(
        self,
        offer: _Offer,
        group: NamedGroup,
        client_public: bytes,
        params: SuiteParams,
        psk: _AcceptedPsk | None = None,
    ) -> None:
        entropy = self.config.entropy
        random = entropy(32)
        share = KeyShare(group, entropy)
        shared = share.exchange(client_public)
        self._group = group
        exts: tuple[Extension, ...] = (
            Extension(ExtensionType.key_share, encode_server_key_share(group, share.public)),
            Extension(ExtensionType.supported_versions, encode_uint16(self._version)),
        )
        if psk is not None:
            self._resumed = True
            self._scheme = None
            exts += (Extension(ExtensionType.pre_shared_key, encode_uint16(psk.index)),)
        sh = ServerHello(
            random=random,
            legacy_session_id_echo=offer.hello.legacy_session_id,
            cipher_suite=params.suite,
            extensions=exts,
        )
        fields = server_hello_fields(sh, index_extensions(exts), group)
        if psk is not None:
            fields["selected_identity"] = psk.index
            fields["resumed"] = True
        self._send_handshake(sh.serialize(), "ServerHello", fields)
        self._flush_handshake()
        if offer.hello.legacy_session_id:
            self._send_compat_ccs()

        self._schedule = schedule = KeySchedule(params, None if psk is None else psk.contents.psk)
        schedule.enter_handshake(shared)
        th = self._transcript.digest()
        self._client_hs_secret = schedule.derive(b"c hs traffic", th)
        server_hs_secret = schedule.derive(b"s hs traffic", th)
        self._secret("CLIENT_HANDSHAKE_TRAFFIC_SECRET", self._client_hs_secret)
        self._secret("SERVER_HANDSHAKE_TRAFFIC_SECRET", server_hs_secret)
        self._set_write_key(server_hs_secret)

        ee_exts: tuple[Extension, ...] = ()
        if offer.server_name is not None and psk is None:
            ee_exts = (Extension(ExtensionType.server_name, b""),)
        self._send_handshake(
            EncryptedExtensions(extensions=ee_exts).serialize(),
            "EncryptedExtensions",
            {"extensions": [ExtensionType(e.type).name for e in ee_exts]},
        )
        if psk is None:
            self._send_certificate(offer)
        self._send_finished_and_keys(params, server_hs_secret)

    def _send_certificate(self, offer: _Offer) -> None:
        certified, scheme = self._certified, self._scheme
        assert certified is not None and scheme is not None
        staple = certified.ocsp_response if offer.status_request else None
        entries = [CertificateEntry(cert_data=der) for der in certified.chain]
        if staple is not None:
            status = Extension(ExtensionType.status_request, encode_certificate_status(staple))
            entries[0] = CertificateEntry(cert_data=certified.chain[0], extensions=(status,))
        cert = Certificate(entries=tuple(entries))
        self._send_handshake(cert.serialize(), "Certificate", certificate_fields(cert, staple))

        content = signed_content(SERVER_CONTEXT, self._transcript.digest())
        cv = CertificateVerify(
            algorithm=scheme, signature=sign(certified.private_key, scheme, content)
        )
        self._send_handshake(cv.serialize(), "CertificateVerify", {"signature_scheme": scheme.name})

    def _send_finished_and_keys(self, params: SuiteParams, server_hs_secret: bytes) -> None:
        schedule = self._schedule
        assert schedule is not None
        verify_data = finished_verify_data(params, server_hs_secret, self._transcript.digest())
        self._send_handshake(
            Finished(verify_data=verify_data).serialize(),
            "Finished",
            {"verify_data": verify_data.hex()},
        )
        schedule.enter_master()
        th = self._transcript.digest()
        self._read_app_secret = schedule.derive(b"c ap traffic", th)
        self._write_app_secret = schedule.derive(b"s ap traffic", th)
        self._secret("CLIENT_TRAFFIC_SECRET_0", self._read_app_secret)
        self._secret("SERVER_TRAFFIC_SECRET_0", self._write_app_secret)
        self._set_write_key(self._write_app_secret)
        self._set_read_key(self._client_hs_secret)
        self._state = State.WAIT_FINISHED

    def _on_finished(self, body: bytes, raw: bytes) -> None:
        fin = Finished.parse(body)
        assert self._params is not None
        expected = finished_verify_data(
            self._params, self._client_hs_secret, self._transcript.digest()
        )
        if not hmac.compare_digest(expected, fin.verify_data):
            raise DecryptError("client Finished does not verify")
        self._received(raw, "Finished", {"verify_data": fin.verify_data.hex()})
        self._set_read_key(self._read_app_secret)
        self._complete(
            Negotiated(
                version=self._version,
                cipher_suite=CipherSuite(self._params.suite),
                group=self._group,
                signature_scheme=self._scheme,
                server_name=self._server_name,
                resumed=self._resumed,
            )
        )
        if self.config.ticket_key is not None:
            self._send_new_session_ticket(self.config.ticket_key)

    def _send_new_session_ticket(self, ticket_key: bytes) -> None:
        """One self-contained ticket after the client's Finished (4.6.1)."""
        params, schedule = self._params, self._schedule
        assert params is not None and schedule is not None
        resumption_master = schedule.derive(b"res master", self._transcript.digest())
        ticket_nonce = b"\x00"  # one ticket per connection
        entropy = self.config.entropy
        seal_nonce = entropy(12)
        age_add = int.from_bytes(entropy(4), "big")
        lifetime = self.config.ticket_lifetime
        contents = TicketContents(
            cipher_suite=params.suite,
            psk=resumption_psk(params, resumption_master, ticket_nonce),
            server_name=self._server_name,
            ticket_age_add=age_add,
            ticket_lifetime=lifetime,
        )
        nst = NewSessionTicket(
            ticket_lifetime=lifetime,
            ticket_age_add=age_add,
            ticket_nonce=ticket_nonce,
            ticket=seal_ticket(ticket_key, seal_nonce, contents),
        )
        raw = nst.serialize()
        self._records.write(ContentType.handshake, raw)
        self._events.append(
            ev.HandshakeMessageSent(
                "NewSessionTicket",
                len(raw),
                {"ticket_lifetime": lifetime, "ticket_size": len(nst.ticket)},
            )
        )

    _TRANSITIONS: ClassVar[dict[tuple[State, int], Handler]] = {
        (State.WAIT_CH, HandshakeType.client_hello): _on_client_hello,
        (State.WAIT_CH2, HandshakeType.client_hello): _on_client_hello_2,
        (State.WAIT_FINISHED, HandshakeType.finished): _on_finished,
        (State.CONNECTED, HandshakeType.key_update): Connection._on_key_update,
    }
