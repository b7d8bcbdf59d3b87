"""What a client offers, and the ClientHello that says so (RFC 8446 4.1.2, RFC 5246 7.4.1.2).

One ClientHello serves both versions: TLS 1.2 extensions when TLS 1.2 is offered,
supported_versions and key_share when TLS 1.3 is. A HelloRetryRequest changes the key
shares and cookie, and the same offer is sent again.
"""

from __future__ import annotations

from tlssim.tls import early_data
from tlssim.tls.config import ClientConfig
from tlssim.tls.constants import CipherSuite, ExtensionType, ProtocolVersion
from tlssim.tls.core import ConnectionCore
from tlssim.tls.describe import client_hello_fields
from tlssim.tls.extensions import (
    Extension,
    encode_client_key_shares,
    encode_client_versions,
    encode_cookie,
    encode_server_name,
    encode_status_request,
    encode_uint16_list,
    index_extensions,
)
from tlssim.tls.keyexchange import SUPPORTED_GROUPS, KeyShare
from tlssim.tls.keyschedule import TLS13_SUITES, SuiteParams
from tlssim.tls.messages import ClientHello
from tlssim.tls.sessions import Session
from tlssim.tls.tickets import (
    PSK_DHE_KE,
    OfferedPsks,
    PskIdentity,
    compute_binder,
    encode_psk_modes,
    truncated_hello,
)
from tlssim.tls.tls12 import ALL_TLS12_SUITES
from tlssim.tls.versions import check_enabled

_RENEGOTIATION_INFO_EMPTY = b"\x00"
_EC_POINT_FORMATS_UNCOMPRESSED = b"\x01\x00"
PSK_MODES = Extension(ExtensionType.psk_key_exchange_modes, encode_psk_modes((PSK_DHE_KE,)))
_FALLBACK = (CipherSuite.TLS_FALLBACK_SCSV,)
#: A hello's extensions before key_share, by what they encode (see ``_leading_extensions``).
_LEADING: dict[tuple[object, ...], tuple[Extension, ...]] = {}
_LEADING_MAX = 64


