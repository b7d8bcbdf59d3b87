"""`python -m tlssim.health HOST:PORT`: exit 0 when the gRPC service there answers the
standard health check as SERVING, 1 otherwise. Small on purpose: container health checks run
it every few seconds, so it loads gRPC and nothing else."""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def serving(address: str, timeout: float = 2.0) -> bool:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tlssim.health HOST:PORT", file=sys.stderr)
        return 2
    return 0 if serving(argv[0]) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
