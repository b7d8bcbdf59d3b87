"""`tlssim faults ...`: the faults proxy's REST API and container faults, from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tlssim import containers
from tlssim import endpoints as ep
from tlssim.faults.rest_client import FaultsApi, FaultsApiError


def _attribute(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


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
            print(f"tlssim: {exc}", file=sys.stderr)
            return 1
        return 0
    api = FaultsApi(ep.Endpoints.from_env().faults_api)
    try:
        match args.faults_command:
            case "list":
                _print_proxies(api.proxies())
            case "add":
                toxic = {
                    "type": args.type,
                    "stream": args.stream,
                    "toxicity": args.toxicity,
                    "attributes": dict(_attribute(a) for a in args.attributes),
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
    except (FaultsApiError, ValueError) as exc:
        print(f"tlssim: {exc}", file=sys.stderr)
        return 1
    return 0
