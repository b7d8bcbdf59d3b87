"""Benchmarks: tlssim against OpenSSL (Python ``ssl``) and tlslite-ng, in one run.

Run ``python scripts/bench.py [--quick]``; see docs/performance.md for what each figure
includes. Nothing here is imported by the services or the tests.
"""
