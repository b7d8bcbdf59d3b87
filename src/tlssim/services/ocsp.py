"""The OCSP responder service: signed answers over gRPC and HTTP, fed by the ca's feed."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from tlssim import rpcutil
from tlssim.clock import Clock
from tlssim.pki.authority import issuer_id
from tlssim.pki.enrollment import ENROLLMENT_TOKEN_METADATA_KEY, read_token
from tlssim.pki.keys import build_csr, certificate_public_key, generate_private_key, mldsa_name
from tlssim.pki.ocsp_responder import (
    CertStatus,
    OcspReply,
    OcspResponder,
    ParsedOcspRequest,
    ServedIssuer,
    unsuccessful_reply,
)
from tlssim.pki.policy import OCSP_RESPONDER_PROFILE, RESPONDER_COMMON_NAME
from tlssim.pki.status_table import FeedEvent, StatusTable
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc, ocsp_pb2, ocsp_pb2_grpc
from tlssim.services import runtime
from tlssim.services.backoff import Backoff, until_done
from tlssim.services.ocsp_http import OcspHttpFront
from tlssim.services.settings import OcspSettings
from tlssim.services.settings.ocsp import FEED_MAX_AGE_DEFAULT_S
from tlssim.telemetry import metrics
from tlssim.telemetry.traces import TraceLog
from tlssim.topology.endpoints import split_host_port
from tlssim.web import WebServer

log = logging.getLogger("tlssim.ocsp")

SERVICE_NAME: Final = "tlssim.rpc.v1.OcspResponder"
# A serial the feed has not delivered yet may have been issued a moment ago: wait this long
# for the feed before answering "unknown".
UNKNOWN_GRACE_S: Final = 0.3
CA_CALL_TIMEOUT_S: Final = 5.0
# How long a request for an issuer being enrolled right now waits for its responder key.
ENROLL_WAIT_S: Final = 2.0
RENEWAL_CHECK_S: Final = 3600.0


class ResponderState:
    """What the responder serves: the status table, fed by the ca, and the signers (one
    delegated responder certificate per issuing CA, enrolled when the feed first names it)."""

    def __init__(
        self,
        responder: OcspResponder,
        table: StatusTable,
        enroll_issuer: Callable[[x509.Certificate], Awaitable[ServedIssuer]] | None = None,
        *,
        feed_max_age_s: float = FEED_MAX_AGE_DEFAULT_S,
    ) -> None:
        self.responder = responder
        self.table = table
        self.caught_up = asyncio.Event()
        self.feed_max_age_s = feed_max_age_s
        self.last_heard = time.monotonic()
        self.enrolling: dict[bytes, asyncio.Task[None]] = {}
        self._enroll_issuer = enroll_issuer
        self._changed = asyncio.Event()
        self._stale_logged = False
        #: Answers given, by status and by front (grpc, http).
        self.answered = metrics.Tally(
            "tlssim_ocsp_answers", "OCSP answers given, by status and front", ["status", "front"]
        )
        #: Each answer and CRL served, under the trace of the call that asked.
        self.traces = TraceLog("ocsp")

    def heard_from_feed(self) -> None:
        self.last_heard = time.monotonic()
        self._stale_logged = False

    def feed_age_s(self) -> float:
        return time.monotonic() - self.last_heard

    def apply(self, event: FeedEvent) -> None:
        self.heard_from_feed()
        new_issuer = event.issuer_der not in self.table.issuers
        self.table.apply(event)
        if new_issuer and event.issuer_der in self.table.issuers:
            self.serve_issuer(self.table.issuers[event.issuer_der])
        self._changed.set()
        self._changed = asyncio.Event()

    def serve_issuer(self, issuer: x509.Certificate) -> None:
        """Starts enrolling a delegated responder certificate for `issuer` (once)."""
        der = issuer.public_bytes(serialization.Encoding.DER)
        if self._enroll_issuer is None or der in self.enrolling or self.responder.serves(issuer):
            return
        enroll_issuer = self._enroll_issuer

        async def enroll_and_add() -> None:
            self.responder.add(await enroll_issuer(issuer))
            self._changed.set()
            self._changed = asyncio.Event()

        task = asyncio.create_task(enroll_and_add(), name=f"enroll-{issuer_id(issuer)[:8]}")
        task.add_done_callback(functools.partial(self._enrolled, der))
        self.enrolling[der] = task

    def _enrolled(self, der: bytes, task: asyncio.Task[None]) -> None:
        self.enrolling.pop(der, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("enrolling a responder certificate failed: %s", task.exception())

    async def enrollments_done(self, timeout: float) -> None:
        if self.enrolling:
            await asyncio.wait(list(self.enrolling.values()), timeout=timeout)

    async def answer_for(self, request_der: bytes, front: str) -> OcspReply:
        """The answer to `request_der`, counted and recorded as asked on `front`."""
        started = time.monotonic()
        reply = await self.answer(request_der)
        self.answered.add(reply.outcome, front)
        took_ms = round((time.monotonic() - started) * 1000, 3)
        self.traces.record(
            "OCSP answer", self.describe(request_der, reply, front), duration_ms=took_ms
        )
        return reply

    def describe(self, request_der: bytes, reply: OcspReply, front: str) -> dict[str, Any]:
        """What an answer said, to whom: a live check carries a nonce, a staple refresh none."""
        details: dict[str, Any] = {"status": reply.outcome, "front": front}
        parsed = self.responder.parse(request_der)
        if isinstance(parsed, ParsedOcspRequest):
            details["serial"] = f"{parsed.serial_number:x}"
            details["source"] = "live" if parsed.nonce is not None else "staple"
            details["responder"] = _common_name(parsed.served.responder_cert)
            details["issuer"] = _common_name(parsed.served.issuer)
        return details

    async def answer(self, request_der: bytes) -> OcspReply:
        parsed = self.responder.parse(request_der)
        if isinstance(parsed, OcspReply) and parsed.outcome == "unauthorized":
            parsed = await self._parse_once_served(request_der, parsed)
        if isinstance(parsed, OcspReply):
            return parsed
        if not self.caught_up.is_set():
            return unsuccessful_reply(ocsp.OCSPResponseStatus.TRY_LATER)
        if self.feed_age_s() > self.feed_max_age_s:
            if not self._stale_logged:
                self._stale_logged = True
                log.warning(
                    "nothing from the status feed for %.1fs (bound %.1fs): answering tryLater",
                    self.feed_age_s(),
                    self.feed_max_age_s,
                )
            return unsuccessful_reply(ocsp.OCSPResponseStatus.TRY_LATER)
        record = self.table.lookup(parsed.served.issuer, parsed.serial_number)
        deadline = time.monotonic() + UNKNOWN_GRACE_S
        while record.status is CertStatus.UNKNOWN and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
            record = self.table.lookup(parsed.served.issuer, parsed.serial_number)
        return self.responder.answer(parsed, record)

    async def _parse_once_served(
        self, request_der: bytes, refused: OcspReply
    ) -> ParsedOcspRequest | OcspReply:
        """An issuer not served yet may be one the feed is about to name or whose responder
        certificate is being enrolled: wait briefly for either before saying unauthorized."""
        deadline = time.monotonic() + UNKNOWN_GRACE_S
        while True:
            if self.enrolling:
                await self.enrollments_done(ENROLL_WAIT_S)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return refused
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)
            parsed = self.responder.parse(request_der)
            if not isinstance(parsed, OcspReply) or time.monotonic() >= deadline:
                return parsed


class OcspResponderService(ocsp_pb2_grpc.OcspResponderServicer):
    """The OcspResponder gRPC servicer."""

    def __init__(self, state: ResponderState) -> None:
        self.state = state

    async def Check(self, request: Any, context: Any) -> Any:
        der = bytes(request.request_der)
        reply = await self.state.answer_for(der, "grpc")
        # Clients asking live send a nonce; the server's staple refreshes (every few seconds
        # for every certificate) do not, and stay out of the INFO log.
        log.log(
            logging.INFO if _has_nonce(der) else logging.DEBUG,
            "OCSP answered %s",
            reply.outcome,
        )
        return ocsp_pb2.OcspCheckResponse(response_der=reply.der)


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _has_nonce(request_der: bytes) -> bool:
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        request.extensions.get_extension_for_class(x509.OCSPNonce)
    except (ValueError, x509.ExtensionNotFound):
        return False
    return True


# -- talking to the ca -------------------------------------------------------------------


async def enroll(ca: Any, credential: Path, issuer: x509.Certificate | None = None) -> ServedIssuer:
    """A delegated responder certificate from the ca, retrying with backoff until the ca
    answers: from `issuer` ("ocsp-responder@<issuer id>"), or from the default issuing CA.

    Each request carries the responder's enrollment credential, read from `credential`
    every time (it may appear only once the ca has created it, or be rotated).
    """
    # An ML-DSA CA's answers are signed with ML-DSA too: a classical responder key would
    # leave its hierarchy's revocation resting on a signature a quantum computer can forge.
    pq_issuer = issuer is not None and mldsa_name(certificate_public_key(issuer)) is not None
    key = generate_private_key("mldsa44" if pq_issuer else "ecdsa-p256")
    csr_der = build_csr(key, RESPONDER_COMMON_NAME).public_bytes(serialization.Encoding.DER)
    profile = (
        OCSP_RESPONDER_PROFILE
        if issuer is None
        else f"{OCSP_RESPONDER_PROFILE}@{issuer_id(issuer)}"
    )

    async def issue() -> Any:
        return await ca.IssueCertificate(
            ca_pb2.IssueCertificateRequest(csr_der=csr_der, profile=profile),
            metadata=((ENROLLMENT_TOKEN_METADATA_KEY, read_token(credential)),),
            timeout=CA_CALL_TIMEOUT_S,
        )

    reply = await until_done(issue, f"enroll a responder certificate ({profile})", log)
    chain = [x509.load_der_x509_certificate(bytes(der)) for der in reply.chain_der]
    served_issuer = issuer if issuer is not None else chain[1]
    log.info(
        "responder certificate %s issued by %s",
        reply.serial_hex,
        served_issuer.subject.rfc4514_string(),
    )
    return ServedIssuer.create(served_issuer, chain[0], key)


def _feed_event(message: Any) -> FeedEvent:
    revoked = message.kind == ca_pb2.StatusEvent.REVOKED
    when = (
        dt.datetime.fromtimestamp(message.revocation_time, dt.UTC)
        if revoked and message.revocation_time
        else None
    )
    return FeedEvent(
        sequence=int(message.sequence),
        revoked=revoked,
        serial_hex=str(message.serial_hex),
        issuer_der=bytes(message.issuer_der),
        revocation_time=when,
        reason=str(message.reason),
    )


async def follow_feed(ca: Any, state: ResponderState) -> None:
    """Follows WatchStatus forever, resuming after the last sequence applied."""
    backoff = Backoff()
    while True:
        after = state.table.last_sequence
        try:
            stream = ca.WatchStatus(ca_pb2.WatchStatusRequest(after_sequence=after))
            async for message in stream:
                state.heard_from_feed()
                if backoff.backing_off:
                    log.info("status feed resumed after sequence %d", after)
                backoff.reset()
                if message.heartbeat:
                    if not state.caught_up.is_set():
                        log.info(
                            "status feed caught up at sequence %d (%d certificates)",
                            state.table.last_sequence,
                            len(state.table),
                        )
                        state.caught_up.set()
                    continue
                state.apply(_feed_event(message))
            log.warning("status feed ended at sequence %d; reconnecting", after)
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "status feed lost at sequence %d (%s); reconnecting in %.1fs",
                state.table.last_sequence,
                exc.code().name,
                backoff.delay,
            )
        await backoff.wait()


async def keep_responder_certificates_fresh(
    ca: Any, credential: Path, state: ResponderState, clock: Clock
) -> None:
    """Re-enrolls each responder certificate once two thirds of its lifetime have passed."""
    while True:
        now = clock.now()
        waits = []
        for served in state.responder.served:
            cert = served.responder_cert
            lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
            renew_at = cert.not_valid_before_utc + lifetime * 2 / 3
            if renew_at <= now:
                state.responder.add(await enroll(ca, credential, served.issuer))
                log.info("responder certificate for %s renewed", served.issuer.subject)
            else:
                waits.append((renew_at - now).total_seconds())
        await asyncio.sleep(min([*waits, RENEWAL_CHECK_S]))


async def serve(settings: OcspSettings, clock: Clock) -> None:
    """Runs the responder until cancelled: enrolls with the ca, follows its feed, then
    answers on gRPC at `settings.listen` and HTTP at `settings.http_listen`."""
    channel = rpcutil.open_channel(settings.ca)
    ca = ca_pb2_grpc.CertificateAuthorityStub(channel)
    tasks: list[asyncio.Task[None]] = []
    http: WebServer | None = None
    try:
        credential = settings.enrollment_token_file
        served = await enroll(ca, credential)
        table = StatusTable()
        table.issuers[served.issuer.public_bytes(serialization.Encoding.DER)] = served.issuer
        state = ResponderState(
            OcspResponder([served], table.lookup, clock),
            table,
            functools.partial(enroll, ca, credential),
            feed_max_age_s=settings.feed_max_age_s,
        )
        front = OcspHttpFront(state, ca, clock)
        tasks.append(asyncio.create_task(follow_feed(ca, state), name="status-feed"))
        tasks.append(
            asyncio.create_task(
                keep_responder_certificates_fresh(ca, credential, state, clock),
                name="responder-renewal",
            )
        )
        await state.caught_up.wait()
        # Every CA named by the feed so far gets its responder certificate before we serve.
        await state.enrollments_done(timeout=CA_CALL_TIMEOUT_S)
        log.info(
            "answering for %d issuing CAs (feed bound %.0fs)",
            len(state.responder.served),
            state.feed_max_age_s,
        )
        host, port = split_host_port(settings.http_listen)
        http = await front.listen(host, port)
        register = functools.partial(
            ocsp_pb2_grpc.add_OcspResponderServicer_to_server, OcspResponderService(state)
        )
        async with (
            runtime.grpc_server(settings.listen, SERVICE_NAME, register, traces=state.traces),
            metrics.endpoint(
                settings.metrics_listen, metrics.Metrics([state.answered]), settings.http_hosts
            ),
        ):
            log.info(
                "ocsp listening on %s (gRPC) and %s (HTTP)", settings.listen, settings.http_listen
            )
            await runtime.run_forever()
    finally:
        if http is not None:
            await http.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await channel.close()
        log.info("ocsp stopped")
