"""The features tests' fixtures, defined in :mod:`tests.unit.features.support`."""

from tests.unit.features.support import catalog, density, driver, stats_path, stats_view

__all__ = ["catalog", "density", "driver", "stats_path", "stats_view"]
