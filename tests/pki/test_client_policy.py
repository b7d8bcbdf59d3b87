"""The client's decision: revocation of the leaf and every intermediate, staple, live OCSP
and the CRL fallback, under the hard/soft/off policies."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from tests.pki.helpers import MovableClock, csr_der
from tests.pki.ocsp_fixtures import store_lookup
from tlssim.client.decision import Decision
from tlssim.client.policy import NO_LOCATION, CertificatePolicy
from tlssim.client.status import IssuerFetcher, StatusCache
from tlssim.clock import SystemClock
from tlssim.pki import (
    Authority,
    ChainVerifier,
    OcspResponder,
    ServedIssuer,
    build_ocsp_request,
)
from tlssim.pki.authority import issuer_id, serial_to_hex
from tlssim.pki.crl import check_crl
from tlssim.pki.throwaway import make_ca, make_leaf
from tlssim.report.revocation import CertificateRevocation, RevocationPolicy
from tlssim.tls import AlertDescription, events


@dataclass
class Services:
    """The responder and the CRL distribution points, as the client reaches them."""

    authority: Authority
    ocsp_up: bool = True
    crl_up: bool = True
    ocsp_queries: list[int] = field(default_factory=list)  # serials asked about
    crl_fetches: list[str] = field(default_factory=list)
    issuer_fetches: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        served = [
            ServedIssuer.create(ca.certificate, ca.certificate, ca.private_key)
            for ca in self.authority.cas.values()
        ]
        self.responder = OcspResponder(served, store_lookup(self.authority), self.authority.clock)

    async def fetch_ocsp(self, request_der: bytes) -> bytes:
        if not self.ocsp_up:
            raise ConnectionError("responder down")
        self.ocsp_queries.append(ocsp.load_der_ocsp_request(request_der).serial_number)
        return self.responder.respond(request_der).der

    async def fetch_issuer(self, url: str) -> bytes:
        """What the responder's HTTP front answers at /ca/<issuer id>.crt."""
        self.issuer_fetches.append(url)
        public_id = url.rsplit("/", 1)[1].removesuffix(".crt")
        ca = self.authority.ca_by_issuer_id(public_id)
        return ca.certificate.public_bytes(serialization.Encoding.DER)

    async def fetch_crl(self, url: str) -> bytes:
        self.crl_fetches.append(url)
        if not self.crl_up:
            raise TimeoutError("CRL server down")
        public_id = url.rsplit("/", 1)[1].removesuffix(".crl")
        return self.authority.crl_der(self.authority.ca_by_issuer_id(public_id).id)


@pytest.fixture
def services(authority: Authority) -> Services:
    return Services(authority)


def _decide(
    services: Services,
    chain: tuple[x509.Certificate, ...],
    *,
    policy: str = "hard",
    staple: bytes | None = None,
    cache: StatusCache | None = None,
    host: str = "valid.tlssim.test",
    fetch_issuer: IssuerFetcher | None = None,
) -> tuple[AlertDescription | None, Decision]:
    authority = services.authority
    clock: MovableClock = authority.clock  # type: ignore[assignment]
    policy_ = CertificatePolicy(
        verifier=ChainVerifier(authority.trusted_roots(), clock),
        server_name=host,
        revocation=RevocationPolicy(policy),
        clock=clock,
        lab_roots=frozenset(authority.trusted_roots()),
        fetch_ocsp=services.fetch_ocsp,
        fetch_crl=services.fetch_crl,
        status_cache=cache or StatusCache(ttl_s=0),
        fetch_issuer=fetch_issuer,
    )
    received = events.CertificateReceived(
        chain=tuple(c.public_bytes(serialization.Encoding.DER) for c in chain),
        ocsp_response=staple,
    )
    decision = asyncio.run(policy_.decide(received))
    return decision.alert, decision


def _issue(authority: Authority, profile: str = "server") -> tuple[x509.Certificate, ...]:
    return authority.issue(csr_der()[1], profile).chain


def _revoke(authority: Authority, cert: x509.Certificate, reason: str = "keyCompromise") -> None:
    authority.revoke(serial_to_hex(cert.serial_number), reason)


def _by_position(decision: Decision) -> dict[int, CertificateRevocation]:
    assert decision.revocation.certificates is not None
    return {c.position: c for c in decision.revocation.certificates}


