"""`make demo`: a hub and two spokes on this machine, the fleet spec applied by playbooks/site.yml, then the tables.

The hub holds gpuctl's four pools over seed-style GPU nodes, a compute pool over edge hosts, tenants and projects;
each spoke has GPU nodes of its own, becomes a spoke registered to the hub, and runs the apps whose compute pool
holds its nodes. Pods are bound by each cluster's real scheduler (there is no kubelet, so they stay Pending).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.harness.ansible import ansible_env, run_module
from tests.harness.collection import REPO, ensure_collection_path
from tests.harness.nodes import create_node, create_pod

STATE = REPO / ".cluster"
FLEET = STATE / "fleet.kubeconfig"
KUBECONFIG = STATE / "kubeconfig"
SPEC = REPO / "playbooks" / "files" / "demo-fleet.yml"
INVENTORY = REPO / "playbooks" / "inventory" / "example.yml"
HUB_ADMIN = {"kubeconfig": str(FLEET), "context": "hub-admin"}

# gpuctl's cluster on the hub: two A100 nodes, two A10, one RTX 4090, two CPU-only
NODES = [("gpu-node-1", "NVIDIA-A100-SXM4-80GB", 8), ("gpu-node-2", "NVIDIA-A100-SXM4-80GB", 8),
         ("gpu-node-3", "NVIDIA-A10", 4), ("gpu-node-4", "NVIDIA-A10", 4),
         ("gpu-node-5", "NVIDIA-GeForce-RTX-4090", 4), ("cpu-node-1", None, 0), ("cpu-node-2", None, 0)]
# hosts of the hub's compute pool, tagged with a resource group: (name, product, GPUs, CPU, memory)
EDGE_HOSTS = [("host-uid-1", None, 0, 16, "64Gi"), ("host-uid-2", None, 0, 16, "64Gi"),
              ("host-uid-3", "NVIDIA-A100", 4, 32, "128Gi"), ("host-uid-4", "NVIDIA-A100", 4, 32, "128Gi")]
# each spoke's own nodes: a CPU host for the control plane and two GPU hosts
SPOKE_NODES = {"spoke-1": [("s1-cpu-1", None, 0), ("s1-gpu-1", "NVIDIA-A100-SXM4-80GB", 8),
                           ("s1-gpu-2", "NVIDIA-A100-SXM4-80GB", 8)],
               "spoke-2": [("s2-cpu-1", None, 0), ("s2-gpu-1", "NVIDIA-H100-80GB-HBM3", 8),
                           ("s2-gpu-2", "NVIDIA-H100-80GB-HBM3", 8)]}
# jobs already running on the hub's pools, so the table shows GPUs in use: (namespace, pod, node, GPUs, pool)
PODS = [("research", "train-0", "gpu-node-1", 8, "training-pool"),
        ("research", "train-1", "gpu-node-2", 4, "training-pool"),
        ("notebooks", "notebook-0", "gpu-node-5", 2, "dev-pool")]


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def core_for(context: str) -> client.CoreV1Api:
    configuration = client.Configuration()
    config.load_kube_config(str(FLEET), context=context, client_configuration=configuration)
    return client.CoreV1Api(client.ApiClient(configuration))


def kubectl(context: str, *args: str) -> None:
    subprocess.run(["kubectl", "--kubeconfig", str(FLEET), "--context", context, *args], check=True,
                   env=ansible_env())


def create_nodes(core, nodes, labels=None):
    existing = {node.metadata.name for node in core.list_node().items}
    for name, product, gpus, *size in nodes:
        cpu, memory = size if size else ((64, "512Gi") if gpus else (16, "64Gi"))
        if name not in existing:
            create_node(core, name, gpu_product=product, gpus=gpus, cpu=cpu, memory=memory, labels=labels,
                        gpu_memory_mib=40960 if gpus and size else None)
        print(f"    {name:12} {product or 'no GPU':26} {gpus} GPU{'  ' + str(labels) if labels else ''}")


def namespace_phase(core, name):
    try:
        return core.read_namespace(name).status.phase
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def wait_for_bound_pods(context: str, timeout: float = 60) -> None:
    """Until the cluster's controllers made every pod the apps' Deployments and Jobs ask for and its scheduler
    bound them (a few seconds after the run that wrote them)."""
    api = client.ApiClient(core_for(context).api_client.configuration)
    apps, batch, core = client.AppsV1Api(api), client.BatchV1Api(api), client.CoreV1Api(api)
    selector = "gpufabric.io/app"
    want = sum(d.spec.replicas or 0 for d in apps.list_deployment_for_all_namespaces(label_selector=selector).items)
    want += sum(j.spec.parallelism or 1 for j in batch.list_job_for_all_namespaces(label_selector=selector).items)
    started = time.monotonic()
    while True:
        bound = sum(1 for pod in core.list_pod_for_all_namespaces(label_selector=selector).items
                    if pod.spec.node_name and not pod.metadata.deletion_timestamp)
        if bound >= want or time.monotonic() - started > timeout:
            break
        time.sleep(0.5)
    print(f"    {bound} of {want} app pod(s) bound after {time.monotonic() - started:.1f} s", flush=True)


def playbook(name: str, extra: dict) -> int:
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(INVENTORY), str(REPO / "playbooks" / name),
            "-e", json.dumps(extra)]
    print("    " + " ".join(argv[1:4]) + " -e " + " ".join(f"{k}=..." for k in extra), flush=True)
    return subprocess.run(argv, env=ansible_env(), cwd=str(REPO), check=False).returncode


def main() -> int:
    ensure_collection_path()
    hub = core_for("hub-admin")
    say("nodes as GPU feature discovery labels them (existing ones are kept)")
    print("  hub:")
    create_nodes(hub, NODES)
    create_nodes(hub, EDGE_HOSTS, {"palette.ai.rg/site": "edge"})
    for spoke, nodes in SPOKE_NODES.items():
        print(f"  {spoke}:")
        create_nodes(core_for(f"{spoke}-admin"), nodes)

    say("jobs already running on the hub's pools (pods bound to the nodes the pools will have)")
    for namespace, name, node, gpus, pool in PODS:
        try:
            create_pod(hub, namespace, name, node, gpus=gpus, node_selector={"runwhere.ai/pool": pool})
        except ApiException as error:
            if error.status != 409:
                raise
        print(f"    {namespace}/{name} on {node}: {gpus} GPU")

    say("ansible-playbook playbooks/site.yml: the hub (CRDs, identities, its part of the spec), then both spokes "
        "side by side (registration, their compute pools and apps)")
    started = time.monotonic()
    code = playbook("site.yml", {"fabric_spec": str(SPEC), "hub_connection": HUB_ADMIN})
    if code:
        return code
    print(f"    finished in {time.monotonic() - started:.1f} s")

    say("the hub's pool table (gpufabric.platform.pool_info, like `gpuctl get pools`)")
    pools = run_module("pool_info", {}, str(KUBECONFIG))["pools"]
    print(f"    {'POOL NAME':16} {'STATUS':8} {'GPU TOTAL':10} {'GPU USED':9} {'GPU FREE':9} NODE COUNT")
    for p in pools:
        print(f"    {p['name']:16} {p['status']:8} {p['gpu_total']:<10} {p['gpu_used']:<9} {p['gpu_free']:<9} "
              f"{p['node_count']}")

    say("spokes registered to the hub: ManagedClusters with their GPU inventory")
    kubectl("hub-admin", "get", "managedclusters")
    say("compute pools on the hub (the spoke column says whose nodes are its hosts)")
    kubectl("hub-admin", "get", "computepools", "-A", "-o", "custom-columns=NAMESPACE:.metadata.namespace,"
            "NAME:.metadata.name,SPOKE:.spec.spoke,STATUS:.status.status,GPU TOTAL:.status.gpuTotal,"
            "GPU ALLOCATED:.status.gpuAllocated,APPS:.status.aiWorkloadRefs[*].name")
    say("tenant and project GPU quotas (Tenant objects; a ResourceQuota per project namespace)")
    kubectl("hub-admin", "get", "tenants")
    kubectl("hub-admin", "get", "resourcequota", "-A", "-l", "app.kubernetes.io/managed-by=gpufabric")

    for context, title in (("hub-admin", "the hub"), ("spoke-1-admin", "spoke-1"), ("spoke-2-admin", "spoke-2")):
        say(f"app pods on {title}, bound by its scheduler (NODE), Pending for want of a kubelet")
        wait_for_bound_pods(context)
        kubectl(context, "get", "pods", "-A", "-l", "gpufabric.io/app", "-o", "wide")

    say("a project removed and declared again in the same run (the namespace controller finishes the removal)")
    scratch = {"name": "scratch", "tenant": "research", "gpu_quota": {"NVIDIA-A10": 0}}
    for args, what in ((scratch, "declared"), (dict(name="scratch", state="absent"), "removed")):
        result = run_module("project", args, str(KUBECONFIG))
        print(f"    project scratch {what}: changed={result.get('changed')} {result.get('msg', '')}")
    started = time.monotonic()
    while namespace_phase(hub, "scratch") is not None:
        time.sleep(0.5)
    print(f"    namespace scratch gone after {time.monotonic() - started:.1f} s")
    again = run_module("project", scratch, str(KUBECONFIG))
    print(f"    project scratch declared again: changed={again.get('changed')}, namespace "
          f"{hub.read_namespace('scratch').status.phase}")

    print("\nThe clusters keep running: `kubectl --kubeconfig .cluster/fleet.kubeconfig --context spoke-1-admin get "
          "pods -A -o wide`; `make cluster-down` stops them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
