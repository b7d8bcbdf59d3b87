"""Every virtual host of the running stack: our client's outcome and OpenSSL's, as the
README's table (tlssim.topology.vhosts) says; OpenSSL's own OCSP and CRL tools against the
responder."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from tests.integration.conftest import LocalStack
from tests.peers import openssl_client
from tlssim.pki.checks import Check
from tlssim.report.model import Party, Report
from tlssim.report.revocation import RevocationSource, RevocationStatus
from tlssim.topology import vhosts

pytestmark = pytest.mark.integration

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
README = Path(__file__).resolve().parents[2] / "README.md"
HOSTS = {h.name: h for h in vhosts.VIRTUAL_HOSTS}


def handshake(stack: LocalStack, *args: str) -> Report:
    return stack.handshake("--revocation", "hard", *args)


def outcome(report: Report) -> str:
    if report.ok:
        return "success"
    assert report.alert is not None, report
    return report.alert.description


def sent_by(report: Report) -> Party:
    assert report.alert is not None, report
    return report.alert.sent_by


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_our_client(stack: LocalStack, host: str) -> None:
    report = handshake(stack, "--server-name", host)
    assert outcome(report) == HOSTS[host].expected, report.checks
    if not report.ok:
        assert sent_by(report) == Party(HOSTS[host].alert_from)


def test_no_sni_gets_the_valid_host(stack: LocalStack) -> None:
    report = handshake(stack, "--no-sni")
    assert report.ok, report
    assert report.chain[0].subject.endswith(f"CN={vhosts.DEFAULT_HOST}")


def test_no_sni_still_verifies_the_name_given(stack: LocalStack) -> None:
    """Without SNI the server presents its default host's certificate; the client checks it
    against the name it was given, never against the server's default."""
    report = handshake(stack, "--no-sni", "--server-name", "other.test")
    assert report.server_name is None
    hello = next(s for s in report.steps if s.name == "ClientHello")
    assert "server_name" not in hello.fields, hello
    assert report.chain[0].subject.endswith(f"CN={vhosts.DEFAULT_HOST}")
    assert outcome(report) == "bad_certificate"
    assert sent_by(report) == Party.CLIENT
    hostname = next(c for c in report.checks if c.name == "hostname")
    assert not hostname.ok and hostname.detail.startswith("other.test does not match")

    report = handshake(stack, "--no-sni", "--server-name", vhosts.DEFAULT_HOST)
    assert report.ok, report
    assert report.server_name is None


def test_revoked_host_is_revoked_by_every_source(stack: LocalStack) -> None:
    stapled = handshake(stack, "--server-name", "revoked.tlssim.test")
    assert stapled.revocation.status == RevocationStatus.REVOKED, stapled.revocation
    assert stapled.revocation.source == RevocationSource.STAPLE, stapled.revocation
    live = handshake(stack, "--server-name", "revoked.tlssim.test", "--no-staple")
    assert outcome(live) == "certificate_revoked"
    assert live.revocation.source == RevocationSource.OCSP
    off = handshake(stack, "--server-name", "revoked.tlssim.test", "--revocation", "off")
    assert off.ok, off


def test_must_staple_without_a_staple(stack: LocalStack) -> None:
    for policy in ("hard", "soft"):
        report = handshake(
            stack, "--server-name", "must-staple.tlssim.test", "--no-staple", "--revocation", policy
        )
        assert outcome(report) == "bad_certificate_status_response", policy
    report = handshake(
        stack, "--server-name", "must-staple.tlssim.test", "--no-staple", "--revocation", "off"
    )
    assert report.ok, report


def test_long_chain_checks_every_intermediate(stack: LocalStack) -> None:
    report = handshake(stack, "--server-name", "long-chain.tlssim.test")
    assert len(report.chain) == 4  # leaf and three intermediates
    statuses = [(c.position, c.status) for c in report.revocation.certificates or ()]
    assert statuses == [(0, "good"), (1, "good"), (2, "good"), (3, "good")]
    names = {c.name for c in report.checks}
    assert {"revocation/leaf", "revocation/intermediate-3"} <= names


