"""Every formula and fact the walkthrough states (report/walkthrough.py CLAIMS), recomputed
from a real handshake of the engine's client with a server (ours in memory, or OpenSSL's or
GnuTLS's) out of the handshake's own values: the bytes on the wire, the key log and the
client's entropy draws. The recomputation uses `cryptography`'s primitives and the RFCs'
formulas written out here, not the engine's key schedule, PRF or record layer.

Each test names the claims it checks (`@checks`); docs/conformance.md has a row per claim
with its clause and these tests, and the last tests hold the three together."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from tlssim.net.used_tickets import UsedTickets
from tlssim.pki.throwaway import make_ca, make_leaf
from tlssim.report.model import Direction, Report, Step
from tlssim.report.walkthrough import CLAIMS, Context, cited, key_schedule_cited
from tlssim.tls import (
    CertifiedKey,
    CipherSuite,
    ClientConfig,
    ClientConnection,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    events,
)
from tlssim.tls.anti_replay import EarlyDataSettings
from tlssim.tls.constants import NamedGroup
from tlssim.tls.sessions import SessionCache

from .tlshelpers import HOST, counter_entropy, pki, selector_for

ROOT = Path(__file__).resolve().parents[2]
F = TypeVar("F", bound=Callable[..., None])
#: claim id -> the tests that recompute it
TESTED: dict[str, list[str]] = {}


def checks(*claims: str) -> Callable[[F], F]:
    def mark(test: F) -> F:
        for claim in claims:
            assert claim in CLAIMS, claim
            TESTED.setdefault(claim, []).append(test.__name__)
        return test

    return mark


# -- RFC 8446 7.1 and RFC 5246 5, written out ---------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hmac256(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac256(salt or bytes(32), ikm)


def expand_label(secret: bytes, label: str, context: bytes, length: int) -> bytes:
    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)])
    return HKDFExpand(hashes.SHA256(), length, info + context).derive(secret)


def derive_secret(secret: bytes, label: str, messages: bytes) -> bytes:
    return expand_label(secret, label, sha256(messages), 32)


def p_sha256(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """The TLS 1.2 PRF (RFC 5246 5): P_SHA256(secret, label + seed)."""
    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac256(secret, a)
        out += hmac256(secret, a + seed)
    return out[:length]


# -- the wire, read here --------------------------------------------------------------------


def records(stream: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(content type, header, fragment) of each record."""
    at = 0
    while at + 5 <= len(stream):
        length = int.from_bytes(stream[at + 3 : at + 5], "big")
        yield stream[at], stream[at : at + 5], stream[at + 5 : at + 5 + length]
        at += 5 + length


def messages(body: bytes) -> list[bytes]:
    out = []
    while len(body) >= 4:
        length = 4 + int.from_bytes(body[1:4], "big")
        out.append(body[:length])
        body = body[length:]
    return out


def extensions(data: bytes) -> dict[int, bytes]:
    out, at = {}, 2
    while at + 4 <= len(data):
        kind, length = (
            int.from_bytes(data[at : at + 2], "big"),
            int.from_bytes(data[at + 2 : at + 4], "big"),
        )
        out[kind] = data[at + 4 : at + 4 + length]
        at += 4 + length
    return out


def hello_extensions(message: bytes) -> dict[int, bytes]:
    """The extensions of a ClientHello or ServerHello (header included in `message`)."""
    body = message[4:]
    at = 2 + 32
    at += 1 + body[at]  # session id
    if message[0] == 1:  # ClientHello: suites, compression methods
        at += 2 + int.from_bytes(body[at : at + 2], "big")
        at += 1 + body[at]
    else:
        at += 2 + 1
    return extensions(body[at:])


class Opener13:
    """Opens one direction's TLS 1.3 records (AES-128-GCM) under the traffic secrets
    given in turn: each starts at sequence 0; a record that does not open under the
    current one is tried under the next."""

    def __init__(self, secrets: list[bytes]) -> None:
        self.keys = [
            (expand_label(s, "key", b"", 16), expand_label(s, "iv", b"", 12)) for s in secrets
        ]
        self.seq = 0

    def open(self, header: bytes, fragment: bytes) -> tuple[int, bytes]:
        while self.keys:
            key, iv = self.keys[0]
            nonce = bytes(a ^ b for a, b in zip(iv, self.seq.to_bytes(12, "big"), strict=True))
            try:
                inner = AESGCM(key).decrypt(nonce, fragment, header)
            except Exception:
                self.keys.pop(0)
                self.seq = 0
                continue
            self.seq += 1
            inner = inner.rstrip(b"\0")
            return inner[-1], inner[:-1]
        raise AssertionError("a record opens under none of the secrets")


