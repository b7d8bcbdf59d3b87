"""ACME (RFC 8555) in front of the lab's ca: the server, its JWS, policy and validation."""