def _check(report: Report, name: str) -> Check:
    return next(c for c in report.checks if c.name == name)


def test_aia_chain_is_completed_only_when_asked(stack: LocalStack) -> None:
    report = handshake(stack, "--server-name", "aia-chain.tlssim.test")
    assert outcome(report) == "unknown_ca"
    assert not any(c.name.startswith("aia/") for c in report.checks)
    report = handshake(stack, "--server-name", "aia-chain.tlssim.test", "--chase-aia")
    assert report.ok, report.checks
    assert len(report.chain) == 1  # what the server sent: the leaf alone
    fetched = _check(report, "aia/1")
    assert fetched.ok and "CN=tlssim Intermediate CA" in fetched.detail, fetched
    # over HTTP, from the responder's port as the ca writes it (through the faults proxy)
    assert re.search(r"from http://127\.0\.0\.1:\d+/ca/[0-9a-f]{40}\.crt,", fetched.detail)
    statuses = [(c.position, c.status) for c in report.revocation.certificates or ()]
    assert statuses == [(0, "good"), (1, "good")]


def test_cross_signed_path_ends_at_the_root_that_has_not_expired(stack: LocalStack) -> None:
    report = handshake(stack, "--server-name", "cross-signed.tlssim.test")
    assert report.ok, report.checks
    # as sent: the expired root's certificate of the intermediate first
    issuers = [c.issuer for c in report.chain[1:]]
    assert issuers == ["CN=tlssim Old Root CA,O=tlssim", "CN=tlssim Cross Root CA,O=tlssim"]
    detail = _check(report, "signature/chain").detail
    assert detail == "3 certificates up to CN=tlssim Cross Root CA,O=tlssim", detail


@pytest.mark.parametrize("host", ["sha1-leaf.tlssim.test", "sha1-intermediate.tlssim.test"])
def test_sha1_story_says_why(stack: LocalStack, host: str) -> None:
    report = handshake(stack, "--server-name", host)
    detail = _check(report, "signature/chain").detail
    assert "signed with SHA-1" in detail and "collisions" in detail, detail
    story = stack.tlssim("handshake", "--server-name", host)
    assert story.returncode == 1 and "SHA-1 collisions" in story.stdout, story.stdout


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize(
    ("host", "scheme"),
    [
        ("ecdsa-p384.tlssim.test", "ecdsa_secp384r1_sha384"),
        ("ecdsa-p521.tlssim.test", "ecdsa_secp521r1_sha512"),
        ("rsa8192.tlssim.test", "rsa_pss_rsae_sha256"),
    ],
)
def test_each_key_signs_with_its_scheme(
    stack: LocalStack, host: str, scheme: str, version: str
) -> None:
    report = handshake(stack, "--server-name", host, "--tls", version)
    assert report.ok, report.checks
    assert (report.version, report.signature_scheme) == (f"TLSv{version}", scheme)


def test_ten_thousand_sans_exceed_what_our_client_reads(stack: LocalStack) -> None:
    report = handshake(stack, "--server-name", "10000-sans.tlssim.test")
    assert outcome(report) == "illegal_parameter" and sent_by(report) == Party.CLIENT
    # refused while reading the Certificate message: nothing was verified
    assert report.chain == () and report.checks == (), report
    many = handshake(stack, "--server-name", "1000-sans.tlssim.test")
    assert many.ok and many.chain[0].subject.endswith("CN=1000-sans.tlssim.test")


# -- OpenSSL ------------------------------------------------------------------------------


def s_client(stack: LocalStack, host: str, bundle: Path, *extra: str) -> str:
    done = openssl_client(
        stack.server_tcp,
        "-msg",
        *extra,
        server_name=host,
        ca_file=bundle,
        verify=True,
        verify_hostname=host,
    )
    return done.stdout + done.stderr


