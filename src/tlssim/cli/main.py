"""Argument parsing and the small subcommands; the big ones live in their own modules."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import enum
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from tlssim import rpcutil
from tlssim.cli.errors import CliError, Exit, run_guarded
from tlssim.cli.services import SERVICE_NAMES
from tlssim.client.request import (
    ALLOW_LEGACY_ENABLES,
    USABLE_GROUPS,
    USABLE_SIGNATURE_SCHEMES,
    USABLE_SUITES,
)
from tlssim.pki.reasons import REVOCATION_REASONS
from tlssim.services.settings import (
    CA_ADDR,
    CLIENT_ADDR,
    FEED_MAX_AGE_S,
    SERVER_ADDR,
    check_address,
    checked_endpoints,
)
from tlssim.terminal import guarded_output
from tlssim.tls import ProtocolVersion

EXIT_OK, EXIT_FAILED = Exit.OK, Exit.FAILED


def _names(members: tuple[enum.Enum, ...]) -> str:
    return ", ".join(m.name for m in members)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, whose usage errors are one line, like every other error of the command line
    (its subcommands' parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")
        self.exit(Exit.USAGE, f"{self.prog}: error: {message} (`{self.prog} -h` for help)\n")


def _parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _OneLineParser(
        prog="tlssim", description="A TLS handshake laboratory that runs as a distributed system."
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    _add_process_parsers(sub)
    _add_handshake_parser(sub)
    _add_trace_parser(sub)

    from tlssim.cli.load import add_parser as add_load_parser

    add_load_parser(sub)

    from tlssim.cli.propagation import add_parser as add_propagation_parser

    add_propagation_parser(sub)

    from tlssim.cli.interop import add_parser as add_interop_parser

    add_interop_parser(sub)
    _add_ca_parser(sub)
    _add_server_parser(sub)
    _add_decrypt_parser(sub)
    _add_scenarios_parser(sub)
    _add_faults_parser(sub)
    _debug_everywhere(parser)
    return parser


def _add_process_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """up, serve and health: the commands that run or probe the services."""
    up = sub.add_parser("up", help="start every service as a local process and stay in front")
    up.add_argument(
        "--data-dir", help="where the ca keeps its state (default ~/.local/state/tlssim)"
    )

    serve = sub.add_parser("serve", help="run one service in this process (used by up and compose)")
    serve.add_argument("service", choices=SERVICE_NAMES)

    health = sub.add_parser("health", help="exit 0 when HOST:PORT answers the gRPC health check")
    health.add_argument("address")


def _add_handshake_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`tlssim handshake` and its options."""
    hs = sub.add_parser("handshake", help="ask the client service to run one handshake")
    hs.add_argument(
        "--server-name", default="", help="SNI and name to verify (default valid.tlssim.test)"
    )
    hs.add_argument(
        "--no-sni", action="store_true", help="send no server_name extension (still verify it)"
    )
    hs.add_argument(
        "--tls",
        choices=["1.2", "1.3", "1.1", "1.0"],
        default="",
        help="TLS version (default 1.3 or 1.2; 1.1 and 1.0 need --allow-legacy)",
    )
    hs.add_argument(
        "--allow-legacy",
        action="store_true",
        help="for a lesson, also offer " + ALLOW_LEGACY_ENABLES,
    )
    hs.add_argument("--kx", choices=["rsa", "ecdhe"], default="", help="key exchange")
    hs.add_argument(
        "--cipher",
        action="append",
        default=[],
        metavar="SUITE",
        help="IANA cipher suite, repeatable, in preference order; TLS 1.3: "
        f"{_names(USABLE_SUITES[ProtocolVersion.TLSv1_3])}; TLS 1.2: "
        f"{_names(USABLE_SUITES[ProtocolVersion.TLSv1_2])}",
    )
    hs.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="GROUP",
        help=f"key exchange group, repeatable (the first gets the key share): "
        f"{_names(USABLE_GROUPS)}",
    )
    hs.add_argument(
        "--sigalg",
        action="append",
        default=[],
        metavar="SCHEME",
        help=f"signature scheme, repeatable: {_names(USABLE_SIGNATURE_SCHEMES)}",
    )
    hs.add_argument(
        "--revocation",
        choices=["hard", "soft", "off"],
        default="soft",
        help="hard: no status is a failure; soft: no status is a warning; off: not checked",
    )
    hs.add_argument("--no-staple", action="store_true", help="ask for no OCSP staple")
    hs.add_argument(
        "--chase-aia",
        action="store_true",
        help="fetch a missing intermediate from the AIA caIssuers URL of the chain's last "
        "certificate, as browsers do (off by default, as in OpenSSL)",
    )
    hs.add_argument("--tcp", metavar="HOST:PORT", default="", help="any TLS server over TCP")
    hs.add_argument("--ca-file", help="trust anchors (PEM) instead of the ca's bundle")
    hs.add_argument(
        "--clock-skew",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="shift the client's clock (negative: the past) to test expiry and freshness",
    )
    hs.add_argument(
        "--data",
        default="",
        help="application data to send after the handshake; the server service echoes it and "
        "the echo is checked (default: GET / HTTP/1.1)",
    )
    hs.add_argument(
        "--no-echo",
        action="store_true",
        help="do not wait for an echo: for plain TLS servers (openssl s_server) with --tcp",
    )
    hs.add_argument(
        "--client-cert",
        metavar="auto|none|FILE",
        default="",
        help="what answers a server's CertificateRequest: auto, the client service's own "
        "certificate from the ca (the default with the lab's server); none, an empty "
        "Certificate (the default with --tcp); FILE, a PEM chain (leaf first) with --client-key",
    )
    hs.add_argument(
        "--client-key", metavar="FILE", help="the PEM private key of --client-cert FILE"
    )
    hs.add_argument("--resume", action="store_true", help="handshake, then resume that session")
    hs.add_argument(
        "--early-data",
        metavar="TEXT",
        default="",
        help="with --resume: send TEXT as TLS 1.3 0-RTT early data with the resumed session's "
        "ClientHello (sent again after the handshake if the server rejects it)",
    )
    hs.add_argument(
        "--key-update",
        action="store_true",
        help="TLS 1.3: once connected, send KeyUpdate(update_requested), then the data under "
        "the new key; the story shows whether the server answered with its own",
    )
    hs.add_argument(
        "--keylog",
        metavar="FILE",
        default=os.environ.get("SSLKEYLOGFILE", ""),
        help="append the session secrets in NSS key log format (default $SSLKEYLOGFILE)",
    )
    hs.add_argument("--capture", metavar="FILE", help="save both directions' bytes (JSON)")
    hs.add_argument(
        "--records",
        action="store_true",
        help="print every TLS record both ways, as openssl s_client -trace does: types, "
        "lengths, decoded messages, and the traffic secret of each protected record",
    )
    hs.add_argument("--json", action="store_true", help="print the report as one JSON document")
    hs.add_argument("--mermaid", action="store_true", help="print a Mermaid sequence diagram")
    hs.add_argument("--html", metavar="FILE", help="write the diagram as one HTML page")


