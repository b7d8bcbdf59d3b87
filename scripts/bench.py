#!/usr/bin/env python3
"""Benchmarks tlssim against OpenSSL and tlslite-ng; see docs/performance.md.

python scripts/bench.py [--quick] [--only engine|tcp|stack|clients|pq ...] [--against REV]
"""

import sys

from tlssim.bench.main import main

if __name__ == "__main__":
    sys.exit(main())