@needs_openssl
@pytest.mark.parametrize("host", sorted(HOSTS))
def test_openssl(stack: LocalStack, bundle: Path, host: str) -> None:
    expected = HOSTS[host].openssl
    out = s_client(stack, host, bundle, "-status")
    if expected.server_alert is not None:
        assert re.search(rf"<<< .*Alert.*fatal {expected.server_alert}\b", out), out
        assert "no peer certificate available" in out, out
    elif expected.client_alert is not None:
        assert re.search(rf">>> .*Alert.*fatal {expected.client_alert}\b", out), out
        assert "no peer certificate available" in out, out
    elif expected.ok:
        assert "Verify return code: 0 (ok)" in out, out
        assert not re.search(r">>> .*Alert.*fatal", out), out
    elif expected.verify_error is None:  # s_client refuses the ServerHello itself
        assert re.search(rf">>> .*Alert.*fatal {expected.alert}\b", out), out
    else:
        assert f"verify error:num={expected.verify_error}:{expected.verify_message}" in out, out
        assert re.search(rf">>> TLS 1\.3, Alert \[length 0002\], fatal {expected.alert}\b", out), (
            out
        )
    if host == "revoked.tlssim.test":
        assert "Cert Status: revoked" in out, out


def _presented_chain(stack: LocalStack, host: str, bundle: Path) -> list[x509.Certificate]:
    out = s_client(stack, host, bundle, "-showcerts")
    return x509.load_pem_x509_certificates(out.encode())