def _add_trace_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`tlssim trace ID`."""
    trace = sub.add_parser(
        "trace", help="one handshake's events from every service, as one timeline"
    )
    trace.add_argument("trace_id", metavar="ID", help="the trace id a handshake report shows")
    trace.add_argument("--json", action="store_true", help="print the events as JSON")


def _add_ca_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`tlssim ca`: bundle, list, revoke, rotate-credentials."""
    ca = sub.add_parser("ca", help="talk to the certificate authority")
    ca_sub = ca.add_subparsers(dest="ca_command", required=True)
    ca_sub.add_parser("bundle", help="print the trust anchors as PEM")
    listing = ca_sub.add_parser("list", help="issued certificates: serial, subject, status")
    listing.add_argument("--host", default="", help="only certificates for this host name")
    listing.add_argument("--revoked", action="store_true", help="only revoked certificates")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (newest)")
    revoke = ca_sub.add_parser("revoke", help="revoke a certificate by serial (hex)")
    revoke.add_argument("serial", help="the serial in hex, as `tlssim ca list` shows it")
    revoke.add_argument(
        "--reason",
        default="unspecified",
        choices=REVOCATION_REASONS,
        metavar="REASON",
        help="RFC 5280 CRLReason: " + ", ".join(REVOCATION_REASONS),
    )
    rotate = ca_sub.add_parser(
        "rotate-credentials",
        help="replace the enrollment credentials and the admin token in the ca's data dir "
        "(the running ca takes the new ones at once)",
    )
    rotate.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="server, ocsp, client or admin (default: all of them)",
    )
    rotate.add_argument("--data-dir", help="the ca's state directory (default: $TLSSIM_DATA_DIR)")


