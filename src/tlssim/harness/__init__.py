"""The local harness for tests, benchmarks and scripts: a whole stack on free ports, and a
headless browser for pages."""
