"""The benchmark's same-run comparison with another revision, and its ceiling row."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tlssim.bench import against, ceiling, certs

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "tests" / "vectors" / "reports" / "tls13.json"

AGAINST_HEAD = ("--against", "HEAD", "--rounds", "1")
PRINTED = """\
1. Engine CPU per handshake, client+server in one process (µs, best of 3 batches)
                                                       tlssim        OpenSSL    ratio  goal
  TLS 1.3 ECDSA P-256, X25519 [cpu]                       787            721    1.09x  <= 1.5x
      [wall]                                              787            721
2. TCP server: full TLS 1.3 handshakes/s from OpenSSL clients (one load process, 2 s per server)
  (1 thread)                 hs/s   p50 ms  server CPU/hs  vs best OpenSSL
  tlssim                            440     1.80        1.25 ms            129%   goal >= 80%
  (8 threads)                 hs/s   p50 ms  server CPU/hs  vs best OpenSSL
  tlssim                            406    17.61        0.98 ms             73%   goal >= 80%
3. Distributed path: RunHandshake on the client service over one gRPC channel
  server service TCP, 1 thread 283 hs/s p50 3.1 ms server CPU 1.83 ms s_server 430 hs/s 0.66x
  direct (no relay)                  2.94/3.46/8.73        6.24/8.35/16.54
  direct (no relay)       16 in flight:     214 handshakes/s (RPC p50 65.3 ms)
  path                         client  server    ocsp      ca  faults console   bench   total
  direct (no relay)        16    3.50    2.43    0.08    0.02    0.05    0.36    0.51    6.94  -> 2
4. Client handshake against the same tlssim TCP server (median of 30, ms)
  OpenSSL (Python ssl)                   1.95 ms
5. Post-quantum: TLS 1.3 engine CPU per handshake and bytes on the wire
  ECDSA P-256, x25519 [cpu]                                  800              -        -  1/2
"""


def test_every_row_shape_is_read_with_its_direction() -> None:
    figures = {f.key: f for f in against.parse(PRINTED)}
    expected = {
        "engine: TLS 1.3 ECDSA P-256, X25519": (787, False),
        "engine: TLS 1.3 ECDSA P-256, X25519 (OpenSSL)": (721, False),
        "engine: TLS 1.3 ECDSA P-256, X25519, tlssim/OpenSSL": (1.09, False),
        "tcp: tlssim, 1 thread": (440, True),
        "tcp: tlssim, 1 thread, server CPU": (1.25, False),
        "tcp: tlssim, 8 threads": (406, True),
        "tcp: tlssim, 8 threads, server CPU": (0.98, False),
        "stack: server service TCP, 1 thread(s)": (283, True),
        "stack: server service TCP, 1 thread(s), server CPU": (1.83, False),
        "stack: server service TCP, 1 thread(s), tlssim/s_server": (0.66, True),
        "stack: direct (no relay), handshake p50": (2.94, False),
        "stack: direct (no relay), RPC p50": (6.24, False),
        "stack: direct (no relay), 16 in flight": (214, True),
        "stack: direct (no relay), 16, CPU": (6.94, False),
        "client: OpenSSL (Python ssl)": (1.95, False),
        "pq: ECDSA P-256, x25519": (800, False),
    }
    for key, (value, higher_is_better) in expected.items():
        assert figures[key].value == value, key
        assert figures[key].higher_is_better is higher_is_better, key
    assert set(figures) == set(expected)  # the [wall] and header lines are not rows


def test_the_ceiling_is_what_the_cores_allow_for_floor_plus_engine(tmp_path: Path) -> None:
    pki = certs.create(tmp_path / "pki")
    pair = ceiling.engine_pair(REPORT.read_text(), pki, 5)
    assert 0.05 < pair.cpu_ms < 100
    assert "TLS 1.3" in pair.what
    top = ceiling.Ceiling(floor_ms=2.0, engine_ms=1.0, cores=2)
    assert top.per_handshake_ms == 3.0
    assert top.rate == pytest.approx(2000 / 3)


def test_against_a_revision_runs_both_trees_and_prints_each_row_with_its_ratio() -> None:
    if subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True
    ).returncode:
        pytest.skip("not a git checkout")
    done = subprocess.run(
        [sys.executable, "scripts/bench.py", "--quick", "--only", "engine", *AGAINST_HEAD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "round 1/1, engine: HEAD" in done.stderr  # progress on stderr
    row = next(
        line for line in done.stdout.splitlines() if "TLS 1.3 ECDSA P-256, X25519 [µs CPU]" in line
    )
    cells = re.search(r"\]\s+(?P<this>[\d.]+)\s+(?P<other>[\d.]+)\s+(?P<ratio>[\d.]+)x", row)
    assert cells is not None, row
    assert float(cells["this"]) > 0 and float(cells["other"]) > 0


def test_an_unknown_revision_is_one_clear_line() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/bench.py", "--only", "engine", "--against", "no-such-rev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "--against no-such-rev:" in done.stderr
    assert "Traceback" not in done.stderr