def handshake13(stream: bytes, secrets: list[bytes]) -> list[bytes]:
    """Every handshake message of one TLS 1.3 direction, plaintext and protected."""
    opener = Opener13(secrets)
    body = b""
    for kind, header, fragment in records(stream):
        if kind == 22:
            body += fragment
        elif kind == 23:
            inner, content = opener.open(header, fragment)
            if inner == 22:
                body += content
    return messages(body)


# -- handshakes -----------------------------------------------------------------------------


@dataclass
class Run:
    """One connection: both directions' bytes, the key log and the client's entropy draws."""

    sent: bytes = b""
    received: bytes = b""
    client_events: list[events.Event] = field(default_factory=list)
    draws: list[bytes] = field(default_factory=list)
    name: str = "first"  # another name, other entropy

    def secret(self, label: str) -> bytes:
        found = [
            e.secret
            for e in self.client_events
            if isinstance(e, events.SecretDerived) and e.label == label
        ]
        assert len(found) == 1, (label, found)
        return found[0]

    def entropy(self, seed: bytes) -> Callable[[int], bytes]:
        base = counter_entropy(seed + self.name.encode())

        def draw(n: int) -> bytes:
            out = base(n)
            self.draws.append(out)
            return out

        return draw

    def x25519_key(self, public: bytes) -> x25519.X25519PrivateKey:
        """The private key behind one of the client's X25519 shares: the draw whose public
        key it is (RFC 7748: the 32 bytes are the scalar)."""
        for draw in self.draws:
            if len(draw) == 32:
                key = x25519.X25519PrivateKey.from_private_bytes(draw)
                if key.public_key().public_bytes_raw() == public:
                    return key
        raise AssertionError("no entropy draw gives that public key")


def pump(run: Run, client: ClientConnection, server: ServerConnection) -> Run:
    run.client_events += client.start()
    for _ in range(30):
        out = client.data_to_send()
        run.sent += out
        if out:
            server.receive_data(out)
        back = server.data_to_send()
        run.received += back
        if back:
            new = client.receive_data(back)
            run.client_events += new
            if any(isinstance(e, events.CertificateReceived) for e in new):
                run.client_events += client.accept_certificate()
        if not out and not back:
            break
    return run


SUITE13 = CipherSuite.TLS_AES_128_GCM_SHA256
TICKET_KEY = bytes(range(32))


def server13(**kw: object) -> ServerConnection:
    return ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"server"),
            certificate_selector=selector_for(pki().keys["ecdsa"]),
            **kw,  # type: ignore[arg-type]
        )
    )


def tls13(run: Run, server: ServerConnection | None = None, **kw: object) -> Run:
    groups: dict[str, object] = {
        "supported_groups": (NamedGroup.x25519,),
        "key_share_groups": (NamedGroup.x25519,),
    }
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=run.entropy(b"client13"),
            versions=(ProtocolVersion.TLSv1_3,),
            cipher_suites=(SUITE13,),
            **(groups | kw),  # type: ignore[arg-type]
        )
    )
    pump(run, client, server or server13())
    assert any(isinstance(e, events.HandshakeComplete) for e in run.client_events)
    return run