def test_leaf_and_intermediate_are_both_checked_live(services: Services) -> None:
    chain = _issue(services.authority)
    alert, decision = _decide(services, chain)
    assert alert is None
    assert (decision.revocation.status, decision.revocation.source) == ("good", "ocsp")
    per_cert = _by_position(decision)
    assert [per_cert[p].status for p in (0, 1)] == ["good", "good"]
    assert set(services.ocsp_queries) == {chain[0].serial_number, chain[1].serial_number}
    names = {c.name: c for c in decision.checks}
    assert names["revocation/leaf"].ok and names["revocation/intermediate-1"].ok
    assert names["ocsp/signature"].source == "ocsp"


def test_a_revoked_intermediate_fails_the_handshake(services: Services) -> None:
    chain = _issue(services.authority, "long-chain")  # leaf, long-3, long-2, long-1
    _revoke(services.authority, chain[2], "cACompromise")
    alert, decision = _decide(services, chain)
    assert alert is AlertDescription.certificate_revoked
    revocation = decision.revocation
    assert revocation.status == "revoked" and revocation.source == "ocsp"
    assert revocation.detail and revocation.detail.startswith("intermediate 2: revoked")
    per_cert = _by_position(decision)
    assert [per_cert[p].status for p in range(4)] == ["good", "good", "revoked", "good"]
    # Revocation beats every policy but off.
    assert _decide(services, chain, policy="soft")[0] is AlertDescription.certificate_revoked
    assert _decide(services, chain, policy="off")[0] is None


def test_crl_fallback_when_the_responder_is_down(services: Services) -> None:
    chain = _issue(services.authority)
    services.ocsp_up = False
    alert, decision = _decide(services, chain)
    assert alert is None
    assert decision.revocation.source == "crl"
    assert decision.revocation.status == "good"
    assert "crl/signature" in {c.name for c in decision.checks}
    assert all(c.source == "crl" for c in decision.checks if c.name.startswith("crl/"))

    _revoke(services.authority, chain[0])
    alert, decision = _decide(services, chain)
    assert alert is AlertDescription.certificate_revoked
    assert (decision.revocation.status, decision.revocation.source) == ("revoked", "crl")


def test_a_revoked_intermediate_is_found_in_the_roots_crl(services: Services) -> None:
    chain = _issue(services.authority)
    _revoke(services.authority, chain[1])
    services.ocsp_up = False
    alert, decision = _decide(services, chain)
    assert alert is AlertDescription.certificate_revoked
    intermediate = _by_position(decision)[1]
    assert (intermediate.status, intermediate.source) == ("revoked", "crl")
    assert any(url.endswith(".crl") for url in services.crl_fetches)


def test_no_responder_and_no_crl_follows_the_policy(services: Services) -> None:
    chain = _issue(services.authority)
    services.ocsp_up = services.crl_up = False
    alert, decision = _decide(services, chain, policy="hard")
    assert alert is AlertDescription.certificate_unknown
    assert decision.revocation.status == "unavailable"
    alert, decision = _decide(services, chain, policy="soft")
    assert alert is None and decision.warnings
    alert, decision = _decide(services, chain, policy="off")
    assert alert is None and decision.revocation.status == "not_checked"


def test_a_stale_or_forged_crl_is_not_used(services: Services, clock: MovableClock) -> None:
    authority = services.authority
    chain = _issue(authority)
    crl = authority.crl_der("intermediate")
    assert check_crl(crl, chain[0], chain[1], clock).status == "good"
    later = clock.now() + dt.timedelta(days=2)
    stale = check_crl(crl, chain[0], chain[1], later)
    assert stale.status == "unavailable" and "stale" in stale.detail
    forged = check_crl(authority.crl_der("long-1"), chain[0], chain[1], clock)
    assert forged.status == "unavailable" and {c.name for c in forged.checks if not c.ok} >= {
        "crl/issuer",
        "crl/signature",
    }
    assert check_crl(b"garbage", chain[0], chain[1], clock).status == "unavailable"

    services.ocsp_up = False
    clock.advance(dt.timedelta(days=2))  # the CRL the authority signs now is fresh again ...

    async def stale_crl(url: str) -> bytes:  # ... but this distribution point serves an old one
        return crl

    services.fetch_crl = stale_crl  # type: ignore[method-assign]
    alert, decision = _decide(services, _issue(authority))
    assert alert is AlertDescription.certificate_unknown
    assert "stale" in (decision.revocation.detail or "")


