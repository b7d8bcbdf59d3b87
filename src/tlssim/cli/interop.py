"""`tlssim interop`: other TLS stacks against the running lab, in both roles."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import grpc

from tlssim import rpcutil
from tlssim.cli.errors import CliError, Exit
from tlssim.interop import fingerprints, matrix, servers
from tlssim.interop.peers import CLIENT_PEERS, ClientPeer, installed, normalise
from tlssim.services.settings import checked_endpoints
from tlssim.topology import endpoints as ep

ROLES = ("client", "server", "both")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "interop",
        help="other TLS stacks (OpenSSL, GnuTLS, NSS, Go, ...) against the lab's hosts",
        description="Runs every installed peer's client against every lab host (TLS 1.3 and "
        "1.2, with its defaults and its revocation options), and our client against every "
        "peer's server. Progress goes to stderr, the table to stdout.",
    )
    p.add_argument("--peers", default="", help="comma-separated peer names (default: all)")
    p.add_argument("--hosts", default="", help="comma-separated lab hosts (default: all)")
    p.add_argument("--role", choices=ROLES, default="both", help="which side the peers play")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="every cell as JSON")
    out.add_argument("--markdown", action="store_true", help="docs/interop.md as it is committed")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument(
        "--fingerprints",
        default="",
        metavar="PATH",
        help="where the client role records each peer's ClientHello fingerprints, by which "
        "the server names the stacks that connect (default: client-fingerprints.json in the "
        "state directory, which the local server reads)",
    )


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


async def _bundle() -> str:
    from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc

    async with rpcutil.open_channel(ep.Endpoints.from_env().ca) as channel:
        stub = ca_pb2_grpc.CertificateAuthorityStub(channel)
        reply = await stub.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=10)
        return str(reply.pem)


def _progress(quiet: bool) -> matrix.Progress | None:
    if quiet or not sys.stderr.isatty():
        return None

    def show(done: int, total: int, what: str) -> None:
        width = 30
        bar = "#" * (width * done // total) + "." * (width - width * done // total)
        sys.stderr.write(f"\r[{bar}] {done}/{total} {what[:50]:<50}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


#: `tlssim handshake ARGS` as the request the command sends the client service.
RequestFor = Callable[[Sequence[str]], Any]


def run_interop(args: argparse.Namespace, request_for: RequestFor) -> int:
    checked_endpoints(os.environ)  # a bad address is one line before any peer starts
    try:
        client_peers = [
            p
            for p in CLIENT_PEERS
            if (not args.peers or p.name in _names(args.peers)) and installed(p)
        ]
        cases = matrix.host_cases(_names(args.hosts))
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from None
    wanted = set(_names(args.peers))
    unknown = wanted - {p.name for p in CLIENT_PEERS} - {p.name for p in servers.SERVER_PEERS}
    if unknown:
        known = ", ".join(p.name for p in CLIENT_PEERS)
        raise CliError(f"unknown peer {', '.join(sorted(unknown))} (known: {known})")
    missing = [p.name for p in CLIENT_PEERS if p.name in wanted and not installed(p)]
    if missing:
        sys.stderr.write(f"not installed here, skipped: {', '.join(missing)}\n")
    progress = _progress(args.quiet)
    client_cells: list[matrix.Cell] = []
    server_cells: list[servers.ServerCell] = []
    with tempfile.TemporaryDirectory(prefix="tlssim-interop-") as tmp:
        bundle = Path(tmp) / "bundle.pem"
        bundle.write_text(asyncio.run(_bundle()))
        if args.role in ("client", "both"):
            address = ep.Endpoints.from_env().server_tcp
            client_cells = matrix.run_client_matrix(
                client_peers, cases, address, bundle, progress=progress
            )
            _record_fingerprints(client_peers, bundle, args.fingerprints, progress, args.quiet)
        if args.role in ("server", "both"):
            server_peers = [
                p
                for p in servers.SERVER_PEERS
                if (not wanted or p.name in wanted) and p.available()
            ]
            # a peer requiring a client certificate trusts the lab's roots, which issued
            # the client service's own
            anchors = servers.classical_anchors(bundle.read_text(), Path(tmp) / "lab-roots.pem")
            server_cells = servers.run_server_matrix(
                server_peers,
                Path(tmp) / "pki",
                progress=progress,
                lab_anchors=anchors,
                client=functools.partial(our_client, request_for),
            )
    if args.json:
        print(
            json.dumps(
                {
                    "client_role": [
                        asdict(c) | {"text": c.text, "agrees": c.agrees} for c in client_cells
                    ],
                    "server_role": [asdict(c) | {"text": c.text} for c in server_cells],
                },
                indent=2,
            )
        )
    elif args.markdown:
        print(document(client_cells, server_cells), end="")
    else:
        print(matrix.to_markdown(client_cells, client_peers))
        if server_cells:
            print(servers.to_markdown(server_cells))
        print(matrix.disagreements_markdown(client_cells))
    disagree = sum(not c.agrees for c in client_cells)
    unexplained = sum(not c.agrees and not matrix.explanation(c) for c in client_cells) + sum(
        not c.ok and not servers.explanation(c) for c in server_cells
    )
    if not args.quiet:
        sys.stderr.write(
            f"{len(client_cells) + len(server_cells)} cells; {disagree} depart from a careful "
            f"client, {unexplained} of them unexplained\n"
        )
    return Exit.OK


def _record_fingerprints(
    peers: list[ClientPeer],
    bundle: Path,
    where: str,
    progress: matrix.Progress | None,
    quiet: bool,
) -> None:
    """Each peer's ClientHello fingerprints, merged into the table at `where`."""
    from tlssim.services.settings import default_data_dir

    path = Path(where) if where else default_data_dir(os.environ) / fingerprints.FILE_NAME
    table = fingerprints.record(peers, bundle, progress)
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    fingerprints.save(fingerprints.merged(old, table), path)
    if not quiet:
        count = sum(len(p["fingerprints"]) for p in table["peers"].values())
        sys.stderr.write(f"{count} client fingerprints of {len(peers)} peers in {path}\n")


