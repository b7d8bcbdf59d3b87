"""What each step of a handshake report means, in the walkthrough's words: for the story
(cli/story.py), the diagrams and the console alike.

Every sentence says what the message carries or what the client did, for the version and
key exchange this handshake used; verdicts come only from the checks the client made.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tlssim.report.model import ChainEntry, Direction, Report, Step
from tlssim.topology import vhosts

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
    """One or two sentences on `step`, for this handshake."""
    f: Mapping[str, Any] = step.fields
    explainer = _EXPLAINERS.get(step.name)
    if explainer is not None:
        return str(explainer(step, f, ctx))
    if step.name in CHAIN_VALIDATION_NAMES:
        return (
            "the client checks the chain: signatures up to a trusted root, validity dates, "
            "the host name, then revocation"
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
        text += f", and key shares for {_join(shares)}: its ephemeral public keys, sent ahead"
    if "pre_shared_key" in f.get("extensions", ()):
        text += "; it offers a ticket from an earlier session (pre_shared_key)"
    elif ctx.resumed and not ctx.tls13 and f.get("session_id"):
        text += "; it asks to resume an earlier session by its session id"
    return text


def _server_hello(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    suite = f.get("cipher_suite", "a cipher suite")
    if ctx.tls13:
        text = (
            f"the server picks TLS 1.3 and {suite} and sends its random and its key share "
            f"({ctx.group}): both sides can now compute the (EC)DHE shared secret"
        )
        return text + ("; it accepts the ticket (PSK)" if ctx.resumed else "")
    if ctx.resumed:
        return (
            f"the server picks {suite}, sends its random and echoes the session id: it resumes "
            "that session (abbreviated handshake: no certificate, no key exchange)"
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
        text += f"; with a stapled OCSP response ({f.get('ocsp_staple_size', '?')} B)"
    return text


def _certificate_status(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    size = f.get("ocsp_response_size", step.size)
    return (
        f"the server staples an OCSP response ({size} B) about its certificate, signed by "
        "the OCSP responder; what it says is checked in the certificate check"
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
        f"({f.get('signature_scheme', '?')}): the key comes from the certificate's holder"
    )


def _client_key_exchange(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    if f.get("key_exchange") == "rsa" or ctx.kind is KeyExchange.RSA:
        return (
            "the client picks a random premaster secret and sends it as an encrypted "
            f"premaster secret ({f.get('encrypted_size', '?')} B) under the RSA public key "
            "in the server's certificate: only the private key's holder can read it"
        )
    return (
        f"the client sends its ephemeral {f.get('group', '')} public key "
        f"({f.get('public_size', '?')} B); each side combines its own private key with the "
        "other's public key: the premaster secret is the ECDH shared secret, never sent"
    )


def _secret(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    label = str(f.get("label", ""))
    if label == "CLIENT_RANDOM":
        if ctx.resumed:
            return (
                "no new premaster secret: the session keys come from the resumed session's "
                "master secret and the two new randoms"
            )
        source = {
            KeyExchange.RSA: "the premaster secret the client sent encrypted",
            KeyExchange.ECDHE: "the premaster secret (the ECDH shared secret)",
        }.get(ctx.kind, "the premaster secret")
        if ctx.ems:
            return (
                f'master secret = PRF({source}, "extended master secret", session hash) '
                "(RFC 7627): the session hash covers every handshake message up to the "
                "ClientKeyExchange, binding the master secret to this very handshake; both "
                "sides derive the session keys from the premaster secret that way, then one "
                "key per direction (PRF with both randoms), protecting Finished and "
                "application data"
            )
        return (
            f'master secret = PRF({source}, "master secret", client random + server random): '
            "both sides derive the session keys from the premaster secret, one key per "
            "direction, protecting Finished and application data"
        )
    if label == "CLIENT_HANDSHAKE_TRAFFIC_SECRET":
        psk = "the PSK and " if ctx.resumed else ""
        return (
            f"handshake keys derived with HKDF from {psk}the (EC)DHE shared secret "
            f"({ctx.group}) and the hellos: they protect everything after ServerHello up "
            "to both Finished messages"
        )
    if label == "CLIENT_EARLY_TRAFFIC_SECRET":
        return (
            "the client's early (0-RTT) key, derived with HKDF from the ticket's PSK and the "
            "ClientHello alone: no fresh key exchange, so no forward secrecy for 0-RTT data"
        )
    if label == "CLIENT_TRAFFIC_SECRET_0":
        return (
            "application keys derived with HKDF from the master secret and the transcript "
            "up to the server's Finished: they protect application data and tickets"
        )
    return f"{label} derived"


def _change_cipher_spec(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    if ctx.tls13:
        return "a compatibility record without meaning in TLS 1.3 (for middleboxes)"
    return f"from its next record on, the {_side(step)} encrypts with its session key"


def _finished(step: Step, f: Mapping[str, Any], ctx: Context) -> str:
    side = _side(step)
    if ctx.tls13:
        return (
            f"encrypted with the {side}'s handshake key: an HMAC over the transcript with a "
            f"key from the {side}'s handshake secret, proving it saw the same messages"
        )
    return (
        f"encrypted with the {side}'s session key: verify_data = PRF(master secret, "
        "transcript hash): both sides hold the same keys and saw the same messages"
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
        "the server wants a key share for another group: the client sends a new ClientHello"
    ),
    "ServerHello": _server_hello,
    "EncryptedExtensions": _fixed(
        "the first message under the server's handshake key: the extensions that no key depends on"
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
        f"({f.get('signature_scheme', '?')}): proof that it holds that key"
    ),
    "Finished": _finished,
    "NewSessionTicket": lambda step, f, ctx: (
        f"a ticket for resuming this session later (valid {f.get('ticket_lifetime', '?')} s), "
        "under the server's application key"
    ),
    "EarlyData": lambda step, f, ctx: (
        f"0-RTT: {step.size} bytes of application data right behind the ClientHello, under "
        "the client's early key, before the server answered: whoever copies this flight "
        "can send it again (replay)"
    ),
    "EarlyDataAnswer": _early_data_answer,
    "EndOfEarlyData": _fixed(
        "the last message under the early key: 0-RTT data ends here, the handshake key "
        "protects what follows"
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
    ctx = Context.of(report)
    if ctx.kind is KeyExchange.UNKNOWN or report.version is None:
        return ""  # no keys were derived for application data
    if ctx.tls13:
        psk = "the ticket's PSK + " if ctx.resumed else ""
        return (
            f"{psk}(EC)DHE shared secret ({ctx.group}) -> HKDF -> handshake keys "
            "(EncryptedExtensions .. Finished) -> master secret -> application keys "
            "(application data, tickets)"
        )
    if ctx.resumed:
        return (
            "no key exchange: the resumed session's master secret + the new randoms -> "
            "session keys (Finished, application data)"
        )
    premaster = (
        "premaster secret chosen by the client, sent encrypted to the server's RSA key"
        if ctx.kind is KeyExchange.RSA
        else f"premaster secret = ECDH shared secret of both ephemeral {ctx.group} keys"
    )
    master = (
        "master secret (PRF over the session hash of the handshake so far: extended master "
        "secret, RFC 7627)"
        if ctx.ems
        else "master secret (PRF with both randoms)"
    )
    return f"{premaster} -> {master} -> session keys (Finished, application data)"