@dataclass
class Transcript13:
    run: Run
    client: list[bytes]
    server: list[bytes]

    @classmethod
    def of(cls, run: Run) -> Transcript13:
        client = handshake13(
            run.sent,
            [run.secret("CLIENT_HANDSHAKE_TRAFFIC_SECRET"), run.secret("CLIENT_TRAFFIC_SECRET_0")],
        )
        server = handshake13(
            run.received,
            [run.secret("SERVER_HANDSHAKE_TRAFFIC_SECRET"), run.secret("SERVER_TRAFFIC_SECRET_0")],
        )
        return cls(run, client, server)

    def named(self, kind: int, side: str = "server") -> bytes:
        (found,) = [m for m in (self.server if side == "server" else self.client) if m[0] == kind]
        return found

    def shared_secret(self) -> bytes:
        hello = [m for m in self.client if m[0] == 1][-1]
        server_hello = [m for m in self.server if m[0] == 2][-1]
        shares = hello_extensions(hello)[51]
        at, mine = 2, b""
        while at < len(shares):
            group, length = (
                int.from_bytes(shares[at : at + 2], "big"),
                int.from_bytes(shares[at + 2 : at + 4], "big"),
            )
            if group == NamedGroup.x25519:
                mine = shares[at + 4 : at + 4 + length]
            at += 4 + length
        theirs = hello_extensions(server_hello)[51][4:]
        key = self.run.x25519_key(mine)
        return key.exchange(x25519.X25519PublicKey.from_public_bytes(theirs))


def up_to(transcript: list[bytes], last: bytes) -> bytes:
    return b"".join(transcript[: transcript.index(last) + 1])


def ordered(t: Transcript13) -> list[bytes]:
    """The handshake transcript in protocol order (full handshake, no HelloRetryRequest):
    ClientHello, the server's flight, then the client's."""
    return [t.client[0], *[m for m in t.server if m[0] != 4], *t.client[1:]]


@checks(
    "tls13-key-share",
    "tls13-ecdhe",
    "tls13-handshake-secret",
    "tls13-application-secret",
    "tls13-encrypted-extensions",
    "tls13-finished",
    "tls13-certificate-verify",
    "tls13-compatibility-ccs",
)
def test_tls13_key_schedule_finished_and_certificate_verify() -> None:
    run = tls13(Run())
    t = Transcript13.of(run)
    # One change_cipher_spec record each way (a single byte, 1), ignored by the key
    # schedule: every protected record opened under the traffic secrets alone.
    for stream in (run.sent, run.received):
        assert [f for k, _, f in records(stream) if k == 20] == [b"\x01"]
    flow = ordered(t)
    hello, server_hello = flow[0], flow[1]
    assert [m[0] for m in flow] == [1, 2, 8, 11, 15, 20, 20]  # EE first under the key

    # The key share is an ephemeral X25519 public key of the client's own draw.
    shared = t.shared_secret()
    early = hkdf_extract(b"", bytes(32))
    handshake = hkdf_extract(derive_secret(early, "derived", b""), shared)
    hellos = hello + server_hello
    assert derive_secret(handshake, "c hs traffic", hellos) == run.secret(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
    )
    assert derive_secret(handshake, "s hs traffic", hellos) == run.secret(
        "SERVER_HANDSHAKE_TRAFFIC_SECRET"
    )
    master = hkdf_extract(derive_secret(handshake, "derived", b""), bytes(32))
    server_finished = flow[5]
    through_server_finished = up_to(flow, server_finished)
    assert derive_secret(master, "c ap traffic", through_server_finished) == run.secret(
        "CLIENT_TRAFFIC_SECRET_0"
    )
    assert derive_secret(master, "s ap traffic", through_server_finished) == run.secret(
        "SERVER_TRAFFIC_SECRET_0"
    )

    # CertificateVerify: 64 spaces, the context string, a zero byte, the transcript hash.
    certificate, verify = flow[3], flow[4]
    body = certificate[4:]
    first = body[1 + body[0] + 3 :]
    leaf = x509.load_der_x509_certificate(first[3 : 3 + int.from_bytes(first[:3], "big")])
    scheme, signature = verify[4:6], verify[8:]
    assert scheme == b"\x04\x03"  # ecdsa_secp256r1_sha256
    content = b" " * 64 + b"TLS 1.3, server CertificateVerify" + b"\0"
    content += sha256(up_to(flow, certificate))
    public = leaf.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, content, ec.ECDSA(hashes.SHA256()))

    # Finished = HMAC(finished_key, transcript hash), finished_key from the side's secret.
    server_key = expand_label(run.secret("SERVER_HANDSHAKE_TRAFFIC_SECRET"), "finished", b"", 32)
    assert server_finished[4:] == hmac256(server_key, sha256(up_to(flow, verify)))
    client_key = expand_label(run.secret("CLIENT_HANDSHAKE_TRAFFIC_SECRET"), "finished", b"", 32)
    client_finished = flow[6]
    assert client_finished[4:] == hmac256(client_key, sha256(through_server_finished))


