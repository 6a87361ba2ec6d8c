"""`make test` runs with `--dist loadgroup`: a module marked ``xdist_group`` runs on one
worker, so its expensive shared fixture (a churn workspace, a Ray instance) is built once.

pytest-xdist puts a grouped test on its group's worker by a ``@group`` suffix on the node
id. With pytest 9.2 and xdist 3.8 the suffix was silently lost, every grouped module ran on
every worker and built its fixture twice (the retraining scenarios: 55 s more); this test
fails on such a pair.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("grouping-probe")


def test_a_grouped_test_carries_its_group_in_a_loadgroup_run(
    request: pytest.FixtureRequest,
) -> None:
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not a worker of a --dist loadgroup run")
    assert request.node.nodeid.endswith("@grouping-probe"), (
        f"{request.node.nodeid}: pytest-xdist did not add the group; the pytest installed "
        "is one it does not support (see the pin in pyproject.toml's dev extra)"
    )