def our_client(request_for: RequestFor, args: Sequence[str]) -> dict[str, Any] | str:
    """`tlssim handshake --json ARGS` in this process: the same request the command sends
    the client service, without a Python start per cell (the matrix runs hundreds)."""
    from tlssim.rpc.v1 import client_pb2_grpc

    try:
        request = request_for(["--json", *args])
    except CliError as exc:
        return normalise(f"tlssim: {exc}")

    async def run() -> Any:
        async with rpcutil.open_channel(ep.Endpoints.from_env().client) as channel:
            stub = client_pb2_grpc.TlsClientStub(channel)
            return await stub.RunHandshake(request, timeout=60)

    try:
        result = asyncio.run(run())
    except grpc.aio.AioRpcError as exc:
        return normalise(f"tlssim: {exc.details()}")
    report: dict[str, Any] = json.loads(result.report_json)
    return report


#: How the server role's tables are made, for the page's head.
SERVER_ROLE = (
    "In the server role our client (`tlssim handshake --tcp`, through the client service)",
    "meets each peer's server, started with a throwaway root and a leaf of the key type the",
    "column needs. A signature scheme's column offers that scheme alone (`--sigalg`); the",
    "report's negotiated scheme is the cell. `resumption` is a TLS 1.3 ticket (PSK) or a",
    "TLS 1.2 session id: our client offers no TLS 1.2 session ticket extension (RFC 5077), so",
    "a TLS 1.2 server resumes it by session id or not at all. `0-RTT` sends early data with",
    "the resumed ClientHello (`--resume --early-data`). `mTLS` presents the client",
    "service's certificate (`--client-cert auto`) to a server that requires one chaining to",
    "the lab's roots. `KeyUpdate` sends KeyUpdate(update_requested), then the data under",
    'the new key (`--key-update`). `OCSP staple` hands the peer a DER answer "good" for its',
    "leaf, signed with the throwaway root's key by the lab's own responder code (the leaf is",
    "not the lab CA's, so the lab's responder cannot answer for it). A peer that echoes gets",
    "a palindrome line (`openssl s_server -rev` sends each line back reversed) and the echo",
    "is checked under the new keys or after the client certificate. A cell that was not run",
    "says who cannot do it and why.",
)


def document(client_cells: list[matrix.Cell], server_cells: list[servers.ServerCell]) -> str:
    """docs/interop.md: the peers and their versions, both roles, the disagreements."""
    versions: dict[str, str] = {}
    for cell in client_cells:
        versions.setdefault(cell.peer, cell.peer_version)
    lines = [
        "# Interop: other TLS stacks on the lab's PKI",
        "",
        "Generated by `tlssim interop --markdown > docs/interop.md` against `tlssim up`;",
        "`tests/integration/test_interop.py` fails when a peer's outcome departs from this page.",
        "Each peer is the program people type, installed by `scripts/bootstrap.sh`. A cell in",
        "**bold** departs from what a careful client (chain, name, validity and revocation",
        "checked) does; each is explained at the end. A careful client refuses a host",
        "whose algorithms it lacks (ML-DSA, ML-KEM, Ed25519) as well. What other stacks",
        "found in our own code, and NSS's tstclnt race, are in",
        "[interop-findings.md](interop-findings.md).",
        "",
        "| peer | version | driven as | revocation options |",
        "|---|---|---|---|",
    ]
    for peer in CLIENT_PEERS:
        if peer.name in versions:
            options = peer.revocation_options or "none"
            lines.append(f"| {peer.name} | {versions[peer.name]} | {peer.describe} | {options} |")
    lines.append("")
    lines.append(matrix.to_markdown(client_cells, CLIENT_PEERS))
    if server_cells:
        lines += [*SERVER_ROLE, "", servers.to_markdown(server_cells)]
    lines += ["## Why cells differ", "", matrix.disagreements_markdown(client_cells), ""]
    if server_cells:
        lines += ["## Why server cells fail", "", servers.disagreements_markdown(server_cells), ""]
    return "\n".join(lines)
