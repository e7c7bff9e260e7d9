"""`up` restarts what died on the cluster's own data (objects, tokens, CA, audit log), and `down` stops all
it started. A control plane of its own: these tests kill its processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import time
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from tests.harness.controlplane import BINARY, ControlPlane, alive

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    cluster = ControlPlane(tmp_path_factory.mktemp("restart") / "state", "restart")
    try:
        yield cluster.up()
    finally:
        cluster.down(quiet=True)


def kill(plane: ControlPlane, name: str) -> None:
    pid = plane.pids()[name]
    os.kill(pid, signal.SIGKILL)
    while alive(pid, BINARY[name]):
        time.sleep(0.05)


def get(plane: ControlPlane, path: str, token: str) -> dict:
    """GET through TLS verified against the cluster's CA, with a bearer token taken beforehand."""
    context = ssl.create_default_context(cafile=str(plane.ca_cert))
    request = urllib.request.Request(plane.server + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, context=context, timeout=5) as response:
        return json.load(response)


def test_killed_apiserver_is_restarted_on_the_same_data(plane):
    plane.up()
    core = client.CoreV1Api(plane.api_client())
    core.create_namespaced_config_map("default", {"metadata": {"name": "before"}, "data": {"kept": "yes"}})
    token, server, ca = plane.token("operator"), plane.server, plane.ca_cert.read_bytes()
    before = plane.pids()
    first_audit_line = plane.audit_log.read_bytes().splitlines()[0]

    kill(plane, "apiserver")
    plane.up()

    after = plane.pids()
    assert after["apiserver"] != before["apiserver"]
    assert {name: after[name] for name in ("etcd", "controller-manager", "scheduler")} == {
        name: before[name] for name in ("etcd", "controller-manager", "scheduler")}
    assert (plane.server, plane.ca_cert.read_bytes()) == (server, ca)
    assert get(plane, "/api/v1/nodes", token)["kind"] == "NodeList"  # the operator's old token, the old CA
    assert client.CoreV1Api(plane.api_client()).read_namespaced_config_map("before", "default").data == {
        "kept": "yes"}
    assert plane.audit_log.read_bytes().splitlines()[0] == first_audit_line  # appended, not started afresh


def test_stopped_cluster_restarts_and_moves_the_apiserver_off_a_taken_port(plane):
    plane.up()
    client.CoreV1Api(plane.api_client()).create_namespaced_config_map(
        "default", {"metadata": {"name": "across-stop"}, "data": {"kept": "yes"}})
    token, old_port, before = plane.token("admin"), plane.ports()["apiserver"], plane.pids()
    plane.stop(quiet=True)

    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the old port may still be in TIME_WAIT
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        plane.up()

    assert plane.ports()["apiserver"] != old_port
    assert all(plane.pids()[name] != before[name] for name in before)
    core = client.CoreV1Api(plane.api_client())  # from the rewritten kubeconfig
    assert core.read_namespaced_config_map("across-stop", "default").data == {"kept": "yes"}
    assert get(plane, "/api/v1/namespaces/default", token)["metadata"]["name"] == "default"
    # the restarted controller manager follows the apiserver to its new port
    core.create_namespace({"metadata": {"name": "after-move"}})
    deadline = time.monotonic() + 30
    while not core.list_namespaced_service_account("after-move").items:
        assert time.monotonic() < deadline, "no default ServiceAccount in namespace after-move after 30 s"
        time.sleep(0.1)


def test_down_stops_every_recorded_process_and_removes_the_state(plane):
    plane.up()
    pids = plane.pids()
    assert set(pids) == set(BINARY)

    plane.down(quiet=True)

    assert [name for name, pid in pids.items() if runs(pid, BINARY[name])] == []
    assert not plane.state.exists()


def runs(pid: int, binary: str) -> bool:
    """Read from /proc here, not through the harness: the pid is a live process (not a zombie) of `binary`."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return False
    return state not in ("Z", "X") and Path(argv0).name == binary
