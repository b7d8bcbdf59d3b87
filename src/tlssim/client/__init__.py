"""The TLS client, one step per module: a request becomes a plan and its target names
(request.py), the engine runs over a transport (run.py), the certificate policy decides
(policy.py, returning a decision.py value), and the handshake report is built once from
both (reporting.py). handshake.py strings them together for the client service.

Nothing is imported here, so that readers of the report (the CLI) do not load the engine.
"""
