"""Errors of the faults service; each carries the HTTP status the REST API answers with."""

from __future__ import annotations


class FaultsError(Exception):
    """A request the faults service cannot honour."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(FaultsError):
    """Malformed or invalid input (HTTP 400)."""

    status = 400


class NotFoundError(FaultsError):
    """No such proxy or toxic (HTTP 404)."""

    status = 404


class ConflictError(FaultsError):
    """The proxy or toxic already exists, or the address is taken (HTTP 409)."""

    status = 409
