"""compute_pool autoscaling from a real Prometheus holding dcgm-exporter GPU history for the test's nodes.

The history is backfilled with the timestamps each test needs; the decision time is given as autoscale.now where
a test needs it fixed. Writes are counted from the API server's audit log.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.harness.ansible import run_module
from tests.harness.nodes import create_node
from tests.harness.prometheus import dcgm_series

pytestmark = pytest.mark.integration

PREFIX = "runwhere.ai"
WORKERS = "worker-pool-nvidia-amd64-0"
TOKEN = "prometheus-bearer-token-for-the-test"


def at(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@pytest.fixture
def pool(request, core_v1, custom_objects, kubeconfig):
    """This test's project, nodes (a control-plane host and g0..g3 with 4 A100 each), ScalingPolicy and the
    compute pool's arguments; `pool.run(autoscale)` runs compute_pool with them."""

    stem = request.node.name.replace("_", "-")[5:40].strip("-")

    class Pool:
        name = namespace = stem
        hosts = [f"{stem}-g{i}" for i in range(4)]

        def args(self, autoscale=None):
            body = {"name": self.name, "namespace": self.namespace, "mode": "shared",
                    "control_plane": {"node_count": 1, "resource_groups": {"suite": self.name}},
                    "worker_resource_groups": {"suite": self.name},
                    "worker_pools": [{"name": "gpu-workers", "gpu": {"family": "NVIDIA-A100", "count": 8},
                                      "min_worker_nodes": 2}],
                    "scaling_policy": {"name": "gpu-burst"}}
            if autoscale is not None:
                body["autoscale"] = autoscale
            return body

        def run(self, autoscale=None, module="compute_pool"):
            return run_module(module, self.args(autoscale), kubeconfig)

        def workers(self, result):
            pools = result["compute_pool"]["status"]["allocatedMachinePools"]
            return sorted(next(p for p in pools if p["name"] == WORKERS)["hosts"])

        def status(self):
            return custom_objects.get_namespaced_custom_object("gpufabric.io", "v1alpha1", self.namespace,
                                                               "computepools", self.name)["status"]

    made = Pool()
    project = run_module("project", {"name": made.namespace, "gpu_quota": {"NVIDIA-A100": 16}}, kubeconfig)
    assert not project.get("failed"), project.get("msg")
    rg = {"palette.ai.rg/suite": made.name}
    create_node(core_v1, f"{made.name}-cp", gpu_product=None, gpus=0, cpu=16, memory="64Gi", labels=rg)
    for host in made.hosts:
        create_node(core_v1, host, gpu_product="NVIDIA-A100-SXM4-40GB", gpus=4, labels=rg, gpu_memory_mib=40960)
    custom_objects.create_namespaced_custom_object("gpufabric.io", "v1alpha1", made.namespace, "scalingpolicies", {
        "apiVersion": "gpufabric.io/v1alpha1", "kind": "ScalingPolicy", "metadata": {"name": "gpu-burst"},
        "spec": {"metric": "gpu", "scaleUp": {"threshold": 80, "durationSeconds": 300, "step": 1},
                 "scaleDown": {"threshold": 20, "durationSeconds": 600},
                 "minNodes": 1, "maxNodes": 4, "cooldownSeconds": 900, "abortSeconds": 1200}})
    created = made.run()
    assert not created.get("failed"), created.get("msg")
    assert made.workers(created) == made.hosts[:2]
    return made


def history(utilization, end, hosts):
    """dcgm-exporter series for 4 GPUs on each host: {host: percent}, every 30 s for the 15 minutes up to end."""
    return dcgm_series({(host, gpu): (lambda age, value=utilization[host]: value)
                        for host in hosts for gpu in range(4)}, end=end)


def test_scale_up_decided_from_prometheus_and_a_rerun_with_the_same_data_writes_nothing(pool, prometheus,
                                                                                        writes):
    end = int(time.time()) // 60 * 60
    # the pool's two hosts are busy; the two others, idle, are not in the pool and must not count
    url = prometheus(history({pool.hosts[0]: 95, pool.hosts[1]: 91, pool.hosts[2]: 3, pool.hosts[3]: 3}, end,
                             pool.hosts))
    hot = {"prometheus": {"url": url, "token": TOKEN}, "now": at(end)}
    up = pool.run(hot)
    assert not up.get("failed"), up.get("msg")
    assert up["autoscaling"] == {"decision": "scale-up", "targetNodes": 3,
                                 "reason": "minimum gpu utilization over 300 s is 93%, above 80%"}
    assert pool.workers(up) == pool.hosts[:3]
    assert pool.status()["autoscaling"]["lastActionAt"] == at(end)
    assert TOKEN not in json.dumps(up)  # no_log: masked wherever the module prints its arguments

    writes.start()
    again = pool.run(hot)
    assert again["changed"] is False and again["autoscaling"]["decision"] == "none"
    assert again["autoscaling"]["reason"] == "cooling down until %d" % (end + 900)
    assert writes.count() == 0, writes.describe()


def test_scale_down_decided_from_prometheus(pool, prometheus, writes):
    end = int(time.time())
    url = prometheus(history({host: 4 for host in pool.hosts}, end, pool.hosts))
    down = pool.run({"prometheus": {"url": url}})  # decided now: the history ends when the test starts
    assert not down.get("failed"), down.get("msg")
    assert down["autoscaling"] == {"decision": "scale-down", "targetNodes": 1,
                                   "reason": "maximum utilization over 600 s is gpu 4%, below 20%"}
    assert pool.workers(down) == pool.hosts[:1]
    assert pool.status()["gpuTotal"] == 4

    writes.start()
    assert pool.run({"prometheus": {"url": url}})["changed"] is False  # cooling down, and at the minimum after
    assert writes.count() == 0, writes.describe()