def _add_server_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`tlssim server`: the TLS server's lab-only operations."""
    lab = sub.add_parser("server", help="the TLS server's lab-only operations")
    lab_sub = lab.add_subparsers(dest="server_command", required=True)
    export = lab_sub.add_parser(
        "export-key",
        help="a lab host's private key, for `tlssim decrypt` (needs the admin token)",
    )
    export.add_argument("host", help="a virtual host, e.g. rsa2048.tlssim.test")
    export.add_argument("--key-type", default="", help="e.g. rsa2048, ecdsa-p256 (default: first)")
    export.add_argument("-o", "--output", required=True, help="where to write the key (0600)")


def _add_decrypt_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`tlssim decrypt`."""
    decrypt = sub.add_parser(
        "decrypt", help="decrypt a captured TLS 1.2 RSA session with the server's private key"
    )
    decrypt.add_argument("capture", help="a file written by `tlssim handshake --capture`")
    decrypt.add_argument("--key", required=True, help="the server's private key (PEM)")


def _add_scenarios_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`tlssim scenarios`: list and run."""
    scenarios = sub.add_parser("scenarios", help="the fault scenario catalogue")
    s_sub = scenarios.add_subparsers(dest="scenarios_command", required=True)
    s_sub.add_parser("list", help="name and description of every scenario (and which take --peer)")
    run = s_sub.add_parser("run", help="run scenarios against the running stack")
    run.add_argument("names", nargs="*", metavar="NAME")
    run.add_argument("--all", action="store_true", help="run the whole catalogue")
    run.add_argument("--json", action="store_true", help="print a JSON list of results")
    run.add_argument(
        "--peer",
        default="",
        metavar="PEER",
        help="run the scenario with another stack's client instead of ours (a peer of "
        "`tlssim interop`: openssl, gnutls, nss, ...); `tlssim scenarios list` marks the "
        "scenarios that take one",
    )


