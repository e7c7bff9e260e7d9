"""pytest fixtures for the test hosts and Prometheus (registered from tests/conftest.py as a plugin).

Each starts only when a test asks for it, so runs that need neither do not need root or the Debian packages.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def test_hosts(tmp_path_factory):
    """Three hosts h1..h3 reached over SSH, on a /24 no other set of test hosts uses; removed at the end.

    Yields `tests.harness.hosts.Hosts`: `.hosts` (name, address, directory), `.inventory`, `.environment`,
    `.write_inventory(path, groups)`, `.ssh(name, command)`.
    """
    from tests.harness.hosts import Hosts, free_subnet

    hosts = Hosts(tmp_path_factory.mktemp("hosts"), 3, free_subnet())
    try:
        hosts.up()
        yield hosts
    finally:
        hosts.down(quiet=True)


@pytest.fixture
def prometheus(tmp_path):
    """`prometheus(series) -> url`: a server holding that history (calling again replaces it); stopped after the test.

    Build series with `tests.harness.prometheus.dcgm_series`; `prometheus.stop()` stops it early.
    """
    from tests.harness.prometheus import Prometheus

    server = Prometheus(tmp_path / "prometheus")
    yield server
    server.stop()