def test_utilization_within_the_thresholds_changes_nothing_and_a_rerun_writes_nothing(pool, prometheus, writes):
    end = int(time.time()) // 60 * 60
    url = prometheus(history({pool.hosts[0]: 50, pool.hosts[1]: 60}, end, pool.hosts[:2]))
    options = {"prometheus": {"url": url}, "now": at(end)}
    first = pool.run(options)
    assert first["autoscaling"] == {"decision": "none", "targetNodes": 2, "reason": "utilization within thresholds"}
    assert pool.workers(first) == pool.hosts[:2]
    writes.start()
    second = pool.run(options)
    assert second["changed"] is False and second["autoscaling"]["decision"] == "none"
    assert writes.count() == 0, writes.describe()


def test_a_cooldown_is_respected_with_new_data_then_ends(pool, prometheus, writes):
    start = int(time.time()) // 60 * 60 - 1800
    url = prometheus(history({host: 97 for host in pool.hosts[:2]}, start, pool.hosts[:2]))
    up = pool.run({"prometheus": {"url": url}, "now": at(start)})
    assert up["autoscaling"]["decision"] == "scale-up" and pool.workers(up) == pool.hosts[:3]

    # ten minutes later every GPU of the pool idles: within the 900 s cooldown, nothing changes
    later = start + 600
    url = prometheus(history({host: 2 for host in pool.hosts[:3]}, later, pool.hosts[:3]))
    writes.start()
    cooling = pool.run({"prometheus": {"url": url}, "now": at(later)})
    assert cooling["changed"] is False
    assert cooling["autoscaling"] == {"decision": "none", "targetNodes": 3,
                                      "reason": "cooling down until %d" % (start + 900)}
    assert writes.count() == 0, writes.describe()

    # once it has passed, the same idle GPUs scale the pool down
    after = start + 1500
    url = prometheus(history({host: 2 for host in pool.hosts[:3]}, after, pool.hosts[:3]))
    down = pool.run({"prometheus": {"url": url}, "now": at(after)})
    assert down["autoscaling"]["decision"] == "scale-down" and len(pool.workers(down)) == 2


def test_prometheus_unreachable_or_refusing_fails_naming_it_and_writes_nothing(pool, prometheus, writes):
    end = int(time.time())
    url = prometheus(history({host: 95 for host in pool.hosts[:2]}, end, pool.hosts[:2]))
    before = pool.status()
    query = 'avg(DCGM_FI_DEV_GPU_UTIL{Hostname=~"%s|%s"})' % tuple(pool.hosts[:2])

    writes.start()
    refused = pool.run({"prometheus": {"url": url + "/no-such-prefix", "token": TOKEN}})
    assert refused["failed"] and refused["changed"] is False
    assert refused["msg"].startswith(f"Prometheus at {url}/no-such-prefix answered HTTP 404 to query {query} over "
                                     "600 s to "), refused["msg"]
    assert "nothing was written" in refused["msg"] and TOKEN not in json.dumps(refused)

    prometheus.stop()
    down = pool.run({"prometheus": {"url": url}})
    assert down["failed"] and down["changed"] is False
    assert down["msg"].startswith(f"cannot reach Prometheus at {url} for query {query} over 600 s to "), down["msg"]
    assert writes.count() == 0, writes.describe()
    assert pool.status() == before


def test_a_query_without_series_fails_naming_it_and_writes_nothing(pool, prometheus, writes):
    end = int(time.time())
    # dcgm-exporter series, but for nodes of another cluster: none for this pool's hosts
    url = prometheus(history({"elsewhere-1": 95, "elsewhere-2": 95}, end, ["elsewhere-1", "elsewhere-2"]))
    before = pool.status()
    writes.start()
    empty = pool.run({"prometheus": {"url": url}, "now": at(end)})
    assert empty["failed"] and empty["changed"] is False
    query = 'avg(DCGM_FI_DEV_GPU_UTIL{Hostname=~"%s|%s"})' % tuple(pool.hosts[:2])
    assert empty["msg"] == (
        f"Prometheus at {url}, query {query} over 600 s to {end} (step 30 s) returned no series: no "
        f"DCGM_FI_DEV_GPU_UTIL samples for host(s) {pool.hosts[0]}, {pool.hosts[1]} in that window; check that "
        "dcgm-exporter runs on them and that Prometheus scrapes it (its series carry the node's name as Hostname), "
        "or give autoscale.samples")
    assert writes.count() == 0, writes.describe()
    assert pool.status() == before


def test_the_fabric_spec_takes_the_same_option(pool, prometheus, kubeconfig, writes):
    end = int(time.time()) // 60 * 60
    url = prometheus(history({host: 96 for host in pool.hosts[:2]}, end, pool.hosts[:2]))
    spec = {"compute_pools": [pool.args({"prometheus": {"url": url, "token": TOKEN}, "now": at(end)})]}
    result = run_module("fabric", {"spec": spec}, kubeconfig)
    assert not result.get("failed"), result.get("msg")
    entry = result["entries"][0]
    assert entry["autoscaling"]["decision"] == "scale-up" and pool.workers(entry) == pool.hosts[:3]
    assert TOKEN not in json.dumps(result)
    writes.start()
    assert run_module("fabric", {"spec": spec}, kubeconfig)["changed"] is False
    assert writes.count() == 0, writes.describe()