def test_staple_is_used_for_the_leaf_and_a_stale_one_is_rejected(
    services: Services, clock: MovableClock
) -> None:
    chain = _issue(services.authority)
    staple = services.responder.respond(build_ocsp_request(chain[0], chain[1])).der
    alert, decision = _decide(services, chain, staple=staple)
    assert alert is None and decision.revocation.source == "staple"
    assert chain[0].serial_number not in services.ocsp_queries  # the staple answered
    clock.advance(dt.timedelta(hours=2))  # past the staple's nextUpdate (+ skew)
    alert, decision = _decide(services, chain, staple=staple)
    assert alert is AlertDescription.bad_certificate_status_response
    assert alert is _decide(services, chain, staple=staple, policy="soft")[0]


def test_must_staple_without_a_staple(services: Services) -> None:
    chain = _issue(services.authority, "must-staple")
    for policy in ("hard", "soft"):
        alert, decision = _decide(services, chain, policy=policy)
        assert alert is AlertDescription.bad_certificate_status_response, policy
        assert "must-staple" in (decision.revocation.detail or "")
    assert _decide(services, chain, policy="off")[0] is None


def test_intermediate_status_is_cached_briefly(services: Services) -> None:
    chain = _issue(services.authority)
    cache = StatusCache(ttl_s=60)
    _decide(services, chain, cache=cache)
    _decide(services, chain, cache=cache)
    assert services.ocsp_queries.count(chain[1].serial_number) == 1
    assert services.ocsp_queries.count(chain[0].serial_number) == 2  # never the leaf


def test_a_certificate_damaged_in_flight_is_a_bad_certificate(services: Services) -> None:
    """cryptography parses lazily: a broken issuer name must still fail here, not later."""
    authority = services.authority
    leaf, *rest = _issue(authority)
    der = bytearray(leaf.public_bytes(serialization.Encoding.DER))
    issuer_der = leaf.issuer.public_bytes()
    start = bytes(der).index(issuer_der)
    der[start + 2] ^= 0xFF  # the first RDN's SET tag: the name no longer parses
    clock: MovableClock = authority.clock  # type: ignore[assignment]
    policy = CertificatePolicy(
        verifier=ChainVerifier(authority.trusted_roots(), clock),
        server_name="valid.tlssim.test",
        revocation=RevocationPolicy.HARD,
        clock=clock,
        lab_roots=frozenset(authority.trusted_roots()),
        fetch_ocsp=services.fetch_ocsp,
        fetch_crl=services.fetch_crl,
    )
    received = events.CertificateReceived(
        chain=(bytes(der), *(c.public_bytes(serialization.Encoding.DER) for c in rest)),
        ocsp_response=None,
    )
    decision = asyncio.run(policy.decide(received))
    assert decision.alert is AlertDescription.bad_certificate
    assert decision.checks[-1].name == "parse"


@pytest.mark.parametrize(("policy", "alert"), [("hard", "certificate_unknown"), ("soft", None)])
def test_a_certificate_naming_no_responder_or_crl_is_not_asked_about(
    policy: str, alert: str | None
) -> None:
    """A chain from outside the lab (no AIA, no CRL distribution point): nobody is asked, the
    status is unavailable for that reason, and the policy decides."""
    root, root_key = make_ca("Foreign Root")
    leaf = make_leaf(
        root, root_key, "foreign.example.test", ec.generate_private_key(ec.SECP256R1())
    )

    async def never(request_der: bytes) -> bytes:
        raise AssertionError("the lab's responder was asked about a foreign certificate")

    async def no_crl(url: str) -> bytes:
        raise AssertionError("a CRL was fetched for a certificate that names none")

    clock = SystemClock()
    decided = asyncio.run(
        CertificatePolicy(
            verifier=ChainVerifier((root,), clock),
            server_name="foreign.example.test",
            revocation=RevocationPolicy(policy),
            clock=clock,
            lab_roots=frozenset(),
            fetch_ocsp=never,
            fetch_crl=no_crl,
        ).decide(
            events.CertificateReceived(
                chain=(leaf.public_bytes(serialization.Encoding.DER),), ocsp_response=None
            )
        )
    )
    assert (decided.alert.name if decided.alert else None) == alert
    assert decided.revocation.status == "unavailable"
    assert decided.revocation.detail == NO_LOCATION
    assert not [c for c in decided.checks if c.name.startswith("ocsp/")]
    if policy == "soft":
        assert any(NO_LOCATION in w for w in decided.warnings), decided.warnings


# -- AIA caIssuers -------------------------------------------------------------------------


def test_aia_is_not_chased_unless_asked(services: Services) -> None:
    leaf = _issue(services.authority, "aia-chain")[0]
    alert, decision = _decide(services, (leaf,))
    assert alert is AlertDescription.unknown_ca
    assert services.issuer_fetches == []
    assert not any(c.name.startswith("aia/") for c in decision.checks)


