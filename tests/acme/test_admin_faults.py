"""The ACME service's faults at run time: the admin control (the admin token, nothing else)
and what each fault does to the next order, in this process against a real Authority."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.acme.client import Lab, b64, csr_for, running_lab
from tlssim.acme.server import Faults

TOKEN = "the-admin-token"


def run(tmp_path: Path, body: Callable[[Lab], Awaitable[None]], **lab: Any) -> None:
    async def main() -> None:
        async with running_lab(tmp_path / "ca", admin_token=TOKEN, **lab) as started:
            await body(started)

    asyncio.run(main())


async def control(
    lab: Lab, update: object = None, token: str | None = TOKEN
) -> tuple[int, dict[str, Any]]:
    headers = {} if token is None else {"X-Tlssim-Admin-Token": token}
    data = None if update is None else json.dumps(update)
    method = "GET" if update is None else "PUT"
    async with lab.http.request(
        method, f"{lab.base}/admin/faults", headers=headers, data=data
    ) as reply:
        return reply.status, await reply.json(content_type=None)


def test_only_the_admin_token_reads_or_sets_the_faults(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        for token in (None, "", "wrong"):
            status, problem = await control(lab, token=token)
            assert status == 403 and problem["type"].endswith(":unauthorized"), problem
            status, _ = await control(lab, {"nonce_reject": 1.0}, token=token)
            assert status == 403
        assert lab.server.faults.nonce_reject == 0
        # Refused nonces on the next request, once set with the token.
        assert (await lab.client().register()).status == 201
        status, faults = await control(lab, {"nonce_reject": 1.0})
        assert status == 200 and faults["nonce_reject"] == 1.0
        assert (await lab.client().register()).problem == "badNonce"
        status, faults = await control(lab)
        assert faults["refused_nonces"] == 1
        await control(lab, {"nonce_reject": 0})
        assert (await lab.client().register()).status == 201

    run(tmp_path, body)


def test_without_an_admin_token_there_is_no_control(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        async with lab.http.get(
            f"{lab.base}/admin/faults", headers={"X-Tlssim-Admin-Token": ""}
        ) as reply:
            assert reply.status == 403

    async def main() -> None:
        async with running_lab(tmp_path / "ca") as started:
            await body(started)

    asyncio.run(main())


def test_updates_the_settings_would_refuse_are_malformed(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        for update in (
            {"nonce_reject": 1.5},
            {"nonce_reject": -0.1},
            {"validation_fail": "all"},
            {"retry_after_s": 1.5},
            {"retry_after_s": 86401},
            {"validation_delay_s": 3601},
            {"validation_delay_s": True},
            {"finalize_delay_s": float("inf")},
            {"no_such_fault": 1},
            [1, 2],
        ):
            status, problem = await control(lab, update)
            assert status == 400 and problem["type"].endswith(":malformed"), (update, problem)
        status, faults = await control(lab)
        assert faults == {
            "nonce_reject": 0.0,
            "retry_after_s": 0,
            "validation_delay_s": 0.0,
            "validation_fail": 0.0,
            "finalize_delay_s": 0.0,
            "refused_nonces": 0,
            "failed_validations": 0,
        }

    run(tmp_path, body)


def test_a_failed_validation_invalidates_authorization_and_order(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        issued_before = lab.issuer.issued_count()
        client = lab.client()
        await client.register()
        order = await client.order(("dns", "refused.tlssim.test"))
        order_url = str(order.headers["Location"])
        authz_url = order.json()["authorizations"][0]
        authz = (await client.post(authz_url, None)).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        # The right answer is served: the fault alone fails it.
        lab.responder.answers[challenge["token"]] = client.key_authorization(challenge["token"])
        assert (await client.post(challenge["url"], {})).status == 200
        authz = await client.wait(authz_url, ("valid", "invalid"))
        assert authz["status"] == "invalid"
        failed = next(c for c in authz["challenges"] if c["type"] == "http-01")
        assert failed["error"]["type"].endswith(":incorrectResponse")
        assert "validation fault" in failed["error"]["detail"]
        final = (await client.post(order_url, None)).json()
        assert final["status"] == "invalid"
        assert final["error"]["type"].endswith(":unauthorized")
        csr = b64(csr_for(["refused.tlssim.test"]))
        assert (await client.post(final["finalize"], {"csr": csr})).problem == "orderNotReady"
        assert lab.issuer.issued_count() == issued_before
        assert lab.server.core.failed_validations.picked == 1

    run(tmp_path, body, faults=Faults(retry_after_s=0, validation_fail=1.0))


def test_a_set_delay_and_retry_after_apply_to_the_next_order(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        status, faults = await control(lab, {"retry_after_s": 7, "validation_delay_s": 30})
        assert (status, faults["retry_after_s"], faults["validation_delay_s"]) == (200, 7, 30.0)
        client = lab.client()
        await client.register()
        order = await client.order(("dns", "later.tlssim.test"))
        assert order.headers["Retry-After"] == "7"
        authz_url = order.json()["authorizations"][0]
        authz = (await client.post(authz_url, None)).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        lab.responder.answers[challenge["token"]] = client.key_authorization(challenge["token"])
        answered = await client.post(challenge["url"], {})
        assert answered.json()["status"] == "processing"
        assert answered.headers["Retry-After"] == "7"
        # Still waiting out the delay: the validator has not connected yet.
        await asyncio.sleep(0.3)
        assert (await client.post(authz_url, None)).json()["status"] == "pending"
        assert lab.server.core.validator.delay_s == 30.0

    run(tmp_path, body)


def test_the_settings_set_the_faults_at_start_and_name_the_admin_token(tmp_path: Path) -> None:
    from tlssim.acme.addresses import admin_token
    from tlssim.services import settings as st
    from tlssim.services.acme_settings import AcmeSettings

    env = {
        "TLSSIM_DATA_DIR": str(tmp_path),
        "TLSSIM_ACME_VALIDATION_FAIL": "0.25",
        "TLSSIM_ACME_FINALIZE_DELAY_S": "2",
    }
    settings = AcmeSettings.from_env(env)
    assert (settings.faults.validation_fail, settings.faults.finalize_delay_s) == (0.25, 2.0)
    assert (settings.admin_token, settings.ca_data_dir) == ("", tmp_path / "ca")
    assert AcmeSettings.from_env(env | {"TLSSIM_ADMIN_TOKEN": "x"}).admin_token == "x"
    try:
        AcmeSettings.from_env(env | {"TLSSIM_ACME_VALIDATION_FAIL": "2"})
    except st.SettingsError as exc:
        assert "TLSSIM_ACME_VALIDATION_FAIL" in str(exc)
    else:
        raise AssertionError("a share over 1 was taken")
    # The command line's side: the environment, else the local ca's file.
    assert admin_token(env) == ""
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "admin-token").write_text("from-the-file\n")
    assert admin_token(env) == "from-the-file"
    assert admin_token(env | {"TLSSIM_ADMIN_TOKEN": "set"}) == "set"


def test_a_slow_finalization_leaves_the_order_processing_then_valid(tmp_path: Path) -> None:
    async def body(lab: Lab) -> None:
        client = lab.client()
        await client.register()
        order = await client.order(("dns", "slowly.tlssim.test"))
        order_url = str(order.headers["Location"])
        authz_url = order.json()["authorizations"][0]
        authz = (await client.post(authz_url, None)).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        lab.responder.answers[challenge["token"]] = client.key_authorization(challenge["token"])
        await client.post(challenge["url"], {})
        ready = await client.wait(order_url, ("ready", "invalid"))
        await control(lab, {"finalize_delay_s": 0.5, "retry_after_s": 2})
        csr = b64(csr_for(["slowly.tlssim.test"]))
        finalized = await client.post(ready["finalize"], {"csr": csr})
        assert finalized.status == 200
        assert finalized.json()["status"] == "processing"
        assert finalized.headers["Retry-After"] == "2"
        assert "certificate" not in finalized.json()
        valid = await client.wait(order_url, ("valid", "invalid"))
        assert valid["status"] == "valid" and valid["certificate"]
        chain = await client.post(valid["certificate"], None)
        assert chain.body.startswith(b"-----BEGIN CERTIFICATE-----")

    run(tmp_path, body)