@checks("tls13-hello-retry")
def test_tls13_hello_retry_request_puts_message_hash_in_the_transcript() -> None:
    # The client shares secp256r1 only; the server takes x25519 alone: a HelloRetryRequest.
    server = server13(supported_groups=(NamedGroup.x25519,))
    run = tls13(
        Run(),
        server,
        supported_groups=(NamedGroup.secp256r1, NamedGroup.x25519),
        key_share_groups=(NamedGroup.secp256r1,),
    )
    t = Transcript13.of(run)
    first_hello, retry, second_hello = t.client[0], t.server[0], t.client[1]
    assert retry[6:38] == sha256(b"HelloRetryRequest")  # its special random
    server_hello = t.server[1]
    message_hash = b"\xfe\0\0\x20" + sha256(first_hello)
    shared = t.shared_secret()
    early = hkdf_extract(b"", bytes(32))
    handshake = hkdf_extract(derive_secret(early, "derived", b""), shared)
    transcript = message_hash + retry + second_hello + server_hello
    assert derive_secret(handshake, "c hs traffic", transcript) == run.secret(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
    )
    # Not the first ClientHello itself.
    literal = first_hello + retry + second_hello + server_hello
    assert derive_secret(handshake, "c hs traffic", literal) != run.secret(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
    )


@checks(
    "tls13-ticket",
    "tls13-psk-binder",
    "tls13-early-secret",
    "tls13-early-data",
    "tls13-end-of-early-data",
)
def test_tls13_resumption_psk_binder_and_early_traffic_secret() -> None:
    early_data = EarlyDataSettings(max_size=1024, used_tickets=UsedTickets())
    first = tls13(Run(), server13(ticket_key=TICKET_KEY, early_data=early_data))
    t = Transcript13.of(first)
    flow = ordered(t)
    (ticket,) = [m for m in t.server if m[0] == 4]
    (session,) = [e for e in first.client_events if isinstance(e, events.SessionReceived)]

    # PSK = HKDF-Expand-Label(resumption master secret, "resumption", ticket_nonce).
    shared = t.shared_secret()
    early = hkdf_extract(b"", bytes(32))
    handshake = hkdf_extract(derive_secret(early, "derived", b""), shared)
    master = hkdf_extract(derive_secret(handshake, "derived", b""), bytes(32))
    resumption = derive_secret(master, "res master", b"".join(flow))
    body = ticket[4:]
    nonce = body[9 : 9 + body[8]]
    psk = expand_label(resumption, "resumption", nonce, 32)

    second = Run(name="second")
    data = b"GET /early HTTP/1.1\r\n\r\n"
    tls13(
        second,
        server13(ticket_key=TICKET_KEY, early_data=early_data),
        session=session.session,
        early_data=data,
    )
    hello = messages(next(f for k, _, f in records(second.sent) if k == 22))[0]
    # The binder: HMAC(finished key of Derive-Secret(early, "res binder", ""), hash of the
    # ClientHello up to the binders list).
    resumed_early = hkdf_extract(b"", psk)
    binder_key = derive_secret(resumed_early, "res binder", b"")
    finished_key = expand_label(binder_key, "finished", b"", 32)
    psk_extension = hello_extensions(hello)[41]
    identities = int.from_bytes(psk_extension[:2], "big")
    binders = psk_extension[2 + identities :]
    truncated = hello[: len(hello) - len(binders)]
    assert binders[3:] == hmac256(finished_key, sha256(truncated))

    # The early traffic secret: Derive-Secret(early secret, "c e traffic", ClientHello); the
    # 0-RTT records right behind the ClientHello open under it, EndOfEarlyData last.
    early_secret = derive_secret(resumed_early, "c e traffic", hello)
    assert early_secret == second.secret("CLIENT_EARLY_TRAFFIC_SECRET")
    opener = Opener13([early_secret])
    protected = ((h, f) for k, h, f in records(second.sent) if k == 23)
    opened = [opener.open(*next(protected)) for _ in range(2)]
    assert opened[0] == (23, data)
    assert opened[1][0] == 22 and opened[1][1][0] == 5  # EndOfEarlyData
    assert any(isinstance(e, events.EarlyDataAnswered) and e.accepted for e in second.client_events)


