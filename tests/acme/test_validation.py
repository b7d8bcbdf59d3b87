"""The validator: tls-alpn-01 certificates, a real tls-alpn-01 exchange, the name mapping,
and the ACME settings."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tlssim.acme.policy import parse_resolve, resolve
from tlssim.acme.problems import AcmeProblem
from tlssim.acme.validation import ACME_IDENTIFIER_OID, Validator, check_alpn_certificate
from tlssim.services.acme_settings import AcmeSettings
from tlssim.services.settings import SettingsError

KEY_AUTHORIZATION = "token.thumbprint"


def challenge_certificate(
    names: list[x509.GeneralName], digest: bytes, *, critical: bool = True
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme challenge")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(ACME_IDENTIFIER_OID, b"\x04\x20" + digest),
            critical=critical,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


GOOD = hashlib.sha256(KEY_AUTHORIZATION.encode()).digest()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_a_good_challenge_certificate_passes() -> None:
    cert, _ = challenge_certificate([x509.DNSName("a.tlssim.test")], GOOD)
    check_alpn_certificate(der(cert), "dns", "a.tlssim.test", KEY_AUTHORIZATION)


@pytest.mark.parametrize(
    ("names", "digest", "critical", "kind"),
    [
        ([x509.DNSName("a.tlssim.test")], b"\0" * 32, True, "incorrectResponse"),
        ([x509.DNSName("a.tlssim.test")], GOOD, False, "unauthorized"),
        (
            [x509.DNSName("a.tlssim.test"), x509.DNSName("b.tlssim.test")],
            GOOD,
            True,
            "unauthorized",
        ),
        ([x509.DNSName("b.tlssim.test")], GOOD, True, "unauthorized"),
    ],
)
def test_a_bad_challenge_certificate_fails(
    names: list[x509.GeneralName], digest: bytes, critical: bool, kind: str
) -> None:
    cert, _ = challenge_certificate(names, digest, critical=critical)
    with pytest.raises(AcmeProblem) as failed:
        check_alpn_certificate(der(cert), "dns", "a.tlssim.test", KEY_AUTHORIZATION)
    assert failed.value.kind == kind


@pytest.mark.parametrize("alpn", [True, False])
def test_tls_alpn_01_over_a_real_connection(tmp_path: Path, alpn: bool) -> None:
    cert, key = challenge_certificate([x509.DNSName("a.tlssim.test")], GOOD)
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    if alpn:
        context.set_alpn_protocols(["acme-tls/1"])
    seen: list[str | None] = []
    context.sni_callback = lambda _ssl, name, _context: seen.append(name)

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        validator = Validator(tlsalpn01_port=port, timeout_s=5)
        async with server:
            if alpn:
                where = await validator.tlsalpn01("dns", "a.tlssim.test", KEY_AUTHORIZATION)
                assert where == f"127.0.0.1:{port}"
            else:
                with pytest.raises(AcmeProblem) as failed:
                    await validator.tlsalpn01("dns", "a.tlssim.test", KEY_AUTHORIZATION)
                assert failed.value.kind == "tls"

    asyncio.run(main())
    assert seen == ["a.tlssim.test"]


def test_names_resolve_through_the_mapping_only() -> None:
    mapping = parse_resolve("tlssim.test=127.0.0.1, *.tlssim.test=127.0.0.2,exact.test=::1")
    assert resolve(mapping, "tlssim.test") == "127.0.0.1"
    assert resolve(mapping, "a.b.tlssim.test") == "127.0.0.2"
    assert resolve(mapping, "exact.test") == "::1"
    assert resolve(mapping, "example.com") is None
    with pytest.raises(AcmeProblem) as failed:
        Validator(resolve=mapping).target("dns", "example.com", 5002, "")
    assert failed.value.kind == "dns"
    assert Validator().target("dns", "x.tlssim.test", 5002, "127.0.0.1:9") == ("127.0.0.1", 9)
    assert Validator().target("ip", "::1", 5002, "") == ("::1", 5002)


def test_settings_defaults() -> None:
    settings = AcmeSettings.from_env({})
    assert settings.listen == "127.0.0.1:14000"
    assert settings.grpc_listen == "127.0.0.1:50055"
    assert (settings.validator.http01_port, settings.validator.tlsalpn01_port) == (5002, 5001)
    assert settings.policy.zones == ("tlssim.test",)
    assert settings.policy.lifetime == dt.timedelta(days=90)
    assert not settings.policy.eab_required
    assert settings.faults.nonce_reject == 0


def test_settings_read_an_eab_file(tmp_path: Path) -> None:
    keys = tmp_path / "eab"
    keys.write_text("# kid key\nteam-a MDEyMzQ1Njc4OWFiY2RlZg\n")
    settings = AcmeSettings.from_env({"TLSSIM_ACME_EAB_FILE": str(keys)})
    assert settings.policy.eab_keys == {"team-a": b"0123456789abcdef"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TLSSIM_ACME_NONCE_REJECT", "2"),
        ("TLSSIM_ACME_LIFETIME_S", "10"),
        ("TLSSIM_ACME_RESOLVE", "no-equals-sign"),
        ("TLSSIM_ACME_IP_NETWORKS", "not-a-network"),
        ("TLSSIM_ACME_HTTP_PORT", "70000"),
        ("TLSSIM_ACME_HTTP_VIA", "nowhere"),
        ("TLSSIM_ACME_EAB_FILE", "/nonexistent/eab"),
        ("TLSSIM_ACME_ADDR", "noport"),
        ("TLSSIM_ACME_GRPC_ADDR", "acme:0"),
        ("TLSSIM_CA_ADDR", "ca"),
    ],
)
def test_bad_settings_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        AcmeSettings.from_env({name: value})
