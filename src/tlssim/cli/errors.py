"""The command line's one error path: every failure a user can cause is one line on stderr
that says what to do, and an exit code that means one thing (the table in the README)."""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Callable

import grpc

from tlssim.pki.admin import ADMIN_TOKEN_METADATA_KEY
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
    #: Whoever read the output stopped reading (`| head`): 128 + SIGPIPE, as Unix tools exit.
    BROKEN_PIPE = 141


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
            if ADMIN_TOKEN_METADATA_KEY in str(exc.details()):
                return CliError(f"refused: {_ADMIN_TOKEN_REFUSED}{_token_source()}", Exit.REFUSED)
            return CliError(f"refused: {exc.details()}", Exit.REFUSED)
        case grpc.aio.AioRpcError() if exc.code() in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ):
            return CliError(str(exc.details()), Exit.USAGE)
        case FaultsApiError() if exc.status is None:
            return CliError(str(exc), Exit.UNAVAILABLE)
        case FaultsApiError() if exc.status == 404:
            return CliError(str(exc), Exit.REFUSED)
        case FaultsApiError():
            return CliError(str(exc), Exit.USAGE)
        case SettingsError():
            return CliError(str(exc), Exit.USAGE)
        case OSError() if exc.filename is not None:
            return CliError(f"{exc.filename}: {exc.strerror}", Exit.FILE)
    return None


# What a service that wants the admin token says, in the words of the command line.
_ADMIN_TOKEN_REFUSED = (
    "the service wants the deployment's admin token, and the one sent is missing or wrong: "
    "set TLSSIM_ADMIN_TOKEN to it"
)


def _token_source() -> str:
    """Where the token sent came from, when it was not the environment."""
    if os.environ.get("TLSSIM_ADMIN_TOKEN", "").strip():
        return " (the one sent came from TLSSIM_ADMIN_TOKEN)"
    return " (the one sent came from the local ca's admin-token file)"


def _stop_writing_stdout() -> None:
    """Points stdout at /dev/null, so the flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run_guarded(command: Callable[[], int], debug: bool) -> int:
    """Runs `command`, turning every error into one line and its exit code."""
    try:
        code = command()
        sys.stdout.flush()  # here, where a reader that went away is still ours to handle
        return code
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`tlssim ca list | head -5`): stop quietly, as Unix tools do.
        _stop_writing_stdout()
        return Exit.BROKEN_PIPE
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
