"""The test hosts behave like machines reached over SSH, and Prometheus serves the GPU history it was given."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.harness.ansible import ansible_env
from tests.harness.hosts import Hosts, free_subnet
from tests.harness.prometheus import dcgm_series, openmetrics, Series

pytestmark = pytest.mark.integration

ANSIBLE = str(Path(sys.executable).with_name("ansible"))


def ansible(hosts: Hosts, pattern: str, module: str, args: str, tree: Path, inventory: Path | None = None) -> dict:
    """Run an ad-hoc module over SSH; returns {host name: result} from the files `--tree` writes."""
    argv = [ANSIBLE, pattern, "-i", str(inventory or hosts.inventory), "-m", module, "-a", args, "--tree", str(tree)]
    out = subprocess.run(argv, capture_output=True, text=True, env={**ansible_env(), **hosts.environment},
                         check=False, timeout=120)
    assert out.returncode == 0, f"{' '.join(argv)} failed (exit {out.returncode}):\n{out.stdout}\n{out.stderr}"
    return {path.name: json.loads(path.read_text()) for path in tree.iterdir()}


def netns_pids(namespace: str) -> list:
    out = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False)
    return [int(pid) for pid in out.stdout.split()]


def test_ansible_reaches_every_host_over_ssh_and_sees_its_own_address_and_hostname(test_hosts, tmp_path):
    facts = ansible(test_hosts, "all", "setup", "gather_subset=!all,network,env", tmp_path / "facts")
    assert sorted(facts) == ["h1", "h2", "h3"]
    for host in test_hosts.hosts:
        found = facts[host.name]["ansible_facts"]
        assert found["ansible_hostname"] == host.name
        assert found["ansible_default_ipv4"]["address"] == host.address
        # client address, client port, server address, server port: the module ran over an SSH connection to the host
        assert found["ansible_env"]["SSH_CONNECTION"].split()[2:] == [host.address, "22"]


def test_a_file_under_opt_gpufabric_is_private_to_its_host(test_hosts, tmp_path):
    h1 = test_hosts.host("h1")
    try:
        ansible(test_hosts, "h1", "copy", "dest=/opt/gpufabric/marker content=written-on-h1", tmp_path / "copy")
        seen = ansible(test_hosts, "all", "stat", "path=/opt/gpufabric/marker", tmp_path / "stat")
        assert {name: result["stat"]["exists"] for name, result in seen.items()} == \
            {"h1": True, "h2": False, "h3": False}
        assert (h1.opt / "marker").read_text() == "written-on-h1"
        assert not Path("/opt/gpufabric/marker").exists()  # the machine's own tree is untouched too
    finally:
        (h1.opt / "marker").unlink(missing_ok=True)


def test_hosts_reach_each_other_by_name(test_hosts):
    probe = "python3 -c \"import socket; print(socket.create_connection(('h1', 22), timeout=5).recv(8).decode())\""
    out = test_hosts.ssh("h2", probe)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("SSH-2.0")


def test_inventory_regroups_hosts(test_hosts, tmp_path):
    path = test_hosts.write_inventory(tmp_path / "appliance.yml", {"leader": ["h1"], "edge": ["h2", "h3"]})
    pinged = ansible(test_hosts, "edge", "ping", "", tmp_path / "edge", inventory=path)
    assert sorted(pinged) == ["h2", "h3"]
    assert all(result["ping"] == "pong" for result in pinged.values())
    with pytest.raises(ValueError, match="h9"):
        test_hosts.write_inventory(tmp_path / "bad.yml", {"leader": ["h9"]})


def test_up_is_idempotent_and_down_leaves_no_namespace_bridge_or_sshd(tmp_path):
    hosts = Hosts(tmp_path / "state", 2, free_subnet())
    first = hosts.up()
    listeners = {host.name: netns_pids(host.namespace) for host in first}
    assert [host.name for host in hosts.up()] == ["h1", "h2"]
    assert {host.name: netns_pids(host.namespace) for host in first} == listeners  # nothing restarted
    # A kept-alive SSH connection leaves a per-connection sshd child in h1's namespace besides the listener.
    ansible(hosts, "h1", "ping", "", tmp_path / "ping")
    assert len(netns_pids(first[0].namespace)) > len(listeners["h1"])
    started = [pid for host in first for pid in netns_pids(host.namespace)]

    hosts.down(quiet=True)

    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not any(host.namespace in namespaces for host in first)
    bridge = subprocess.run(["ip", "link", "show", hosts.bridge], capture_output=True, text=True, check=False)
    assert bridge.returncode != 0, f"bridge {hosts.bridge} still exists"
    assert [pid for pid in started if Path(f"/proc/{pid}").exists()
            and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"] == []
    ours = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False)
    assert ours.stdout == "", f"processes still run from {tmp_path}: {ours.stdout}"
    assert not hosts.state.exists()


def test_a_second_set_on_a_taken_subnet_is_refused_and_the_first_keeps_running(test_hosts, tmp_path):
    intruder = Hosts(tmp_path / "state", 1, test_hosts.subnet)
    with pytest.raises(RuntimeError, match=f"bridge {test_hosts.bridge} already exists"):
        intruder.up()
    intruder.down(quiet=True)  # names nothing it made, so it stops nothing
    assert test_hosts.running()
    assert test_hosts.ssh("h1", "hostname").stdout.strip() == "h1"


def _query(url: str, endpoint: str, **params) -> list:
    with urllib.request.urlopen(f"{url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}", timeout=10) as reply:
        body = json.load(reply)
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_answers_range_queries_with_the_backfilled_values(prometheus):
    end = float(int(time.time()))
    busy_since = 300  # node-b's GPUs went from 10 % to 90 % five minutes ago
    values = {
        ("node-a", 0): lambda age: 40,
        ("node-a", 1): lambda age: 60,
        ("node-b", 0): lambda age: 90 if age < busy_since else 10,
        ("node-b", 1): lambda age: 90 if age < busy_since else 10,
        ("node-c", 0): [(end - 120, 5), (end - 60, 7), (end, 9)],
    }
    url = prometheus(dcgm_series(values, end=end))

    averages = _query(url, "query_range", query="avg by (Hostname) (DCGM_FI_DEV_GPU_UTIL)",
                      start=end - 840, end=end, step=60)
    by_host = {row["metric"]["Hostname"]: [float(value) for stamp, value in row["values"]] for row in averages}
    ages = range(840, -1, -60)
    assert by_host["node-a"] == [50.0] * len(ages)
    assert by_host["node-b"] == [90.0 if age < busy_since else 10.0 for age in ages]
    assert by_host["node-c"][-3:] == [5.0, 7.0, 9.0]

    rows = _query(url, "query", query='DCGM_FI_DEV_GPU_UTIL{Hostname="node-a",gpu="1"}', time=end)
    assert len(rows) == 1 and rows[0]["value"][1] == "60"
    assert rows[0]["metric"]["modelName"] == "NVIDIA A100-SXM4-80GB"
    assert rows[0]["metric"]["device"] == "nvidia1" and rows[0]["metric"]["UUID"].startswith("GPU-")


def test_prometheus_restarts_with_new_history_at_the_same_url(prometheus):
    first = prometheus(dcgm_series({("node-a", 0): lambda age: 20}))
    second = prometheus(dcgm_series({("node-b", 0): lambda age: 70}))
    assert second == first
    rows = _query(second, "query", query="avg by (Hostname) (DCGM_FI_DEV_GPU_UTIL)")  # at "now"
    assert {row["metric"]["Hostname"]: row["value"][1] for row in rows} == {"node-b": "70"}


def test_a_stopped_prometheus_refuses_connections(prometheus):
    url = prometheus(dcgm_series({("node-a", 0): lambda age: 1}))
    prometheus.stop()
    with pytest.raises(urllib.error.URLError) as error:
        urllib.request.urlopen(url + "/-/ready", timeout=5)
    assert isinstance(error.value.reason, ConnectionRefusedError)


def test_millisecond_timestamps_are_refused_before_promtool_sees_them():
    labels = (("gpu", "0"), ("Hostname", "node-a"))
    with pytest.raises(ValueError, match="milliseconds"):
        openmetrics([Series("DCGM_FI_DEV_GPU_UTIL", labels, ((time.time() * 1000, 1.0),))])