def _add_faults_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`tlssim faults`: the links, their toxics and the containers."""
    faults = sub.add_parser("faults", help="put faults on the links between services")
    f_sub = faults.add_subparsers(dest="faults_command", required=True)
    f_sub.add_parser("list", help="every link's proxy, its state and its toxics")
    f_sub.add_parser("types", help="every toxic type and its attributes")
    add = f_sub.add_parser("add", help="add a toxic to a link, e.g. latency latency=100")
    add.add_argument("link", help="a link's proxy, e.g. client_server (`tlssim faults list`)")
    add.add_argument("type", help="the toxic type (`tlssim faults types`)")
    add.add_argument("attributes", nargs="*", metavar="NAME=VALUE")
    add.add_argument(
        "--stream",
        choices=["upstream", "downstream"],
        default="downstream",
        help="downstream: towards the service that dialled; upstream: towards the target",
    )
    add.add_argument(
        "--toxicity", type=float, default=1.0, help="share of connections affected (0..1)"
    )
    add.add_argument("--name", help="toxic name (default TYPE_STREAM)")
    remove = f_sub.add_parser("remove", help="remove a toxic from a link")
    remove.add_argument("link")
    remove.add_argument("toxic")
    f_sub.add_parser("disable", help="take a link down: it refuses connections").add_argument(
        "link"
    )
    f_sub.add_parser("enable", help="bring a link back up").add_argument("link")
    f_sub.add_parser("reset", help="enable every link and remove every toxic")
    container = f_sub.add_parser(
        "container", help="kill/pause/restart/disconnect a compose service"
    )
    container.add_argument(
        "action",
        choices=["kill", "pause", "unpause", "restart", "stop", "start", "disconnect", "connect"],
    )
    container.add_argument("service")


def _debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """--debug after any subcommand too (``tlssim handshake --debug``), not only before it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                if "--debug" not in child._option_string_actions:
                    child.add_argument(
                        "--debug",
                        action="store_true",
                        default=argparse.SUPPRESS,
                        help="show the traceback of an unexpected error",
                    )
                _debug_everywhere(child)


def main(argv: list[str] | None = None) -> int:
    # Everything the command writes (stories, tables, error lines, argparse's messages)
    # reaches the terminal escaped: names and details come from peers and callers.
    with guarded_output():
        args = _parser().parse_args(argv)
        return run_guarded(lambda: _dispatch(args), args.debug)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "serve":
        from tlssim.cli.services import run_service

        return run_service(args.service)
    if args.command == "up":
        from tlssim.cli.launcher import run_up

        return asyncio.run(run_up(args.data_dir))
    if args.command == "decrypt":
        from tlssim.cli.decrypt import run_decrypt

        return run_decrypt(args.capture, args.key)
    if args.command == "load":
        from tlssim.cli.load import run_load

        return run_load(args)
    if args.command == "interop":
        from tlssim.cli.interop import run_interop

        # the matrix sends our client's requests as `tlssim handshake ARGS` would
        return run_interop(args, lambda argv: handshake_request(parse(["handshake", *argv])))
    if args.command == "propagation":
        from tlssim.cli.propagation import run_propagation

        return run_propagation(args, admin_token())
    if args.command == "faults":
        from tlssim.cli.faults import run_faults

        return run_faults(args)
    return asyncio.run(_COMMANDS[args.command](args))


async def _health(args: argparse.Namespace) -> int:
    check_address("health ADDRESS", args.address)
    if not await rpcutil.is_serving(args.address, timeout=2.0):
        raise CliError(
            f"{args.address} does not answer the gRPC health check as SERVING", Exit.UNAVAILABLE
        )
    return Exit.OK


