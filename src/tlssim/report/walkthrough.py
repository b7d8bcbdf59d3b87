"""What each step of a handshake report means, in the walkthrough's words: for the story
(cli/story.py), the diagrams and the console alike.

Every sentence says what the message carries or what the client did, for the version and
key exchange this handshake used; verdicts come only from the checks the client made.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tlssim.report.model import ChainEntry, Direction, Report, Step
from tlssim.topology import vhosts


@dataclass(frozen=True, slots=True)
class Claim:
    """A formula or fact the story states, and the clause that says so. Every claim has a
    row in docs/conformance.md (by its id) and a test that recomputes it from a handshake."""

    id: str
    clause: str


CLAIMS: Final = {
    c.id: c
    for c in (
        Claim("tls13-key-share", "RFC 8446 4.2.8"),
        Claim("tls13-ecdhe", "RFC 8446 7.4"),
        Claim("tls13-hello-retry", "RFC 8446 4.1.4, 4.4.1"),
        Claim("tls13-encrypted-extensions", "RFC 8446 4.3.1"),
        Claim("tls13-handshake-secret", "RFC 8446 7.1"),
        Claim("tls13-early-secret", "RFC 8446 7.1, 4.6.1"),
        Claim("tls13-psk-binder", "RFC 8446 4.2.11.2"),
        Claim("tls13-application-secret", "RFC 8446 7.1"),
        Claim("tls13-certificate-verify", "RFC 8446 4.4.3"),
        Claim("tls13-finished", "RFC 8446 4.4.4"),
        Claim("tls13-ticket", "RFC 8446 4.6.1"),
        Claim("tls13-early-data", "RFC 8446 2.3, 4.2.10"),
        Claim("tls13-end-of-early-data", "RFC 8446 4.5"),
        Claim("tls13-compatibility-ccs", "RFC 8446 D.4"),
        Claim("tls12-rsa-premaster", "RFC 5246 7.4.7.1"),
        Claim("tls12-ecdhe-premaster", "RFC 8422 5.10"),
        Claim("tls12-server-key-exchange", "RFC 8422 5.4"),
        Claim("tls12-master-secret", "RFC 5246 8.1"),
        Claim("tls12-extended-master-secret", "RFC 7627 4"),
        Claim("tls12-key-block", "RFC 5246 6.3"),
        Claim("tls12-change-cipher-spec", "RFC 5246 7.1"),
        Claim("tls12-finished", "RFC 5246 7.4.9"),
        Claim("tls12-resumption", "RFC 5246 7.3"),
        Claim("status-request", "RFC 6066 8; RFC 8446 4.4.2.1"),
        Claim("ocsp-response", "RFC 6960 4.2.2.2"),
        Claim("chain-validation", "RFC 5280 6.1; RFC 6125 6"),
    )
}
_CITE = re.compile(r"\u27e6([a-z0-9-]+)\u27e7")


def _cite(claim: str) -> str:
    """A mark for `claim` in a sentence; explain() turns it into its clause."""
    if claim not in CLAIMS:
        raise KeyError(claim)
    return f"\u27e6{claim}\u27e7"


def _resolve(text: str) -> str:
    return _CITE.sub(lambda m: f" [{CLAIMS[m.group(1)].clause}]", text)


# The client's own check of the chain. Reports before it was renamed say
# "CertificateVerification", which read like the CertificateVerify message.
CHAIN_VALIDATION_NAMES = frozenset({"ChainValidation", "CertificateVerification"})

# Names shown for local steps (the messages keep their protocol names).
DISPLAY_NAMES = {
    "ChainValidation": "certificate check",
    "CertificateVerification": "certificate check",
    "EchoCheck": "echo check",
    "EarlyDataAnswer": "0-RTT answer",
    "SecretDerived": "keys",
    "HandshakeComplete": "complete",
}

# Key log labels told once per client/server pair.
PAIRED_SECRETS = frozenset({"SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"})


class KeyExchange(enum.StrEnum):
    RSA = "rsa"  # TLS 1.2 key transport
    ECDHE = "ecdhe"  # TLS 1.2 ephemeral (EC)DH
    TLS13 = "tls13"  # TLS 1.3 (EC)DHE, with or without a PSK
    UNKNOWN = "unknown"  # the handshake ended before ServerHello


@dataclass(frozen=True, kw_only=True, slots=True)
class Context:
    """What the explanations need to know about the whole handshake."""

    tls13: bool
    kind: KeyExchange
    group: str | None
    resumed: bool
    chain: tuple[ChainEntry, ...]
    #: TLS 1.2: both hellos carried extended_master_secret (RFC 7627).
    ems: bool = False
    #: For one of the lab's legacy hosts: why a modern client refuses it.
    lesson: str = ""

    @classmethod
    def of(cls, report: Report) -> Context:
        hello = next((s.fields for s in report.steps if s.name == "ServerHello"), {})
        suite = str(hello.get("cipher_suite") or report.cipher_suite or "")
        version = str(hello.get("selected_version") or report.version or "")
        tls13 = version == "TLSv1.3"
        if tls13:
            kind = KeyExchange.TLS13
        elif suite.startswith("TLS_RSA_"):
            kind = KeyExchange.RSA
        elif suite.startswith(("TLS_ECDHE_", "TLS_DHE_")):
            kind = KeyExchange.ECDHE
        else:
            kind = KeyExchange.UNKNOWN
        kx = next((s.fields for s in report.steps if s.name == "ServerKeyExchange"), {})
        group = hello.get("key_share") or kx.get("group")
        resumed = report.resumed or bool(hello.get("resumed"))
        return cls(
            tls13=tls13,
            kind=kind,
            group=str(group) if group else None,
            resumed=resumed,
            chain=report.chain,
            ems=not tls13 and bool(hello.get("extended_master_secret")),
            lesson=_lesson(report.server_name),
        )

    @property
    def data_key(self) -> str:
        """The key that protects application data."""
        return "application key" if self.tls13 else "session key"


def _lesson(server_name: str | None) -> str:
    host = vhosts.find(server_name) if server_name else None
    return host.lesson if host is not None else ""


#: Alerts that end a handshake with a legacy host our client does not go along with.
_REFUSALS = frozenset(
    {"protocol_version", "handshake_failure", "insufficient_security", "illegal_parameter"}
)


def display_name(step: Step) -> str:
    return DISPLAY_NAMES.get(step.name, step.name)


def common_name(dn: str) -> str:
    """The CN of an RFC 4514 name, else the whole name."""
    for part in dn.split(","):
        if part.strip().upper().startswith("CN="):
            return part.strip()[3:]
    return dn


def describe_chain(chain: tuple[ChainEntry, ...]) -> str:
    """The chain as presented, leaf first, each with its issuer."""
    parts = []
    for entry in chain:
        subject, issuer = common_name(entry.subject), common_name(entry.issuer)
        parts.append(f"{subject} (self-signed)" if subject == issuer else f"{subject} <- {issuer}")
    return "; ".join(parts)


def _side(step: Step) -> str:
    return "client" if step.direction is Direction.SENT else "server"


def _join(values: Any) -> str:
    return ", ".join(str(v) for v in values) if isinstance(values, list | tuple) else str(values)


def explain(step: Step, ctx: Context) -> str:
    """One or two sentences on `step`, for this handshake, each claim followed by the
    clause that states it ([RFC 8446 4.4.4])."""
    return _resolve(_marked(step, ctx))


def cited(step: Step, ctx: Context) -> tuple[str, ...]:
    """The ids of the claims explain() makes about `step` (keys of CLAIMS)."""
    return tuple(_CITE.findall(_marked(step, ctx)))


def _marked(step: Step, ctx: Context) -> str:
    f: Mapping[str, Any] = step.fields
    explainer = _EXPLAINERS.get(step.name)
    if explainer is not None:
        return str(explainer(step, f, ctx))
    if step.name in CHAIN_VALIDATION_NAMES:
        return (
            "the client checks the chain: signatures up to a trusted root, validity dates, "
            f"the host name{_cite('chain-validation')}, then revocation (the staple, else "
            f"the OCSP responder or the CRL the certificate names){_cite('ocsp-response')}"
        )
    return ""


def _key_update(step: Step, f: Mapping[str, Any]) -> str:
    who = "client" if step.direction is Direction.SENT else "server"
    text = (
        f"the {who} moves to its next application traffic secret (RFC 8446 4.6.3): what it "
        "sends from here on is under the new key"
    )
    if f.get("request") == "update_requested":
        text += ", and it asks the other side to update its own"
    else:
        text += "; nothing is owed back (update_not_requested)"
    return text


def _client_hello(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    text = "the client offers its TLS versions"
    if versions := f.get("supported_versions"):
        text += f" ({_join(versions)})"
    text += ", cipher suites and a random"
    if shares := f.get("key_share"):
        text += (
            f", and key shares for {_join(shares)}: its ephemeral public keys, sent ahead"
            + _cite("tls13-key-share")
        )
    if "pre_shared_key" in f.get("extensions", ()):
        text += (
            "; it offers a ticket from an earlier session (pre_shared_key) with a binder: "
            "HMAC over the ClientHello up to the binders, under a key from the ticket's PSK, "
            'binder key = Derive-Secret(early secret, "res binder", "")' + _cite("tls13-psk-binder")
        )
    elif ctx.resumed and not ctx.tls13 and f.get("session_id"):
        text += "; it asks to resume an earlier session by its session id"
    return text


def _server_hello(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    suite = f.get("cipher_suite", "a cipher suite")
    if ctx.tls13:
        text = (
            f"the server picks TLS 1.3 and {suite} and sends its random and its key share "
            f"({ctx.group}): both sides can now compute the (EC)DHE shared secret"
            + _cite("tls13-ecdhe")
        )
        return text + ("; it accepts the ticket (PSK)" if ctx.resumed else "")
    if ctx.resumed:
        return (
            f"the server picks {suite}, sends its random and echoes the session id: it resumes "
            "that session (abbreviated handshake: no certificate, no key exchange)"
            + _cite("tls12-resumption")
        )
    kx = {KeyExchange.RSA: "RSA key transport", KeyExchange.ECDHE: "ECDHE key exchange"}
    how = "finite-field DHE" if str(suite).startswith("TLS_DHE_") else kx.get(ctx.kind)
    version = str(f.get("selected_version") or "TLSv1.2").replace("TLSv", "TLS ")
    text = (
        f"the server picks {version} and {suite}"
        + (f" ({how})" if how else "")
        + (" and sends its random and a session id")
    )
    if "_CBC_" in str(suite) or "_RC4_" in str(suite):
        etm = f.get("encrypt_then_mac")
        text += "; records are protected with HMAC, " + (
            "encrypt-then-MAC (RFC 7366)"
            if etm
            else "MAC-then-encrypt (the padding is read before the MAC can be checked)"
        )
    return text


def _certificate(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    if step.direction is Direction.SENT:
        count = f.get("certificates", 0)
        text = (
            f"the client sends its chain ({count} certificate(s)) and proves its key"
            if count
            else "the client sends an empty Certificate: no client identity"
        )
        return text + (f" ({f['why']})" if f.get("why") else "")
    if ctx.chain:
        text = f"the server sends its chain, leaf first: {describe_chain(ctx.chain)}"
    else:
        count = f.get("certificates", "its")
        text = f"the server sends {count} certificate(s)"
    if ctx.tls13:
        text += "; encrypted with the server's handshake key"
    if f.get("ocsp_staple"):
        text += (
            f"; with a stapled OCSP response ({f.get('ocsp_staple_size', '?')} B) in the leaf's "
            f"status_request extension{_cite('status-request')}"
        )
    return text


def _certificate_status(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    size = f.get("ocsp_response_size", step.size)
    return (
        f"the server staples an OCSP response ({size} B) about its certificate, as the "
        f"client's status_request asked{_cite('status-request')}, signed by the issuing CA "
        f"or a responder it delegated (id-kp-OCSPSigning){_cite('ocsp-response')}; what it "
        "says is checked in the certificate check"
    )


def _server_key_exchange(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    if f.get("key_exchange") == "dhe":
        return (
            f"the server sends a finite-field group of its own choosing "
            f"({f.get('group_bits', '?')}-bit modulus) and its ephemeral public value "
            f"({f.get('public_size', '?')} B), signed with its certificate's private key "
            f"({f.get('signature_scheme', '?')}); the client must judge the group itself"
        )
    return (
        f"the server sends its ephemeral {f.get('group', '')} public key "
        f"({f.get('public_size', '?')} B), signed with its certificate's private key "
        f"({f.get('signature_scheme', '?')}) over client random + server random + the "
        "curve and the key: the key comes from the certificate's holder, for this handshake"
        + _cite("tls12-server-key-exchange")
    )


def _client_key_exchange(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    if f.get("key_exchange") == "rsa" or ctx.kind is KeyExchange.RSA:
        return (
            "the client picks a premaster secret (the version it offered, 2 bytes, then 46 "
            "random bytes) and sends it as an encrypted premaster secret "
            f"({f.get('encrypted_size', '?')} B, PKCS #1 v1.5) under the RSA public key "
            "in the server's certificate: only the private key's holder can read it"
            + _cite("tls12-rsa-premaster")
        )
    return (
        f"the client sends its ephemeral {f.get('group', '')} public key "
        f"({f.get('public_size', '?')} B); each side combines its own private key with the "
        "other's public key: the premaster secret is the ECDH shared secret, never sent"
        + _cite("tls12-ecdhe-premaster")
    )


def _secret(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    label = str(f.get("label", ""))
    if label == "CLIENT_RANDOM":
        if ctx.resumed:
            return (
                "no new premaster secret: the session keys come from the resumed session's "
                "master secret and the two new randoms" + _cite("tls12-resumption")
            )
        source = {
            KeyExchange.RSA: "the premaster secret the client sent encrypted",
            KeyExchange.ECDHE: "the premaster secret (the ECDH shared secret)",
        }.get(ctx.kind, "the premaster secret")
        if ctx.ems:
            return (
                f'master secret = PRF({source}, "extended master secret", session hash)'
                f"{_cite('tls12-extended-master-secret')}: the session hash covers every "
                "handshake message up to the ClientKeyExchange, binding the master secret "
                "to this very handshake; both sides derive the session keys from the "
                'premaster secret that way, then key block = PRF(master secret, "key '
                'expansion", server random + client random), one key per direction'
                f"{_cite('tls12-key-block')}, protecting Finished and application data"
            )
        return (
            f'master secret = PRF({source}, "master secret", client random + server random)'
            f"{_cite('tls12-master-secret')}: both sides derive the session keys from the "
            'premaster secret, key block = PRF(master secret, "key expansion", server random '
            f"+ client random), one key per direction{_cite('tls12-key-block')}, protecting "
            "Finished and application data"
        )
    if label == "CLIENT_HANDSHAKE_TRAFFIC_SECRET":
        psk = "the PSK and " if ctx.resumed else ""
        return (
            f"handshake keys derived with HKDF from {psk}the (EC)DHE shared secret "
            f"({ctx.group}) and the hellos: handshake secret = HKDF-Extract(Derive-Secret("
            'early secret, "derived", ""), shared secret), client/server handshake traffic '
            'secret = Derive-Secret(handshake secret, "c hs traffic"/"s hs traffic", '
            f"ClientHello..ServerHello){_cite('tls13-handshake-secret')}; they protect "
            "everything after ServerHello up to both Finished messages"
        )
    if label == "CLIENT_EARLY_TRAFFIC_SECRET":
        return (
            "the client's early (0-RTT) key, derived with HKDF from the ticket's PSK and the "
            "ClientHello alone: early secret = HKDF-Extract(0, PSK), client early traffic "
            'secret = Derive-Secret(early secret, "c e traffic", ClientHello)'
            f"{_cite('tls13-early-secret')}: no fresh key exchange, so no forward secrecy "
            "for 0-RTT data"
        )
    if label == "CLIENT_TRAFFIC_SECRET_0":
        return (
            "application keys derived with HKDF from the master secret and the transcript "
            "up to the server's Finished: master secret = HKDF-Extract(Derive-Secret("
            'handshake secret, "derived", ""), 0), client/server application traffic secret '
            '= Derive-Secret(master secret, "c ap traffic"/"s ap traffic", ClientHello..'
            f"server Finished){_cite('tls13-application-secret')}; they protect application "
            "data and tickets"
        )
    return f"{label} derived"


def _change_cipher_spec(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    if ctx.tls13:
        return "a compatibility record without meaning in TLS 1.3 (for middleboxes)" + _cite(
            "tls13-compatibility-ccs"
        )
    return f"from its next record on, the {_side(step)} encrypts with its session key" + _cite(
        "tls12-change-cipher-spec"
    )


def _finished(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    side = _side(step)
    if ctx.tls13:
        return (
            f"encrypted with the {side}'s handshake key: verify_data = HMAC(finished_key, "
            f"transcript hash), finished_key = HKDF-Expand-Label({side} handshake traffic "
            f'secret, "finished", "", hash length){_cite("tls13-finished")}, proving it saw '
            "the same messages"
        )
    return (
        f"encrypted with the {side}'s session key: verify_data = PRF(master secret, "
        f'"{side} finished", hash of the handshake messages so far), its first 12 bytes'
        f"{_cite('tls12-finished')}: both sides hold the same keys and saw the same messages"
    )


def _application_data(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    if step.direction is Direction.SENT:
        return (
            f"the client sends {step.size} bytes of application data, encrypted with its "
            f"{ctx.data_key}"
        )
    return f"the server's echo: {step.size} bytes, encrypted with its {ctx.data_key}"


def _echo_check(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    sent, echoed = f.get("sent", 0), f.get("echoed", 0)
    if f.get("matches"):
        return f"the echo matches: the same {sent} bytes came back"
    if answer := f.get("http_answer"):
        return (
            f"no echo: the server answered with HTTP ({answer}), as a web server such as "
            "`openssl s_server -www` does; --no-echo sends the data without waiting for an echo"
        )
    return f"the echo does not match: {sent} bytes sent, {echoed} bytes came back"


def _early_data_answer(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    if f.get("accepted"):
        return "the server took the 0-RTT data (early_data in its EncryptedExtensions)"
    return (
        f"the server did not take the 0-RTT data ({f.get('reason') or 'no reason given'}); "
        "it skipped those records, and the client sends the data again once connected"
    )


def _alert(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    description = f.get("description", "?")
    if f.get("level") == "warning" and description == "close_notify":
        return f"the {_side(step)} closes the connection cleanly (close_notify)"
    text = f"FATAL ALERT {description} from the {_side(step)}: the connection ends here"
    if description == "handshake_failure" and step.direction is Direction.RECEIVED:
        text += f" ({_REFUSED_OFFER})"
    if ctx.lesson and description in _REFUSALS:
        text += f". Why a modern client does not go there: {ctx.lesson}"
    return text


# What a server's handshake_failure means, with the lab's post-quantum cases as examples.
_REFUSED_OFFER = (
    "the server found nothing it can use in the offer: no common cipher suite, key exchange "
    "group, or signature algorithm its certificate can sign with. An ML-DSA certificate "
    "signs in TLS 1.3 only, and a host that requires a post-quantum group refuses a "
    "classical-only group list"
)


def _complete(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    text = f"handshake complete: application data flows under the {ctx.data_key}s"
    if ctx.lesson:
        text += f" (a legacy host, reached for a lesson: {ctx.lesson})"
    return text


def _fixed(text: str) -> Any:
    return lambda step, f, ctx: text


_EXPLAINERS: dict[str, Any] = {
    "ClientHello": _client_hello,
    "HelloRetryRequest": _fixed(
        "the server wants a key share for another group: the client sends a new ClientHello; "
        "the transcript now starts with message_hash, the hash of the first ClientHello"
        + _cite("tls13-hello-retry")
    ),
    "ServerHello": _server_hello,
    "EncryptedExtensions": _fixed(
        "the first message under the server's handshake key: the extensions that no key "
        "depends on" + _cite("tls13-encrypted-extensions")
    ),
    "Certificate": _certificate,
    "CertificateStatus": _certificate_status,
    "ServerKeyExchange": _server_key_exchange,
    "ServerHelloDone": _fixed("the server's flight is complete; now it is the client's turn"),
    "ClientKeyExchange": _client_key_exchange,
    "SecretDerived": _secret,
    "ChangeCipherSpec": _change_cipher_spec,
    "CertificateVerify": lambda step, f, ctx: (
        "the server signs the transcript with its certificate's private key "
        f'({f.get("signature_scheme", "?")}): 64 spaces, "TLS 1.3, server '
        'CertificateVerify", a zero byte, then the transcript hash up to its Certificate'
        f"{_cite('tls13-certificate-verify')}: proof that it holds that key"
    ),
    "Finished": _finished,
    "NewSessionTicket": lambda step, f, ctx: (
        f"a ticket for resuming this session later (valid {f.get('ticket_lifetime', '?')} s), "
        "under the server's application key"
        + (
            ': its PSK = HKDF-Expand-Label(resumption master secret, "resumption", '
            f"ticket_nonce, hash length){_cite('tls13-ticket')}"
            if ctx.tls13
            else ""
        )
    ),
    "EarlyData": lambda step, f, ctx: (
        f"0-RTT: {step.size} bytes of application data right behind the ClientHello, under "
        "the client's early key, before the server answered: whoever copies this flight "
        f"can send it again (replay){_cite('tls13-early-data')}"
    ),
    "EarlyDataAnswer": _early_data_answer,
    "EndOfEarlyData": _fixed(
        "the last message under the early key: 0-RTT data ends here, the handshake key "
        "protects what follows" + _cite("tls13-end-of-early-data")
    ),
    "CertificateRequest": lambda step, f, ctx: (
        "the server asks for the client's certificate"
        + (
            " after the handshake (post-handshake authentication)"
            if f.get("request_context")
            else ""
        )
    ),
    "KeyUpdate": lambda step, f, ctx: _key_update(step, f),
    "HandshakeComplete": _complete,
    "ApplicationData": _application_data,
    "EchoCheck": _echo_check,
    "Alert": _alert,
}


def key_schedule(report: Report) -> str:
    """Where the secrets come from and which keys protect what, for the whole handshake."""
    return _resolve(_key_schedule(report))


def key_schedule_cited(report: Report) -> tuple[str, ...]:
    """The ids of the claims key_schedule() makes."""
    return tuple(_CITE.findall(_key_schedule(report)))


def _key_schedule(report: Report) -> str:
    ctx = Context.of(report)
    if ctx.kind is KeyExchange.UNKNOWN or report.version is None:
        return ""  # no keys were derived for application data
    if ctx.tls13:
        psk = "the ticket's PSK + " if ctx.resumed else ""
        return (
            f"{psk}(EC)DHE shared secret ({ctx.group}) -> HKDF -> handshake keys "
            f"(EncryptedExtensions .. Finished){_cite('tls13-handshake-secret')} -> master "
            f"secret -> application keys (application data, tickets)"
            f"{_cite('tls13-application-secret')}"
        )
    if ctx.resumed:
        return (
            "no key exchange: the resumed session's master secret + the new randoms -> "
            f"session keys (Finished, application data){_cite('tls12-resumption')}"
        )
    premaster = (
        "premaster secret chosen by the client, sent encrypted to the server's RSA key"
        + _cite("tls12-rsa-premaster")
        if ctx.kind is KeyExchange.RSA
        else f"premaster secret = ECDH shared secret of both ephemeral {ctx.group} keys"
        + _cite("tls12-ecdhe-premaster")
    )
    master = (
        "master secret (PRF over the session hash of the handshake so far: extended master "
        f"secret){_cite('tls12-extended-master-secret')}"
        if ctx.ems
        else f"master secret (PRF with both randoms){_cite('tls12-master-secret')}"
    )
    return (
        f"{premaster} -> {master} -> session keys (Finished, application data)"
        f"{_cite('tls12-key-block')}"
    )
