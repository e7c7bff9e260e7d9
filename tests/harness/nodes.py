"""Nodes and pods as a real GPU cluster shows them. There is no kubelet here: tests create the Nodes, wait for
the scheduler to bind pods, and force-delete pods, which nothing would otherwise finish deleting."""

from __future__ import annotations

import time
from typing import Optional

from kubernetes import client
from kubernetes.client.exceptions import ApiException

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
    """A pod bound to `node` by its nodeName, as if the scheduler had placed it (no kubelet runs it: it stays
    Pending, which counts as active)."""
    ensure_namespace(core, namespace)
    resources = {"requests": {"nvidia.com/gpu": str(gpus)}, "limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": name},
        "spec": {"nodeName": node, "nodeSelector": node_selector or {}, "automountServiceAccountToken": False,
                 "containers": [{"name": "main", "image": "busybox", "resources": resources}]},
    })


def ensure_namespace(core: client.CoreV1Api, namespace: str) -> None:
    """A namespace with its default service account. The controller manager creates that account too, within
    about a second; creating it here makes it there at once, and whichever comes second gets a 409."""
    for create, body in ((core.create_namespace, {"metadata": {"name": namespace}}),
                         (lambda b: core.create_namespaced_service_account(namespace, b),
                          {"metadata": {"name": "default"}})):
        try:
            create(body)
        except ApiException as error:
            if error.status != 409:
                raise


def wait_bound(core: client.CoreV1Api, namespace: str, label_selector: str, count: int,
               timeout: float = 30) -> list:
    """The `count` pods matching `label_selector`, sorted by name, once the scheduler has bound each to a node
    (`spec.node_name`). On timeout the error gives each unbound pod's scheduling message."""
    deadline = time.monotonic() + timeout
    while True:
        pods = sorted(core.list_namespaced_pod(namespace, label_selector=label_selector).items,
                      key=lambda pod: pod.metadata.name)
        bound = [pod for pod in pods if pod.spec.node_name]
        if len(bound) >= count:
            return bound
        if time.monotonic() > deadline:
            waiting = "; ".join(f"{pod.metadata.name}: {_scheduling_message(pod) or 'not seen by the scheduler'}"
                                for pod in pods if not pod.spec.node_name)
            raise TimeoutError(f"{len(bound)} of {count} pods matching {label_selector!r} in {namespace} bound "
                               f"after {timeout:.0f} s ({len(pods)} exist); {waiting or 'none is waiting'}")
        time.sleep(0.1)


def wait_unschedulable(core: client.CoreV1Api, namespace: str, name: str, timeout: float = 30) -> str:
    """The scheduler's message once it has marked the pod Unschedulable (e.g. "Insufficient nvidia.com/gpu")."""
    deadline = time.monotonic() + timeout
    while True:
        pod = core.read_namespaced_pod(name, namespace)
        if pod.spec.node_name:
            raise AssertionError(f"pod {namespace}/{name} was bound to {pod.spec.node_name}")
        message = _scheduling_message(pod)
        if message:
            return message
        if time.monotonic() > deadline:
            raise TimeoutError(f"pod {namespace}/{name} neither bound nor Unschedulable after {timeout:.0f} s")
        time.sleep(0.1)


def _scheduling_message(pod) -> str:
    for condition in (pod.status.conditions or []) if pod.status else []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return f"{condition.reason}: {condition.message}"
    return ""


def force_delete_pods(core: client.CoreV1Api, namespace: Optional[str] = None, label_selector: str = "") -> int:
    """Delete pods (in one namespace, or all) with grace period 0, and say how many. With no kubelet to confirm
    that containers stopped, a bound pod deleted gracefully stays Terminating for ever, its GPUs still counted
    by the scheduler and its namespace unable to finish deleting."""
    pods = (core.list_namespaced_pod(namespace, label_selector=label_selector) if namespace
            else core.list_pod_for_all_namespaces(label_selector=label_selector)).items
    for pod in pods:
        try:
            core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
        except ApiException as error:
            if error.status != 404:
                raise
    return len(pods)


def delete_namespace(core: client.CoreV1Api, namespace: str, timeout: float = 60) -> float:
    """Delete a namespace and wait until it is gone; returns the seconds it took. The namespace controller
    deletes what is inside; pods are force-deleted alongside (see force_delete_pods), after the deletion has
    started, so that no controller creates new ones meanwhile."""
    started = time.monotonic()
    try:
        core.delete_namespace(namespace)
    except ApiException as error:
        if error.status == 404:
            return 0.0
        raise
    while True:
        force_delete_pods(core, namespace)
        try:
            found = core.read_namespace(namespace)
        except ApiException as error:
            if error.status == 404:
                return time.monotonic() - started
            raise
        if time.monotonic() - started > timeout:
            conditions = "; ".join(f"{c.type}: {c.message}" for c in found.status.conditions or [])
            raise TimeoutError(f"namespace {namespace} still {found.status.phase} after {timeout:.0f} s"
                               f"{': ' + conditions if conditions else ''}")
        time.sleep(0.2)


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