# -- TLS 1.2 ----------------------------------------------------------------------------------


def server12(kind: str = "ecdsa", **kw: object) -> ServerConnection:
    return ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"server12"),
            certificate_selector=selector_for(pki().keys[kind]),
            **kw,  # type: ignore[arg-type]
        )
    )


def tls12(run: Run, suite: CipherSuite, server: ServerConnection, **kw: object) -> Run:
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=run.entropy(b"client12"),
            versions=(ProtocolVersion.TLSv1_2,),
            cipher_suites=(suite,),
            supported_groups=(NamedGroup.x25519,),
            **kw,  # type: ignore[arg-type]
        )
    )
    pump(run, client, server)
    assert any(isinstance(e, events.HandshakeComplete) for e in run.client_events)
    return run


@dataclass
class Flight12:
    client: list[bytes]  # plaintext handshake messages before ChangeCipherSpec
    server: list[bytes]
    client_sealed: bytes  # the first protected record's fragment
    server_sealed: bytes
    client_header: bytes
    server_header: bytes

    @classmethod
    def of(cls, run: Run) -> Flight12:
        parts = []
        for stream in (run.sent, run.received):
            body, sealed, header, changed = b"", b"", b"", False
            for kind, head, fragment in records(stream):
                if kind == 20:
                    changed = True
                elif changed and not sealed:
                    sealed, header = fragment, head
                elif kind == 22 and not changed:
                    body += fragment
            parts.append((messages(body), sealed, header))
        (c, cs, ch), (s, ss, sh) = parts
        return cls(c, s, cs, ss, ch, sh)


def open12(key: bytes, salt: bytes, seq: int, header: bytes, fragment: bytes) -> bytes:
    """AES-GCM TLS 1.2 record (RFC 5288): nonce = salt + explicit 8 bytes; AAD = seq +
    type + version + plaintext length."""
    explicit, sealed = fragment[:8], fragment[8:]
    length = len(sealed) - 16
    aad = seq.to_bytes(8, "big") + header[:3] + length.to_bytes(2, "big")
    return AESGCM(key).decrypt(salt + explicit, sealed, aad)


def check_finished12(run: Run, flight: Flight12, master: bytes) -> None:
    """key block = PRF(master, "key expansion", server random + client random); each side's
    Finished = PRF(master, "<side> finished", hash of the handshake messages)[:12]."""
    client_random, server_random = flight.client[0][6:38], flight.server[0][6:38]
    block = p_sha256(master, b"key expansion", server_random + client_random, 40)
    client_key, server_key, client_salt, server_salt = (
        block[:16],
        block[16:32],
        block[32:36],
        block[36:40],
    )
    client_finished = open12(client_key, client_salt, 0, flight.client_header, flight.client_sealed)
    assert client_finished[:4] == b"\x14\0\0\x0c"
    so_far = b"".join([*flight.client[:1], *flight.server, *flight.client[1:]])
    expected = p_sha256(master, b"client finished", sha256(so_far), 12)
    assert client_finished[4:] == expected
    server_finished = open12(server_key, server_salt, 0, flight.server_header, flight.server_sealed)
    so_far += client_finished
    # A NewSessionTicket, when sent, comes before the server's ChangeCipherSpec.
    tickets = [m for m in messages(_after_server_done(run.received)) if m[0] == 4]
    so_far += b"".join(tickets)
    assert server_finished[4:] == p_sha256(master, b"server finished", sha256(so_far), 12)


def _after_server_done(stream: bytes) -> bytes:
    body, seen_done = b"", False
    for kind, _, fragment in records(stream):
        if kind == 20:
            break
        if kind == 22:
            if seen_done:
                body += fragment
            seen_done = seen_done or b"\x0e\0\0\0" in fragment
    return body


