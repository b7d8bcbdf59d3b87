"""`tlssim faults ...`: the faults proxy's REST API and container faults, from the shell."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from tlssim.cli.errors import CliError, Exit
from tlssim.faults import containers
from tlssim.faults.rest_client import FaultsApi, FaultsApiError
from tlssim.services.settings import faults_api_url


def toxic_kinds() -> dict[str, tuple[str, ...]]:
    """Every toxic type the faults service knows, with its attribute names."""
    from tlssim.faults import tlstoxics  # noqa: F401  (registers the tls_* toxics)
    from tlssim.faults.toxics import TOXIC_TYPES

    return {name: tuple(kind.defaults) for name, kind in TOXIC_TYPES.items()}


def _attributes(kind: str, texts: list[str]) -> dict[str, Any]:
    """NAME=VALUE arguments, checked against the toxic's own attributes."""
    kinds = toxic_kinds()
    if kind not in kinds:
        raise CliError(f"unknown toxic type {kind!r}; known: {', '.join(kinds)}")
    attributes: dict[str, Any] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        if not sep:
            raise CliError(f"expected NAME=VALUE, got {text!r}")
        if name not in kinds[kind]:
            known = ", ".join(kinds[kind]) or "none"
            raise CliError(f"{kind} has no attribute {name!r}; its attributes: {known}")
        try:
            attributes[name] = json.loads(value)
        except json.JSONDecodeError:
            attributes[name] = value
    return attributes


def _print_proxies(proxies: dict[str, Any]) -> None:
    for name, proxy in sorted(proxies.items()):
        state = "up" if proxy.get("enabled", True) else "DOWN"
        print(f"{name:<18} {state:<4} {proxy['listen']:<22} -> {proxy['upstream']}")
        for toxic in proxy.get("toxics", []):
            print(
                f"{'':<20}{toxic['name']}: {toxic['type']} {toxic['stream']} "
                f"toxicity={toxic.get('toxicity', 1)} {json.dumps(toxic.get('attributes', {}))}"
            )


def run_faults(args: argparse.Namespace) -> int:
    if args.faults_command == "container":
        try:
            print(containers.apply(args.action, args.service))
        except RuntimeError as exc:
            raise CliError(str(exc), Exit.UNAVAILABLE) from None
        return Exit.OK
    if args.faults_command == "types":
        for name, attributes in toxic_kinds().items():
            print(f"{name:<22} {' '.join(f'{a}=' for a in attributes) or '(no attributes)'}")
        return Exit.OK
    api = FaultsApi(faults_api_url(os.environ))
    try:
        _call_api(api, args)
    except FaultsApiError as exc:
        if exc.status != 404:
            raise
        if "toxic" in str(exc):
            raise CliError(
                f"link {args.link!r} has no toxic {args.toxic!r} (`tlssim faults list` shows them)",
                Exit.REFUSED,
            ) from None
        raise CliError(
            f"no link named {args.link!r} (`tlssim faults list` names them)", Exit.REFUSED
        ) from None
    return Exit.OK


def _call_api(api: FaultsApi, args: argparse.Namespace) -> None:
    match args.faults_command:
        case "list":
            _print_proxies(api.proxies())
        case "add":
            toxic = {
                "type": args.type,
                "stream": args.stream,
                "toxicity": args.toxicity,
                "attributes": _attributes(args.type, args.attributes),
            }
            if args.name:
                toxic["name"] = args.name
            created = api.add_toxic(args.link, toxic)
            print(f"added {created['name']} to {args.link}")
        case "remove":
            api.call("DELETE", f"/proxies/{args.link}/toxics/{args.toxic}")
            print(f"removed {args.toxic} from {args.link}")
        case "disable" | "enable":
            api.set_enabled(args.link, args.faults_command == "enable")
            print(f"{args.link} {args.faults_command}d")
        case "reset":
            api.reset()
            print("every link enabled, every toxic removed")
