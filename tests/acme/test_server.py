"""The ACME server's protocol, end to end in this process against a real Authority."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID

from tests.acme.client import Lab, b64, issue, jws_body, new_key, running_lab
from tlssim.acme import jws
from tlssim.acme.policy import AcmePolicy
from tlssim.acme.server import Faults, ari_cert_id


def run(tmp_path: Path, body: Callable[[Lab], Awaitable[None]], **lab: Any) -> None:
    async def main() -> None:
        async with running_lab(tmp_path / "ca", **lab) as started:
            await body(started)

    asyncio.run(main())


def test_the_directory_names_every_resource_and_its_meta(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        async with lab.http.get(f"{lab.base}/directory") as reply:
            directory = await reply.json()
        for key in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"):
            assert directory[key].startswith(lab.base)
        assert set(directory["meta"]) == {
            "termsOfService",
            "website",
            "caaIdentities",
            "externalAccountRequired",
        }
        assert directory["meta"]["externalAccountRequired"] is False

    run(tmp_path, body)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "RS256", "EdDSA"])
def test_accounts_with_every_algorithm(tmp_path: Path, alg: str) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client(alg)
        created = await client.register(contact=["mailto:someone@tlssim.test"])
        assert created.status == 201
        assert created.json()["contact"] == ["mailto:someone@tlssim.test"]
        again = await client.register()
        assert again.status == 200
        assert again.headers["Location"] == created.headers["Location"]
        _order, chain = await issue(lab, client, ("dns", f"{alg.lower()}.tlssim.test"))
        assert chain.count("BEGIN CERTIFICATE") == 2  # leaf and intermediate

    run(tmp_path, body)


def test_an_issued_certificate_is_the_lab_s_own(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client()
        await client.register()
        _order, chain = await issue(lab, client, ("dns", "www.tlssim.test"), ("dns", "tlssim.test"))
        leaf = x509.load_pem_x509_certificates(chain.encode())[0]
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sorted(sans.get_values_for_type(x509.DNSName)) == ["tlssim.test", "www.tlssim.test"]
        aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        assert [d.access_method for d in aia] == [AuthorityInformationAccessOID.OCSP]
        listed = lab.issuer.authority.store.listing("www.tlssim.test", False, 10)
        assert [c.profile for c in listed] == ["acme"]
        lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        assert lifetime.days <= 90

    run(tmp_path, body)


def test_an_ip_identifier_is_validated_at_its_address(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client()
        await client.register()
        order, chain = await issue(lab, client, ("ip", "127.0.0.1"))
        leaf = x509.load_pem_x509_certificates(chain.encode())[0]
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
        assert order["identifiers"] == [{"type": "ip", "value": "127.0.0.1"}]

    run(tmp_path, body)


def test_only_return_existing_and_deactivation(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client()
        missing = await client.post(
            f"{lab.base}/acme/new-account", {"onlyReturnExisting": True}, use_jwk=True
        )
        assert (missing.status, missing.problem) == (400, "accountDoesNotExist")
        await client.register()
        gone = await client.post(client.kid, {"status": "deactivated"})
        assert gone.json()["status"] == "deactivated"
        refused = await client.order(("dns", "a.tlssim.test"))
        assert (refused.status, refused.problem) == (401, "unauthorized")
        again = await client.register()
        assert (again.status, again.problem) == (401, "unauthorized")

    run(tmp_path, body)


def test_contacts_are_mailto_only(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client()
        refused = await client.register(contact=["tel:+15555550100"])
        assert refused.problem == "unsupportedContact"
        refused = await client.register(contact=["mailto:not-an-address"])
        assert refused.problem == "invalidContact"
        await client.register(contact=["mailto:a@tlssim.test"])
        updated = await client.post(client.kid, {"contact": ["mailto:b@tlssim.test"]})
        assert updated.json()["contact"] == ["mailto:b@tlssim.test"]

    run(tmp_path, body)


def test_key_rollover(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client("ES256")
        await client.register()
        old_jwk = jws.jwk_of(client.key.public_key())
        new = new_key("EdDSA")
        url = f"{lab.base}/acme/key-change"
        inner = jws_body(
            new,
            {"alg": "EdDSA", "jwk": jws.jwk_of(new.public_key()), "url": url},
            json.dumps({"account": client.kid, "oldKey": old_jwk}).encode(),
        )
        rolled = await client.post(url, json.loads(inner))
        assert rolled.status == 200, rolled.body
        client.key = new
        assert (await client.post(client.kid, None)).status == 200
        # the old key no longer names an account
        old_client = lab.client()
        old_client.key = new_key("ES256")
        assert (await old_client.post(client.kid, None)).problem == "malformed"

    run(tmp_path, body)


def test_revocation_by_the_account_and_by_the_certificate_key(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client()
        await client.register()
        _, chain = await issue(lab, client, ("dns", "one.tlssim.test"))
        leaf = x509.load_pem_x509_certificates(chain.encode())[0]
        der = leaf.public_bytes(serialization.Encoding.DER)
        url = f"{lab.base}/acme/revoke-cert"
        bad_reason = await client.post(url, {"certificate": b64(der), "reason": 7})
        assert bad_reason.problem == "badRevocationReason"
        stranger = lab.client()
        await stranger.register()
        refused = await stranger.post(url, {"certificate": b64(der)})
        assert refused.problem == "unauthorized"
        done = await client.post(url, {"certificate": b64(der), "reason": 1})
        assert done.status == 200

        # an account that proves control of every name may revoke another's certificate
        _, other_chain = await issue(lab, client, ("dns", "shared.tlssim.test"))
        other = x509.load_pem_x509_certificates(other_chain.encode())[0]
        other_der = other.public_bytes(serialization.Encoding.DER)
        await issue(lab, stranger, ("dns", "shared.tlssim.test"))
        by_stranger = await stranger.post(url, {"certificate": b64(other_der)})
        assert by_stranger.status == 200, by_stranger.body
        assert (await client.post(url, {"certificate": b64(der)})).problem == "alreadyRevoked"
        status = lab.issuer.authority.store.listing("one.tlssim.test", True, 10)
        assert [c.revocation_reason for c in status] == ["keyCompromise"]

        # the second certificate is revoked with a JWS signed by its own key
        from cryptography.hazmat.primitives.asymmetric import ec

        from tests.acme.client import csr_for

        cert_key = ec.generate_private_key(ec.SECP256R1())
        order = (await client.order(("dns", "two.tlssim.test"))).json()
        authz = (await client.post(order["authorizations"][0], None)).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        lab.responder.answers[challenge["token"]] = client.key_authorization(challenge["token"])
        await client.post(challenge["url"], {})
        order_url = order["finalize"].replace("/finalize/", "/order/")
        await client.wait(order_url, ("ready",))
        final = await client.post(
            order["finalize"], {"csr": b64(csr_for(["two.tlssim.test"], cert_key))}
        )
        pem = (await client.post(final.json()["certificate"], None)).body
        second = x509.load_pem_x509_certificates(pem)[0].public_bytes(serialization.Encoding.DER)
        by_key = lab.client()
        by_key.key = cert_key
        done = await by_key.post(url, {"certificate": b64(second)}, use_jwk=True)
        assert done.status == 200, done.body

    run(tmp_path, body)


def test_renewal_information(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client()
        await client.register()
        _, chain = await issue(lab, client, ("dns", "ari.tlssim.test"))
        leaf = x509.load_pem_x509_certificates(chain.encode())[0]
        async with lab.http.get(f"{lab.base}/acme/renewal-info/{ari_cert_id(leaf)}") as reply:
            assert reply.status == 200
            assert int(reply.headers["Retry-After"]) > 0
            window = (await reply.json())["suggestedWindow"]
        assert window["start"] < window["end"]
        async with lab.http.get(f"{lab.base}/acme/renewal-info/AAAA.AAAA") as reply:
            assert reply.status == 404
        # an order may say which certificate it replaces, once
        replacing = await client.post(
            f"{lab.base}/acme/new-order",
            {
                "identifiers": [{"type": "dns", "value": "ari.tlssim.test"}],
                "replaces": ari_cert_id(leaf),
            },
        )
        assert replacing.status == 201
        assert replacing.json()["replaces"] == ari_cert_id(leaf)

    run(tmp_path, body)


def test_external_account_binding(tmp_path: Path) -> None:
    mac_key = b"0123456789abcdef0123456789abcdef"

    async def body(lab: Lab) -> None:
        async with lab.http.get(f"{lab.base}/directory") as reply:
            assert (await reply.json())["meta"]["externalAccountRequired"] is True
        client = lab.client()
        assert (await client.register()).problem == "externalAccountRequired"
        url = f"{lab.base}/acme/new-account"
        protected = b64(json.dumps({"alg": "HS256", "kid": "team-a", "url": url}).encode())
        payload = b64(json.dumps(jws.jwk_of(client.key.public_key())).encode())
        mac = hmac.new(mac_key, f"{protected}.{payload}".encode(), hashlib.sha256).digest()
        binding = {"protected": protected, "payload": payload, "signature": b64(mac)}
        forged = dict(binding, signature=b64(b"\0" * 32))
        assert (await client.register(externalAccountBinding=forged)).problem == "unauthorized"
        created = await client.register(externalAccountBinding=binding)
        assert created.status == 201, created.body

    run(tmp_path, body, policy=AcmePolicy(eab_keys={"team-a": mac_key}))


def test_orders_per_account_are_limited(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client()
        await client.register()
        assert (await client.order(("dns", "a.tlssim.test"))).status == 201
        limited = await client.order(("dns", "b.tlssim.test"))
        assert (limited.status, limited.problem) == (429, "rateLimited")
        assert int(limited.headers["Retry-After"]) > 0

    run(tmp_path, body, policy=AcmePolicy(orders_per_hour=1))


def test_the_nonce_fault_refuses_good_nonces(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        refused = await lab.client().register()
        assert refused.problem == "badNonce"
        assert refused.headers["Replay-Nonce"]

    run(tmp_path, body, faults=Faults(nonce_reject=1.0))


def test_the_nonce_fault_spreads_its_refusals(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client()
        outcomes = []
        for _ in range(9):
            reply = await client.register()
            outcomes.append(reply.status != 400)
        # a third refused, never two in a row
        assert outcomes.count(False) == 3
        assert all(a or b for a, b in itertools.pairwise(outcomes))

    run(tmp_path, body, faults=Faults(nonce_reject=1 / 3))


def test_pending_resources_say_when_to_ask_again(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client()
        await client.register()
        order = await client.order(("dns", "later.tlssim.test"))
        assert order.headers["Retry-After"] == "3"

    run(tmp_path, body, faults=Faults(retry_after_s=3))


def test_b64_helpers_agree() -> None:
    assert jws.b64encode(b"\xff\xfe") == base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("=")


def test_nonces_terms_orders_list_and_authorization_deactivation(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        async with lab.http.head(f"{lab.base}/acme/new-nonce") as reply:
            assert reply.status == 200 and reply.headers["Cache-Control"] == "no-store"
        async with lab.http.get(f"{lab.base}/acme/new-nonce") as reply:
            assert reply.status == 204 and reply.headers["Replay-Nonce"]
        async with lab.http.get(f"{lab.base}/acme/terms") as reply:
            assert "tlssim" in await reply.text()
        client = lab.client()
        await client.register()
        order = await client.order(("dns", "gone.tlssim.test"))
        listed = (await client.post(f"{client.kid}/orders", None)).json()
        assert listed["orders"] == [order.headers["Location"]]
        authz_url = order.json()["authorizations"][0]
        dropped = await client.post(authz_url, {"status": "deactivated"})
        assert dropped.json()["status"] == "deactivated"
        challenge = dropped.json()["challenges"][0]
        after = await client.post(challenge["url"], {})
        assert after.json()["status"] == "pending"  # no validation for a dropped authorization
        assert (await client.post(authz_url, {"status": "valid"})).problem == "malformed"

    run(tmp_path, body)


def test_the_certificate_is_a_pem_chain(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client()
        await client.register()
        order, _ = await issue(lab, client, ("dns", "pem.tlssim.test"))
        reply = await client.post(order["certificate"], None)
        assert reply.headers["Content-Type"] == "application/pem-certificate-chain"
        leaf, intermediate = x509.load_pem_x509_certificates(reply.body)
        assert leaf.issuer == intermediate.subject

    run(tmp_path, body)
