"""The appliance installed by ansible-playbook over SSH onto test hosts (network namespaces with their own address
and sshd): bad input fails before any change on any host, with a message naming the host, the fact, its value and
the minimum; a full install links the edge hosts, refuses a name another machine holds, turns a compute pool over
the edge hosts into a spoke cluster, and uninstalls exactly what it installed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness.ansible import ansible_env
from tests.harness.collection import REPO
from tests.harness.waiting import wait_until

pytestmark = pytest.mark.integration

PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))
OCM = REPO / "tests" / "harness" / "ocm"
APPLIANCE = str(REPO / "playbooks" / "appliance.yml")
SPOKE_CLUSTER = str(REPO / "playbooks" / "spoke-cluster.yml")
SERVICES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


def recap(output):
    """{host: {ok, changed, unreachable, failed}} from the PLAY RECAP."""
    found = {}
    for host, numbers in re.findall(r"^(\S+)\s+:\s+(ok=\d+\s+changed=\d+\s+unreachable=\d+\s+failed=\d+)", output,
                                    re.M):
        found[host] = dict((key, int(value)) for key, value in re.findall(r"(\w+)=(\d+)", numbers))
    return found


def run(hosts, playbook, inventory, local, *arguments, **extra):
    """ansible-playbook over SSH with the appliance's variables; arguments: more of ansible-playbook's (a second
    inventory, a limit). (returncode, output)."""
    hub_crds = ("managedclusters.yaml", "managedclustersets.yaml", "manifestworks.yaml")
    variables = {"appliance_local_dir": str(local),
                 "appliance_ocm_crds": [str(OCM / name) for name in hub_crds],
                 "appliance_spoke_ocm_crds": [str(OCM / "klusterlets.yaml")],
                 "appliance_edge_heartbeat": 86400}
    variables.update(extra)
    argv = [PLAYBOOK, "-i", str(inventory), *[str(argument) for argument in arguments], playbook,
            "-e", json.dumps(variables)]
    env = dict(ansible_env(), **hosts.environment)
    env["ANSIBLE_PIPELINING"] = "1"
    env.pop("K8S_AUTH_KUBECONFIG", None)
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(REPO), check=False, timeout=3600)
    return out.returncode, out.stdout + out.stderr


def inventory(hosts, path, leader=("h1",), edge=("h2", "h3"), extra_hosts=None):
    """An inventory of the test hosts; extra_hosts: {name: address} of further edge hosts."""
    hosts.write_inventory(path, {"leader": list(leader), "edge": list(edge)})
    document = yaml.safe_load(path.read_text())
    for name, address in (extra_hosts or {}).items():
        document["all"]["hosts"][name] = {"ansible_host": address}
        document["all"]["children"]["edge"]["hosts"][name] = {}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def untouched(hosts, local):
    """Nothing of the appliance on any host or on the controller."""
    for host in hosts.hosts:
        assert not (host.opt / "appliance").exists(), "%s was changed" % host.name
        assert not (host.etc / "appliance").exists(), "%s was changed" % host.name
    assert not (Path(local) / "hub").exists()


def real_memory_mb():
    with open("/proc/meminfo") as handle:
        return int(handle.readline().split()[1]) // 1024


# -- bad input: nothing changes anywhere ------------------------------------------------------------------------------

def test_a_host_below_a_minimum_is_named_with_the_fact_its_value_and_the_minimum(test_hosts, tmp_path):
    minimum = real_memory_mb() + 1024 * 1024  # a terabyte more than this machine has
    code, output = run(test_hosts, APPLIANCE, inventory(test_hosts, tmp_path / "inventory.yml"), tmp_path / "local",
                       appliance_edge_minimums={"memory_mb": minimum, "cpus": 1})
    assert code != 0
    for name in ("h2", "h3"):
        assert re.search(r"%s: memory_mb is \d+, below the minimum %d \(appliance_edge_minimums.memory_mb\)"
                         % (name, minimum), output), output[-3000:]
    assert "h1: memory_mb" not in output  # the leader is held to the control-plane minimums, which it meets
    untouched(test_hosts, tmp_path / "local")


def test_no_gpu_where_one_is_required(test_hosts, tmp_path):
    code, output = run(test_hosts, APPLIANCE, inventory(test_hosts, tmp_path / "inventory.yml"), tmp_path / "local",
                       appliance_edge_minimums={"gpus": 1})
    assert code != 0
    assert "h2: gpus is 0, below the minimum 1 (appliance_edge_minimums.gpus)" in output
    assert "h3: gpus is 0, below the minimum 1 (appliance_edge_minimums.gpus)" in output
    untouched(test_hosts, tmp_path / "local")


def test_an_unreachable_host_fails_the_run_before_any_change(test_hosts, tmp_path):
    silent = test_hosts.hosts[0].address.rsplit(".", 1)[0] + ".200"  # in the test subnet; nothing listens there
    path = inventory(test_hosts, tmp_path / "inventory.yml", extra_hosts={"h4": silent})
    code, output = run(test_hosts, APPLIANCE, path, tmp_path / "local")
    assert code != 0
    assert "h4 (%s): unreachable - Ansible could not connect or gather its facts; no host was changed" % silent \
        in output, output[-3000:]
    untouched(test_hosts, tmp_path / "local")


def test_two_hosts_in_leader_are_refused(test_hosts, tmp_path):
    path = inventory(test_hosts, tmp_path / "inventory.yml", leader=("h1", "h2"), edge=("h3",))
    code, output = run(test_hosts, APPLIANCE, path, tmp_path / "local")
    assert code != 0
    assert "hub: the control plane runs on exactly one host; 2 are given (h1, h2)" in output
    untouched(test_hosts, tmp_path / "local")


def test_a_binaries_path_that_does_not_exist_is_refused(test_hosts, tmp_path):
    missing = tmp_path / "no-such-folder"
    code, output = run(test_hosts, APPLIANCE, inventory(test_hosts, tmp_path / "inventory.yml"), tmp_path / "local",
                       appliance_binaries_dir=str(missing))
    assert code != 0
    assert "control-plane binaries: %s does not exist on the controller" % missing in output
    untouched(test_hosts, tmp_path / "local")


def test_binaries_of_another_version_than_the_pinned_one_are_refused(test_hosts, tmp_path):
    from tests.harness.controlplane import binaries

    folder = binaries()
    code, output = run(test_hosts, APPLIANCE, inventory(test_hosts, tmp_path / "inventory.yml"), tmp_path / "local",
                       appliance_binaries_dir=str(folder), appliance_kubernetes_version="v1.21.0")
    assert code != 0
    assert ("control-plane binaries: %s/kube-apiserver --version says v1.20.2; the pinned version is v1.21.0"
            % folder) in output
    untouched(test_hosts, tmp_path / "local")


# -- a full install -------------------------------------------------------------------------------------------------

def pids(host):
    """{service: pid} from the pid files the service script keeps on the host."""
    run_dir = host.opt / "appliance" / "run"
    return dict((name, int((run_dir / (name + ".pid")).read_text())) for name in SERVICES
                if (run_dir / (name + ".pid")).exists())


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def api(kubeconfig):
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(str(kubeconfig), client_configuration=configuration, persist_config=False)
    return client.ApiClient(configuration)


def edgehosts(kubeconfig):
    from kubernetes import client

    found = client.CustomObjectsApi(api(kubeconfig)).list_cluster_custom_object("gpufabric.io", "v1alpha1",
                                                                                "edgehosts")
    return dict((item["metadata"]["name"], item) for item in found["items"])


def test_install_link_refuse_a_taken_name_make_a_spoke_cluster_and_uninstall_only_what_was_installed(
        test_hosts, tmp_path):
    from kubernetes import client

    h1, h2, h3 = test_hosts.hosts
    local = tmp_path / "local"
    path = inventory(test_hosts, tmp_path / "inventory.yml")
    (h1.opt / "keep").write_text("the host's own")  # something the appliance must leave alone
    h3.give_gpus("NVIDIA A100-SXM4-80GB", 81920, 4)  # h3's driver reports four A100s; h2 has no GPU
    try:
        code, output = run(test_hosts, APPLIANCE, path, local)
        assert code == 0, output[-5000:]
        admin = local / "hub" / "admin.kubeconfig"
        assert oct(admin.stat().st_mode & 0o777) == "0o600"
        assert json.loads(admin.read_text())["users"][0]["user"]["token"] not in output  # never printed

        running = pids(h1)
        assert sorted(running) == sorted(SERVICES) and all(alive(pid) for pid in running.values())
        apiserver = Path("/proc/%d/cmdline" % running["kube-apiserver"]).read_bytes().split(b"\0")
        assert ("--bind-address=%s" % h1.address).encode() in apiserver

        registered = edgehosts(admin)
        assert sorted(registered) == ["h2", "h3"]
        assert registered["h2"]["spec"]["address"] == h2.address and registered["h3"]["spec"]["address"] == h3.address
        assert registered["h2"]["status"]["health"] == "Healthy"
        assert registered["h2"]["status"]["gpuCount"] == 0 and registered["h3"]["status"]["gpuCount"] == 4
        assert [(row["family"], row["count"], row["memoryMiB"]) for row in registered["h3"]["status"]["gpus"]] == [
            ("NVIDIA-A100", 4, 81920)]
        version = registered["h2"]["metadata"]["resourceVersion"]

        # Another machine (h3's address) under the name h2: refused before any change on any host.
        clash = inventory(test_hosts, tmp_path / "clash.yml", edge=("h2",))
        document = yaml.safe_load(clash.read_text())
        document["all"]["hosts"]["h2"]["ansible_host"] = h3.address
        document["all"]["hosts"]["h2"]["appliance_address"] = h3.address
        clash.write_text(yaml.safe_dump(document))
        code, output = run(test_hosts, APPLIANCE, clash, local)
        assert code != 0
        assert ("edge host h2 is already registered by another host: address %s" % h2.address) in output, \
            output[-4000:]
        assert "this host is %s" % h3.address in output
        assert edgehosts(admin)["h2"]["metadata"]["resourceVersion"] == version
        assert not (h3.opt / "appliance").exists()

        # A compute pool over the edge hosts (its control plane on h2, its GPU workers on h3) becomes a spoke
        # cluster, and an app on it asks for two of h3's GPUs.
        pools = tmp_path / "hub.compute_pools.yml"
        pools.write_text(yaml.safe_dump({"plugin": "gpufabric.platform.compute_pools", "kubeconfig": str(admin)}))
        spec = {"projects": [{"name": "vision", "gpu_quota": {"NVIDIA-A100": 4}}],
                "compute_pools": [{"name": "edge-a", "namespace": "vision", "host_source": "edgehosts",
                                   "spoke": "edge-a", "control_plane": {"node_count": 1},
                                   "worker_pools": [{"name": "gpu", "gpu": {"family": "NVIDIA-A100", "count": 4},
                                                     "min_worker_nodes": 1}]}]}
        from tests.harness.ansible import run_module

        result = run_module("fabric", {"spec": spec}, str(admin), context="hub-admin")
        assert not result.get("failed"), result
        code, output = run(test_hosts, SPOKE_CLUSTER, path, local, "-i", pools)
        assert code == 0, output[-5000:]
        spoke_admin = local / "edge-a" / "admin.kubeconfig"
        spoke_core = client.CoreV1Api(api(spoke_admin))
        nodes = dict((node.metadata.name, node) for node in spoke_core.list_node().items)
        assert sorted(nodes) == ["h2", "h3"]
        assert all(node.metadata.labels["runwhere.ai/compute-pool"] == "edge-a" for node in nodes.values())
        assert nodes["h3"].metadata.labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
        assert nodes["h3"].status.capacity["nvidia.com/gpu"] == "4" and "nvidia.com/gpu" not in nodes[
            "h2"].status.capacity
        spoke_pids = pids(h2)
        assert sorted(spoke_pids) == sorted(SERVICES)

        app = {"name": "infer", "namespace": "vision", "compute_pool": "edge-a", "image": "registry.example/infer:1",
               "resources": {"gpu": 2}}
        placed = run_module("app_deployment", app, str(admin), context="hub-admin")
        assert not placed.get("failed") and placed["changed"], placed
        bound = wait_until("pod of app infer bound", lambda: [pod.spec.node_name for pod in spoke_core.list_namespaced_pod(
            "vision", label_selector="gpufabric.io/app=infer").items if pod.spec.node_name], 60)
        assert bound == ["h3"]  # the spoke's own scheduler put it on the GPU host
        recorded = client.CustomObjectsApi(api(admin)).get_namespaced_custom_object(
            "gpufabric.io", "v1alpha1", "vision", "computepools", "edge-a")["status"]["aiWorkloadRefs"]
        assert [(ref["name"], ref["gpuCount"]) for ref in recorded] == [("infer", 2)]
        removed_app = run_module("app_deployment", {"name": "infer", "namespace": "vision", "state": "absent"},
                                 str(admin), context="hub-admin")
        assert not removed_app.get("failed") and removed_app["changed"], removed_app

        code, output = run(test_hosts, SPOKE_CLUSTER, path, local, "-i", pools)
        assert code == 0 and all(row["changed"] == 0 for row in recap(output).values()), output[-4000:]

        # Uninstall the spoke cluster: deregistered, its processes stopped, its files gone; the hub stays.
        code, output = run(test_hosts, SPOKE_CLUSTER, path, local, "-i", pools, appliance_state="absent")
        assert code == 0, output[-5000:]
        assert not any(alive(pid) for pid in spoke_pids.values())
        assert not (h2.opt / "appliance").exists() and not (h2.etc / "appliance").exists()
        assert not (local / "edge-a").exists()
        spokes = run_module("spoke_info", {}, str(admin), context="hub-admin")
        assert [spoke["name"] for spoke in spokes["spokes"]] == []
        assert all(alive(pid) for pid in running.values())

        # Edge hosts are deregistered (refused while a compute pool holds them), their kubeconfigs removed.
        code, output = run(test_hosts, APPLIANCE, path, local, "--limit", "edge", appliance_state="absent")
        assert code != 0 and "edge host h2 is held by compute pool(s) vision/edge-a" in output, output[-4000:]
        removed = run_module("compute_pool", {"name": "edge-a", "namespace": "vision", "state": "absent"},
                             str(admin), context="hub-admin")
        assert not removed.get("failed"), removed
        code, output = run(test_hosts, APPLIANCE, path, local, "--limit", "edge", appliance_state="absent")
        assert code == 0, output[-5000:]
        assert edgehosts(admin) == {}
        assert sorted(os.listdir(local / "hub" / "edges")) == []
        assert all(alive(pid) for pid in running.values())  # only the edge hosts were asked to go

        # Then the leader: its processes stopped by their pid files, its two folders and the controller's copy gone.
        code, output = run(test_hosts, APPLIANCE, path, local, appliance_state="absent")
        assert code == 0, output[-5000:]
        assert not any(alive(pid) for pid in running.values())
        assert not (h1.opt / "appliance").exists() and not (h1.etc / "appliance").exists()
        assert (h1.opt / "keep").read_text() == "the host's own"
        assert not (local / "hub").exists()
    finally:
        h3.give_gpus("", 0, 0)
        for host in (h1, h2):
            for pid in pids(host).values():
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
        (h1.opt / "keep").unlink(missing_ok=True)
