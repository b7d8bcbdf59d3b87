"""The handshake report: its typed model and JSON schema, the revocation values it carries,
the wire cost, the walkthrough of what each step means, and the story told from it.

The client builds a report (`client/reporting.py`); the CLI, the console, the diagrams, the
scenarios and the benchmarks read it. Nothing here imports the client, the services or the CLI.
"""
