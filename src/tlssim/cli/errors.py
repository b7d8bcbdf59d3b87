"""The command line's one error path: every failure a user can cause is one line on stderr
that says what to do, and an exit code that means one thing (the table in the README)."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable

import grpc

from tlssim.services.settings import SettingsError


class Exit(enum.IntEnum):
    OK = 0
    #: The handshake (or a scenario) ran and failed: the result, not a malfunction.
    FAILED = 1
    #: The command line or a request was wrong (argparse uses 2 too).
    USAGE = 2
    #: A service or endpoint did not answer.
    UNAVAILABLE = 3
    #: A file could not be read or written.
    FILE = 4
    #: A service refused: no or wrong credentials, or what was named does not exist.
    REFUSED = 5
    #: A bug in tlssim: the message asks for a report (--debug shows the traceback).
    INTERNAL = 70
    INTERRUPTED = 130


class CliError(Exception):
    """A failure to tell the user in one line."""

    def __init__(self, message: str, code: Exit = Exit.USAGE) -> None:
        super().__init__(message)
        self.code = code


_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_REFUSED = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
}


def explain(exc: BaseException) -> CliError | None:
    """The one-line account of an error a user can cause, or None for a bug."""
    # Imported here: the faults package is heavy, and most commands never meet it.
    from tlssim.faults.rest_client import FaultsApiError

    match exc:
        case CliError():
            return exc
        case grpc.aio.AioRpcError() if exc.code() in _UNREACHABLE:
            return CliError(
                f"a service is not answering ({exc.details()}); start the stack with "
                "`tlssim up`, or point TLSSIM_*_ADDR at it",
                Exit.UNAVAILABLE,
            )
        case grpc.aio.AioRpcError() if exc.code() in _REFUSED:
            return CliError(f"refused: {exc.details()}", Exit.REFUSED)
        case grpc.aio.AioRpcError() if exc.code() in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ):
            return CliError(str(exc.details()), Exit.USAGE)
        case FaultsApiError():
            return CliError(str(exc), Exit.UNAVAILABLE if exc.status is None else Exit.USAGE)
        case SettingsError():
            return CliError(str(exc), Exit.USAGE)
        case OSError() if exc.filename is not None:
            return CliError(f"{exc.filename}: {exc.strerror}", Exit.FILE)
    return None


def run_guarded(command: Callable[[], int], debug: bool) -> int:
    """Runs `command`, turning every error into one line and its exit code."""
    try:
        return command()
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        known = explain(exc)
        if known is not None:
            print(f"tlssim: {known}", file=sys.stderr)
            return known.code
        print(
            f"tlssim: internal error: {type(exc).__name__}: {exc} "
            "(run again with --debug, before or after the subcommand, e.g. "
            "`tlssim --debug handshake ...`, for the traceback, and please report it)",
            file=sys.stderr,
        )
        return Exit.INTERNAL
