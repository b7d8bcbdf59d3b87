"""The faults API and the console API, fuzzed from the OpenAPI documents they serve at
/openapi.json (schemathesis): no request gets a 500, every answer is one the document
describes, and afterwards the lab still answers a handshake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.conftest import LocalStack, running_stack
from tlssim.faults.rest_client import FaultsApi

# Per operation; about 25 operations in all keep the run well under a minute.
EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzzed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("fuzz")) as stack:
        yield stack


def _fuzz(url: str, skip: tuple[str, ...] = ()) -> int:
    """Every operation of the document at `url`, EXAMPLES cases each; the cases run."""
    schema = schemathesis.openapi.from_url(url)
    ran = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the document itself is wrong
        operation = result.ok()
        if operation.path in skip:
            continue

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal ran
            ran += 1
            case.call_and_validate(checks=CHECKS)

        run()
    return ran


@pytest.mark.integration
def test_the_faults_api_holds_under_fuzzing(fuzzed_stack: LocalStack) -> None:
    assert _fuzz(f"http://{fuzzed_stack.env['TLSSIM_FAULTS_API']}/openapi.json") > 100


@pytest.mark.integration
def test_the_console_api_holds_under_fuzzing(fuzzed_stack: LocalStack) -> None:
    # /events is a stream that never ends: described, not fuzzed.
    ran = _fuzz(fuzzed_stack.console_url + "/openapi.json", skip=("/events",))
    assert ran > 30


@pytest.mark.integration
def test_the_lab_answers_a_handshake_after_the_fuzzing(fuzzed_stack: LocalStack) -> None:
    api = FaultsApi(fuzzed_stack.env["TLSSIM_FAULTS_API"])
    # Toxics and disabled links are what the API is for: clear what the fuzzer set.
    api.call("POST", "/reset")
    assert {"client_server", "server_ca", "client_ocsp"} <= set(api.proxies())
    fuzzed_stack.handshake(ok=True)
    assert "Traceback" not in Path(fuzzed_stack.log).read_text()