@checks(
    "tls12-ecdhe-premaster",
    "tls12-server-key-exchange",
    "tls12-extended-master-secret",
    "tls12-key-block",
    "tls12-change-cipher-spec",
    "tls12-finished",
)
def test_tls12_ecdhe_with_extended_master_secret() -> None:
    suite = CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    run = tls12(Run(), suite, server12())
    flight = Flight12.of(run)
    hello, key_exchange = flight.client
    server_hello, certificate, server_key_exchange, _done = flight.server
    assert 23 in hello_extensions(server_hello)  # extended_master_secret, both ways

    # ServerKeyExchange: signed over client random + server random + ServerECDHParams.
    params_end = 4 + 4 + server_key_exchange[7]
    params, rest = server_key_exchange[4:params_end], server_key_exchange[params_end:]
    assert params[:3] == b"\x03\x00\x1d"  # named_curve x25519
    signature = rest[4:]
    chain = certificate[4:]
    leaf = x509.load_der_x509_certificate(chain[6 : 6 + int.from_bytes(chain[3:6], "big")])
    public = leaf.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, hello[6:38] + server_hello[6:38] + params, ec.ECDSA(hashes.SHA256()))

    # Premaster = the X25519 shared secret of the client's key and the server's.
    client_public = key_exchange[5:]
    premaster = run.x25519_key(client_public).exchange(
        x25519.X25519PublicKey.from_public_bytes(params[4:])
    )
    session_hash = sha256(b"".join([hello, *flight.server, key_exchange]))
    master = p_sha256(premaster, b"extended master secret", session_hash, 48)
    assert master == run.secret("CLIENT_RANDOM")
    # ChangeCipherSpec: each side's next record (its Finished) is under its key.
    check_finished12(run, flight, master)


@checks("tls12-rsa-premaster", "tls12-master-secret")
def test_tls12_rsa_premaster_carries_the_offered_version_and_master_secret(
    tmp_path: Path,
) -> None:
    """Our server always negotiates extended_master_secret: GnuTLS's, told not to, gives
    the RFC 5246 master secret over both randoms."""
    gnutls = shutil.which("gnutls-serv")
    if gnutls is None:
        pytest.skip("needs gnutls-serv")
    suite = CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256
    certs = pki()
    folder = tmp_path
    (folder / "leaf.pem").write_bytes(certs.leaf_pem("rsa"))
    (folder / "leaf.key").write_bytes(certs.key_pem("rsa"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [gnutls, "--port", str(port), "--x509certfile", str(folder / "leaf.pem"),
         "--x509keyfile", str(folder / "leaf.key"), "--echo", "--disable-client-cert",
         "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2:%NO_SESSION_HASH"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        run = _over_tcp(port, suite)
    finally:
        server.kill()
        server.wait()
    flight = Flight12.of(run)
    hello, key_exchange = flight.client
    assert 23 not in hello_extensions(flight.server[0])  # no extended_master_secret
    key = certs.keys["rsa"].private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    premaster = key.decrypt(key_exchange[6:], padding.PKCS1v15())
    assert len(premaster) == 48
    assert premaster[:2] == hello[4:6] == b"\x03\x03"  # the version the client offered
    randoms = hello[6:38] + flight.server[0][6:38]
    master = p_sha256(premaster, b"master secret", randoms, 48)
    assert master == run.secret("CLIENT_RANDOM")
    check_finished12(run, flight, master)


def _over_tcp(port: int, suite: CipherSuite) -> Run:
    run = Run()
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=run.entropy(b"tcp"),
            versions=(ProtocolVersion.TLSv1_2,),
            cipher_suites=(suite,),
        )
    )
    run.client_events += client.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    with conn:
        while not any(isinstance(e, events.HandshakeComplete) for e in run.client_events):
            if out := client.data_to_send():
                run.sent += out
                conn.sendall(out)
            data = conn.recv(65536)
            assert data, "the server closed the connection"
            run.received += data
            new = client.receive_data(data)
            run.client_events += new
            if any(isinstance(e, events.CertificateReceived) for e in new):
                run.client_events += client.accept_certificate()
        if out := client.data_to_send():
            run.sent += out
            conn.sendall(out)
    return run


@checks("tls12-resumption")
def test_tls12_resumption_keeps_the_master_secret_with_new_randoms() -> None:
    suite = CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    cache = SessionCache()
    first = tls12(Run(), suite, server12(session_cache=cache))
    (session,) = [e for e in first.client_events if isinstance(e, events.SessionReceived)]
    second = tls12(
        Run(name="second"), suite, server12(session_cache=cache), session=session.session
    )
    flight = Flight12.of(second)
    assert [m[0] for m in flight.server] == [2]  # ServerHello alone: no certificate, no kx
    assert flight.client[0][6:38] != Flight12.of(first).client[0][6:38]
    master = second.secret("CLIENT_RANDOM")
    assert master == first.secret("CLIENT_RANDOM")
    # The new randoms make new keys: the server finishes first, over both hellos.
    client_random, server_random = flight.client[0][6:38], flight.server[0][6:38]
    block = p_sha256(master, b"key expansion", server_random + client_random, 40)
    server_finished = open12(
        block[16:32], block[36:40], 0, flight.server_header, flight.server_sealed
    )
    hellos = flight.client[0] + flight.server[0]
    assert server_finished[4:] == p_sha256(master, b"server finished", sha256(hellos), 12)
    client_finished = open12(
        block[:16], block[32:36], 0, flight.client_header, flight.client_sealed
    )
    expected = p_sha256(master, b"client finished", sha256(hellos + server_finished), 12)
    assert client_finished[4:] == expected


# -- status_request and OCSP ------------------------------------------------------------------


@dataclass(frozen=True)
class StapledPki:
    """A CA of the test's own, its leaf, and a good OCSP response about the leaf signed by a
    responder certificate the CA issued with id-kp-OCSPSigning."""

    ca: x509.Certificate
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey
    staple: bytes

    @classmethod
    def create(cls) -> StapledPki:
        ca, ca_key = make_ca("tlssim staple test CA")
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = make_leaf(ca, ca_key, HOST, leaf_key)
        responder_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        responder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name.from_rfc4514_string("CN=tlssim staple test responder"))
            .issuer_name(ca.subject)
            .public_key(responder_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), False)
            .sign(ca_key, hashes.SHA256())
        )
        staple = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=leaf,
                issuer=ca,
                algorithm=hashes.SHA1(),
                cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=now - dt.timedelta(minutes=1),
                next_update=now + dt.timedelta(hours=1),
                revocation_time=None,
                revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
            .certificates([responder])
            .sign(responder_key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )
        return cls(ca, leaf, leaf_key, staple)

    def certified(self) -> CertifiedKey:
        der = serialization.Encoding.DER
        return CertifiedKey(
            chain=(self.leaf.public_bytes(der), self.ca.public_bytes(der)),
            private_key=self.leaf_key,
            ocsp_response=self.staple,
        )


