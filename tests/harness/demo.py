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

    say("jobs running on the pools (pods bound to the nodes the pools will have)")
    for namespace, name, node, gpus, pool in PODS:
        try:
            create_pod(core, namespace, name, node, gpus=gpus, node_selector={"runwhere.ai/pool": pool})
        except ApiException as error:
            if error.status != 409:
                raise
        print(f"    {namespace}/{name} on {node}: {gpus} GPU")

    say("ansible-playbook playbooks/fabric.yml (the four-pool design from gpuctl pool documents)")
    started = time.monotonic()
    playbook = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", str(REPO / "playbooks" / "fabric.yml"),
         "-e", f"kubeconfig={KUBECONFIG}", "-e", "kube_context=operator"],
        env=ansible_env(), cwd=str(REPO))
    if playbook.returncode:
        return playbook.returncode
    print(f"    playbook finished in {time.monotonic() - started:.1f} s")

    say("the pool table (gpufabric.platform.pool_info, like `gpuctl get pools`)")
    pools = run_module("pool_info", {}, str(KUBECONFIG))["pools"]
    print(f"    {'POOL NAME':16} {'STATUS':8} {'GPU TOTAL':10} {'GPU USED':9} {'GPU FREE':9} NODE COUNT")
    for p in pools:
        print(f"    {p['name']:16} {p['status']:8} {p['gpu_total']:<10} {p['gpu_used']:<9} {p['gpu_free']:<9} "
              f"{p['node_count']}")

    say("kubectl get pools (Pool objects; their status is refreshed on each pool_label run)")
    subprocess.run(["kubectl", "--kubeconfig", str(KUBECONFIG), "get", "pools"], check=True, env=ansible_env())
    print("\nThe control plane keeps running: `kubectl --kubeconfig .cluster/kubeconfig get nodes --show-labels`; "
          "`make cluster-down` stops it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