async def _handshake(args: argparse.Namespace) -> int:
    from tlssim.report.model import Report
    from tlssim.report.story import render
    from tlssim.rpc.v1 import client_pb2_grpc

    request = handshake_request(args)
    # Output files are opened before the handshake, so a bad path costs no handshake.
    keylog = open(args.keylog, "a") if args.keylog else None  # noqa: SIM115
    capture = open(args.capture, "w") if args.capture else None  # noqa: SIM115
    if args.allow_legacy:
        print(f"--allow-legacy: offering {ALLOW_LEGACY_ENABLES}", file=sys.stderr)
    address = CLIENT_ADDR.get(os.environ)
    async with rpcutil.open_channel(address) as channel:
        stub = client_pb2_grpc.TlsClientStub(channel)
        result = await stub.RunHandshake(request, timeout=30)
    report = Report.from_json(result.report_json)
    if keylog is not None:
        with keylog:
            keylog.writelines(line + "\n" for line in report.keylog or ())
    if capture is not None:
        with capture:
            capture.write(json.dumps(report.to_dict().get("capture", {})) + "\n")
    if args.html:
        from tlssim.diagrams.page import html_page

        Path(args.html).write_text(html_page(report))
    wire, secrets = report.capture, report.keylog or ()
    # The bytes and secrets fetched for the records view stay out of the printed report.
    report = dataclasses.replace(
        report, capture=None, keylog=report.keylog if args.keylog else None
    )
    if args.records and wire is not None:
        from tlssim.report.records import records_of, render_records

        records = records_of(wire.client_to_server, wire.server_to_client, secrets, wire.order)
        print(render_records(records))
    elif args.mermaid:
        from tlssim.diagrams.mermaid import mermaid

        print(mermaid(report))
    else:
        print(report.to_json(indent=2) if args.json else render(report))
    if not result.ok and report.error and not report.steps:
        # Not a word of TLS was sent: the endpoint's failure, not the handshake's.
        raise CliError(f"{report.error} (is the server running?)", Exit.UNAVAILABLE)
    return EXIT_OK if result.ok else EXIT_FAILED


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line `tlssim ARGV` as the command reads it."""
    return _parser().parse_args(argv)


def handshake_request(args: argparse.Namespace) -> Any:
    """The client service's HandshakeRequest for `tlssim handshake` ARGS (usage errors
    refused here, files read), as the command sends it."""
    from tlssim.rpc.v1 import client_pb2

    _refuse_conflicts(args)
    if args.tcp:
        check_address("--tcp", args.tcp)
    ca_pem = _trust_anchors(args.ca_file) if args.ca_file else ""
    client_cert, cert_pem, key_pem = args.client_cert, "", ""
    if client_cert not in ("", "auto", "none"):
        if not args.client_key:
            raise CliError("--client-cert FILE needs --client-key FILE")
        cert_pem = Path(client_cert).read_text()
        key_pem = Path(args.client_key).read_text()
        client_cert = "pem"
    return client_pb2.HandshakeRequest(
        server_name=args.server_name,
        no_sni=args.no_sni,
        tls_version=args.tls,
        key_exchange=args.kx,
        cipher_suites=args.cipher,
        groups=args.group,
        signature_schemes=args.sigalg,
        revocation=args.revocation,
        no_status_request=args.no_staple,
        chase_aia=args.chase_aia,
        resume=args.resume,
        keylog=bool(args.keylog) or args.records or bool(args.html),
        capture=bool(args.capture) or args.records or bool(args.html),
        tcp_address=args.tcp,
        ca_pem=ca_pem,
        clock_skew_seconds=args.clock_skew,
        application_data=args.data.encode(),
        early_data=args.early_data.encode(),
        no_echo=args.no_echo,
        client_cert=client_cert,
        client_cert_pem=cert_pem,
        client_key_pem=key_pem,
        allow_legacy=args.allow_legacy,
        key_update=args.key_update,
    )


def _refuse_conflicts(args: argparse.Namespace) -> None:
    """Options that make no sense together are refused, not silently ignored."""
    if args.mermaid and args.json:
        raise CliError("--mermaid and --json each print the whole output: choose one")
    if args.records and (args.mermaid or args.json):
        chosen = "--mermaid" if args.mermaid else "--json"
        raise CliError(f"--records and {chosen} each print the whole output: choose one")
    if args.key_update and args.tls not in ("", "1.3"):
        raise CliError(f"--key-update is TLS 1.3 only: KeyUpdate does not exist in TLS {args.tls}")
    if args.client_key and args.client_cert in ("", "auto", "none"):
        raise CliError("--client-key FILE goes with --client-cert FILE (the chain it signs for)")


def _trust_anchors(ca_file: str) -> str:
    """The PEM certificates of --ca-file, refused here when it holds none."""
    from cryptography import x509

    text = Path(ca_file).read_bytes()  # an OSError names the file
    try:
        x509.load_pem_x509_certificates(text)
    except ValueError:
        raise CliError(
            f"{ca_file}: no PEM certificate in it (--ca-file wants the trust anchors as PEM)",
            Exit.FILE,
        ) from None
    return text.decode(errors="replace")


def _rotate_credentials(args: argparse.Namespace) -> int:
    from tlssim.pki.enrollment import ADMIN, IDENTITIES, rotate
    from tlssim.services.settings import default_data_dir

    known = (*IDENTITIES, ADMIN)
    names = args.names or list(known)
    if unknown := [n for n in names if n not in known]:
        raise CliError(f"unknown credential(s) {', '.join(unknown)}; known: {', '.join(known)}")
    env = os.environ | ({"TLSSIM_DATA_DIR": args.data_dir} if args.data_dir else {})
    ca_dir = default_data_dir(env) / "ca"
    if not ca_dir.is_dir():
        raise CliError(
            f"no ca data dir at {ca_dir}: start the ca once, or name its --data-dir", Exit.FILE
        )
    for path in rotate(ca_dir, names):
        print(f"rotated {path}")
    if ADMIN in names:
        print("note: a ca started with TLSSIM_ADMIN_TOKEN uses that value, not the file")
    return EXIT_OK


async def _ca(args: argparse.Namespace) -> int:
    from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc

    if args.ca_command == "rotate-credentials":
        return _rotate_credentials(args)

    address = CA_ADDR.get(os.environ)
    async with rpcutil.open_channel(address) as channel:
        stub = ca_pb2_grpc.CertificateAuthorityStub(channel)
        if args.ca_command == "bundle":
            reply = await stub.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=10)
            sys.stdout.write(reply.pem)
            return EXIT_OK
        if args.ca_command == "list":
            listed = await stub.ListCertificates(
                ca_pb2.ListCertificatesRequest(
                    host=args.host, revoked_only=args.revoked, limit=max(args.limit, 1)
                ),
                timeout=10,
            )
            _print_certificates(listed.certificates)
            return EXIT_OK
        token = admin_token()
        if not token:
            raise CliError(
                "no admin token: set TLSSIM_ADMIN_TOKEN (a local stack keeps it in "
                "~/.local/state/tlssim/ca/admin-token)",
                Exit.REFUSED,
            )
        revoked = await stub.RevokeCertificate(
            ca_pb2.RevokeCertificateRequest(serial_hex=args.serial.lower(), reason=args.reason),
            timeout=10,
            metadata=(("x-tlssim-admin-token", token),),
        )
        print(f"revoked {args.serial} (status sequence {revoked.sequence})")
        return EXIT_OK


def certificate_rows(certificates: Any) -> list[str]:
    """The `ca list` table: each column as wide as its widest cell, so none falls out of line."""
    header = ("serial", "status", "profile", "not after", "subject")
    rows = [header] + [
        (
            c.serial_hex,
            f"revoked ({c.reason})" if c.revoked else "issued",
            c.profile,
            dt.datetime.fromtimestamp(c.not_after, dt.UTC).date().isoformat(),
            c.subject,
        )
        for c in certificates
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return [
        " ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def _print_certificates(certificates: Any) -> None:
    print("\n".join(certificate_rows(certificates)))


def admin_token() -> str:
    """The deployment's admin credential: the environment, else the local ca's token file."""
    from tlssim.services.settings import default_data_dir

    if token := os.environ.get("TLSSIM_ADMIN_TOKEN", "").strip():
        return token
    path = default_data_dir(os.environ) / "ca" / "admin-token"
    return path.read_text().strip() if path.exists() else ""


async def _scenarios(args: argparse.Namespace) -> int:
    from tlssim.scenarios import SCENARIOS, ScenarioResult, run_scenarios
    from tlssim.scenarios import peers as scenario_peers

    if args.scenarios_command == "list":
        from tlssim.report.fit import terminal_width, two_columns

        rows = [
            (s.name, s.description + (" [--peer]" if scenario_peers.takes_peers(s) else ""))
            for s in SCENARIOS
        ]
        print("\n".join(two_columns(rows, terminal_width())))
        return EXIT_OK
    by_name = {s.name: s for s in SCENARIOS}
    if args.all == bool(args.names):
        raise CliError("name scenarios or give --all (`tlssim scenarios list` names them)")
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        raise CliError(
            f"unknown scenario(s): {', '.join(unknown)}; `tlssim scenarios list` names them"
        )
    chosen = list(SCENARIOS) if args.all else [by_name[n] for n in args.names]
    peer_of = {}
    if args.peer:
        if args.all:
            raise CliError("--peer runs named scenarios (`tlssim scenarios list` marks them)")
        try:
            peer_of = {s.name: scenario_peers.choose_peer(s, args.peer) for s in chosen}
        except ValueError as exc:
            raise CliError(str(exc)) from None

    def progress(result: ScenarioResult) -> None:
        if not args.json:
            from tlssim.report.fit import terminal_width, wrap

            mark = "PASS" if result.passed else "FAIL"
            peer = result.details.get("peer")
            with_peer = f" with {peer} ({result.details['peer_version']})" if peer else ""
            lines = wrap(f"{mark}  {result.name}{with_peer}", terminal_width())
            lines += wrap(f"expected {result.expected}", terminal_width(), indent=6, hanging=9)
            if not result.passed or result.measured:
                first, *more = result.actual.split("\n")
                lines += wrap(f"actual   {first}", terminal_width(), indent=6, hanging=9)
                for line in more:  # a measurement: one line per thing measured
                    lines += wrap(line, terminal_width(), indent=15, hanging=2)
            print("\n".join(lines), flush=True)

    feed_max_age_s = FEED_MAX_AGE_S.get(os.environ)
    endpoints = checked_endpoints(os.environ)
    if peer_of:
        results = []
        for scenario in chosen:
            result = await scenario_peers.run_with_peer(scenario, peer_of[scenario.name], endpoints)
            progress(result)
            results.append(result)
    else:
        results = await run_scenarios(chosen, endpoints, progress, feed_max_age_s)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        passed = sum(r.passed for r in results)
        print(f"\n{passed} passed, {len(results) - passed} failed")
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


async def _server(args: argparse.Namespace) -> int:
    from tlssim.rpc.v1 import server_pb2, server_pb2_grpc

    token = admin_token()
    if not token:
        raise CliError(
            "no admin token: set TLSSIM_ADMIN_TOKEN (a local stack keeps it in "
            "~/.local/state/tlssim/ca/admin-token)",
            Exit.REFUSED,
        )
    if not Path(args.output).resolve().parent.is_dir():
        raise CliError(f"{args.output}: no such directory", Exit.FILE)
    async with rpcutil.open_channel(SERVER_ADDR.get(os.environ)) as channel:
        reply = await server_pb2_grpc.LabKeysStub(channel).ExportHostKey(
            server_pb2.ExportHostKeyRequest(host=args.host, key_type=args.key_type),
            timeout=10,
            metadata=(("x-tlssim-admin-token", token),),
        )
    # Written only once the key arrived: a refused export leaves no empty file behind.
    output = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(output, "w") as key_file:
        key_file.write(reply.key_pem)
    print(
        f"wrote the private key of {args.host} ({reply.key_type}) to {args.output}; whoever "
        "holds it can read every recorded RSA key-transport session of that host",
        file=sys.stderr,
    )
    return Exit.OK


async def _trace(args: argparse.Namespace) -> int:
    from tlssim.cli.trace import run_trace

    return await run_trace(args.trace_id, args.json)


_COMMANDS = {
    "trace": _trace,
    "server": _server,
    "health": _health,
    "handshake": _handshake,
    "ca": _ca,
    "scenarios": _scenarios,
}
