"""`tlssim propagation`: revoke a certificate and time its arrival at every responder and
every staple (src/tlssim/propagation/run.py), with the bounds the settings promise."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

from tlssim.cli.errors import CliError, Exit
from tlssim.faults.rest_client import FaultsApi, FaultsApiError
from tlssim.pki.ocsp_responder import DEFAULT_RESPONSE_VALIDITY
from tlssim.propagation import run as prop
from tlssim.services import settings as st
from tlssim.services.ca import HEARTBEAT_INTERVAL_S
from tlssim.topology.vhosts import DEFAULT_HOST


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "propagation",
        help="revoke a host's certificates and time until every responder and staple says so",
    )
    p.add_argument(
        "--host",
        help=f"lab host whose certificates to revoke (with --yes: {DEFAULT_HOST})",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help=f"revoke {DEFAULT_HOST}'s certificates without naming it with --host",
    )
    p.add_argument(
        "--partition",
        type=float,
        default=0.0,
        metavar="S",
        help="cut the responders off from the ca (faults link ocsp_ca) for S seconds first",
    )
    p.add_argument("--deadline", type=float, default=60.0, metavar="S", help="give up after S")
    p.add_argument("--interval", type=float, default=0.05, metavar="S", help="between polls")
    p.add_argument(
        "--responder",
        action="append",
        metavar="HOST:PORT",
        help="a responder replica's gRPC address (repeat; default: every address of "
        "TLSSIM_OCSP_ADDR's name)",
    )
    p.add_argument(
        "--server",
        action="append",
        metavar="GRPC,TCP",
        help="a server replica's gRPC and TCP addresses (repeat; default: every address of "
        "TLSSIM_SERVER_ADDR's name)",
    )
    p.add_argument(
        "--load",
        type=int,
        default=0,
        metavar="N",
        help="meanwhile keep N handshakes with the host in flight through the client service",
    )
    p.add_argument("--json", action="store_true", help="print the figures as one JSON document")


def _check_bounds(args: argparse.Namespace) -> None:
    """Bad numbers are a usage error, before anything is revoked."""
    if not 0 <= args.partition <= 600:
        raise CliError("--partition must be 0..600 seconds", Exit.USAGE)
    if not 0 < args.deadline <= 3600:
        raise CliError("--deadline must be above 0 and at most 3600 seconds", Exit.USAGE)
    if not 0 < args.interval <= 10:
        raise CliError("--interval must be above 0 and at most 10 seconds", Exit.USAGE)
    if not 0 <= args.load <= 512:
        raise CliError("--load must be 0..512", Exit.USAGE)


def _chosen_host(args: argparse.Namespace) -> str:
    """The host to revoke: named with --host, or the default confirmed with --yes."""
    if args.host:
        return str(args.host)
    if not args.yes:
        raise CliError(
            f"propagation revokes every certificate of {DEFAULT_HOST} (then renews them): "
            "run it again with --yes, or name the host with --host",
            Exit.USAGE,
        )
    return DEFAULT_HOST


def run_propagation(args: argparse.Namespace, admin_token: str) -> int:
    _check_bounds(args)
    host = _chosen_host(args)
    if not admin_token:
        raise CliError("no admin token: set TLSSIM_ADMIN_TOKEN", Exit.REFUSED)
    env = os.environ
    replicas = _replicas(args, env)
    faults = FaultsApi(st.faults_api_url(env))

    async def set_link(enabled: bool) -> None:
        await faults.acall("POST", f"/proxies/{prop.RESPONDERS_LINK}", {"enabled": enabled})

    run = prop.Run(
        ca=st.CA_ADDR.get(env),
        replicas=replicas,
        host=host,
        admin_token=admin_token,
        deadline_s=args.deadline,
        interval_s=args.interval,
        partition_s=args.partition,
        set_responders_link=set_link,
    )
    print(
        f"tlssim: revoking the certificates of {host} on every server replica "
        "(they are renewed afterwards)",
        file=sys.stderr,
        flush=True,
    )
    try:
        outcome, load = asyncio.run(_under_load(run, args.load, st.CLIENT_ADDR.get(env)))
    except FaultsApiError as exc:
        raise CliError(str(exc), Exit.UNAVAILABLE) from None
    document = figures(outcome)
    if load is not None:
        document["load"] = load
    print(json.dumps(document, indent=2) if args.json else render(document))
    return 0 if outcome.complete else 1


async def _under_load(
    run: prop.Run, concurrency: int, client_address: str
) -> tuple[prop.Outcome, dict[str, Any] | None]:
    """The measurement, with `concurrency` handshakes with the host in flight meanwhile
    through the client service (their figures: what clients met while it propagated)."""
    if concurrency <= 0:
        return await prop.measure(run), None
    from tlssim import rpcutil
    from tlssim.load import summary
    from tlssim.load.run import MAX_DURATION_S, Plan, Tally
    from tlssim.load.run import run as run_load
    from tlssim.load.targets import grpc_attempt
    from tlssim.rpc.v1 import client_pb2, client_pb2_grpc

    plan = Plan(
        rate=None, concurrency=concurrency, duration_s=MAX_DURATION_S, count=None, timeout_s=10
    )
    tally, stop = Tally(), asyncio.Event()
    request = client_pb2.HandshakeRequest(server_name=run.host)
    async with rpcutil.open_channel(client_address) as channel:
        attempt = grpc_attempt(
            client_pb2_grpc.TlsClientStub(channel), request, plan.timeout_s, served=tally.replicas
        )
        loading = asyncio.create_task(run_load(plan, attempt, tally, stop))
        try:
            outcome = await prop.measure(run)
        finally:
            stop.set()
            await loading
    return outcome, summary.as_dict(plan, tally, f"grpc://{client_address}")


def _replicas(args: argparse.Namespace, env: Mapping[str, str]) -> prop.Replicas:
    for address in args.responder or ():
        st.check_address("--responder", address)
    pairs = [s.split(",", 1) for s in args.server or ()]
    if any(len(p) != 2 for p in pairs):
        raise CliError("--server wants GRPC_ADDRESS,TCP_ADDRESS", Exit.USAGE)
    for address in (a for pair in pairs for a in pair):
        st.check_address("--server", address)
    found = prop.resolve_replicas(
        st.OCSP_ADDR.get(env), st.SERVER_ADDR.get(env), st.SERVER_TCP_ADDR.get(env)
    )
    responders = tuple(args.responder or found.responders)
    servers = tuple((g, t) for g, t in pairs) or found.servers
    return prop.Replicas(responders=responders, servers=servers)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ranked = sorted(values)
    return ranked[max(math.ceil(q / 100 * len(ranked)) - 1, 0)]


def _spread(observers: list[prop.Observer]) -> dict[str, Any]:
    times = [o.revoked_after_s for o in observers if o.revoked_after_s is not None]
    stale = [o.last_good_after_s for o in observers if o.last_good_after_s is not None]
    return {
        "observers": len(observers),
        "revoked": len(times),
        "p50_s": _round(percentile(times, 50)),
        "p99_s": _round(percentile(times, 99)),
        "max_s": _round(max(times, default=None)),
        "stale_good_answers": sum(o.stale_good for o in observers),
        "last_stale_good_s": _round(max(stale, default=None)),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def bounds() -> dict[str, Any]:
    """The freshness bounds, from the settings the services read (this environment's)."""
    env = dict(os.environ)
    feed_max_age = st.OcspSettings.from_env(env).feed_max_age_s
    staple_refresh = st.ServerSettings.from_env(env).staple_refresh_s
    return {
        "feed_heartbeat_s": HEARTBEAT_INTERVAL_S,
        "feed_max_age_s": feed_max_age,
        "staple_refresh_s": staple_refresh,
        "ocsp_response_validity_s": DEFAULT_RESPONSE_VALIDITY.total_seconds(),
    }


def figures(outcome: prop.Outcome) -> dict[str, Any]:
    observers = list(outcome.observers)
    return {
        "host": outcome.host,
        "complete": outcome.complete,
        "partition_s": outcome.partition_s,
        "ocsp": _spread([o for o in observers if o.kind == "ocsp"]),
        "staple": _spread([o for o in observers if o.kind == "staple"]),
        "all": _spread(observers),
        "bounds": bounds(),
        "observers": [
            {
                "kind": o.kind,
                "where": o.where,
                "serial": o.serial,
                "revoked_after_s": _round(o.revoked_after_s),
                "stale_good_answers": o.stale_good,
                "answers": dict(o.seen),
            }
            for o in observers
        ],
    }


def render(d: dict[str, Any]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f} ms"

    b = d["bounds"]
    cut = f"; responders cut off from the ca for {d['partition_s']:g} s" if d["partition_s"] else ""
    lines = [
        f"revoked the certificates of {d['host']} served by "
        f"{d['staple']['observers']} server replica(s), watched at "
        f"{d['ocsp']['observers'] // max(d['staple']['observers'], 1)} responder replica(s)" + cut,
        "",
        f"{'':<8} {'observers':>9} {'revoked':>8} {'p50':>9} {'p99':>9} {'max':>9}"
        f" {'stale good':>11} {'last good':>10}",
    ]
    for kind in ("ocsp", "staple", "all"):
        s = d[kind]
        lines.append(
            f"{kind:<8} {s['observers']:>9} {s['revoked']:>8} {ms(s['p50_s']):>9}"
            f" {ms(s['p99_s']):>9} {ms(s['max_s']):>9} {s['stale_good_answers']:>11}"
            f" {ms(s['last_stale_good_s']):>10}"
        )
    lines += ["", "per observer:"]
    for o in d["observers"]:
        lines.append(
            f"  {o['kind']:<7} {o['where']:<28} {o['serial'][:16]:<16} "
            f"revoked after {ms(o['revoked_after_s'])}, {o['stale_good_answers']} stale good"
        )
    lines += [
        "",
        "bounds (from the settings):",
        f"  a responder hears a revocation as soon as the ca's feed pushes it; it answers"
        f" tryLater, never a stale good, once the feed is silent for {b['feed_max_age_s']:g} s"
        f" (heartbeats every {b['feed_heartbeat_s']:g} s)",
        "  a server follows the feed too: it drops a revoked certificate's staple at once and"
        " staples the responder's revoked answer when it has one; otherwise its refresh every"
        f" {b['staple_refresh_s']:g} s; a staple that cannot be refreshed lives until its"
        f" nextUpdate ({b['ocsp_response_validity_s']:g} s)",
    ]
    if (load := d.get("load")) is not None:
        errors = ", ".join(f"{e['count']} {e['kind']} {e['description']}" for e in load["errors"])
        lines += [
            "",
            f"meanwhile through the client service: {load['completed']} handshakes, "
            f"{load['succeeded']} ok" + (f"; {errors}" if errors else ""),
        ]
    if not d["complete"]:
        lines.append("NOT every observer said revoked before the deadline")
    return "\n".join(lines)
