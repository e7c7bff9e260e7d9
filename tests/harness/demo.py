"""`make demo`: simulated GPU nodes on the local control plane, the fabric playbook, then the pool table."""

from __future__ import annotations

import subprocess
import sys
import time

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.harness.ansible import ansible_env, run_module
from tests.harness.collection import REPO, ensure_collection_path
from tests.harness.nodes import create_node, create_pod

KUBECONFIG = REPO / ".cluster" / "kubeconfig"

# seed 002's cluster: two A100 nodes, two A10, one RTX 4090, two CPU-only
NODES = [("gpu-node-1", "NVIDIA-A100-SXM4-80GB", 8), ("gpu-node-2", "NVIDIA-A100-SXM4-80GB", 8),
         ("gpu-node-3", "NVIDIA-A10", 4), ("gpu-node-4", "NVIDIA-A10", 4),
         ("gpu-node-5", "NVIDIA-GeForce-RTX-4090", 4), ("cpu-node-1", None, 0), ("cpu-node-2", None, 0)]
# seed 000's hosts for the compute pool, tagged with a resource group: (name, product, GPUs, CPU, memory)
EDGE_HOSTS = [("host-uid-1", None, 0, 16, "64Gi"), ("host-uid-2", None, 0, 16, "64Gi"),
              ("host-uid-3", "NVIDIA-A100", 4, 32, "128Gi"), ("host-uid-4", "NVIDIA-A100", 4, 32, "128Gi")]
# running jobs, so the table shows GPUs in use: (namespace, pod, node, GPUs, pool)
PODS = [("research", "train-0", "gpu-node-1", 8, "training-pool"),
        ("research", "train-1", "gpu-node-2", 4, "training-pool"),
        ("serving", "llm-serve-0", "gpu-node-3", 4, "inference-pool"),
        ("notebooks", "notebook-0", "gpu-node-5", 2, "dev-pool")]


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def main() -> int:
    ensure_collection_path()
    configuration = client.Configuration()
    config.load_kube_config(str(KUBECONFIG), context="admin", client_configuration=configuration)
    core = client.CoreV1Api(client.ApiClient(configuration))

    say(f"creating {len(NODES)} simulated nodes as GPU feature discovery labels them (skipping existing ones)")
    existing = {node.metadata.name for node in core.list_node().items}
    for name, product, gpus in NODES:
        if name not in existing:
            create_node(core, name, gpu_product=product, gpus=gpus, cpu=64 if gpus else 16,
                        memory="512Gi" if gpus else "64Gi")
        print(f"    {name:12} {product or 'no GPU':26} {gpus} GPU")
    for name, product, gpus, cpu, memory in EDGE_HOSTS:
        if name not in existing:
            create_node(core, name, gpu_product=product, gpus=gpus, cpu=cpu, memory=memory,
                        labels={"palette.ai.rg/site": "edge"}, gpu_memory_mib=40960 if gpus else None)
        print(f"    {name:12} {product or 'no GPU':26} {gpus} GPU  (palette.ai.rg/site=edge)")

    say("jobs running on the pools (pods bound to the nodes the pools will have)")
    for namespace, name, node, gpus, pool in PODS:
        try:
            create_pod(core, namespace, name, node, gpus=gpus, node_selector={"runwhere.ai/pool": pool})
        except ApiException as error:
            if error.status != 409:
                raise
        print(f"    {namespace}/{name} on {node}: {gpus} GPU")

    say("ansible-playbook playbooks/fabric.yml: tenant, projects, the gpuctl pools, a compute pool, two apps")
    started = time.monotonic()
    playbook = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", str(REPO / "playbooks" / "fabric.yml"),
         "-e", f"kubeconfig={KUBECONFIG}", "-e", "kube_context=operator"],
        env=ansible_env(), cwd=str(REPO), check=False)
    if playbook.returncode:
        return playbook.returncode
    print(f"    playbook finished in {time.monotonic() - started:.1f} s")

    say("the pool table (gpufabric.platform.pool_info, like `gpuctl get pools`)")
    pools = run_module("pool_info", {}, str(KUBECONFIG))["pools"]
    print(f"    {'POOL NAME':16} {'STATUS':8} {'GPU TOTAL':10} {'GPU USED':9} {'GPU FREE':9} NODE COUNT")
    for p in pools:
        print(f"    {p['name']:16} {p['status']:8} {p['gpu_total']:<10} {p['gpu_used']:<9} {p['gpu_free']:<9} "
              f"{p['node_count']}")

    kubectl = ["kubectl", "--kubeconfig", str(KUBECONFIG)]
    say("kubectl get pools (Pool objects; their status is refreshed on each pool_label run)")
    subprocess.run(kubectl + ["get", "pools"], check=True, env=ansible_env())

    say("the compute pool: machine pools, capacity and allocation (gpufabric.platform.compute_pool_info)")
    for pool in run_module("compute_pool_info", {}, str(KUBECONFIG))["compute_pools"]:
        status = pool["status"]
        print(f"    {pool['metadata']['namespace']}/{pool['metadata']['name']}: {status['status']}, "
              f"{status['mode']}, GPU {status['gpuAllocated']} allocated of {status['gpuTotal']}")
        for machine_pool in status["allocatedMachinePools"]:
            hosts = ", ".join(f"{h} ({body.get('status')})" for h, body in machine_pool["hosts"].items())
            print(f"      {machine_pool['name']:28} {machine_pool['nodeType']:22} {hosts}")
        for row in status["hardwareCapacity"]:
            gpus = ", ".join(f"{g['gpuCount']} x {g['family']}" for g in row.get("gpu", []))
            print(f"      capacity   {row['architecture']}: {row['totalCPU']} CPU, {row['totalMemory']}, {gpus}")
        for row in status["hardwareAllocation"]:
            gpus = ", ".join(f"{g['gpuCount']} x {g['family']}" for g in row.get("gpu", []))
            print(f"      allocated  {row['architecture']}: {gpus} to "
                  + ", ".join(f"{r['namespace']}/{r['name']}" for r in status["aiWorkloadRefs"]))

    say("tenant and project GPU quotas (Tenant objects; a ResourceQuota per project namespace)")
    subprocess.run(kubectl + ["get", "tenants"], check=True, env=ansible_env())
    subprocess.run(kubectl + ["get", "resourcequota", "-A", "-l", "app.kubernetes.io/managed-by=gpufabric", "-o",
                              "custom-columns=PROJECT:.metadata.namespace,GPU QUOTA:.spec.hard.requests\\.nvidia\\.com/gpu,"
                              "BY FAMILY:.metadata.annotations.runwhere\\.ai/gpu-quota"], check=True, env=ansible_env())
    say("the apps (no kubelet here, so nothing runs; the allocation is recorded on the pools above)")
    subprocess.run(kubectl + ["get", "deployments,jobs", "-A", "-l", "app.kubernetes.io/managed-by=gpufabric"],
                   check=True, env=ansible_env())
    print("\nThe control plane keeps running: `kubectl --kubeconfig .cluster/kubeconfig get nodes --show-labels`; "
          "`make cluster-down` stops it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
