"""tlssim: a TLS handshake laboratory that runs as a real distributed system."""
