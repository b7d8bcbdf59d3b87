"""Observation: bounded feeds for watchers, each service's trace events (and their gRPC
service and OpenTelemetry export), and the Prometheus metrics endpoint."""
