"""`tlssim load`: many handshakes through the client service, or straight at a TLS server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

from tlssim import rpcutil, terminal
from tlssim.cli.errors import CliError, Exit
from tlssim.load import summary
from tlssim.load.run import DEFAULT_TIMEOUT_S, Attempt, Plan, Tally, run, validate
from tlssim.load.targets import client_context, grpc_attempt, reachable, tcp_attempt
from tlssim.services.settings import CLIENT_ADDR, check_address

PROGRESS_EVERY_S = 0.5
ERASE_LINE = "\r\033[K"  # back to the start of the line and erase it
PROBE_TIMEOUT_S = 5.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    load = sub.add_parser(
        "load", help="handshakes at a fixed rate or concurrency; latency percentiles and errors"
    )
    load.add_argument("--rate", type=float, help="handshakes started per second (open loop)")
    load.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="handshakes in flight (closed loop; default 8); with --rate: the in-flight cap",
    )
    load.add_argument("--duration", type=float, metavar="S", help="seconds (default 10)")
    load.add_argument("--count", type=int, metavar="N", help="stop after N handshakes")
    load.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="per handshake, seconds"
    )
    load.add_argument("--server-name", default="", help="SNI and name to verify")
    load.add_argument("--tls", choices=["1.2", "1.3"], default="", help="TLS version")
    load.add_argument(
        "--revocation", choices=["hard", "soft", "off"], default="soft", help="client service"
    )
    load.add_argument("--no-staple", action="store_true", help="client service: no OCSP staple")
    load.add_argument(
        "--tcp", metavar="HOST:PORT", default="", help="handshake straight with this TLS server"
    )
    load.add_argument("--ca-file", help="--tcp: trust anchors (PEM)")
    load.add_argument("--insecure", action="store_true", help="--tcp: do not verify the server")
    load.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    load.add_argument("--quiet", action="store_true", help="no live progress line")


def _plan(args: argparse.Namespace) -> Plan:
    concurrency = args.concurrency
    if concurrency is None:
        concurrency = 64 if args.rate is not None else 8
    try:
        return validate(
            Plan(
                rate=args.rate,
                concurrency=concurrency,
                duration_s=args.duration,
                count=args.count,
                timeout_s=args.timeout,
            )
        )
    except ValueError as exc:
        raise CliError(str(exc), Exit.USAGE) from None


def run_load(args: argparse.Namespace) -> int:
    return asyncio.run(_load(args))


async def _load(args: argparse.Namespace) -> int:
    plan = _plan(args)
    if args.tcp:
        host, port = check_address("--tcp", args.tcp)
        if not (args.ca_file or args.insecure):
            raise CliError("--tcp needs --ca-file FILE (the trust anchors) or --insecure")
        if args.no_staple or args.revocation != "soft":
            raise CliError("--revocation and --no-staple are for the client service, not --tcp")
        if args.ca_file and not Path(args.ca_file).is_file():
            raise CliError(f"{args.ca_file}: no such file", Exit.FILE)
        try:
            ctx = client_context(args.ca_file, args.insecure, args.tls)
        except ssl.SSLError:
            raise CliError(f"{args.ca_file}: no PEM certificates in it", Exit.FILE) from None
        if not await reachable(host, port, PROBE_TIMEOUT_S):
            raise CliError(f"nothing accepts connections at {args.tcp}", Exit.UNAVAILABLE)
        attempt = tcp_attempt(host, port, args.server_name, ctx)
        return await _drive(args, plan, attempt, f"tcp://{args.tcp}")
    return await _through_client_service(args, plan)


async def _through_client_service(args: argparse.Namespace, plan: Plan) -> int:
    from tlssim.rpc.v1 import client_pb2, client_pb2_grpc

    address = CLIENT_ADDR.get(os.environ)
    if not await rpcutil.is_serving(address, timeout=PROBE_TIMEOUT_S):
        raise CliError(
            f"the client service at {address} is not answering; start the stack with "
            "`tlssim up`, or point TLSSIM_CLIENT_ADDR at it",
            Exit.UNAVAILABLE,
        )
    request = client_pb2.HandshakeRequest(
        server_name=args.server_name,
        tls_version=args.tls,
        revocation=args.revocation,
        no_status_request=args.no_staple,
    )
    tally = Tally()
    async with rpcutil.open_channel(address) as channel:
        stub = client_pb2_grpc.TlsClientStub(channel)
        attempt = grpc_attempt(stub, request, plan.timeout_s, served=tally.replicas)
        return await _drive(args, plan, attempt, f"grpc://{address}", tally)


async def _drive(
    args: argparse.Namespace, plan: Plan, attempt: Attempt, target: str, tally: Tally | None = None
) -> int:
    tally = Tally() if tally is None else tally
    stop = asyncio.Event()
    live = not args.quiet and sys.stderr.isatty()
    with _ctrl_c_sets(stop):
        progress = asyncio.create_task(_show_progress(tally)) if live else None
        try:
            await run(plan, attempt, tally, stop)
        finally:
            if progress is not None:
                progress.cancel()
                terminal.control(sys.stderr, ERASE_LINE)
    figures = summary.as_dict(plan, tally, target)
    print(json.dumps(figures, indent=2) if args.json else summary.table(figures, tally))
    if tally.interrupted:
        return Exit.INTERRUPTED
    return Exit.FAILED if tally.failures else Exit.OK


@contextlib.contextmanager
def _ctrl_c_sets(stop: asyncio.Event) -> Iterator[None]:
    """The first Ctrl-C ends the run with the figures so far; a second one is the usual one."""
    loop = asyncio.get_running_loop()

    def first() -> None:
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)

    loop.add_signal_handler(signal.SIGINT, first)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def _show_progress(tally: Tally) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        # Cut to the terminal's width: a wrapped line could not be redrawn in place.
        width = shutil.get_terminal_size().columns - 1
        terminal.control(sys.stderr, ERASE_LINE)
        sys.stderr.write(summary.progress_line(tally)[:width])
        sys.stderr.flush()
