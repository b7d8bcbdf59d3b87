"""Carrying TLS records over gRPC streams and TCP, and driving the sans-IO engine over them."""
