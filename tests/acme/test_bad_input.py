"""Bad requests: each answered with its RFC 8555 problem type, and nothing issued."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.acme.client import Client, Lab, Reply, b64, csr_for, jws_body, running_lab
from tlssim.acme import jws
from tlssim.acme.server import MAX_JWS_BYTES


def run(tmp_path: Path, body: Callable[[Lab, Client], Awaitable[None]]) -> None:
    """Runs `body` with a registered client, then checks nothing was issued."""

    async def main() -> None:
        async with running_lab(tmp_path / "ca") as lab:
            client = lab.client()
            assert (await client.register()).status == 201
            before = lab.issuer.issued_count()
            await body(lab, client)
            assert lab.issuer.issued_count() == before, "something was issued"

    asyncio.run(main())


async def ready_order(lab: Lab, client: Client, *names: str) -> dict[str, Any]:
    reply = await client.order(*[("dns", n) for n in names])
    order = dict(reply.json())
    for authz_url in order["authorizations"]:
        authz = (await client.post(authz_url, None)).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        lab.responder.answers[challenge["token"]] = client.key_authorization(challenge["token"])
        await client.post(challenge["url"], {})
    order["url"] = str(reply.headers["Location"])
    assert (await client.wait(order["url"], ("ready", "invalid")))["status"] == "ready"
    return order


def test_a_reused_nonce_is_bad(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        nonce = await client.nonce()
        url = f"{lab.base}/acme/new-order"
        payload = json.dumps({"identifiers": [{"type": "dns", "value": "a.tlssim.test"}]})
        protected = {"alg": "ES256", "nonce": nonce, "url": url, "kid": client.kid}
        first = await client.raw(url, jws_body(client.key, protected, payload.encode()))
        assert first.status == 201
        again = await client.raw(url, jws_body(client.key, protected, payload.encode()))
        assert (again.status, again.problem) == (400, "badNonce")
        assert again.headers["Replay-Nonce"] != nonce

    run(tmp_path, body)


@pytest.mark.parametrize("nonce", ["made-up", None])
def test_an_unknown_or_missing_nonce_is_bad(tmp_path: Path, nonce: str | None) -> None:
    async def body(lab: Lab, client: Client) -> None:
        reply = await client.post(f"{lab.base}/acme/new-order", {"identifiers": []}, nonce=nonce)
        assert reply.problem == "badNonce"

    run(tmp_path, body)


def test_a_wrong_url_in_the_protected_header_is_unauthorized(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        reply = await client.post(
            f"{lab.base}/acme/new-order",
            {"identifiers": [{"type": "dns", "value": "a.tlssim.test"}]},
            url=f"{lab.base}/acme/new-account",
        )
        assert (reply.status, reply.problem) == (403, "unauthorized")

    run(tmp_path, body)


@pytest.mark.parametrize("alg", ["none", "HS256", "RS512", "ES512"])
def test_algorithms_outside_acme_are_refused(tmp_path: Path, alg: str) -> None:
    async def body(lab: Lab, client: Client) -> None:
        url = f"{lab.base}/acme/new-account"
        protected = {
            "alg": alg,
            "nonce": await client.nonce(),
            "url": url,
            "jwk": jws.jwk_of(client.key.public_key()),
        }
        signature = b"" if alg == "none" else b"\x01" * 32
        reply = await client.raw(url, jws_body(client.key, protected, b"{}", signature=signature))
        assert reply.problem == "badSignatureAlgorithm"
        assert set(reply.json()["algorithms"]) == {"ES256", "ES384", "RS256", "EdDSA"}

    run(tmp_path, body)


def test_an_alg_that_does_not_fit_the_key_is_refused(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        reply = await client.post(f"{lab.base}/acme/new-order", {"identifiers": []}, alg="ES384")
        assert reply.problem == "badSignatureAlgorithm"

    run(tmp_path, body)


def test_a_bad_signature_is_malformed(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        url = f"{lab.base}/acme/new-order"
        protected = {"alg": "ES256", "nonce": await client.nonce(), "url": url, "kid": client.kid}
        forged = jws_body(client.key, protected, b"{}", signature=b"\x01" * 64)
        assert (await client.raw(url, forged)).problem == "malformed"

    run(tmp_path, body)


def test_an_unknown_kid_is_no_account(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        reply = await client.post(
            f"{lab.base}/acme/new-order",
            {"identifiers": [{"type": "dns", "value": "a.tlssim.test"}]},
            kid=f"{lab.base}/acme/acct/999999",
        )
        assert reply.problem == "accountDoesNotExist"

    run(tmp_path, body)


def test_both_jwk_and_kid_is_malformed(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        reply = await client.post(
            f"{lab.base}/acme/new-order",
            {"identifiers": []},
            jwk=jws.jwk_of(client.key.public_key()),
        )
        assert reply.problem == "malformed"

    run(tmp_path, body)


def test_a_jws_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        padding = "x" * MAX_JWS_BYTES
        reply = await client.post(
            f"{lab.base}/acme/new-order",
            {"identifiers": [{"type": "dns", "value": "a.tlssim.test"}], "pad": padding},
        )
        assert (reply.status, reply.problem) == (413, "malformed")

    run(tmp_path, body)


def test_a_body_that_is_not_a_jws_is_malformed(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        url = f"{lab.base}/acme/new-account"
        assert (await client.raw(url, b"not json")).problem == "malformed"
        wrong_type = await client.raw(url, b"{}", content_type="application/json")
        assert (wrong_type.status, wrong_type.problem) == (415, "malformed")

    run(tmp_path, body)


def test_a_csr_naming_what_the_order_does_not_is_bad(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        order = await ready_order(lab, client, "a.tlssim.test")
        extra = csr_for(["a.tlssim.test", "b.tlssim.test"])
        reply = await client.post(order["finalize"], {"csr": b64(extra)})
        assert reply.problem == "badCSR"
        assert "b.tlssim.test" in reply.json()["detail"]
        other_cn = csr_for(["a.tlssim.test"], cn="c.tlssim.test")
        assert (await client.post(order["finalize"], {"csr": b64(other_cn)})).problem == "badCSR"

    run(tmp_path, body)


def test_a_csr_with_a_weak_key_is_bad(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        order = await ready_order(lab, client, "weak.tlssim.test")
        weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        reply = await client.post(
            order["finalize"], {"csr": b64(csr_for(["weak.tlssim.test"], weak))}
        )
        assert reply.problem == "badCSR"
        assert "1024" in reply.json()["detail"]

    run(tmp_path, body)


def test_a_csr_that_does_not_parse_is_bad(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        order = await ready_order(lab, client, "junk.tlssim.test")
        reply = await client.post(order["finalize"], {"csr": b64(b"\x30\x03junk")})
        assert reply.problem == "badCSR"

    run(tmp_path, body)


def test_finalizing_before_validation_is_not_ready(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        order = (await client.order(("dns", "early.tlssim.test"))).json()
        reply = await client.post(order["finalize"], {"csr": b64(csr_for(["early.tlssim.test"]))})
        assert (reply.status, reply.problem) == (403, "orderNotReady")

    run(tmp_path, body)


def test_a_wrong_key_authorization_fails_the_challenge(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        reply = await client.order(("dns", "wrong.tlssim.test"))
        order = reply.json()
        authz_url = order["authorizations"][0]
        authz = (await client.post(authz_url, None)).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        lab.responder.answers[challenge["token"]] = f"{challenge['token']}.not-the-thumbprint"
        await client.post(challenge["url"], {})
        failed = await client.wait(challenge["url"], ("valid", "invalid"))
        assert failed["status"] == "invalid"
        assert failed["error"]["type"] == "urn:ietf:params:acme:error:incorrectResponse"
        assert (await client.post(authz_url, None)).json()["status"] == "invalid"
        order_now = (await client.post(str(reply.headers["Location"]), None)).json()
        assert order_now["status"] == "invalid"
        final = await client.post(order["finalize"], {"csr": b64(csr_for(["wrong.tlssim.test"]))})
        assert final.problem == "orderNotReady"

    run(tmp_path, body)


def test_a_challenge_nobody_answers_fails_with_a_connection_problem(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        order = (await client.order(("dns", "silent.tlssim.test"))).json()
        authz = (await client.post(order["authorizations"][0], None)).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        await client.post(challenge["url"], {})  # the responder has no answer: 404
        failed = await client.wait(challenge["url"], ("valid", "invalid"))
        assert failed["error"]["type"] == "urn:ietf:params:acme:error:unauthorized"

    run(tmp_path, body)


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("dns", "example.com", "rejectedIdentifier"),
        ("dns", "tlssim.test.evil.example", "rejectedIdentifier"),
        ("dns", "*.tlssim.test", "rejectedIdentifier"),
        ("dns", "bad_name.tlssim.test", "rejectedIdentifier"),
        ("ip", "10.0.0.1", "rejectedIdentifier"),
        ("ip", "not-an-ip", "malformed"),
        ("email", "a@tlssim.test", "unsupportedIdentifier"),
    ],
)
def test_identifiers_outside_policy_are_rejected(
    tmp_path: Path, kind: str, value: str, problem: str
) -> None:
    async def body(lab: Lab, client: Client) -> None:
        reply = await client.order(("dns", "fine.tlssim.test"), (kind, value))
        assert reply.problem == problem
        (sub,) = reply.json()["subproblems"]
        assert sub["identifier"] == {"type": kind, "value": value}
        assert lab.server.state.orders == {}

    run(tmp_path, body)


def test_another_account_s_order_is_not_found(tmp_path: Path) -> None:
    async def body(lab: Lab, client: Client) -> None:
        reply = await client.order(("dns", "mine.tlssim.test"))
        stranger = lab.client()
        await stranger.register()
        peek = await stranger.post(str(reply.headers["Location"]), None)
        assert (peek.status, peek.problem) == (404, "malformed")

    run(tmp_path, body)


ODD_VALUES: list[object] = [
    None,
    True,
    0,
    -1,
    2**80,
    1.5,
    "",
    "x" * 300,
    [],
    [1, [2]],
    {},
    {"a": {}},
]


def answered(reply: Reply) -> bool:
    if reply.status < 400:
        return True
    return reply.status < 500 and bool(reply.problem)


def test_odd_json_anywhere_is_a_problem_never_a_crash(tmp_path: Path) -> None:
    """Every member of the protected header, the jwk and the payloads, replaced in turn by
    values of every JSON type, is answered (a 4xx problem document where it is refused),
    never with a server error."""

    async def body(lab: Lab, client: Client) -> None:
        order = (await client.order(("dns", "odd.tlssim.test"))).json()
        targets: dict[str, dict[str, object]] = {
            f"{lab.base}/acme/new-order": {
                "identifiers": [{"type": "dns", "value": "a.tlssim.test"}]
            },
            f"{lab.base}/acme/new-account": {"contact": ["mailto:a@tlssim.test"]},
            f"{lab.base}/acme/revoke-cert": {"certificate": "AAAA", "reason": 1},
            order["finalize"]: {"csr": "AAAA"},
            client.kid: {"contact": []},
        }
        for url, payload in targets.items():
            for member in list(payload):
                for odd in ODD_VALUES:
                    reply = await client.post(url, payload | {member: odd})
                    assert answered(reply), (url, member, odd, reply.body)
            for member in ("alg", "url", "kid", "nonce"):
                for odd in ODD_VALUES:
                    reply = await client.post(url, payload, overrides={member: odd})
                    assert answered(reply), (url, member, odd, reply.body)
        for member in ("kty", "crv", "x", "y"):
            for odd in ODD_VALUES:
                jwk: dict[str, object] = {**jws.jwk_of(client.key.public_key()), member: odd}
                reply = await client.post(f"{lab.base}/acme/new-account", {}, use_jwk=True, jwk=jwk)
                assert answered(reply), (member, odd, reply.body)

    run(tmp_path, body)
