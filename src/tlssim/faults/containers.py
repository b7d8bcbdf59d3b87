"""Container faults under compose, through the Docker Engine API (the `docker` package)."""

from __future__ import annotations

import os
from typing import Any

ACTIONS = ("kill", "pause", "unpause", "restart", "stop", "start", "disconnect", "connect")


def _client() -> Any:
    from docker import DockerClient
    from docker.errors import DockerException

    try:
        client = DockerClient.from_env()
        client.ping()
    except DockerException as exc:
        raise RuntimeError(f"no Docker engine answers: {exc}") from None
    return client


def find_container(client: Any, service: str, project: str | None = None) -> Any:
    """The container compose made for `service` (project from COMPOSE_PROJECT_NAME if set)."""
    labels = [f"com.docker.compose.service={service}"]
    if project := project or os.environ.get("COMPOSE_PROJECT_NAME"):
        labels.append(f"com.docker.compose.project={project}")
    found = client.containers.list(all=True, filters={"label": labels})
    if not found:
        raise RuntimeError(f"no compose container for service {service!r}")
    if len(found) > 1:
        projects = sorted({c.labels.get("com.docker.compose.project", "?") for c in found})
        raise RuntimeError(
            f"{service!r} runs in several projects ({', '.join(projects)}); "
            "set COMPOSE_PROJECT_NAME"
        )
    return found[0]


def apply(action: str, service: str, project: str | None = None) -> str:
    """Kills, pauses, restarts or disconnects one service's container; says what it did."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; choose one of {', '.join(ACTIONS)}")
    client = _client()
    container = find_container(client, service, project)
    if action in ("disconnect", "connect"):
        project = container.labels["com.docker.compose.project"]
        networks = client.networks.list(filters={"label": f"com.docker.compose.project={project}"})
        for network in networks:
            if action == "disconnect":
                network.disconnect(container)
            else:
                network.connect(container, aliases=[service])
        return f"{action} {container.name}: " + ", ".join(n.name for n in networks)
    getattr(container, action)()
    return f"{action} {container.name}: done"
