"""The `tlssim` command line."""

from tlssim.cli.main import main

__all__ = ["main"]
