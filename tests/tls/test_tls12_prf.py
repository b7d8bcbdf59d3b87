"""The TLS 1.2 PRF (RFC 5246 section 5) against published P_SHA256 / P_SHA384 vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tlssim.tls.tls12 import TLS12_SUITES, key_block, master_secret, prf, verify_data

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "tls12_prf.json").read_text())[
    "vectors"
]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_prf_vectors(vector: dict[str, object]) -> None:
    hash_name = {"SHA-256": "sha256", "SHA-384": "sha384"}[str(vector["hash"])]
    out = prf(
        hash_name,
        bytes.fromhex(str(vector["secret"])),
        bytes.fromhex(str(vector["label_hex"])),
        bytes.fromhex(str(vector["seed"])),
        int(str(vector["output_length"])),
    )
    assert out.hex() == vector["output"]


def test_derived_lengths_and_labels() -> None:
    for suite in TLS12_SUITES.values():
        ms = master_secret(suite, bytes(48), bytes(32), bytes(32), None)
        ems = master_secret(suite, bytes(48), bytes(32), bytes(32), bytes(suite.hash_length))
        assert len(ms) == 48 and ms != ems
        kb = key_block(suite, ms, bytes(32), bytes(32))
        assert len(kb.client_write_key) == len(kb.server_write_key) == suite.key_length
        assert len(kb.client_write_iv) == suite.fixed_iv_length
        assert len(kb.server_write_iv) == suite.fixed_iv_length
        client = verify_data(suite, ms, True, bytes(32))
        assert len(client) == 12 and client != verify_data(suite, ms, False, bytes(32))
