"""ACME orders under faults (docs/acme.md, "Faults on purpose"): faults of the ACME service
itself (refused nonces, slow or failing validation, a longer Retry-After), set for the
scenario through the service's admin control and put back after it, and faults on the
validation link (the faults proxy `acme_http01`).

The client is the lab's own minimal one (tlssim.acme.client) unless a scenario names
certbot or lego: it answers http-01 on the port the ACME service validates
(TLSSIM_ACME_HTTP_PORT), and reports the certificate or the problem that ended the order,
with what it went through. Each scenario's expected outcome is an `AcmeExpect`, checked
against the client's outcome, the service's own counts and the ca's list of certificates.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from tlssim import rpcutil
from tlssim.acme import external
from tlssim.acme.addresses import admin_token, client_view
from tlssim.acme.client import Outcome, admin_faults, obtain
from tlssim.faults.rest_client import FaultsApi
from tlssim.report.model import Report
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc
from tlssim.topology.endpoints import Endpoints

Handshake = Callable[[dict[str, Any]], Awaitable[Report]]
Procedure = Callable[[FaultsApi, Endpoints, Handshake], Awaitable[tuple[bool, str]]]

# The service's faults a scenario may set, and what they are put back to.
FAULT_NAMES: Final = (
    "nonce_reject",
    "retry_after_s",
    "validation_delay_s",
    "validation_fail",
    "finalize_delay_s",
)


async def _bundle(endpoints: Endpoints) -> str:
    async with rpcutil.open_channel(endpoints.ca) as channel:
        reply = await ca_pb2_grpc.CertificateAuthorityStub(channel).GetTrustBundle(
            ca_pb2.GetTrustBundleRequest(), timeout=10
        )
    return str(reply.pem)


async def _listed(endpoints: Endpoints, name: str) -> list[str]:
    """The serials the ca lists for `name` (`tlssim ca list --host NAME`)."""
    async with rpcutil.open_channel(endpoints.ca) as channel:
        reply = await ca_pb2_grpc.CertificateAuthorityStub(channel).ListCertificates(
            ca_pb2.ListCertificatesRequest(host=name), timeout=10
        )
    return [c.serial_hex for c in reply.certificates]


async def _order(endpoints: Endpoints) -> tuple[bool, str, str]:
    directory, port = client_view()
    name = f"scenario-{uuid.uuid4().hex[:8]}.tlssim.test"
    outcome = await obtain(directory, await _bundle(endpoints), name, port)
    if outcome.issued:
        return True, f"issued serial {outcome.serial} for {name}", outcome.trace_id
    return False, f"not issued: {outcome.problem}", outcome.trace_id


async def validation_link_slow(
    api: FaultsApi, endpoints: Endpoints, handshake: Handshake
) -> tuple[bool, str]:
    del handshake
    toxic = {"type": "latency", "stream": "downstream", "attributes": {"latency": 300}}
    await api.acall("POST", "/proxies/acme_http01/toxics", toxic)
    issued, actual, trace_id = await _order(endpoints)
    return issued, f"{actual} (trace {trace_id})"


async def validation_link_down(
    api: FaultsApi, endpoints: Endpoints, handshake: Handshake
) -> tuple[bool, str]:
    del handshake
    await api.acall("POST", "/proxies/acme_http01", {"enabled": False})
    issued, actual, trace_id = await _order(endpoints)
    return (not issued and actual.endswith("connection")), f"{actual} (trace {trace_id})"


@dataclass(frozen=True, slots=True, kw_only=True)
class AcmeExpect:
    """What the client must end with. Problem types are the part after
    urn:ietf:params:acme:error:."""

    issued: bool
    #: The challenge's problem, and the statuses the authorization and order end in.
    problem: str = ""
    authorization: str = ""
    order: str = ""
    order_problem: str = ""
    #: Every refused nonce retried once with the nonce of the error (RFC 8555 6.5), one
    #: retry per request after the first (a share of one half refuses every second nonce).
    retry_every_other_request: bool = False
    #: The client polled a pending authorization at least this many times...
    polls_at_least: int = 0
    #: ... and saw the validation settle no sooner than this.
    validation_at_least_s: float = 0.0
    #: A Retry-After of this many seconds was given (by each of `waits_on`, when named), and
    #: every one was waited out.
    waits_for_s: int = 0
    waits_on: tuple[str, ...] = ()
    #: The service refused at least one nonce (a real client's run).
    nonces_refused: bool = False
    #: Words the real client's output must contain.
    says: str = ""

    def describe(self) -> str:
        if self.issued:
            parts = ["issued, listed by the ca"]
        else:
            parts = [f"not issued, nothing listed; challenge invalid ({self.problem})"]
            if self.authorization:
                parts.append(f"authorization {self.authorization}")
            if self.order:
                parts.append(
                    f"order {self.order}"
                    + (f" ({self.order_problem})" if self.order_problem else "")
                )
        if self.retry_every_other_request:
            parts.append(
                "every second nonce refused as badNonce and retried once with the error's "
                "nonce: one retry for each request after the first"
            )
        if self.nonces_refused:
            parts.append("some nonces refused as badNonce and retried")
        if self.polls_at_least:
            parts.append(f"at least {self.polls_at_least} poll of the pending authorization")
        if self.validation_at_least_s:
            parts.append(f"validation took at least {self.validation_at_least_s:g} s")
        if self.waits_for_s:
            on = f" ({', '.join(self.waits_on)})" if self.waits_on else ""
            parts.append(f"waited at least Retry-After {self.waits_for_s} s each time asked{on}")
        if self.says:
            parts.append(f"the client says {self.says!r}")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class AcmeFault:
    """An ACME fault scenario: the service's faults or a toxic on the validation link, the
    client that orders, and the expected outcome."""

    name: str
    description: str
    expect: AcmeExpect
    #: Set on the ACME service for the scenario (FAULT_NAMES), then put back.
    faults: dict[str, float] = field(default_factory=dict)
    #: A toxic on acme_http01 (Toxiproxy JSON).
    toxic: dict[str, Any] | None = None
    #: "lab" (tlssim.acme.client), "certbot" or "lego".
    client: str = "lab"

    @property
    def procedure(self) -> str:
        return "acme_fault_" + self.name.removeprefix("acme-").replace("-", "_")


@dataclass(slots=True)
class Observed:
    """What a run showed: the client's outcome and the service's counts."""

    name: str
    issued: bool
    listed: list[str]
    counts: dict[str, Any]
    lab: Outcome | None = None
    run: external.ClientRun | None = None

    def describe(self) -> str:
        parts = [
            f"issued serial {self.listed[0]} for {self.name}"
            if self.issued and self.listed
            else ("issued" if self.issued else "not issued")
            + (f", ca lists {', '.join(self.listed)}" if self.listed else ", nothing listed")
        ]
        if (lab := self.lab) is not None:
            if not lab.issued:
                parts.append(
                    f"challenge invalid ({lab.problem}), authorization {lab.authorization}, "
                    f"order {lab.order} ({lab.order_problem or '-'})"
                )
            parts.append(
                f"{lab.nonce_retries} badNonce retries for {lab.requests} requests "
                f"(most in a row {lab.most_retries_in_a_row})"
            )
            parts.append(f"{lab.polls} polls, validation {lab.validation_s:.2f} s")
            if lab.waits:
                waits = (f"{w.resource} {w.asked_s} s -> {w.waited_s:.2f} s" for w in lab.waits)
                parts.append("Retry-After waits: " + ", ".join(waits))
            if lab.trace_id:
                parts.append(f"trace {lab.trace_id}")
        if (run := self.run) is not None:
            parts.append(f"{run.client} exited {run.returncode}")
        parts.append(
            f"service: {self.counts.get('refused_nonces', 0)} nonces refused, "
            f"{self.counts.get('failed_validations', 0)} validations failed"
        )
        return "; ".join(parts)


def judge(expect: AcmeExpect, seen: Observed) -> list[str]:
    """What in `seen` differs from `expect` (nothing: the scenario passed)."""
    wrong = []
    if seen.issued != expect.issued:
        wrong.append("issued" if seen.issued else "not issued")
    if expect.issued != bool(seen.listed):
        wrong.append("the ca lists it" if seen.listed else "the ca does not list it")
    lab = seen.lab
    if lab is not None:
        for what in ("problem", "authorization", "order", "order_problem"):
            if getattr(expect, what) and getattr(lab, what) != getattr(expect, what):
                wrong.append(f"{what} {getattr(lab, what) or '-'}")
        if expect.retry_every_other_request:
            if lab.nonce_retries != lab.requests - 1 or lab.most_retries_in_a_row != 1:
                wrong.append(f"{lab.nonce_retries} retries for {lab.requests} requests")
            if lab.nonce_retries != seen.counts.get("refused_nonces"):
                wrong.append("the client's retries are not the service's refusals")
        if lab.polls < expect.polls_at_least:
            wrong.append(f"{lab.polls} polls")
        if lab.validation_s < expect.validation_at_least_s:
            wrong.append(f"validation in {lab.validation_s:.2f} s")
        if expect.waits_for_s:
            asked = {w.resource for w in lab.waits if w.asked_s == expect.waits_for_s}
            if not asked or not set(expect.waits_on) <= asked:
                wrong.append(f"Retry-After {expect.waits_for_s} s not given by each")
            if any(w.waited_s < w.asked_s for w in lab.waits):
                wrong.append("a Retry-After not waited out")
    run = seen.run
    if run is not None and expect.says and expect.says not in run.output:
        wrong.append(f"{run.client} does not say {expect.says!r}: {run.output[-300:]!r}")
    if expect.nonces_refused and not seen.counts.get("refused_nonces"):
        wrong.append("no nonce was refused")
    return wrong


@contextlib.asynccontextmanager
async def _service_faults(
    directory: str, bundle: str, update: dict[str, float]
) -> AsyncIterator[Callable[[], Awaitable[dict[str, Any]]]]:
    """The ACME service's faults set to `update` (and its counts started again); put back
    as they were on the way out. Yields a reader of the counts."""
    token = admin_token()
    before = await admin_faults(directory, bundle, token)
    await admin_faults(directory, bundle, token, dict(update))
    try:
        yield lambda: admin_faults(directory, bundle, token)
    finally:
        await admin_faults(directory, bundle, token, {k: before[k] for k in FAULT_NAMES})


async def run_fault(fault: AcmeFault, api: FaultsApi, endpoints: Endpoints) -> tuple[bool, str]:
    directory, port = client_view()
    bundle = await _bundle(endpoints)
    name = f"scenario-{uuid.uuid4().hex[:8]}.tlssim.test"
    if fault.toxic is not None:
        await api.acall("POST", "/proxies/acme_http01/toxics", fault.toxic)
    async with _service_faults(directory, bundle, fault.faults) as counts:
        lab = run = None
        if fault.client == "lab":
            lab = await obtain(directory, bundle, name, port)
            issued = lab.issued
        else:
            run = await external.run(fault.client, directory, bundle, name, port)
            issued = run.issued
        seen = Observed(name, issued, await _listed(endpoints, name), await counts(), lab, run)
    wrong = judge(fault.expect, seen)
    actual = seen.describe()
    return not wrong, actual + (f"; differs: {', '.join(wrong)}" if wrong else "")


def _procedure(fault: AcmeFault) -> Procedure:
    async def procedure(
        api: FaultsApi, endpoints: Endpoints, handshake: Handshake
    ) -> tuple[bool, str]:
        del handshake
        return await run_fault(fault, api, endpoints)

    return procedure


_DELIVERED = AcmeExpect(issued=True)
_REFUSED_FOR_GOOD = AcmeExpect(
    issued=False,
    problem="incorrectResponse",
    authorization="invalid",
    order="invalid",
    order_problem="unauthorized",
)

FAULTS: Final = (
    AcmeFault(
        name="acme-bad-nonce",
        description="the ACME service refuses every second nonce (badNonce): the client "
        "retries each refused request once with the nonce of the error and gets its "
        "certificate",
        faults={"nonce_reject": 0.5},
        expect=AcmeExpect(issued=True, retry_every_other_request=True),
    ),
    AcmeFault(
        name="acme-bad-nonce-certbot",
        description="certbot against an ACME service refusing 30% of nonces: it retries "
        "(once per request) and gets its certificate",
        faults={"nonce_reject": 0.3},
        client="certbot",
        expect=AcmeExpect(issued=True, nonces_refused=True),
    ),
    AcmeFault(
        name="acme-bad-nonce-lego",
        description="lego against an ACME service refusing 30% of nonces: it retries and "
        "gets its certificate",
        faults={"nonce_reject": 0.3},
        client="lego",
        expect=AcmeExpect(issued=True, nonces_refused=True),
    ),
    AcmeFault(
        name="acme-validation-delayed",
        description="each validation waits 2 s before it connects: the client polls the "
        "pending authorization as Retry-After (1 s) asks and gets its certificate",
        faults={"validation_delay_s": 2.0, "retry_after_s": 1},
        expect=AcmeExpect(issued=True, polls_at_least=1, validation_at_least_s=2.0, waits_for_s=1),
    ),
    AcmeFault(
        name="acme-validation-fails",
        description="the ACME service refuses every validation after connecting: challenge, "
        "authorization and order invalid, nothing issued",
        faults={"validation_fail": 1.0},
        expect=_REFUSED_FOR_GOOD,
    ),
    AcmeFault(
        name="acme-validation-fails-lego",
        description="lego against an ACME service refusing every validation: lego reports "
        "incorrectResponse and saves nothing, the ca issues nothing",
        faults={"validation_fail": 1.0},
        client="lego",
        expect=AcmeExpect(issued=False, says="urn:ietf:params:acme:error:incorrectResponse"),
    ),
    AcmeFault(
        name="acme-retry-after",
        description="the ACME service asks for Retry-After: 3 on pending and processing "
        "resources (validation takes 4 s, issuance 1 s after finalize): the client waits it "
        "out after answering the challenge, polling the pending authorization and "
        "finalizing, and gets its certificate",
        faults={"retry_after_s": 3, "validation_delay_s": 4.0, "finalize_delay_s": 1.0},
        expect=AcmeExpect(
            issued=True,
            polls_at_least=1,
            waits_for_s=3,
            waits_on=("challenge", "authorization", "finalize"),
        ),
    ),
    AcmeFault(
        name="acme-validation-connection-reset",
        description="a reset_peer toxic on acme_http01 drops each validation connection: "
        "the challenge fails with connection (no retry: one validation attempt), nothing "
        "is issued",
        toxic={"type": "reset_peer", "stream": "downstream", "attributes": {"timeout": 0}},
        expect=AcmeExpect(
            issued=False,
            problem="connection",
            authorization="invalid",
            order="invalid",
            order_problem="unauthorized",
        ),
    ),
)

PROCEDURES: Final[dict[str, Procedure]] = {f.procedure: _procedure(f) for f in FAULTS}
