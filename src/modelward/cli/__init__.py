"""The ``modelward`` command line."""

from modelward.cli.app import app, main

__all__ = ["app", "main"]