def _write(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def openssl_ocsp(stack: LocalStack, cert: Path, issuer: Path, bundle: Path) -> str:
    done = subprocess.run(
        [
            OPENSSL or "openssl",
            "ocsp",
            "-url",
            stack.env["TLSSIM_OCSP_URL"] + "/",
            "-issuer",
            str(issuer),
            "-cert",
            str(cert),
            "-CAfile",
            str(bundle),
            "-verify_other",
            str(issuer),
            "-timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout + done.stderr


@needs_openssl
def test_openssl_ocsp_and_crl_for_the_revoked_host(
    stack: LocalStack, bundle: Path, tmp_path: Path
) -> None:
    leaf, intermediate = _presented_chain(stack, "revoked.tlssim.test", bundle)[:2]
    leaf_pem = _write(tmp_path / "leaf.pem", leaf)
    inter_pem = _write(tmp_path / "inter.pem", intermediate)

    out = openssl_ocsp(stack, leaf_pem, inter_pem, bundle)
    assert "Response verify OK" in out and f"{leaf_pem}: revoked" in out, out
    assert "Reason: keyCompromise" in out, out

    # The intermediate's own status, answered by a responder certificate the root signed.
    root = x509.load_pem_x509_certificates(bundle.read_bytes())
    root_pem = _write(tmp_path / "root.pem", *root)
    out = openssl_ocsp(stack, inter_pem, root_pem, bundle)
    assert "Response verify OK" in out and f"{inter_pem}: good" in out, out

    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name is not None
    url = str(points[0].full_name[0].value)
    # The responder's HTTP port as the ca writes it: through the ocsp_http faults proxy.
    assert url.startswith("http://127.0.0.1:") and "/crl/" in url, url
    with urllib.request.urlopen(url, timeout=10) as answer:
        (tmp_path / "crl.der").write_bytes(answer.read())
    done = subprocess.run(
        [
            OPENSSL or "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "crl.der"),
            "-CAfile",
            str(_write(tmp_path / "cas.pem", intermediate, *root)),
            "-noout",
            "-text",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "verify OK" in out, out
    listed = {int(h, 16) for h in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", out)}
    assert leaf.serial_number in listed, out


# -- the README's table is this data -------------------------------------------------------


def _readme_rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    section = README.read_text().split("## Virtual hosts", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.match(r"`([a-z0-9.-]+\.tlssim\.test)`", cells[0]) if cells else None
        if match:
            rows[match.group(1)] = cells
    return rows


def test_readme_table_matches_the_hosts() -> None:
    rows = _readme_rows()
    assert set(rows) == set(HOSTS)
    for name, host in HOSTS.items():
        _, _, ours, theirs = rows[name][:4]
        assert f"`{host.expected}`" in ours or (host.expected == "success" and "success" in ours)
        if host.openssl.server_alert is not None:
            assert f"`{host.openssl.server_alert}` from the server" in theirs, name
        elif host.openssl.client_alert is not None:
            assert f"alert `{host.openssl.client_alert}`" in theirs, name
        elif host.openssl.ok:
            assert "success" in theirs, name
        elif host.openssl.verify_error is None:
            assert f"`{host.openssl.alert}`" in theirs, name
        else:
            assert f"{host.openssl.verify_error} ({host.openssl.verify_message})" in theirs, name
            assert f"`{host.openssl.alert}`" in theirs, name


# -- the chains a client must build, as the server presents them ---------------------------


def _openssl_verify(
    bundle: Path, tmp_path: Path, host: str, leaf: x509.Certificate, *untrusted: x509.Certificate
) -> str:
    args = ["-CAfile", str(bundle), "-verify_hostname", host]
    if untrusted:
        args += ["-untrusted", str(_write(tmp_path / "untrusted.pem", *untrusted))]
    done = subprocess.run(
        [OPENSSL or "openssl", "verify", *args, str(_write(tmp_path / "leaf.pem", leaf))],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout + done.stderr


def _cryptography_path(
    bundle: Path, host: str, leaf: x509.Certificate, *untrusted: x509.Certificate
) -> list[x509.Certificate]:
    roots = x509.load_pem_x509_certificates(bundle.read_bytes())
    verifier = PolicyBuilder().store(Store(roots)).build_server_verifier(x509.DNSName(host))
    return verifier.verify(leaf, list(untrusted))


@needs_openssl
def test_cross_signed_chain_by_openssl_verify_and_cryptography(
    stack: LocalStack, bundle: Path, tmp_path: Path
) -> None:
    host = "cross-signed.tlssim.test"
    leaf, by_old_root, by_new_root = _presented_chain(stack, host, bundle)
    assert "Old Root" in by_old_root.issuer.rfc4514_string()
    out = _openssl_verify(bundle, tmp_path, host, leaf, by_old_root, by_new_root)
    assert "error 10 at 2 depth lookup: certificate has expired" in out, out
    path = _cryptography_path(bundle, host, leaf, by_old_root, by_new_root)
    assert path[1] == by_new_root and path[2].subject.rfc4514_string() == (
        "CN=tlssim Cross Root CA,O=tlssim"
    )


@needs_openssl
def test_name_constrained_chain_by_openssl_verify_and_cryptography(
    stack: LocalStack, bundle: Path, tmp_path: Path
) -> None:
    host = "name-constrained.tlssim.test"
    leaf, intermediate = _presented_chain(stack, host, bundle)
    out = _openssl_verify(bundle, tmp_path, host, leaf, intermediate)
    assert "error 47 at 0 depth lookup: permitted subtree violation" in out, out
    with pytest.raises(VerificationError, match="name constraints"):
        _cryptography_path(bundle, host, leaf, intermediate)


@needs_openssl
def test_aia_chain_by_openssl_verify_and_cryptography(
    stack: LocalStack, bundle: Path, tmp_path: Path
) -> None:
    host = "aia-chain.tlssim.test"
    (leaf,) = _presented_chain(stack, host, bundle)
    out = _openssl_verify(bundle, tmp_path, host, leaf)
    assert "error 20 at 0 depth lookup: unable to get local issuer certificate" in out, out
    access = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    url = next(
        str(d.access_location.value)
        for d in access
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
    )
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.headers["Content-Type"] == "application/pkix-cert"
        intermediate = x509.load_der_x509_certificate(answer.read())
    out = _openssl_verify(bundle, tmp_path, host, leaf, intermediate)
    assert out.strip().endswith(": OK"), out
    assert _cryptography_path(bundle, host, leaf, intermediate)[1] == intermediate