@checks("status-request", "ocsp-response", "chain-validation")
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_status_request_brings_the_staple_in_the_right_place(version: str) -> None:
    stapled = StapledPki.create()
    server = ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"staple"),
            certificate_selector=selector_for(stapled.certified()),
        )
    )
    run = Run()
    if version == "1.3":
        tls13(run, server)
        t = Transcript13.of(run)
        hello = t.client[0]
        (certificate,) = [m for m in t.server if m[0] == 11]
        body = certificate[4:]
        entries = body[1 + body[0] + 3 :]
        cert_length = int.from_bytes(entries[:3], "big")
        # The status_request extension of the leaf's CertificateEntry (RFC 8446 4.4.2.1).
        status = extensions(entries[3 + cert_length :])[5]
    else:
        tls12(run, CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, server)
        flight = Flight12.of(run)
        hello = flight.client[0]
        (message,) = [m for m in flight.server if m[0] == 22]  # CertificateStatus
        status = message[4:]
    # The client asked: status_request with status_type ocsp (RFC 6066 8).
    assert hello_extensions(hello)[5][0] == 1
    # CertificateStatus: status_type ocsp (1), then the DER OCSPResponse (uint24 length).
    assert status[0] == 1 and status[4:] == stapled.staple
    assert int.from_bytes(status[1:4], "big") == len(stapled.staple)
    # RFC 6960: a response about the leaf, signed by a responder the CA delegated.
    response = ocsp.load_der_ocsp_response(status[4:])
    assert response.serial_number == stapled.leaf.serial_number
    (signer,) = response.certificates
    usages = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.OCSP_SIGNING in usages
    signer.verify_directly_issued_by(stapled.ca)
    signer_key = signer.public_key()
    assert isinstance(signer_key, ec.EllipticCurvePublicKey)
    assert response.signature_hash_algorithm is not None
    signer_key.verify(
        response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm)
    )
    # The chain check: the leaf verifies under the CA and names the host.
    stapled.leaf.verify_directly_issued_by(stapled.ca)
    names = stapled.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert HOST in names.get_values_for_type(x509.DNSName)
    (received,) = [e for e in run.client_events if isinstance(e, events.CertificateReceived)]
    assert received.ocsp_response == stapled.staple