def test_aia_chase_fetches_the_missing_intermediate(services: Services) -> None:
    leaf, intermediate = _issue(services.authority, "aia-chain")
    alert, decision = _decide(services, (leaf,), fetch_issuer=services.fetch_issuer)
    assert alert is None, decision.checks
    assert services.issuer_fetches == [f"http://127.0.0.1:8080/ca/{issuer_id(intermediate)}.crt"]
    fetched = next(c for c in decision.checks if c.name == "aia/1")
    assert fetched.ok and "CN=tlssim Intermediate CA" in fetched.detail, fetched
    assert decision.chain == (leaf,)  # the report shows what the server sent
    # the fetched intermediate is on the verified path, so its status is checked too
    assert [c.status for c in _by_position(decision).values()] == ["good", "good"]


def test_aia_chase_without_a_ca_issuers_url_or_with_a_failing_fetch(services: Services) -> None:
    leaf = _issue(services.authority, "server")[0]  # names no caIssuers
    alert, decision = _decide(services, (leaf,), fetch_issuer=services.fetch_issuer)
    assert alert is AlertDescription.unknown_ca
    check = next(c for c in decision.checks if c.name == "aia/1")
    assert not check.ok and check.detail.endswith("names no caIssuers URL"), check

    async def down(url: str) -> bytes:
        raise ConnectionRefusedError("connection refused")

    leaf = _issue(services.authority, "aia-chain")[0]
    alert, decision = _decide(services, (leaf,), fetch_issuer=down)
    assert alert is AlertDescription.unknown_ca
    check = next(c for c in decision.checks if c.name == "aia/1")
    assert not check.ok and check.detail.endswith(".crt: connection refused"), check


def test_a_fetched_certificate_that_is_not_the_issuer_does_not_help(services: Services) -> None:
    leaf = _issue(services.authority, "aia-chain")[0]
    stranger = services.authority.ca("untrusted-intermediate").certificate

    async def wrong(url: str) -> bytes:
        return stranger.public_bytes(serialization.Encoding.PEM)

    alert, decision = _decide(services, (leaf,), fetch_issuer=wrong)
    assert alert is AlertDescription.unknown_ca
    assert [c.name for c in decision.checks if c.name.startswith("aia/")] == ["aia/1", "aia/2"]


FOREIGN_OCSP = "http://ocsp.foreign.example.test/"
FOREIGN_CRL = "http://crl.foreign.example.test/root.crl"


@dataclass
class ForeignCa:
    """A CA the lab did not make, whose leaf names its own OCSP responder and CRL."""

    root: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    leaf: x509.Certificate
    revoked: bool = False
    ocsp_up: bool = True
    asked: list[str] = field(default_factory=list)  # URLs asked, OCSP and CRL
    #: Set: the OCSP answers are signed with this key, not the issuer's.
    ocsp_key: ec.EllipticCurvePrivateKey | None = None

    @classmethod
    def create(cls) -> ForeignCa:
        root, key = make_ca("Foreign Root With Pointers")
        plain = make_leaf(
            root, key, "foreign.example.test", ec.generate_private_key(ec.SECP256R1())
        )
        builder = x509.CertificateBuilder(
            issuer_name=plain.issuer,
            subject_name=plain.subject,
            public_key=plain.public_key(),
            serial_number=plain.serial_number,
            not_valid_before=plain.not_valid_before_utc,
            not_valid_after=plain.not_valid_after_utc,
            extensions=list(plain.extensions),
        )
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(FOREIGN_OCSP),
                    )
                ]
            ),
            critical=False,
        ).add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(FOREIGN_CRL)], None, None, None
                    )
                ]
            ),
            critical=False,
        )
        return cls(root, key, builder.sign(key, hashes.SHA256()))

    async def fetch_ocsp_url(self, url: str, request_der: bytes) -> bytes:
        self.asked.append(url)
        if not self.ocsp_up:
            raise ConnectionError("connection refused")
        request = ocsp.load_der_ocsp_request(request_der)
        now = dt.datetime.now(dt.UTC)
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=self.leaf,
            issuer=self.root,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.REVOKED if self.revoked else ocsp.OCSPCertStatus.GOOD,
            this_update=now - dt.timedelta(minutes=1),
            next_update=now + dt.timedelta(hours=1),
            revocation_time=now - dt.timedelta(hours=1) if self.revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if self.revoked else None,
        )
        for extension in request.extensions:
            builder = builder.add_extension(extension.value, critical=extension.critical)
        if self.ocsp_key is None:
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.root)
            return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        # The issuer's name on another key: an impostor.
        impostor = make_ca(self.root.subject.rfc4514_string()[3:])[0]
        impostor = x509.load_der_x509_certificate(
            x509.CertificateBuilder(
                issuer_name=self.root.subject,
                subject_name=self.root.subject,
                public_key=self.ocsp_key.public_key(),
                serial_number=impostor.serial_number,
                not_valid_before=impostor.not_valid_before_utc,
                not_valid_after=impostor.not_valid_after_utc,
            )
            .sign(self.ocsp_key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.NAME, impostor)
        return builder.sign(self.ocsp_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    async def fetch_crl(self, url: str) -> bytes:
        self.asked.append(url)
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.root.subject)
            .last_update(now - dt.timedelta(minutes=1))
            .next_update(now + dt.timedelta(hours=1))
        )
        if self.revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(self.leaf.serial_number)
                .revocation_date(now - dt.timedelta(hours=1))
                .build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def decide(self, policy: str = "hard") -> Decision:
        async def lab_responder(request_der: bytes) -> bytes:
            raise AssertionError("the lab's responder was asked about a foreign certificate")

        clock = SystemClock()
        return asyncio.run(
            CertificatePolicy(
                verifier=ChainVerifier((self.root,), clock),
                server_name="foreign.example.test",
                revocation=RevocationPolicy(policy),
                clock=clock,
                lab_roots=frozenset(make_ca("The Lab's Root")[:1]),
                fetch_ocsp=lab_responder,
                fetch_ocsp_url=self.fetch_ocsp_url,
                fetch_crl=self.fetch_crl,
            ).decide(
                events.CertificateReceived(
                    chain=(self.leaf.public_bytes(serialization.Encoding.DER),),
                    ocsp_response=None,
                )
            )
        )


