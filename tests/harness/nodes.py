"""Nodes as a real GPU cluster shows them (there is no kubelet here, so tests create them)."""

from __future__ import annotations

from typing import Optional

from kubernetes import client

EPOCH = "2024-01-15T10:30:00Z"


def node_body(name: str, gpu_product: Optional[str] = "NVIDIA-A100", gpus: int = 8, cpu: int = 32,
              memory: str = "128Gi", arch: str = "amd64", labels: Optional[dict] = None,
              gpu_memory_mib: Optional[int] = None) -> dict:
    node_labels = {"kubernetes.io/hostname": name, "kubernetes.io/arch": arch, "kubernetes.io/os": "linux"}
    if gpu_product and gpus:
        node_labels["nvidia.com/gpu.product"] = gpu_product
        node_labels["nvidia.com/gpu.count"] = str(gpus)
        if gpu_memory_mib:
            node_labels["nvidia.com/gpu.memory"] = str(gpu_memory_mib)
    node_labels.update(labels or {})
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": node_labels}}


def node_status(cpu: int = 32, memory: str = "128Gi", gpus: int = 8, ready: Optional[bool] = True,
                since: str = EPOCH) -> dict:
    resources = {"cpu": str(cpu), "memory": memory, "pods": "110"}
    if gpus:
        resources["nvidia.com/gpu"] = str(gpus)
    status = {"capacity": resources, "allocatable": dict(resources)}
    if ready is not None:
        status["conditions"] = [{
            "type": "Ready", "status": "True" if ready else "False",
            "reason": "KubeletReady" if ready else "KubeletNotReady",
            "lastHeartbeatTime": since, "lastTransitionTime": since,
        }]
    return {"status": status}


def create_node(core: client.CoreV1Api, name: str, gpu_product: Optional[str] = "NVIDIA-A100", gpus: int = 8,
                cpu: int = 32, memory: str = "128Gi", arch: str = "amd64", labels: Optional[dict] = None,
                ready: Optional[bool] = True, gpu_memory_mib: Optional[int] = None) -> None:
    """Create a Node and set its capacity and Ready condition through the status subresource."""
    core.create_node(node_body(name, gpu_product, gpus, cpu, memory, arch, labels, gpu_memory_mib))
    core.patch_node_status(name, node_status(cpu, memory, gpus, ready))


def set_ready(core: client.CoreV1Api, name: str, ready: bool, since: str = EPOCH) -> None:
    """Flip the Ready condition, as a kubelet would (conditions merge by type)."""
    conditions = node_status(ready=ready, since=since)["status"]["conditions"]
    core.patch_node_status(name, {"status": {"conditions": conditions}})


def create_pod(core: client.CoreV1Api, namespace: str, name: str, node: str, gpus: int = 0,
               node_selector: Optional[dict] = None) -> None:
    """A pod bound to a node (no scheduler here: it stays Pending, which counts as active)."""
    ensure_namespace(core, namespace)
    resources = {"requests": {"nvidia.com/gpu": str(gpus)}, "limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": name},
        "spec": {"nodeName": node, "nodeSelector": node_selector or {}, "automountServiceAccountToken": False,
                 "containers": [{"name": "main", "image": "busybox", "resources": resources}]},
    })


def ensure_namespace(core: client.CoreV1Api, namespace: str) -> None:
    """A namespace with its default service account (no controller manager here creates it)."""
    from kubernetes.client.exceptions import ApiException

    for create, body in ((core.create_namespace, {"metadata": {"name": namespace}}),
                         (lambda b: core.create_namespaced_service_account(namespace, b),
                          {"metadata": {"name": "default"}})):
        try:
            create(body)
        except ApiException as error:
            if error.status != 409:
                raise


def main(argv=None) -> int:
    """python -m tests.harness.nodes KUBECONFIG COUNT [--product P --gpus N --prefix node --namespace NS ...]:
    create GPU nodes (and namespaces)."""
    import argparse

    from kubernetes import config

    parser = argparse.ArgumentParser(description="Create simulated GPU nodes (existing ones are left alone).")
    parser.add_argument("kubeconfig")
    parser.add_argument("count", type=int)
    parser.add_argument("--prefix", default="node")
    parser.add_argument("--product", default="NVIDIA-A100")
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--namespace", action="append", default=[], help="also ensure this namespace exists")
    args = parser.parse_args(argv)
    configuration = client.Configuration()
    config.load_kube_config(args.kubeconfig, context="admin", client_configuration=configuration)
    core = client.CoreV1Api(client.ApiClient(configuration))
    existing = {node.metadata.name for node in core.list_node().items}
    width = len(str(args.count))
    created = 0
    for index in range(1, args.count + 1):
        name = f"{args.prefix}-{index:0{width}d}"
        if name not in existing:
            create_node(core, name, gpu_product=args.product, gpus=args.gpus)
            created += 1
    for namespace in args.namespace:
        ensure_namespace(core, namespace)
    print(f"{created} node(s) created, {args.count - created} already there")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