class ClientOffer:
    """The versions, suites, key shares and session a client offers; validated up front."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        key: tuple[object, ...] | None = (
            config.versions,
            config.key_share_groups,
            config.supported_groups,
            config.cipher_suites,
            config.encrypt_then_mac,
        )
        try:
            plan = _PLANS.get(key)  # type: ignore[arg-type]
        except TypeError:  # a list where the config means a tuple: validated every time
            plan = key = None
        if plan is None:
            plan = _plan(config)
            if key is not None:
                if len(_PLANS) >= _PLANS_MAX:
                    _PLANS.clear()
                _PLANS[key] = plan
        (
            self.versions,
            self.tls13,
            self.tls12,
            self.legacy_version,
            self.suites,
            self.encrypt_then_mac,
        ) = plan
        self.session_id = b""
        self.shares: dict[int, KeyShare] = {}
        #: After a HelloRetryRequest: its cipher suite and cookie (4.1.4).
        self.retry_suite: CipherSuite | None = None
        self.cookie: bytes | None = None
        self.psk_session = self._usable_psk(config)
        self.psk_offered = False
        #: 0-RTT: planned when the session's ticket allows the config's early data; sent
        #: once the first ClientHello is out (see ``send_first``).
        self.early_data_planned = early_data.can_send(self.psk_session, config.early_data)
        self.early_data_sent = False
        #: The extension types of the last ClientHello: a server may answer only these (4.2).
        self.sent_extensions: frozenset[int] = frozenset()

    def _usable_psk(self, config: ClientConfig) -> Session | None:
        """The TLS 1.3 session to offer as a PSK, if it may be offered here (4.2.11)."""
        session = config.session
        if (
            session is None
            or not self.tls13
            or session.version != ProtocolVersion.TLSv1_3
            or not session.ticket
            or session.server_name != config.server_name
            or session.cipher_suite not in TLS13_SUITES
        ):
            return None
        hash_name = TLS13_SUITES[session.cipher_suite].hash_name
        if not any(
            s in TLS13_SUITES and TLS13_SUITES[s].hash_name == hash_name for s in self.suites
        ):
            return None
        return session

    def send_first(self, core: ConnectionCore) -> None:
        """Draw the random, session id and key shares, and queue the first ClientHello."""
        entropy = self.config.entropy
        core.client_random = entropy(32)
        session = self.config.session
        if (
            session is not None
            and session.version <= ProtocolVersion.TLSv1_2
            and self.tls12
            and session.session_id
        ):
            self.session_id = session.session_id
        elif self.config.compatibility_mode and self.tls13:
            self.session_id = entropy(32)
        if self.tls13:
            self.shares = {g: KeyShare(g, entropy) for g in self.config.key_share_groups}
        core.send_first_client_hello(self.hello(core))
        session = self.psk_session
        if self.early_data_planned and self.psk_offered and session is not None:
            early_data.send_early_data(
                core, session, self.config.early_data, self.config.compatibility_mode
            )
            self.early_data_sent = True

    def hello(self, core: ConnectionCore) -> bytes:
        """The ClientHello for the current offer, taken into the transcript and reported."""
        cfg = self.config
        exts = list(self._leading_extensions())
        shares = tuple([(g, s.public) for g, s in self.shares.items()])
        if self.tls13:
            exts.append(Extension(ExtensionType.key_share, encode_client_key_shares(shares)))
        if cfg.ask_replica:
            exts.append(Extension(ExtensionType.tlssim_replica, b""))
        if self.cookie is not None:
            exts.append(Extension(ExtensionType.cookie, encode_cookie(self.cookie)))
        if self.tls13 and cfg.client_certificate is not None:
            exts.append(Extension(ExtensionType.post_handshake_auth, b""))
        if self.tls13 and cfg.offer_psk_modes and self.psk_session is None:
            exts.append(PSK_MODES)
        if self.early_data_planned and self.retry_suite is None:
            # 4.2.10: never after a HelloRetryRequest; pre_shared_key still comes last
            exts.append(early_data.INDICATION)
        ch = ClientHello(
            legacy_version=self.legacy_version,
            random=core.client_random,
            legacy_session_id=self.session_id,
            cipher_suites=self.suites + _FALLBACK if cfg.fallback_scsv else self.suites,
            extensions=tuple(exts),
        )
        session = self.psk_session
        self.psk_offered = False
        if session is not None:
            params = TLS13_SUITES[session.cipher_suite]
            retry = self.retry_suite
            if retry is None or TLS13_SUITES[retry].hash_name == params.hash_name:
                ch = self._with_psk(core, ch, exts, session, params)
                self.psk_offered = True
        self.sent_extensions = frozenset(e.type for e in ch.extensions)
        raw = ch.serialize()
        # from the values encoded above, not decoded again (an empty one is decoded, and
        # refused there as before)
        fields = client_hello_fields(
            ch,
            index_extensions(ch.extensions),
            versions=self.versions or None,
            server_name=cfg.server_name or None,
            groups=cfg.supported_groups or None,
            shares=shares,
            schemes=cfg.signature_schemes or None,
        )
        core.send_handshake(raw, "ClientHello", fields)
        return raw

    def _leading_extensions(self) -> tuple[Extension, ...]:
        """The extensions before key_share: the same for every hello of a configuration,
        so encoded once per distinct set of their inputs."""
        cfg = self.config
        key: tuple[object, ...] | None = (
            cfg.server_name,
            cfg.supported_groups,
            cfg.signature_schemes,
            cfg.request_ocsp,
            self.tls12,
            self.encrypt_then_mac,
            self.versions if self.tls13 else None,
        )
        try:
            cached = _LEADING.get(key)  # type: ignore[arg-type]
        except TypeError:  # a list where the config means a tuple: encoded every time
            cached = key = None
        if cached is not None:
            return cached
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
        if self.tls12:
            exts += [
                Extension(ExtensionType.ec_point_formats, _EC_POINT_FORMATS_UNCOMPRESSED),
                Extension(ExtensionType.extended_master_secret, b""),
                Extension(ExtensionType.renegotiation_info, _RENEGOTIATION_INFO_EMPTY),
            ]
            if self.encrypt_then_mac:
                exts.append(Extension(ExtensionType.encrypt_then_mac, b""))
        if self.tls13:
            exts.append(
                Extension(ExtensionType.supported_versions, encode_client_versions(self.versions))
            )
        cached = tuple(exts)
        if key is not None:
            if len(_LEADING) >= _LEADING_MAX:
                _LEADING.clear()
            _LEADING[key] = cached
        return cached

    def _with_psk(
        self,
        core: ConnectionCore,
        ch: ClientHello,
        exts: list[Extension],
        session: Session,
        params: SuiteParams,
    ) -> ClientHello:
        """``ch`` plus psk_key_exchange_modes and pre_shared_key (last) with its binder."""
        age = (self.config.session_age_ms + session.ticket_age_add) % (1 << 32)
        identity = PskIdentity(session.ticket, age)
        placeholder = OfferedPsks((identity,), (bytes(params.hash_length),))
        modes = PSK_MODES

        def hello(offered: OfferedPsks) -> ClientHello:
            psk = Extension(ExtensionType.pre_shared_key, offered.encode())
            return ClientHello(
                random=ch.random,
                legacy_session_id=ch.legacy_session_id,
                cipher_suites=ch.cipher_suites,
                extensions=(*exts, modes, psk),
            )

        truncated = truncated_hello(hello(placeholder).serialize(), placeholder)
        transcript_hash = core.transcript.digest_with(truncated, params)
        binder = compute_binder(params, session.secret, transcript_hash)
        return hello(OfferedPsks((identity,), (binder,)))


_Plan = tuple[
    tuple[ProtocolVersion, ...], bool, bool, ProtocolVersion, tuple[CipherSuite, ...], bool
]
#: What a configuration offers (see ``_plan``), by the configuration's fields it comes from.
_PLANS: dict[tuple[object, ...], _Plan] = {}
_PLANS_MAX = 64


def _plan(config: ClientConfig) -> _Plan:
    """The versions, suites and legacy_version a configuration offers; validated."""
    versions = check_enabled(config.versions)
    tls13 = ProtocolVersion.TLSv1_3 in versions
    # TLS 1.2, or TLS 1.1 / 1.0 when configured: they share the TLS 1.2 handshake.
    tls12 = any(v <= ProtocolVersion.TLSv1_2 for v in versions)
    # ClientHello.legacy_version: the best version below TLS 1.3 we offer (TLS 1.2
    # when we offer only TLS 1.3, RFC 8446 4.1.2).
    legacy_version = max(
        (v for v in versions if v <= ProtocolVersion.TLSv1_2),
        default=ProtocolVersion.TLSv1_2,
    )
    if tls13:
        for group in config.key_share_groups:
            if group not in SUPPORTED_GROUPS or group not in config.supported_groups:
                raise ValueError(f"cannot send a key share for {group!r}")
    if any(s not in TLS13_SUITES and s not in ALL_TLS12_SUITES for s in config.cipher_suites):
        raise ValueError("cipher_suites must be TLS 1.3 or TLS 1.2 suites")
    suites = tuple(
        s
        for s in config.cipher_suites
        if (tls13 and s in TLS13_SUITES) or (tls12 and s in ALL_TLS12_SUITES)
    )
    # RFC 7366, asked for when a CBC suite is offered.
    encrypt_then_mac = config.encrypt_then_mac and any(
        s in ALL_TLS12_SUITES and ALL_TLS12_SUITES[s].is_cbc for s in suites
    )
    if not suites:
        if not tls12:
            raise ValueError("cipher_suites must be TLS 1.3 suites")
        raise ValueError("no cipher suite for the offered versions")
    return versions, tls13, tls12, legacy_version, suites, encrypt_then_mac
