"""The serving tests' fixtures, defined in :mod:`tests.unit.serving.support`."""

from tests.unit.serving.support import classifier, make_gateway, sink, world

__all__ = ["classifier", "make_gateway", "sink", "world"]
