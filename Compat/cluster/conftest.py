"""Starts one cluster (scripts/cluster.sh: SecantusDB, redis-server, 3 chatify nodes,
nginx, every port a free one) for the whole cluster suite and stops it at the end.

CHATIFY_BIN is the node binary (default <repo>/.build/debug/chatify); the cluster's
state, configs and logs go to CLUSTER_TEST_DIR (default <repo>/.cluster/suite)."""

import os
from pathlib import Path

import pytest

import cluster_support as cs


@pytest.fixture(scope="session")
def cluster():
    directory = Path(os.environ.get("CLUSTER_TEST_DIR", cs.REPO_ROOT / ".cluster" / "suite"))
    cluster = cs.Cluster(directory, nodes=3)
    cluster.start()
    try:
        yield cluster
    finally:
        for k in range(1, cluster.nodes + 1):
            cs.stop_continue_guard(cluster, k)
        cluster.stop()


@pytest.fixture(scope="session")
def seeder(cluster):
    return cs.Seeder(cluster)


@pytest.fixture
def clients():
    """Factory of ChatClients, all closed after the test."""
    made = []

    def make(*args, connect=True, **kwargs):
        client = cs.ChatClient(*args, **kwargs)
        made.append(client)
        if connect:
            client.connect()
        return client

    make.created = made
    yield make
    for client in made:
        client.close()


@pytest.fixture(autouse=True)
def nodes_running(cluster):
    """Every test starts and ends with all nodes running (not SIGSTOPped)."""
    yield
    for k in range(1, cluster.nodes + 1):
        cs.stop_continue_guard(cluster, k)


def pytest_terminal_summary(terminalreporter):
    if cs.NOTES:
        terminalreporter.section("cluster: timings")
        for note in cs.NOTES:
            terminalreporter.write_line(note)
    if cs.EVIDENCE:
        terminalreporter.section("cluster: bytes on Redis")
        for what, channel, raw in cs.EVIDENCE:
            terminalreporter.write_line(f"{what} on {channel!r} ({len(raw)} bytes): {raw.hex(' ')}")


def pytest_configure(config):
    # The test JWT secret is shorter than PyJWT recommends.
    config.addinivalue_line("filterwarnings", "ignore::jwt.warnings.InsecureKeyLengthWarning")
