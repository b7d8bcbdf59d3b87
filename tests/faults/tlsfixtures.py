"""A throwaway CA and server certificate, and OpenSSL (Python `ssl`) endpoints around them."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "valid.tlssim.test"


@dataclass(frozen=True)
class ServerCert:
    ca_der: bytes
    chain: tuple[bytes, ...]
    key: ec.EllipticCurvePrivateKey
    directory: Path

    @property
    def ca_file(self) -> str:
        return str(self.directory / "ca.pem")

    @property
    def cert_file(self) -> str:
        return str(self.directory / "leaf.pem")

    @property
    def key_file(self) -> str:
        return str(self.directory / "leaf.key")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@functools.cache
def server_cert() -> ServerCert:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("faults test CA"))
        .issuer_name(_name("faults test CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(HOST))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    directory = Path(tempfile.mkdtemp(prefix="tlssim-faults-"))
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (directory / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    der = serialization.Encoding.DER
    return ServerCert(ca.public_bytes(der), (leaf.public_bytes(der),), key, directory)


def server_context() -> ssl.SSLContext:
    cert = server_cert()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert.cert_file, cert.key_file)
    return ctx


def client_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(server_cert().ca_file)
    return ctx


async def start_tls_echo() -> tuple[asyncio.Server, str]:
    """An OpenSSL TLS 1.3+1.2 echo server on loopback."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(
        echo, "127.0.0.1", 0, ssl=server_context(), ssl_handshake_timeout=5
    )
    return server, f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


@dataclass
class Outcome:
    ok: bool
    error: str
    seconds: float
    version: str | None = None


def openssl_client(address: tuple[str, int], timeout: float = 2.0) -> Outcome:
    """A blocking OpenSSL client: handshake, then one echo round trip (run it in a thread)."""
    start = time.monotonic()
    try:
        with socket.create_connection(address, timeout=timeout) as raw:
            raw.settimeout(timeout)
            with client_context().wrap_socket(raw, server_hostname=HOST) as tls:
                tls.sendall(b"ping")
                got = tls.recv(4)
                if got != b"ping":
                    return Outcome(False, f"echo returned {got!r}", time.monotonic() - start)
                return Outcome(True, "", time.monotonic() - start, tls.version())
    except ssl.SSLError as exc:
        return Outcome(False, f"ssl: {exc.reason or exc}", time.monotonic() - start)
    except TimeoutError:
        return Outcome(False, "timeout", time.monotonic() - start)
    except OSError as exc:
        return Outcome(False, f"os: {exc}", time.monotonic() - start)