@pytest.mark.parametrize("revoked", [False, True])
def test_a_foreign_certificate_is_asked_about_at_the_ocsp_url_it_names(revoked: bool) -> None:
    foreign = ForeignCa.create()
    foreign.revoked = revoked
    decided = foreign.decide()
    assert foreign.asked == [FOREIGN_OCSP]
    assert decided.revocation.source == "ocsp"
    assert decided.revocation.location == FOREIGN_OCSP
    assert decided.revocation.status == ("revoked" if revoked else "good")
    assert decided.alert == (AlertDescription.certificate_revoked if revoked else None)
    assert FOREIGN_OCSP in (decided.revocation.detail or "")
    names = {c.name: c for c in decided.checks}
    assert names["ocsp/responder"].detail == "signed by the issuing CA"
    assert names["ocsp/nonce"].ok


@pytest.mark.parametrize(("policy", "alert"), [("hard", "certificate_unknown"), ("soft", None)])
def test_a_foreign_certificate_falls_back_to_the_crl_it_names(
    policy: str, alert: str | None
) -> None:
    foreign = ForeignCa.create()
    foreign.ocsp_up = False
    decided = foreign.decide(policy)
    assert foreign.asked == [FOREIGN_OCSP, FOREIGN_CRL]
    assert decided.revocation.source == "crl"
    assert decided.revocation.location == FOREIGN_CRL
    assert decided.revocation.status == "good" and decided.alert is None
    foreign.revoked = True
    assert foreign.decide(policy).alert is AlertDescription.certificate_revoked

    # Neither answers: the policy decides, and says which responder it could not reach.
    async def down(url: str) -> bytes:
        foreign.asked.append(url)
        raise TimeoutError("no answer within 2 s")

    foreign.fetch_crl = down  # type: ignore[method-assign]
    decided = foreign.decide(policy)
    assert (decided.alert.name if decided.alert else None) == alert
    assert decided.revocation.status == "unavailable"
    assert f"responder unavailable at {FOREIGN_OCSP}" in (decided.revocation.detail or "")


def test_a_foreign_answer_signed_by_another_key_is_refused_and_the_crl_asked() -> None:
    foreign = ForeignCa.create()
    foreign.ocsp_key = ec.generate_private_key(ec.SECP256R1())  # not the issuer's key
    foreign.revoked = True
    decided = foreign.decide("hard")
    failed = [c for c in decided.checks if not c.ok]
    assert [c.name for c in failed] == ["ocsp/signature", "revocation/leaf"], decided.checks
    assert foreign.asked == [FOREIGN_OCSP, FOREIGN_CRL]
    assert decided.revocation.source == "crl"
    assert decided.alert is AlertDescription.certificate_revoked