# -- the claims, the story and the table ------------------------------------------------------


def conformance_rows() -> dict[str, str]:
    """docs/conformance.md's claim rows, by the claim id in their first cell."""
    text = (ROOT / "docs" / "conformance.md").read_text()
    rows = {}
    for line in text.splitlines():
        found = re.match(r"\| `([a-z0-9-]+)` \|", line)
        if found:
            rows[found.group(1)] = line
    return rows


def test_every_claim_has_its_clause_a_row_and_a_test() -> None:
    rows = conformance_rows()
    for claim in CLAIMS.values():
        assert claim.id in rows, f"docs/conformance.md has no row for `{claim.id}`"
        assert claim.clause in rows[claim.id], (claim.clause, rows[claim.id])
        assert claim.id in TESTED, f"no test recomputes `{claim.id}`"
        for test in TESTED[claim.id]:
            assert test in rows[claim.id], (test, rows[claim.id])


def _step(name: str, direction: Direction = Direction.RECEIVED, **fields: object) -> Step:
    return Step(name=name, direction=direction, at_ms=0.0, size=10, fields=dict(fields))


def test_every_claim_the_story_prints_is_one_of_the_table() -> None:
    """Every step the story can show, in every context it explains differently: each claim
    it cites is a known one (a row, by the test above), printed with its clause."""
    from tlssim.report.walkthrough import KeyExchange, explain

    contexts = [
        Context(tls13=True, kind=KeyExchange.TLS13, group="x25519", resumed=r, chain=())
        for r in (False, True)
    ] + [
        Context(tls13=False, kind=k, group="x25519", resumed=r, chain=(), ems=e)
        for k in (KeyExchange.RSA, KeyExchange.ECDHE)
        for r in (False, True)
        for e in (False, True)
    ]
    steps = [
        _step("ClientHello", Direction.SENT, key_share=["x25519"], extensions=["pre_shared_key"]),
        _step("HelloRetryRequest"),
        _step("ServerHello", cipher_suite="TLS_AES_128_GCM_SHA256"),
        _step("EncryptedExtensions"),
        _step("Certificate", ocsp_staple=True, ocsp_staple_size=500),
        _step("CertificateStatus"),
        _step("ServerKeyExchange", group="x25519"),
        _step("ClientKeyExchange", Direction.SENT),
        _step("ChangeCipherSpec", Direction.SENT),
        _step("CertificateVerify"),
        _step("Finished"),
        _step("Finished", Direction.SENT),
        _step("NewSessionTicket"),
        _step("EarlyData", Direction.SENT),
        _step("EndOfEarlyData", Direction.SENT),
        _step("ChainValidation", Direction.LOCAL),
        *(
            _step("SecretDerived", Direction.LOCAL, label=label)
            for label in (
                "CLIENT_RANDOM",
                "CLIENT_EARLY_TRAFFIC_SECRET",
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                "CLIENT_TRAFFIC_SECRET_0",
            )
        ),
    ]
    seen: set[str] = set()
    for ctx in contexts:
        for step in steps:
            ids = cited(step, ctx)
            said = explain(step, ctx)
            for claim in ids:
                assert claim in CLAIMS
                assert f"[{CLAIMS[claim].clause}]" in said, (claim, said)
            seen.update(ids)
    reports = [
        Report.from_json((ROOT / "tests" / "vectors" / "reports" / name).read_text())
        for name in _report_samples()
    ]
    for report in reports:
        seen.update(key_schedule_cited(report))
    # Everything in the table is said somewhere in the story.
    assert seen == set(CLAIMS), set(CLAIMS) - seen


def _report_samples() -> list[str]:
    folder = ROOT / "tests" / "vectors" / "reports"
    return sorted(p.name for p in folder.glob("*.json")) if folder.exists() else []
